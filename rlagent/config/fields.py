"""`option()`: a dataclass field that carries its help text and, optionally, its allowed values."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

_MISSING: Any = dataclasses.MISSING


def option(
    default: Any = _MISSING,
    *,
    help: str,
    choices: Sequence[str] | None = None,
    factory: Callable[[], Any] | None = None,
) -> Any:
    """A documented config field; `choices` lists the allowed values of a string field."""
    metadata = {"help": help, "choices": tuple(choices) if choices else None}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)
