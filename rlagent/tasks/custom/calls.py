"""One tool call: check the model's arguments, run the tool with its timeout, turn the outcome into text.

Nothing the model writes and nothing a tool raises stops the episode: a bad argument, an unknown tool or
an exception in the tool becomes the observation the model reads next (`Error: ...`), as in TRL. Only a
sync tool that overruns its timeout ends the episode, as errored (its thread cannot be interrupted).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from rlagent.tasks.custom.tools import Tool
from rlagent.tasks.custom.worker import CallTimeout, EpisodeThread


@dataclass
class CallRecord:
    """What one call did, kept in the episode's state (and its transcript)."""

    name: str
    arguments: dict[str, Any]
    error: str | None = None
    timed_out: bool = False
    seconds: float = 0.0


def _coerce(value: Any, hint: Any) -> Any:
    """Small models write numbers as strings: "17" for an int parameter becomes 17; anything else stays as is."""
    try:
        if hint is int and isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
        if hint is int and isinstance(value, float) and value.is_integer():
            return int(value)
        if hint is float and isinstance(value, (str, int)) and not isinstance(value, bool):
            return float(value)
    except ValueError:
        pass
    return value


def bind(tool: Tool, arguments: dict[str, Any]) -> dict[str, Any] | str:
    """The keyword arguments of the call, or what to tell the model about its mistake."""
    unknown = [k for k in arguments if k not in tool.parameters]
    if unknown:
        takes = ", ".join(tool.parameters) or "no arguments"
        return f"{tool.name} has no argument '{unknown[0]}'; it takes: {takes}."
    missing = [k for k in tool.required if k not in arguments]
    if missing:
        return f"{tool.name} needs the argument '{missing[0]}'."
    return {k: _coerce(v, tool.hints.get(k)) for k, v in arguments.items()}


def render(result: Any, limit: int) -> str:
    """A tool's return value as the text the model reads: strings as they are, other values as JSON."""
    if isinstance(result, str):
        text = result
    else:
        try:
            text = json.dumps(result, ensure_ascii=False, default=str)
        except (TypeError, ValueError):
            text = str(result)
    if len(text) > limit:
        text = f"{text[:limit]}\n... [cut: {len(text) - limit} more characters]"
    return text


def run_call(
    instance: Any, tool: Tool, arguments: dict[str, Any], thread: EpisodeThread, timeout: float, limit: int
) -> tuple[str, CallRecord]:
    """Call `tool` on the environment instance; returns the observation text and the record."""
    record = CallRecord(tool.name, dict(arguments))
    kwargs = bind(tool, arguments)
    if isinstance(kwargs, str):
        record.error = kwargs
        return f"Error: {kwargs}", record
    started = time.perf_counter()
    try:
        result = thread.call(getattr(instance, tool.name), timeout=timeout, **kwargs)
        text = render(result, limit)
    except CallTimeout as exc:
        record.timed_out, record.error = True, f"{tool.name} {exc}"
        text = f"Error: {record.error}."
    except Exception as exc:  # the tool raised: the model reads the error, the episode goes on
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        record.error = f"{type(exc).__name__}: {message}"
        text = f"Error: {message}"
    record.seconds = time.perf_counter() - started
    return text, record
