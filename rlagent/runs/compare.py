"""What compare-runs computes: per-run summaries, differing config keys, pairwise differences, flips."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any

from rlagent.runs.load import EvalRecord, RunRecord, flatten
from rlagent.runs.progress import clock
from rlagent.runs.stats import Difference, paired_difference, unpaired_difference, unpaired_task_difference

# Keys that always differ between runs and say nothing about the method.
IGNORED_KEYS = ("run.dir", "run.root", "resume", "description")


@dataclass
class SummaryRow:
    """Final and best evaluation of one run on one split."""

    run: str
    split: str
    final: EvalRecord
    best: EvalRecord
    steps: int
    wall_s: float | None

    def metric(self, key: str, which: str = "final") -> float | None:
        record = self.final if which == "final" else self.best
        return record.metrics.get(key)

    @property
    def interval(self) -> tuple[float, float]:
        return self.final.interval


@dataclass
class Flip:
    """A task one run solved and the other did not, with both transcripts and the commands that show them turn by
    turn (`rlagent runs show RUN --episode ID`; None where the transcript was not recorded)."""

    task: str
    solved_by: str
    transcript_a: dict[str, Any] | None
    transcript_b: dict[str, Any] | None
    show_a: str | None = None
    show_b: str | None = None


def show_episode_command(run: RunRecord, record: EvalRecord, transcript: dict[str, Any] | None) -> str | None:
    """`rlagent runs show RUN --episode SOURCE:EXAMPLE#SAMPLE` for a stored evaluation episode (runs/episodes.py)."""
    if transcript is None:
        return None
    episode = f"{record.name}:{transcript.get('example_id')}#{transcript.get('sample', 0)}"
    return shlex.join(["rlagent", "runs", "show", str(run.path), "--episode", episode])


@dataclass
class PairComparison:
    """Run B against run A (the first run given) on one split."""

    split: str
    run_a: str
    run_b: str
    difference: Difference
    gained: list[Flip] = field(default_factory=list)
    lost: list[Flip] = field(default_factory=list)


SUMMARY_HEADERS = (
    "run",
    "split",
    "step",
    "success",
    "95% CI",
    "task metrics",
    "pass@k",
    "turns",
    "tokens/s",
    "best success (step)",
    "train steps",
    "wall time",
)
PAIR_HEADERS = ("split", "baseline", "run", "Δ success", "95% CI", "p", "verdict", "gained", "lost", "test")


def fmt(value: Any, digits: int = 3) -> str:
    """A table cell: '—' for missing, fixed digits for floats (thousands separated from 1000 on, general format when
    very small)."""
    if value is None:
        return "—"
    if isinstance(value, float):
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        if value != 0 and abs(value) < 0.01:
            return f"{value:.{digits}g}"
        return f"{value:.{digits}f}"
    return str(value)


def task_metrics(m: dict[str, float]) -> str:
    """The suite's own headline metrics: SGC (with its interval) and code errors for AppWorld-style suites,
    EM and F1 for search."""
    if "sgc" in m:
        return (
            f"SGC {m['sgc']:.3f} ({m.get('sgc_ci_low', 0.0):.3f}–{m.get('sgc_ci_high', 1.0):.3f}), "
            f"tests {fmt(m.get('tests_passed'))}, code errors {fmt(m.get('code_error_rate'))}"
        )
    return f"EM {fmt(m.get('em'))}, F1 {fmt(m.get('f1'))}"


def summary_cells(r: SummaryRow) -> list[str]:
    """The cells of one summary row, in SUMMARY_HEADERS order (plain text)."""
    low, high = r.interval
    pass_k = next((v for k, v in r.final.metrics.items() if k.startswith("pass@")), None)
    return [
        r.run,
        r.split,
        fmt(r.final.step),
        fmt(r.metric("success")),
        f"{low:.3f}–{high:.3f}",
        task_metrics(r.final.metrics),
        fmt(pass_k),
        fmt(r.metric("turns"), 2),
        fmt(r.metric("tokens_per_s"), 1),
        f"{fmt(r.metric('success', 'best'))} ({fmt(r.best.step)})",
        fmt(r.steps),
        clock(r.wall_s),
    ]


def pair_cells(p: PairComparison) -> list[str]:
    """The cells of one pairwise comparison, in PAIR_HEADERS order (plain text)."""
    d = p.difference
    return [
        p.split,
        p.run_a,
        p.run_b,
        *difference_cells(d),
        str(len(p.gained)),
        str(len(p.lost)),
        "paired" if d.paired else "unpaired",
    ]


def difference_cells(d: Difference) -> list[str]:
    """Δ success, its 95% interval, the p-value and the verdict, as table cells."""
    return [d.delta_text, d.interval_text, f"{d.p_value:.3g}", d.verdict]


def summary_rows(runs: list[RunRecord], split: str | None) -> list[SummaryRow]:
    rows = []
    for run in runs:
        for name in run.splits():
            if split and name != split:
                continue
            final, best = run.final_eval(name), run.best_eval(name)
            if final and best:
                rows.append(SummaryRow(run.label, name, final, best, run.steps, run.wall_s))
    return rows


def differing_keys(runs: list[RunRecord]) -> list[tuple[str, list[Any]]]:
    """Config keys whose values differ between runs (run paths and descriptions excluded)."""
    flat = [flatten(run.config) for run in runs]
    keys = sorted(set().union(*flat)) if flat else []
    out = []
    for key in keys:
        if key.startswith(IGNORED_KEYS):
            continue
        values = [f.get(key, "—") for f in flat]
        if any(v != values[0] for v in values[1:]):
            out.append((key, values))
    return out


def _flips(run_a: RunRecord, a: EvalRecord, run_b: RunRecord, b: EvalRecord) -> tuple[list[Flip], list[Flip]]:
    gained, lost = [], []
    for task in sorted(set(a.per_example) & set(b.per_example)):
        first_a, first_b = a.per_example[task][0], b.per_example[task][0]
        if first_a != first_b:
            transcript_a, transcript_b = a.transcript(task), b.transcript(task)
            flip = Flip(
                task,
                run_b.label if first_b else run_a.label,
                transcript_a,
                transcript_b,
                show_episode_command(run_a, a, transcript_a),
                show_episode_command(run_b, b, transcript_b),
            )
            (gained if first_b else lost).append(flip)
    return gained, lost


def compare_pairs(runs: list[RunRecord], split: str | None) -> list[PairComparison]:
    """Every later run against the first, per split both evaluated (final evaluations)."""
    if len(runs) < 2:
        return []
    base = runs[0]
    out = []
    for other in runs[1:]:
        for name in sorted(set(base.splits()) & set(other.splits())):
            if split and name != split:
                continue
            a, b = base.final_eval(name), other.final_eval(name)
            assert a is not None and b is not None
            shared = set(a.per_example) & set(b.per_example)
            if shared:
                diff = paired_difference(a.per_example, b.per_example)
            elif a.per_example and b.per_example:  # the task is the unit, not each of its k samples
                diff = unpaired_task_difference(a.per_example, b.per_example)
            else:  # an evaluation file without per-task results: as many trials as tasks (conservative when k > 1)
                diff = unpaired_difference(
                    a.metrics.get("success", 0.0),
                    int(a.metrics.get("examples", 0)),
                    b.metrics.get("success", 0.0),
                    int(b.metrics.get("examples", 0)),
                )
            gained, lost = _flips(base, a, other, b)
            out.append(PairComparison(name, base.label, other.label, diff, gained, lost))
    return out


@dataclass
class WithinRun:
    """How one run's success changed between two of its evaluations (paired over the shared tasks)."""

    run: str
    split: str
    start: str
    end: str
    difference: Difference


WITHIN_HEADERS = ("run", "split", "from", "to", "Δ success", "95% CI", "p", "verdict")


def _step_label(record: EvalRecord) -> str:
    if record.step is not None and record.step < 0:
        return "base (before warm start)"
    return f"step {record.step}"


def within_run_changes(runs: list[RunRecord], split: str | None) -> list[WithinRun]:
    """Per run and split with several evaluations: first against final and, when a base evaluation came before
    a warm start, step 0 against final too (what RL added on top of the warm start)."""
    out = []
    for run in runs:
        for name in run.splits():
            if split and name != split:
                continue
            evals = sorted((e for e in run.evals if e.split == name and e.step is not None), key=lambda e: e.step)
            if len(evals) < 2:
                continue
            final = evals[-1]
            starts = [evals[0]]
            if evals[0].step < 0 and len(evals) > 2 and evals[1].step == 0:
                starts.append(evals[1])
            for start in starts:
                if set(start.per_example) & set(final.per_example):
                    diff = paired_difference(start.per_example, final.per_example)
                    out.append(WithinRun(run.label, name, _step_label(start), _step_label(final), diff))
    return out


def within_cells(w: WithinRun) -> list[str]:
    return [w.run, w.split, w.start, w.end, *difference_cells(w.difference)]
