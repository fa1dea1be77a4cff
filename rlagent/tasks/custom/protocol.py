"""How tool calls travel between the model and the environment.

Both protocols read the model's calls in the Hermes/Qwen format, one or more of

    <tool_call>{"name": "get_order", "arguments": {"order_id": 17}}</tool_call>

and a reply without a tool call is the final answer that ends the episode (TRL's rule). Small models often
drop the tags: a reply that is nothing but such a JSON object (or a list of them), bare or in a ``` fence,
naming a known tool, is read as the same call.

- `tools`: the JSON schemas go to the chat template's `tools=`; results come back as `tool` messages.
- `text`: for chat templates without tool support, a system message lists the schemas and the format;
  generation stops at `</tool_call>` (one call per turn) and the result comes back in a user message as
  `<tool_response>...</tool_response>`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

_THINK = re.compile(r"<think>.*?(</think>|$)", re.DOTALL)
_CALL = re.compile(r"<tool_call>(.*?)</tool_call>", re.DOTALL)
_FENCE = re.compile(r"^```[a-z]*\s*(.*?)\s*```$", re.DOTALL)

TEXT_STOP = ["</tool_call>"]

TEXT_INSTRUCTIONS = """You can call tools to help you. These are the tools, as JSON schemas:
<tools>
{schemas}
</tools>
To call a tool, write one call and stop:
<tool_call>{{"name": "<tool name>", "arguments": {{<arguments as JSON>}}}}</tool_call>
The result comes back inside <tool_response></tool_response>. When you need no more tools, reply without \
a tool call: that reply is your final answer."""


@dataclass
class ToolCall:
    name: str
    arguments: dict[str, Any]


def strip_think(text: str) -> str:
    return _THINK.sub(" ", text)


def _untagged(body: str, known: list[str]) -> list[str]:
    """JSON blocks of a reply that is only a call object (or a list of them) naming known tools, else []."""
    text = body.strip()
    fenced = _FENCE.match(text)
    text = fenced.group(1) if fenced else text
    if not text.startswith(("{", "[")):
        return []
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):  # not JSON, nested too deep, or an integer too long to read
        return []
    items = value if isinstance(value, list) else [value]
    if items and all(
        isinstance(i, dict) and i.get("name") in known and isinstance(i.get("arguments", {}), dict) for i in items
    ):
        return [json.dumps(i) for i in items]
    return []


def parse_calls(text: str, known: list[str]) -> list[ToolCall] | str:
    """The tool calls of a model turn ([] for a final answer), or what to tell the model about a bad call."""
    body = strip_think(text)
    blocks = _CALL.findall(body)
    names = ", ".join(known)
    if not blocks:
        if "<tool_call>" in body:
            return "The <tool_call> was not closed with </tool_call>."
        blocks = _untagged(body, known)
        if not blocks:
            return []
    calls = []
    for block in blocks:
        try:
            call = json.loads(block)
        except json.JSONDecodeError as exc:
            return f'A tool call is not valid JSON ({exc.msg}); write {{"name": ..., "arguments": {{...}}}}.'
        except (ValueError, RecursionError):  # nested too deep, or an integer too long for Python to read
            return "A tool call is not JSON that can be read (nested too deep or a number too long)."
        if not isinstance(call, dict) or not isinstance(call.get("name"), str):
            return 'A tool call is {"name": ..., "arguments": {...}}.'
        arguments = call.get("arguments", call.get("parameters", {}))
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments) if arguments.strip() else {}
            except (ValueError, RecursionError):
                return f"The arguments of {call['name']} are not a JSON object."
        if arguments is None:
            arguments = {}
        if not isinstance(arguments, dict):
            return f"The arguments of {call['name']} must be a JSON object."
        if call["name"] not in known:
            return f"Unknown tool '{call['name']}'. The tools are: {names}."
        calls.append(ToolCall(call["name"], arguments))
    return calls


def text_instructions(schemas: list[dict[str, Any]]) -> str:
    """The system text of the `text` protocol: the tools' schemas and the call format."""
    return TEXT_INSTRUCTIONS.format(schemas="\n".join(json.dumps(s, ensure_ascii=False) for s in schemas))


def observation(results: list[tuple[str, str]], tools_mode: bool) -> str:
    """The environment message after a turn's calls: (tool name, result text) pairs."""
    if tools_mode:
        if len(results) == 1:
            return results[0][1]
        return "\n\n".join(f"[{name}] {text}" for name, text in results)
    return "\n".join(f"<tool_response>\n{text}\n</tool_response>" for _, text in results)


def assistant_message(text: str, calls: list[ToolCall]) -> dict[str, Any]:
    """The model's turn as a TRL completion message (content plus structured tool_calls)."""
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if calls:
        message["tool_calls"] = [
            {"type": "function", "function": {"name": c.name, "arguments": c.arguments}} for c in calls
        ]
    return message
