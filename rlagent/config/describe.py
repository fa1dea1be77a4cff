"""Walk the structured configs to list every key with its type, default and help text."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from rlagent.config.schema import RecipeConfig


def _type_name(tp: Any) -> str:
    return str(tp).replace("typing.", "").replace("<class '", "").replace("'>", "")


def describe_keys(
    section: str | None = None, cls: type = RecipeConfig, prefix: str = ""
) -> list[tuple[str, str, str, str]]:
    """Rows of (key, type, default, help) for every leaf field, optionally only under `section`."""
    rows = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        key = f"{prefix}{f.name}"
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            rows.extend(describe_keys(None, tp, f"{key}."))
            continue
        if f.default is not dataclasses.MISSING:
            default = repr(f.default)
        elif f.default_factory is not dataclasses.MISSING:
            default = repr(f.default_factory())
        else:
            default = "(required)"
        help_text = f.metadata.get("help", "")
        if f.metadata.get("choices"):
            help_text += f" One of: {', '.join(f.metadata['choices'])}."
        rows.append((key, _type_name(tp), default, help_text))
    if section:
        rows = [r for r in rows if r[0] == section or r[0].startswith(section.rstrip(".") + ".")]
    return rows
