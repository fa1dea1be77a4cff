"""Learning curves of several runs: one PNG per metric, one line per run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rlagent.runs.load import RunRecord


@dataclass(frozen=True)
class Curve:
    key: str
    title: str
    ylabel: str
    log: bool = False


CURVES = (
    Curve("train/reward", "Reward", "mean episode reward"),
    Curve("rollout/success", "Success (training rollouts)", "success rate"),
    Curve("eval/success", "Success (evaluation)", "success rate"),
    Curve("logprob_mismatch/max", "Engine vs trainer logprob mismatch", "max |Δ logprob|", log=True),
    Curve("rollout/tokens_per_s", "Rollout throughput", "generated tokens / s"),
)


def _points(run: RunRecord, key: str) -> tuple[list[int], list[float]]:
    if key == "eval/success":
        rows = [(r["step"], v) for r in run.eval_rows for k, v in r.items() if k.endswith("/success") and v is not None]
        if not rows:  # an eval-only run: its evaluations, at step 0
            rows = [(e.step or 0, e.metrics["success"]) for e in run.evals if "success" in e.metrics]
    else:
        rows = [(r["step"], r[key]) for r in run.train_rows if r.get(key) is not None]
    rows.sort()
    return [s for s, _ in rows], [v for _, v in rows]


def plot_curves(runs: list[RunRecord], folder: Path) -> list[tuple[str, Path]]:
    """Write a PNG per curve that at least one run has; return (title, path) pairs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for curve in CURVES:
        series = [(run.label, *_points(run, curve.key)) for run in runs]
        series = [s for s in series if s[1]]
        if not series:
            continue
        fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=110)
        for label, steps, values in series:
            ax.plot(steps, values, marker="o", markersize=3, linewidth=1.6, label=label)
        ax.set_title(curve.title)
        ax.set_xlabel("training step")
        ax.set_ylabel(curve.ylabel)
        if curve.log and all(v > 0 for _, _, vs in series for v in vs):
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        path = folder / f"{curve.key.replace('/', '_')}.png"
        fig.savefig(path)
        plt.close(fig)
        written.append((curve.title, path))
    return written
