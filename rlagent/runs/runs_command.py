"""The `rlagent runs list` and `rlagent runs show` commands: tables in the terminal (readable when piped)."""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape
from rich.table import Table
from rich.text import Text

from rlagent.errors import UserError
from rlagent.runs.details import CURVE_HEADERS, EVAL_HEADERS, config_summary, curves, eval_cells, evaluations, run_facts
from rlagent.runs.listing import LIST_HEADERS, list_cells, read_runs
from rlagent.runs.liveness import DIED
from rlagent.runs.load import SkippedRun, read_run
from rlagent.runs.rundir import STATUS
from rlagent.ui import err_console, out_console

STATUS_STYLES = {"running": "cyan", "completed": "green", "failed": "red", "interrupted": "magenta", DIED: "yellow"}


def _warn(message: str) -> None:
    err_console.print(f"[yellow]warning:[/] skipping {escape(message)}", highlight=False, soft_wrap=True)


def list_command(root: Path) -> None:
    if not root.exists():
        raise UserError(f"runs folder '{root}' does not exist")
    if not root.is_dir():
        raise UserError(f"'{root}' is not a folder")
    runs, skipped = read_runs(root)
    for message in skipped:
        _warn(message)
    if not runs:
        out_console.print(f"no run directories under {root}", highlight=False, soft_wrap=True)
        return
    table = Table(title=f"runs under {root}")
    for column in LIST_HEADERS:
        table.add_column(column, overflow="fold")
    for run in runs:
        cells = [escape(cell) for cell in list_cells(run, root)]
        status = cells[LIST_HEADERS.index("status")]
        if status in STATUS_STYLES:
            cells[LIST_HEADERS.index("status")] = f"[{STATUS_STYLES[status]}]{status}[/]"
        table.add_row(*cells)
    out_console.print(table)


def _pairs_table(title: str, rows: list[tuple[str, str]]) -> Table:
    table = Table(title=title, show_header=False)
    table.add_column("key", style="bold")
    table.add_column("value", overflow="fold")
    for key, value in rows:
        table.add_row(key, Text(value))
    return table


def show_command(path: Path, episode: str | None = None) -> None:
    if not (path / STATUS).is_file():
        raise UserError(f"'{path}' is not a run directory (no {STATUS})")
    if episode is not None:
        episode_command(path, episode)
        return
    try:
        run = read_run(path)
    except SkippedRun as exc:
        raise UserError(str(exc)) from None
    out_console.print(_pairs_table(f"run {run.path.name}", run_facts(run)))
    out_console.print(_pairs_table("configuration", config_summary(run)))

    records = evaluations(run)
    if records:
        table = Table(title="evaluations")
        for column in EVAL_HEADERS:
            table.add_column(column, overflow="fold")
        for record in records:
            table.add_row(*(Text(cell) for cell in eval_cells(record)))
        out_console.print(table)
    else:
        out_console.print("no evaluations yet", highlight=False)

    lines = curves(run)
    if lines:
        table = Table(title="per-step curves (first to last step)")
        for column in CURVE_HEADERS:
            table.add_column(column, overflow="fold" if column != "per step" else "crop", no_wrap=column == "per step")
        for curve in lines:
            table.add_row(*curve.cells())
        out_console.print(table)
    else:
        out_console.print("no training metrics yet", highlight=False)


def episode_command(path: Path, wanted: str) -> None:
    """One stored episode, turn by turn (`runs show RUN --episode ID`)."""
    from rlagent.runs.episodes import find_episode, source_episodes
    from rlagent.runs.transcript import episode_cells, render_episode

    listed = source_episodes(path, wanted)
    if listed is not None:
        table = Table(title=f"episodes of {wanted.strip().removesuffix(':')} in {path.resolve().name}")
        for column in ("episode", "reward", "success", "turns", "ended", "question"):
            table.add_column(column, overflow="fold")
        for stored in listed:
            table.add_row(*(Text(cell) for cell in episode_cells(stored, stored.record())))
        out_console.print(table)
        return
    stored = find_episode(path, wanted)
    for text, style in render_episode(stored, stored.record(), path.resolve().name):
        out_console.print(Text(text, style=style), soft_wrap=True)
