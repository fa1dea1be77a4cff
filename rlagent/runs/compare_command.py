"""The `rlagent compare-runs` command: tables in the terminal, optionally an HTML report with plots."""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape
from rich.table import Table

from rlagent.errors import UserError
from rlagent.runs.compare import (
    PAIR_HEADERS,
    SUMMARY_HEADERS,
    WITHIN_HEADERS,
    compare_pairs,
    differing_keys,
    pair_cells,
    summary_cells,
    summary_rows,
    within_cells,
    within_run_changes,
)
from rlagent.runs.files import write_text_atomic
from rlagent.runs.load import RunRecord, SkippedRun, load_run
from rlagent.ui import err_console, out_console


def _short(value: object, width: int = 40) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def expand_folders(paths: list[Path]) -> list[Path]:
    """A folder that is not itself a run (a sweep's, or runs/) stands for the run directories under it."""
    from rlagent.runs.listing import find_run_dirs

    expanded: list[Path] = []
    for path in paths:
        inside = find_run_dirs(path) if path.is_dir() and not (path / "run.json").exists() else []
        expanded.extend(inside or [path])
    return expanded


def load_runs(paths: list[Path]) -> tuple[list[RunRecord], list[str]]:
    runs, skipped = [], []
    for path in expand_folders(paths):
        try:
            runs.append(load_run(path))
        except SkippedRun as exc:
            skipped.append(str(exc))
            err_console.print(f"[yellow]warning:[/] skipping {escape(str(exc))}", highlight=False, soft_wrap=True)
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
    for column in SUMMARY_HEADERS:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*summary_cells(row))
    out_console.print(table)

    within = within_run_changes(runs, split)
    if within:
        table = Table(title="change within each run (paired over the same tasks)")
        for column in WITHIN_HEADERS:
            table.add_column(column)
        for change in within:
            table.add_row(*within_cells(change))
        out_console.print(table)

    if pairs:
        table = Table(title=f"against {runs[0].label}")
        for column in PAIR_HEADERS:
            table.add_column(column)
        for pair in pairs:
            cells = pair_cells(pair)
            d = pair.difference
            style = "dim" if d.within_noise else ("green" if d.delta > 0 else "red")
            cells[PAIR_HEADERS.index("verdict")] = f"[{style}]{d.verdict}[/]"
            table.add_row(*cells)
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
