"""Episode: one agent/environment conversation as tokens, masks, logprobs and a transcript."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from rlagent.tasks.base import Example


@dataclass
class Turn:
    """One model turn and the environment's answer."""

    action: str
    observation: str | None
    malformed: bool = False
    tool_calls: int = 0
    finish_reason: str = ""


@dataclass
class Episode:
    """Token-in/token-out record of an episode.

    `completion_ids` holds everything after the prompt: model tokens exactly as sampled (mask 1, with
    their sampling logprobs) and environment tokens (mask 0, logprob 0.0). Text engines (openai) fill
    only the transcript.
    """

    example: Example
    sample: int
    prompt_ids: list[int] = field(default_factory=list)
    completion_ids: list[int] = field(default_factory=list)
    mask: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    turns: list[Turn] = field(default_factory=list)
    done: bool = False
    truncated: bool = False
    finish_reason: str = ""
    env_state: dict[str, Any] = field(default_factory=dict)
    reward: float = 0.0
    success: bool = False
    metrics: dict[str, float] = field(default_factory=dict)
    scored: bool = False
    """The verifier has filled reward, success and metrics (score_episodes), e.g. during dynamic sampling."""
    text_tokens: int = 0
    """Tokens a text engine reported generating (token engines count `mask` instead)."""
    policy_version: int | None = None
    """Training only: the optimizer step whose weights the engine held when this episode was sampled."""
    error: str | None = None
    """Why the episode errored in the loop or its scoring (an environment step that raised or hung, invalid engine
    output, a reward that is not a finite number); None when it did not."""

    @property
    def errored(self) -> bool:
        """A fault outside the model's control: the loop's (`error`) or the world's (env_state `errored`)."""
        return self.error is not None or bool(self.env_state.get("errored"))

    def fail(self, error: str) -> None:
        """Mark the episode errored (the first error is kept)."""
        if self.error is None:
            self.error = error

    @property
    def model_tokens(self) -> int:
        return sum(self.mask) if self.mask else self.text_tokens

    def append_model(self, ids: list[int], logprobs: list[float]) -> None:
        self.completion_ids.extend(ids)
        self.mask.extend([1] * len(ids))
        self.logprobs.extend(logprobs)

    def append_env(self, ids: list[int]) -> None:
        self.completion_ids.extend(ids)
        self.mask.extend([0] * len(ids))
        self.logprobs.extend([0.0] * len(ids))

    def to_record(self) -> dict[str, Any]:
        """The transcript row written to *.rollouts.jsonl (no token arrays)."""
        return {
            "example_id": self.example.id,
            "sample": self.sample,
            "question": self.example.data.get("question"),
            "gold": self.example.data.get("answers"),
            "reward": self.reward,
            "success": self.success,
            "metrics": self.metrics,
            "finish_reason": self.finish_reason,
            "truncated": self.truncated,
            "errored": self.errored,
            "error": self.error or self.env_state.get("error"),
            "turns": [asdict(t) for t in self.turns],
            "messages": self.messages,
            "env_state": self.env_state,
            "prompt_tokens": len(self.prompt_ids),
            "completion_tokens": len(self.completion_ids),
            "model_tokens": self.model_tokens,
            "policy_version": self.policy_version,
        }
