"""The engine interface: token-id prompts in, sampled token ids and their logprobs out."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import torch


@dataclass
class Sampling:
    """Sampling settings of one request."""

    max_tokens: int
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int | None = None
    stop: list[str] | None = None
    seed: int | None = None


@dataclass
class Generation:
    """One completion: token ids as sampled, each token's logprob, the text, and why it ended."""

    token_ids: list[int]
    logprobs: list[float]
    text: str
    finish_reason: str  # "stop" (EOS or stop string) or "length"
    num_tokens: int | None = None  # tokens generated, when only a server's count is known (text engines)
    message: dict[str, Any] | None = None
    """A text engine's turn as the assistant message to send back: its content and its tool calls with their
    ids (see rollout/tool_messages.py); None for token engines."""


class TokenEngine(Protocol):
    """Engines that work on token ids (vllm, hf); they can be trained."""

    name: str
    tokenizer: Any

    def generate(self, prompts: list[list[int]], sampling: list[Sampling]) -> list[Generation]: ...

    def load_weights(self, weights: Iterable[tuple[str, torch.Tensor]]) -> None: ...

    def close(self) -> None: ...


class TextEngine(Protocol):
    """Engines that only see chat messages (openai-compatible servers); evaluation only."""

    name: str
    tokenizer: Any

    def chat(
        self, conversations: list[list[dict[str, Any]]], sampling: list[Sampling], tools: list[dict] | None = None
    ) -> list[Generation]: ...

    def close(self) -> None: ...
