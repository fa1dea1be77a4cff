"""Reading a user's task rows: strict JSON Lines (a bad line is a one-line error naming it) and the Hub's
split names. Shared by the search and custom suites."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rlagent.errors import UserError

HUB_SPLIT_ALIASES = {"dev": ("validation", "dev", "test"), "train": ("train",)}
"""rlagent's split -> the Hub split names tried for it, in order."""


def read_jsonl_strict(path: Path) -> list[Any]:
    """Every row of a JSON Lines file; a line that is not JSON stops with `path:line: not valid JSON`."""
    rows = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise UserError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
    return rows
