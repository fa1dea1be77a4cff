"""Score a custom episode: the reward was computed while its environment was alive (see env.state)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rlagent.tasks.base import Score

if TYPE_CHECKING:
    from rlagent.rollout.episode import Episode


class CustomVerifier:
    """Reward from the user's reward function / get_reward; success when it reaches the threshold."""

    def __init__(self, success_threshold: float):
        self.success_threshold = success_threshold

    def score(self, episode: Episode) -> Score:
        state = episode.env_state
        calls = state.get("calls", [])
        metrics = {
            "errored": float(bool(state.get("errored"))),
            "answered": float(state.get("final_answer") is not None),
            "tool_errors": float(sum(c["error"] is not None for c in calls)),
            "tool_timeouts": float(sum(bool(c["timed_out"]) for c in calls)),
        }
        if state.get("errored"):
            return Score(reward=0.0, success=False, metrics=metrics)
        reward = float(state["reward"])
        return Score(
            reward=reward,
            success=reward >= self.success_threshold,
            metrics={**state.get("reward_metrics", {}), **metrics},
        )
