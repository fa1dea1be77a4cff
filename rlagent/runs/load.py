"""Read run directories back: status, configuration, training curves and evaluations."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rlagent.evaluate.metrics import wilson_interval
from rlagent.runs.files import read_jsonl
from rlagent.runs.liveness import died_hint, run_died
from rlagent.runs.rundir import CONFIG, STATUS


@dataclass
class EvalRecord:
    """One evaluation file (eval/<split>[-<tag>].json) of a run."""

    name: str
    split: str
    step: int | None
    metrics: dict[str, float]
    per_example: dict[str, list[bool]]
    engine: str
    rollouts: Path

    @property
    def interval(self) -> tuple[float, float]:
        """95% interval of `success` (the mean over every sample), the number it is printed next to, with the task
        as its unit: as the evaluation recorded it, else Wilson's over the tasks. Evaluations written before
        `success_first_ci_*` existed stored the first sample's interval under `success_ci_*`: that one is used only
        where it is the same number (one sample per task)."""
        m = self.metrics
        tasks = int(m.get("examples", 0))
        one_sample = m.get("episodes", tasks) == tasks
        if "success_ci_low" in m and ("success_first_ci_low" in m or one_sample):
            return m["success_ci_low"], m["success_ci_high"]
        return wilson_interval(m.get("success", 0.0) * tasks, tasks)

    def transcript(self, example_id: str) -> dict[str, Any] | None:
        """The first recorded episode of an example, or None."""
        if not self.rollouts.is_file():
            return None
        for row in read_jsonl(self.rollouts):
            if row.get("example_id") == example_id:
                return row
        return None


@dataclass
class RunRecord:
    """A run directory read back: run.json (`info`), config.yaml, metrics.jsonl and eval/."""

    path: Path
    recipe: str
    status: str
    config: dict[str, Any]
    info: dict[str, Any] = field(default_factory=dict)
    train_rows: list[dict[str, Any]] = field(default_factory=list)
    eval_rows: list[dict[str, Any]] = field(default_factory=list)
    evals: list[EvalRecord] = field(default_factory=list)
    wall_s: float | None = None

    @property
    def label(self) -> str:
        return self.path.name

    @property
    def steps(self) -> int:
        return max((row["step"] for row in self.train_rows), default=0)

    def splits(self) -> list[str]:
        return sorted({e.split for e in self.evals})

    def final_eval(self, split: str) -> EvalRecord | None:
        """The evaluation of the latest step (an eval-only run's single evaluation)."""
        candidates = [e for e in self.evals if e.split == split]
        return max(candidates, key=lambda e: e.step if e.step is not None else 10**9, default=None)

    def best_eval(self, split: str) -> EvalRecord | None:
        """The evaluation with the highest success (the earliest on ties); the base policy's evaluation before a
        warm start (step -1) counts only when it is the only one."""
        candidates = [e for e in self.evals if e.split == split]
        trained = [e for e in candidates if e.step is None or e.step >= 0]
        candidates = trained or candidates
        return max(candidates, key=lambda e: (e.metrics.get("success", 0.0), -(e.step or 0)), default=None)


class SkippedRun(Exception):
    """A run directory compare-runs cannot use; the message says why."""


def _load_eval(path: Path) -> EvalRecord:
    data = json.loads(path.read_text())
    return EvalRecord(
        name=path.stem,
        split=data["split"],
        step=data.get("step"),
        metrics=data["metrics"],
        per_example={k: list(v) for k, v in data.get("per_example", {}).items()},
        engine=data.get("engine", "?"),
        rollouts=path.with_name(f"{path.stem}.rollouts.jsonl"),
    )


def read_run(path: Path) -> RunRecord:
    """Read a run directory whatever its status (running, failed, interrupted, completed), or raise SkippedRun naming
    what is missing or unreadable."""
    if not path.is_dir():
        raise SkippedRun(f"{path}: not a directory")
    if not (path / CONFIG).is_file():
        raise SkippedRun(f"{path}: no {CONFIG} (not an rlagent run directory)")
    try:
        status = json.loads((path / STATUS).read_text())
    except (OSError, json.JSONDecodeError):
        raise SkippedRun(f"{path}: no readable {STATUS}") from None
    try:
        config = yaml.safe_load((path / CONFIG).read_text()) or {}
    except yaml.YAMLError as exc:
        raise SkippedRun(f"{path}: unreadable {CONFIG} ({exc})") from None
    state = status.get("status", "unknown")
    run = RunRecord(path=path, recipe=str(config.get("name", "?")), status=state, config=config, info=status)
    metrics = path / "metrics.jsonl"
    if metrics.is_file():
        for row in read_jsonl(metrics):
            if any(key.startswith("eval/") for key in row):
                run.eval_rows.append(row)
            else:
                run.train_rows.append(row)
    for eval_file in sorted((path / "eval").glob("*.json")):
        try:
            run.evals.append(_load_eval(eval_file))
        except (OSError, KeyError, json.JSONDecodeError):
            continue  # an evaluation that did not finish writing
    if "started_unix" in status and "finished" in status:
        from datetime import datetime

        finished = datetime.fromisoformat(status["finished"]).timestamp()
        run.wall_s = max(0.0, finished - status["started_unix"])
    return run


def load_run(path: Path) -> RunRecord:
    """A finished run directory for comparison, or raise SkippedRun naming what is missing or partial."""
    run = read_run(path)
    if run.status != "completed":
        if run_died(run.info):
            hint = died_hint(run.info, path, run.recipe)
            raise SkippedRun(f"{path}: partial run (status: running in run.json, but died: {hint})")
        raise SkippedRun(f"{path}: partial run (status: {run.status})")
    if not run.evals and not run.train_rows:
        raise SkippedRun(f"{path}: no evaluations and no training metrics yet")
    return run


def flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict) and value:
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out
