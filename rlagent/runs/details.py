"""What `rlagent runs show` says about one run: its facts, a configuration summary, every evaluation and
per-step curves."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from rlagent.runs.compare import fmt, task_metrics
from rlagent.runs.liveness import DIED, died_hint
from rlagent.runs.load import EvalRecord, RunRecord, flatten
from rlagent.runs.progress import (
    clock,
    is_training,
    local_time,
    started_unix,
    status_label,
    step_label,
    steps_text,
    wall_s,
)
from rlagent.runs.sparkline import sparkline

SUMMARY_KEYS = (
    "model.name_or_path",
    "checkpoint",
    "model.lora.enabled",
    "task.suite",
    "task.dataset",
    "task.split",
    "task.eval_split",
    "task.limit",
    "task.max_turns",
    "rollout.engine",
    "rollout.temperature",
    "rollout.max_new_tokens",
    "rollout.max_episode_tokens",
    "eval.num_samples",
    "seed",
)
TRAINING_KEYS = (
    "algorithm.name",
    "algorithm.loss_type",
    "algorithm.learning_rate",
    "algorithm.num_generations",
    "algorithm.beta",
    "algorithm.advantage_estimator",
    "trainer.max_steps",
    "trainer.prompts_per_step",
    "trainer.eval_steps",
    "trainer.eval_limit",
    "trainer.save_steps",
    "trainer.warm_start.demos",
)
EVAL_HEADERS = ("split", "step", "success", "95% CI", "task metrics", "reward", "examples", "file")
CURVE_HEADERS = ("curve", "steps", "first", "last", "min", "max", "per step")
TRAIN_CURVES = ("train/reward", "rollout/success")


def run_facts(run: RunRecord) -> list[tuple[str, str]]:
    """Status, steps and times of the run, as (label, value) rows."""
    info = run.info
    status = status_label(run)
    if info.get("error"):
        status += f": {info['error']}"
    if status == DIED:  # run.json still says running
        status += f": {died_hint(info, run.path, run.recipe)}"
    if info.get("interrupted_by"):  # SIGINT/SIGTERM; resume=true continues from resume_from
        checkpoint = str(info.get("resume_from") or "").rsplit("/", 1)[-1] or "the start"
        status += f" by {info['interrupted_by']} (resumes from {checkpoint})"
    finished = info.get("finished")
    rows = [
        ("path", str(run.path)),
        ("recipe", run.recipe),
        ("command", str(info.get("command", "?"))),
        ("status", status),
        ("steps", steps_text(run)),
        ("started", local_time(started_unix(run))),
        ("finished", local_time(datetime.fromisoformat(finished).timestamp()) if finished else "—"),
        ("wall time", clock(wall_s(run))),
    ]
    if info.get("final_checkpoint"):
        rows.append(("final checkpoint", str(info["final_checkpoint"])))
    return rows


def config_summary(run: RunRecord) -> list[tuple[str, str]]:
    """The recipe keys that say what the run was: model, task, rollout and, for training, algorithm and trainer."""
    flat = flatten(run.config)
    keys = SUMMARY_KEYS + (TRAINING_KEYS if is_training(run) else ())
    return [(key, str(flat[key])) for key in keys if flat.get(key) is not None]


def eval_cells(record: EvalRecord) -> list[str]:
    """The cells of one evaluation, in EVAL_HEADERS order."""
    m = record.metrics
    low, high = record.interval
    return [
        record.split,
        step_label(record),
        fmt(m.get("success")),
        f"{low:.3f}–{high:.3f}",
        task_metrics(m),
        fmt(m.get("reward")),
        fmt(int(m["examples"]) if "examples" in m else None),
        f"eval/{record.name}.json",
    ]


def evaluations(run: RunRecord) -> list[EvalRecord]:
    """Every evaluation, by split and then by step (an evaluation-only run's own evaluation last)."""
    return sorted(run.evals, key=lambda e: (e.split, e.step if e.step is not None else math.inf))


@dataclass
class Curve:
    """One metric over training steps."""

    name: str
    steps: list[int]
    values: list[float]

    def cells(self) -> list[str]:
        """The cells of the curve, in CURVE_HEADERS order."""
        v = self.values
        steps = f"{self.steps[0]}..{self.steps[-1]} ({len(v)})"
        return [self.name, steps, fmt(v[0]), fmt(v[-1]), fmt(min(v)), fmt(max(v)), sparkline(v)]


def _curve(name: str, rows: list[dict], key: str) -> Curve | None:
    points = [(row["step"], row[key]) for row in rows if isinstance(row.get(key), (int, float))]
    if not points:
        return None
    return Curve(name, [step for step, _ in points], [float(value) for _, value in points])


def curves(run: RunRecord) -> list[Curve]:
    """Reward and success of the training rollouts per step, and the success of each split's evaluations."""
    out = [_curve(key, run.train_rows, key) for key in TRAIN_CURVES]
    for split in run.splits():
        out.append(_curve(f"eval/{split}/success", run.eval_rows, f"eval/{split}/success"))
    return [curve for curve in out if curve is not None]
