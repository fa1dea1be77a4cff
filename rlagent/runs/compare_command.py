"""The `rlagent compare-runs` command."""

from __future__ import annotations

from pathlib import Path

from rlagent.errors import NotBuiltError


def compare_command(runs: list[Path], split: str | None, output: Path | None) -> None:
    raise NotBuiltError("`rlagent compare-runs` is not built yet in this version")
