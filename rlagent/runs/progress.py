"""How far a run got: its status, steps done of the maximum, start and wall time, headline evaluations."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from rlagent.runs.liveness import DIED, run_died
from rlagent.runs.load import EvalRecord, RunRecord


def status_label(run: RunRecord) -> str:
    """The recorded status; 'died' for a 'running' run whose process on this host is gone (runs/liveness.py)."""
    return DIED if run_died(run.info) else run.status


def is_training(run: RunRecord) -> bool:
    return run.info.get("command", "train") == "train"


def steps_done(run: RunRecord) -> int:
    """The last logged training step (the summary's final step once the run completed)."""
    recorded = run.info.get("steps")
    return max(run.steps, recorded if isinstance(recorded, int) else 0)


def max_steps(run: RunRecord) -> int | None:
    value = run.config.get("trainer", {}).get("max_steps")
    return value if isinstance(value, int) else None


def steps_text(run: RunRecord) -> str:
    """'done/max' for a training run, '—' for an evaluation-only run."""
    if not is_training(run):
        return "—"
    total = max_steps(run)
    return f"{steps_done(run)}/{total if total is not None else '?'}"


def started_unix(run: RunRecord) -> float | None:
    """When the run was first started (its first invocation; a resume keeps the original start)."""
    invocations = run.info.get("invocations") or []
    if invocations and invocations[0].get("started"):
        try:
            return datetime.fromisoformat(invocations[0]["started"]).timestamp()
        except (TypeError, ValueError):
            pass
    value = run.info.get("started_unix")
    return float(value) if isinstance(value, (int, float)) else None


def local_time(unix: float | None) -> str:
    return datetime.fromtimestamp(unix).strftime("%Y-%m-%d %H:%M") if unix is not None else "—"


def wall_s(run: RunRecord) -> float | None:
    """Wall time of the last invocation: until it finished, or until now while it runs (unknown when it died)."""
    if run.wall_s is not None:
        return run.wall_s
    since = run.info.get("started_unix")
    if isinstance(since, (int, float)) and status_label(run) == "running":
        return max(0.0, time.time() - since)
    return None


def clock(seconds: float | None) -> str:
    """h:mm:ss, or '—'."""
    if seconds is None:
        return "—"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def step_label(record: EvalRecord) -> str:
    if record.step is None:
        return "—"
    return "base" if record.step < 0 else str(record.step)


def main_split(run: RunRecord) -> str | None:
    """The split the run's evaluations are about: task.eval_split when evaluated, else the first evaluated one."""
    splits = run.splits()
    if not splits:
        return None
    task: dict[str, Any] = run.config.get("task", {}) or {}
    for preferred in (task.get("split"), task.get("eval_split")):
        if preferred in splits:
            return preferred
    return splits[0]


def eval_text(record: EvalRecord | None) -> str:
    """'0.450 (dev, step 20)': success of an evaluation with its split and step."""
    if record is None:
        return "—"
    where = record.split if record.step is None else f"{record.split}, step {step_label(record)}"
    return f"{record.metrics.get('success', 0.0):.3f} ({where})"


def headline_evals(run: RunRecord) -> tuple[EvalRecord | None, EvalRecord | None]:
    """Best and last evaluation on the main split."""
    split = main_split(run)
    if split is None:
        return None, None
    return run.best_eval(split), run.final_eval(split)
