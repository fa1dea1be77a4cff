"""Checkpoints: `checkpoints/step-N/`, each made visible only once complete (staged, then renamed)."""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path
from typing import Any

MARKER = "rlagent_checkpoint.json"
_STEP = re.compile(r"^step-(\d+)$")


class CheckpointStore:
    """The complete checkpoints of a run; anything without a marker (a crash mid-save) is ignored."""

    def __init__(self, root: Path):
        self.root = root
        self.staging = root / ".staging"

    def complete(self) -> list[tuple[int, Path]]:
        found = []
        for path in self.root.glob("step-*"):
            match = _STEP.match(path.name)
            if match and (path / MARKER).is_file():
                found.append((int(match.group(1)), path))
        return sorted(found)

    def latest(self) -> Path | None:
        done = self.complete()
        return done[-1][1] if done else None

    def commit(self, staged: Path, step: int, info: dict[str, Any]) -> Path:
        """Mark `staged` complete and move it to step-N in one rename."""
        (staged / MARKER).write_text(json.dumps({"step": step, "time": time.time(), **info}, indent=2) + "\n")
        final = self.root / f"step-{step}"
        if final.exists():  # the same step saved again (e.g. final save after a periodic one)
            self._remove(final)
        staged.rename(final)
        self.clear_staging()
        return final

    def clear_staging(self) -> None:
        """Remove what a save killed mid-way left in the staging folder, so no stale file joins the next save."""
        shutil.rmtree(self.staging, ignore_errors=True)

    @staticmethod
    def _remove(path: Path) -> None:
        """Delete a checkpoint: its marker first, so a kill mid-delete never leaves a partial one counted."""
        (path / MARKER).unlink(missing_ok=True)
        shutil.rmtree(path, ignore_errors=True)

    def prune(self, keep: int | None) -> None:
        if keep:
            for _, path in self.complete()[:-keep]:
                self._remove(path)
