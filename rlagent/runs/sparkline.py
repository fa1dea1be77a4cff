"""Text sparklines: a curve in one line of block characters, for tables in the terminal."""

from __future__ import annotations

from collections.abc import Sequence

BLOCKS = "▁▂▃▄▅▆▇█"


def _buckets(values: Sequence[float], width: int) -> list[float]:
    """At most `width` points: consecutive values averaged in equal-sized buckets."""
    if len(values) <= width:
        return list(values)
    out = []
    for i in range(width):
        chunk = values[i * len(values) // width : (i + 1) * len(values) // width]
        out.append(sum(chunk) / len(chunk))
    return out


def sparkline(values: Sequence[float], width: int = 40) -> str:
    """One block per value (bucket means beyond `width`), scaled from the smallest to the largest value."""
    points = _buckets(values, width)
    if not points:
        return ""
    low, high = min(points), max(points)
    if high == low:
        return BLOCKS[len(BLOCKS) // 2 - 1] * len(points)
    top = len(BLOCKS) - 1
    return "".join(BLOCKS[round((v - low) / (high - low) * top)] for v in points)
