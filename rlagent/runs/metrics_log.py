"""`metrics.jsonl`: one JSON object per logged training step."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from rlagent.runs.files import read_jsonl, write_jsonl_atomic


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class MetricsLog:
    """Append-only per-step metrics; on resume, rows after the checkpoint's step are dropped."""

    def __init__(self, path: Path):
        self.path = path

    def append(self, step: int, metrics: dict[str, Any]) -> None:
        row = {"step": step, **{k: _clean(v) for k, v in metrics.items()}}
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(row, default=str) + "\n")
            handle.flush()

    def rows(self) -> list[dict]:
        return list(read_jsonl(self.path)) if self.path.exists() else []

    def truncate_after(self, step: int) -> int:
        """Drop rows logged after `step` (they are re-run on resume); return how many were dropped."""
        rows = self.rows()
        kept = [row for row in rows if row.get("step", 0) <= step]
        write_jsonl_atomic(self.path, kept)
        return len(rows) - len(kept)
