"""Render evaluation metrics as a rich table."""

from __future__ import annotations

from rich.table import Table

HEADLINE = (
    "success",
    "success_ci_low",
    "success_ci_high",
    "success_first",
    "success_first_ci_low",
    "success_first_ci_high",
    "em",
    "f1",
    "reward",
    "turns",
    "tool_calls",
    "malformed_rate",
    "truncation_rate",
    "retrieved_gold",
    "tokens_per_s",
    "wall_s",
)


def metrics_table(title: str, metrics: dict[str, float]) -> Table:
    """Headline metrics first (pass@k and mean@k included), then the rest alphabetically."""
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    keys = [k for k in HEADLINE if k in metrics]
    keys += sorted(k for k in metrics if k.startswith(("pass@", "mean@")))
    keys += sorted(k for k in metrics if k not in keys)
    for key in keys:
        value = metrics[key]
        table.add_row(key, f"{value:.4g}" if isinstance(value, float) else str(value))
    return table
