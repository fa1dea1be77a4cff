"""The seams every task suite implements: Example, Environment, Verifier, TaskSuite."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from rlagent.rollout.episode import Episode


@dataclass
class Example:
    """One task instance; `data` holds what the suite's environment and verifier need."""

    id: str
    data: dict[str, Any]


@dataclass
class StepResult:
    """What the environment answers to one model action."""

    observation: str | None
    done: bool
    malformed: bool = False
    tool_calls: int = 0
    tool_results: list[str] | None = None
    """One result per tool call of the turn, in order, when it made several (native tool calls sent back to
    an OpenAI-compatible server answer each call by id); None: the observation answers every call."""


@dataclass
class Score:
    """A verifier's verdict on an episode: the reward and per-episode metrics."""

    reward: float
    success: bool
    metrics: dict[str, float] = field(default_factory=dict)


class Environment(Protocol):
    """One episode's world. The agent loop calls reset once, then step per model turn."""

    stop: list[str] | None
    """Strings that end a model turn early (e.g. `</search>`), or None."""
    tools: list[dict] | None
    """JSON schemas passed to the chat template's `tools=`, or None."""
    observation_role: str
    """Chat role of environment messages (`user` or `tool`)."""

    def reset(self) -> list[dict[str, Any]]:
        """The opening messages (system and user) of the conversation."""
        ...

    def step(self, action: str) -> StepResult:
        """Apply the model's turn (its text) and return the observation."""
        ...

    def state(self) -> dict[str, Any]:
        """What the verifier needs once the episode is over (answer, searches, ...)."""
        ...

    def close(self) -> None: ...


class Verifier(Protocol):
    def score(self, episode: Episode) -> Score: ...


class TaskSuite(Protocol):
    """Examples (by split), an environment per episode, and the verifier."""

    name: str
    verifier: Verifier

    def examples(self, split: str) -> list[Example]:
        """The examples of `split` a run trains on (a suite may also define `evaluation_examples(split)`, the
        examples an evaluation plays, when its training filter must not apply to evaluations)."""
        ...

    def make_env(self, example: Example) -> Environment: ...


def evaluation_examples(suite: TaskSuite, split: str) -> list[Example]:
    """The examples an evaluation of `split` plays: the suite's `evaluation_examples` where it has one (AppWorld's
    training difficulty filter does not apply to evaluations), else its `examples`."""
    own = getattr(suite, "evaluation_examples", None)
    return own(split) if callable(own) else suite.examples(split)


class Demonstrator(Protocol):
    """A suite with an oracle: the actions (model turns, as text) that solve an example. Optional; the
    warm start (trainer.warm_start) plays them through the agent loop and fine-tunes on them."""

    def demonstration(self, example: Example) -> list[str] | None:
        """The oracle's turns for `example`, or None when it has none for this example."""
        ...
