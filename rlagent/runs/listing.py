"""`rlagent runs list`: the run directories under a folder, one row each, oldest first."""

from __future__ import annotations

import os
from pathlib import Path

from rlagent.runs.load import RunRecord, SkippedRun, read_run
from rlagent.runs.progress import (
    clock,
    eval_text,
    headline_evals,
    local_time,
    started_unix,
    status_label,
    steps_text,
    wall_s,
)
from rlagent.runs.rundir import STATUS

LIST_HEADERS = ("run", "recipe", "status", "steps", "best eval", "last eval", "started", "wall time")


def find_run_dirs(root: Path) -> list[Path]:
    """Folders under `root` (itself included) holding a run.json; a run directory's own folders are not searched."""
    found = []
    for folder, subdirs, files in os.walk(root):
        if STATUS in files:
            found.append(Path(folder))
            subdirs.clear()
        else:
            subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
    return found


def read_runs(root: Path) -> tuple[list[RunRecord], list[str]]:
    """The readable runs under `root` sorted by start time, and why the others were skipped."""
    runs, skipped = [], []
    for path in find_run_dirs(root):
        try:
            runs.append(read_run(path))
        except SkippedRun as exc:
            skipped.append(str(exc))
    runs.sort(key=lambda run: (started_unix(run) or 0.0, str(run.path)))
    return runs, skipped


def list_cells(run: RunRecord, root: Path) -> list[str]:
    """The cells of one run, in LIST_HEADERS order."""
    best, last = headline_evals(run)
    name = run.path.relative_to(root).as_posix() if run.path != root else "."
    return [
        name,
        run.recipe,
        status_label(run),
        steps_text(run),
        eval_text(best),
        eval_text(last),
        local_time(started_unix(run)),
        clock(wall_s(run)),
    ]
