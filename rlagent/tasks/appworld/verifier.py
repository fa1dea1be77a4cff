"""Score a code-agent episode from the world's own evaluation: partial credit or success, and metrics.

TGC (task goal completion) is the mean of `success`; SGC (scenario goal completion) needs every task of
a scenario, so it is computed over a whole evaluation (evaluate/metrics.py, from `scenario_id`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rlagent.config.schema import AppWorldConfig
from rlagent.tasks.base import Score

if TYPE_CHECKING:
    from rlagent.rollout.episode import Episode


class AppWorldVerifier:
    def __init__(self, cfg: AppWorldConfig):
        self.cfg = cfg

    def score(self, episode: Episode) -> Score:
        state = episode.env_state
        evaluation = state.get("evaluation") or {}
        num_tests = int(evaluation.get("num_tests") or 0)
        passed = len(evaluation.get("passes") or [])
        success = bool(evaluation.get("success")) and not state.get("errored")
        fraction = passed / num_tests if num_tests else 0.0
        reward = fraction if self.cfg.reward == "partial" else float(success)
        executions = int(state.get("executions") or 0)
        metrics = {
            "tgc": float(success),
            "tests_passed": fraction,
            "num_tests": float(num_tests),
            "completed": float(bool(state.get("completed"))),
            "executions": float(executions),
            "code_error_rate": (state.get("failed_executions") or 0) / executions if executions else 0.0,
            "doc_lookups": float(state.get("doc_lookups") or 0),
            "errored": float(bool(state.get("errored"))),
        }
        if state.get("api_calls") is not None:
            metrics["api_calls"] = float(state["api_calls"])
        difficulty = episode.example.data.get("difficulty")
        if difficulty:
            metrics[f"tgc_difficulty_{difficulty}"] = float(success)
        return Score(reward=0.0 if state.get("errored") else reward, success=success, metrics=metrics)
