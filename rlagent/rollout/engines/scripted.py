"""ScriptedEngine: a token engine that plays fixed turns (an oracle's) instead of sampling a model.

It lets the shared agent loop record demonstrations exactly as it records the policy's episodes: the
same prompt ids, the same environment continuations, the same masks. Each script is keyed by the prompt
ids of its conversation; a turn ending in one of the turn's stop strings is emitted without EOS (as a
model stopped by that string would be), any other turn ends with the end-of-turn token.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rlagent.rollout.engines.base import Generation, Sampling


class ScriptedEngine:
    name = "scripted"

    def __init__(self, tokenizer: Any, eos_ids: set[int]):
        self.tokenizer = tokenizer
        self.eos_ids = set(eos_ids)
        eos = tokenizer.eos_token_id
        self.end_of_turn = eos if eos in self.eos_ids else min(self.eos_ids)
        self._scripts: dict[tuple[int, ...], list[str]] = {}
        self._played: dict[tuple[int, ...], int] = {}

    def add(self, prompt_ids: list[int], turns: list[str]) -> None:
        """Play `turns` in the conversation that starts with `prompt_ids`."""
        key = tuple(prompt_ids)
        if key in self._scripts:
            raise ValueError("two scripts share the same prompt")
        self._scripts[key], self._played[key] = list(turns), 0

    def _script_of(self, ids: list[int]) -> tuple[int, ...]:
        for key in self._scripts:
            if len(ids) >= len(key) and tuple(ids[: len(key)]) == key:
                return key
        raise KeyError("no script starts with this prompt")

    def exhausted(self, prompt_ids: list[int]) -> bool:
        """Whether the conversation asked for more turns than its script has."""
        key = tuple(prompt_ids)
        return self._played.get(key, 0) > len(self._scripts.get(key, []))

    def generate(self, prompts: list[list[int]], sampling: list[Sampling]) -> list[Generation]:
        out = []
        for ids, params in zip(prompts, sampling, strict=True):
            key = self._script_of(ids)
            turns, played = self._scripts[key], self._played[key]
            self._played[key] = played + 1
            if played >= len(turns):  # the script is exhausted: end the turn with nothing said
                out.append(Generation([self.end_of_turn], [0.0], "", "stop"))
                continue
            text = turns[played]
            token_ids = self.tokenizer.encode(text, add_special_tokens=False)
            if not any(text.endswith(stop) for stop in params.stop or []):
                token_ids.append(self.end_of_turn)
            token_ids = token_ids[: params.max_tokens]
            out.append(Generation(token_ids, [0.0] * len(token_ids), text, "stop"))
        return out

    def load_weights(self, weights: Iterable[tuple[str, Any]]) -> None:
        raise TypeError("a scripted engine has no weights")

    def close(self) -> None:
        self._scripts.clear()
