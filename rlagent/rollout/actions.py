"""Parse model turns into actions: XML-style tags (Search-R1) and JSON tool calls (Hermes/Qwen format).

A parse never raises on model output: malformed text becomes an `ActionError` whose message is
shown to the agent as the next observation.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

_THINK = re.compile(r"<think>.*?(</think>|$)", re.DOTALL)
_TOOL_CALL = re.compile(r"<tool_call>(.*?)</tool_call>", re.DOTALL)


@dataclass
class Action:
    """A well-formed action: its name (tag or tool) and arguments."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass
class ActionError:
    """Malformed output and what to tell the agent about it."""

    message: str


def _strip_think(text: str) -> str:
    return _THINK.sub(" ", text)


def parse_tag_action(text: str, tags: tuple[str, ...]) -> Action | ActionError:
    """The first complete `<tag>content</tag>` among `tags`, outside <think> blocks.

    Errors: no tag, an unclosed tag, an empty tag, or a tag given twice (e.g. two answers).
    """
    body = _strip_think(text)
    found: list[tuple[int, str, str]] = []
    listing = " or ".join(f"<{t}>...</{t}>" for t in tags)
    for tag in tags:
        opens = [m.start() for m in re.finditer(f"<{tag}>", body)]
        closes = len(re.findall(f"</{tag}>", body))
        if len(opens) > 1:
            return ActionError(f"Your response has {len(opens)} <{tag}> tags; write exactly one {listing}.")
        if opens and not closes:
            return ActionError(f"The <{tag}> tag was not closed; write <{tag}>...</{tag}>.")
        if closes and not opens:
            return ActionError(f"Found </{tag}> without an opening <{tag}>; write <{tag}>...</{tag}>.")
        if opens:
            match = re.search(f"<{tag}>(.*?)</{tag}>", body, re.DOTALL)
            if match is None:
                return ActionError(f"The <{tag}> tag is closed before it opens; write <{tag}>...</{tag}>.")
            content = match.group(1).strip()
            if not content:
                return ActionError(f"The <{tag}> tag is empty; put your text inside <{tag}>...</{tag}>.")
            found.append((opens[0], tag, content))
    if not found:
        return ActionError(f"Your response contains no action. Write {listing}.")
    _, tag, content = min(found)
    return Action(tag, {"text": content})


def parse_tool_call(text: str, tools: dict[str, list[str]]) -> Action | ActionError:
    """One `<tool_call>{"name": ..., "arguments": {...}}</tool_call>` naming a known tool.

    `tools` maps each tool name to its required argument names.
    """
    body = _strip_think(text)
    calls = _TOOL_CALL.findall(body)
    names = ", ".join(tools)
    if not calls:
        if "<tool_call>" in body:
            return ActionError("The <tool_call> was not closed with </tool_call>.")
        return ActionError(f"Your response contains no tool call. Call one of: {names}.")
    if len(calls) > 1:
        return ActionError(f"Your response has {len(calls)} tool calls; make exactly one.")
    try:
        call = json.loads(calls[0])
    except json.JSONDecodeError as exc:
        return ActionError(f"The tool call is not valid JSON ({exc.msg}).")
    except (ValueError, RecursionError):  # nested too deep, or an integer too long for Python to read
        return ActionError("The tool call is not JSON that can be read (nested too deep or a number too long).")
    if not isinstance(call, dict) or not isinstance(call.get("name"), str):
        return ActionError('A tool call is {"name": ..., "arguments": {...}}.')
    name, arguments = call["name"], call.get("arguments", {})
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except (ValueError, RecursionError):
            return ActionError(f"The arguments of {name} are not a JSON object.")
    if name not in tools:
        return ActionError(f"Unknown tool '{name}'. Call one of: {names}.")
    if not isinstance(arguments, dict):
        return ActionError(f"The arguments of {name} must be a JSON object.")
    missing = [arg for arg in tools[name] if not str(arguments.get(arg, "")).strip()]
    if missing:
        return ActionError(f"{name} needs a non-empty '{missing[0]}' argument.")
    return Action(name, {k: str(v).strip() for k, v in arguments.items()})


def close_open_tags(text: str, stops: list[str]) -> str:
    """Append a closing stop tag the server cut off (OpenAI servers drop the matched stop string)."""
    for stop in stops:
        opening = stop.replace("</", "<", 1)
        if stop.startswith("</") and text.count(opening) > text.count(stop):
            return text + stop
    return text
