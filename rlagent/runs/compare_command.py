"""The `rlagent compare-runs` command: tables in the terminal, optionally an HTML report with plots."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from rlagent.errors import UserError
from rlagent.runs.compare import compare_pairs, differing_keys, summary_rows
from rlagent.runs.files import write_text_atomic
from rlagent.runs.load import RunRecord, SkippedRun, load_run
from rlagent.ui import err_console, out_console


def _fmt(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _short(value: object, width: int = 40) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def load_runs(paths: list[Path]) -> tuple[list[RunRecord], list[str]]:
    runs, skipped = [], []
    for path in paths:
        try:
            runs.append(load_run(path))
        except SkippedRun as exc:
            skipped.append(str(exc))
            err_console.print(f"[yellow]warning:[/] skipping {exc}", highlight=False, soft_wrap=True)
    return runs, skipped


def compare_command(paths: list[Path], split: str | None, output: Path | None) -> None:
    runs, skipped = load_runs(paths)
    if not runs:
        raise UserError("no usable run directory among the arguments (see the warnings above)")
    rows = summary_rows(runs, split)
    if split and not rows:
        raise UserError(f"no run has an evaluation on split '{split}'")
    pairs = compare_pairs(runs, split)
    diffs = differing_keys(runs)

    table = Table(title="final (and best) evaluation per run and split")
    for column in (
        "run",
        "split",
        "step",
        "success",
        "95% CI",
        "EM",
        "F1",
        "pass@k",
        "turns",
        "tokens/s",
        "best (step)",
        "train steps",
        "wall s",
    ):
        table.add_column(column, overflow="fold")
    for r in rows:
        low, high = r.interval
        pass_k = next((v for k, v in r.final.metrics.items() if k.startswith("pass@")), None)
        table.add_row(
            r.run,
            r.split,
            str(r.final.step if r.final.step is not None else "—"),
            _fmt(r.metric("success")),
            f"{low:.3f}–{high:.3f}",
            _fmt(r.metric("em")),
            _fmt(r.metric("f1")),
            _fmt(pass_k),
            _fmt(r.metric("turns"), 2),
            _fmt(r.metric("tokens_per_s"), 1),
            f"{_fmt(r.metric('success', 'best'))} ({'—' if r.best.step is None else r.best.step})",
            str(r.steps),
            _fmt(r.wall_s, 0),
        )
    out_console.print(table)

    if pairs:
        table = Table(title=f"against {runs[0].label}")
        for column in ("split", "run", "Δ success", "95% CI", "p", "verdict", "gained", "lost"):
            table.add_column(column)
        for p in pairs:
            d = p.difference
            style = "dim" if d.within_noise else ("green" if d.delta > 0 else "red")
            table.add_row(
                p.split,
                p.run_b,
                f"{d.delta:+.3f}",
                f"{d.low:+.3f} to {d.high:+.3f}",
                f"{d.p_value:.3g}",
                f"[{style}]{d.verdict}[/]",
                str(len(p.gained)),
                str(len(p.lost)),
            )
        out_console.print(table)

    if diffs:
        table = Table(title="configuration keys that differ")
        table.add_column("key")
        for run in runs:
            table.add_column(run.label, overflow="fold")
        for key, values in diffs:
            table.add_row(key, *[_short(v) for v in values])
        out_console.print(table)

    if output:
        from rlagent.runs.plots import plot_curves
        from rlagent.runs.report import render_report

        plots = plot_curves(runs, output.parent / f"{output.stem}_plots")
        write_text_atomic(output, render_report(runs, rows, pairs, diffs, plots, skipped))
        out_console.print(
            f"report: {output} (plots in {output.parent / f'{output.stem}_plots'})", highlight=False, soft_wrap=True
        )
