"""Tool calls as OpenAI chat messages, for transcripts sent back to an OpenAI-compatible server.

A strict server (OpenAI's own, or a chat template that checks) accepts a `tool` message only as the answer,
by `tool_call_id`, to a call of the assistant message before it, and wants every call answered before the
conversation goes on. The text engine keeps the assistant's calls with their ids (`assistant_message`), and
the loop answers them with `tool_replies`; environment feedback on a turn that made no call goes back as a
`user` message.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

_CALL = re.compile(r"<tool_call>(.*?)</tool_call>", re.DOTALL)


def new_call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


def tool_call(name: str, arguments: str, call_id: str | None = None) -> dict[str, Any]:
    """One call in OpenAI's shape; `arguments` is the JSON text of the arguments object."""
    return {"id": call_id or new_call_id(), "type": "function", "function": {"name": name, "arguments": arguments}}


def calls_in_text(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Hermes-style `<tool_call>{"name": ..., "arguments": {...}}</tool_call>` blocks of a reply the server did
    not parse (no tool parser): the text outside them and the calls with fresh ids; ([] when none, or when any
    block is not a call, so that the environment reports the malformed call)."""
    blocks = _CALL.findall(text)
    calls = []
    for block in blocks:
        try:
            call = json.loads(block)
        except json.JSONDecodeError:
            return text, []
        if not isinstance(call, dict) or not isinstance(call.get("name"), str):
            return text, []
        arguments = call.get("arguments", {})
        if not isinstance(arguments, str):
            arguments = json.dumps(arguments, ensure_ascii=False)
        calls.append(tool_call(call["name"], arguments))
    if not calls:
        return text, []
    return _CALL.sub("", text).strip(), calls


def assistant_message(content: str, calls: list[dict[str, Any]]) -> dict[str, Any]:
    """The assistant's turn as sent back: its text, and its calls (ids kept) when it made any."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if calls:
        message["tool_calls"] = calls
    return message


def tool_replies(
    assistant: dict[str, Any], observation: str, role: str, per_call: list[str] | None = None
) -> list[dict[str, Any]]:
    """The environment's answer to `assistant` as messages a strict server accepts.

    With `role="tool"` and calls in `assistant`: one `tool` message per call, by id; each carries its own
    result when the environment gave one per call (`per_call`), else the observation. Otherwise one message
    in `role`, with `tool` replaced by `user` (there is no call to answer)."""
    calls = assistant.get("tool_calls") or []
    if role != "tool" or not calls:
        return [{"role": "user" if role == "tool" else role, "content": observation}]
    results = per_call if per_call is not None and len(per_call) == len(calls) else [observation] * len(calls)
    return [
        {"role": "tool", "tool_call_id": call["id"], "name": call["function"]["name"], "content": result}
        for call, result in zip(calls, results, strict=True)
    ]


def transcript_problems(messages: list[dict[str, Any]]) -> list[str]:
    """What a strict server would refuse in a transcript: tool messages that answer no pending call, calls
    without ids, calls left unanswered when the conversation goes on. [] when it is well formed."""
    problems: list[str] = []
    pending: list[str] = []
    for i, message in enumerate(messages):
        role = message.get("role")
        if role == "tool":
            call_id = message.get("tool_call_id")
            if call_id not in pending:
                problems.append(f"message {i}: a tool message answers no pending call (tool_call_id={call_id!r})")
            else:
                pending.remove(call_id)
            continue
        if pending:
            problems.append(f"message {i}: calls {', '.join(pending)} were not answered")
            pending = []
        for call in (message.get("tool_calls") or []) if role == "assistant" else []:
            if not call.get("id"):
                problems.append(f"message {i}: a tool call has no id")
            else:
                pending.append(call["id"])
    return problems
