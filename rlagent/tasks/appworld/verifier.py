"""Score a code-agent episode from the world's own evaluation: partial credit or success, and metrics.

TGC (task goal completion) is the mean of `success`; SGC (scenario goal completion) needs every task of
a scenario, so it is computed over a whole evaluation (evaluate/metrics.py, from `scenario_id`). A metric that
applies to some episodes only (`tgc_difficulty_<d>`, `code_error_rate`, `api_calls`) is left out of the others'
metrics: the aggregation averages each key over the episodes that report it (docs/METRICS.md).
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
        # the world's fault or the loop's (an engine or environment fault): neither a success nor partial credit,
        # whatever the world's tests say about the state it was left in
        errored = episode.errored
        num_tests = int(evaluation.get("num_tests") or 0)
        passed = len(evaluation.get("passes") or [])
        success = bool(evaluation.get("success")) and not errored
        fraction = passed / num_tests if num_tests and not errored else 0.0
        reward = fraction if self.cfg.reward == "partial" else float(success)
        executions = int(state.get("executions") or 0)
        metrics = {
            "tgc": float(success),
            "tests_passed": fraction,
            "completed": float(bool(state.get("completed"))),
            "executions": float(executions),
            "doc_lookups": float(state.get("doc_lookups") or 0),
            "errored": float(errored),
        }
        # metrics that apply to some episodes only are reported by those alone, so that evaluation and training
        # average them over the episodes they apply to (evaluate/metrics.py metric_means; docs/METRICS.md)
        if num_tests:  # a world that failed evaluated nothing
            metrics["num_tests"] = float(num_tests)
        if executions:  # the share of this episode's executes that failed: none executed, no share
            metrics["code_error_rate"] = (state.get("failed_executions") or 0) / executions
        if state.get("api_calls") is not None:  # appsim counts them; real AppWorld and errored worlds do not
            metrics["api_calls"] = float(state["api_calls"])
        difficulty = episode.example.data.get("difficulty")
        if difficulty:  # TGC per difficulty: over the episodes of that difficulty
            metrics[f"tgc_difficulty_{difficulty}"] = float(success)
        return Score(reward=0.0 if errored else reward, success=success, metrics=metrics)
