"""The action of a code-agent turn: every ```python block of the reply, in order.

An unterminated final block counts (the model was cut off or stopped early); a reply without any
code gets an observation that says how to write one.
"""

from __future__ import annotations

import re

_BLOCK = re.compile(r"```([\w+-]*)[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL)
PYTHON_TAGS = ("python", "py", "python3", "")
"""Fences whose code runs: tagged python (or untagged); ```json, ```text and the like are skipped."""
NO_CODE = (
    "Your reply has no code. Write the next step as Python in a ```python block, or finish with "
    "apis.supervisor.complete_task(...)."
)


def extract_code(text: str) -> str | None:
    """The concatenated code blocks of a reply, or None when there are none."""
    text = re.sub(r"<think>.*?</think>", "", text, flags=re.DOTALL)
    blocks = [body.strip("\n") for tag, body in _BLOCK.findall(text) if tag.lower() in PYTHON_TAGS]
    blocks = [b for b in blocks if b.strip()]
    return "\n".join(blocks) if blocks else None


def cut_output(output: str, limit: int) -> str:
    """Outputs longer than `limit` characters keep their start, with a marker saying what was cut."""
    if len(output) <= limit:
        return output
    return output[:limit] + f"\n[output truncated: {len(output) - limit} more characters not shown]"
