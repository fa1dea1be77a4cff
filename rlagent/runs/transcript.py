"""One stored episode as text a person reads: the task, each model turn with its tool calls, each observation,
how it ended, the reward and the verifier's verdict (`rlagent runs show RUN --episode ID`)."""

from __future__ import annotations

import json
from typing import Any

from rlagent.runs.episodes import StoredEpisode

Line = tuple[str, str]  # (text, rich style)

_COUNTED = ("turns", "tool_calls", "malformed", "truncated", "model_tokens")  # shown with the turns instead
_ENDINGS = {
    "done": "the episode finished",
    "max_turns": "the turn limit was reached",
    "max_tokens": "the token budget ran out (truncated)",
    "error": "the episode errored",
}
_PREVIEW = 100
_STATE_VALUE = 300


def _indent(text: str) -> list[Line]:
    return [(f"  {line}", "") for line in (text.splitlines() or [""])]


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _prompt_end(messages: list[dict[str, Any]], turns: int) -> int:
    """Index of the episode's first model message: the last `turns` assistant messages are the episode's own
    (the prompt may hold a demonstration with assistant messages of its own)."""
    assistant = [i for i, m in enumerate(messages) if m.get("role") == "assistant"]
    if turns <= 0 or turns > len(assistant):
        return len(messages)
    return assistant[len(assistant) - turns]


def _calls(message: dict[str, Any]) -> list[Line]:
    out = []
    for call in message.get("tool_calls") or []:
        fn = call.get("function", call)
        arguments = fn.get("arguments")
        if not isinstance(arguments, str):
            arguments = json.dumps(arguments, ensure_ascii=False)
        out.append((f"  → call {fn.get('name')} {arguments}  [{call.get('id', 'no id')}]", "cyan"))
    return out


def _verdict(record: dict[str, Any]) -> list[Line]:
    lines: list[Line] = [("verdict", "bold")]
    success = "yes" if record.get("success") else "no"
    lines.append((f"  reward {_number(float(record.get('reward', 0.0)))}   success {success}", ""))
    if record.get("errored"):
        lines.append((f"  errored, not the model's doing: {record.get('error') or 'see the state below'}", "bold red"))
    metrics = {k: v for k, v in (record.get("metrics") or {}).items() if k not in _COUNTED}
    if metrics:
        lines.append(("  " + "  ".join(f"{k} {_number(v)}" for k, v in metrics.items()), ""))
    for key, value in (record.get("env_state") or {}).items():
        if value is None or value == [] or value == {}:
            continue
        if key == "evaluation" and isinstance(value, dict) and ("passes" in value or "failures" in value):
            for test in value.get("passes") or []:
                lines.append((f"  ✓ {test.get('requirement')}", "green"))
            for test in value.get("failures") or []:
                trace = test.get("trace")
                lines.append((f"  ✗ {test.get('requirement')}" + (f" ({trace})" if trace else ""), "red"))
            continue
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        if len(text) > _STATE_VALUE:
            text = text[:_STATE_VALUE] + f"… ({len(text) - _STATE_VALUE} more characters)"
        lines.append((f"  {key}: {text}", "dim"))
    return lines


def render_episode(stored: StoredEpisode, record: dict[str, Any], run_name: str) -> list[Line]:
    """The lines of one episode, in reading order."""
    turns: list[dict[str, Any]] = record.get("turns") or []
    messages: list[dict[str, Any]] = record.get("messages") or []
    lines: list[Line] = [(f"episode {stored.id} of run {run_name}", "bold")]
    lines.append((f"  file {stored.path.parent.name}/{stored.path.name}, line {stored.line}", "dim"))
    if record.get("question") is not None:
        lines.append((f"  question: {record['question']}", ""))
    if record.get("gold") is not None:
        gold = record["gold"]
        lines.append((f"  gold: {' | '.join(map(str, gold)) if isinstance(gold, list) else gold}", ""))
    ending = record.get("finish_reason") or "?"
    lines.append(
        (
            f"  {len(turns)} turns, {_ENDINGS.get(ending, ending)}; tokens: {record.get('prompt_tokens', 0)} prompt, "
            f"{record.get('completion_tokens', 0)} after it ({record.get('model_tokens', 0)} by the model)",
            "",
        )
    )
    lines += _verdict(record)

    start = _prompt_end(messages, len(turns))
    prompt = messages[:start]
    lines.append(("", ""))
    lines.append((f"── prompt ({len(prompt)} messages) ──", "bold"))
    for i, message in enumerate(prompt):
        content = str(message.get("content") or "")
        if i == len(prompt) - 1:  # the task itself, in full
            lines.append((f"{message.get('role')}:", "bold"))
            lines += _indent(content)
        else:
            preview = " ".join(content.split())
            if len(preview) > _PREVIEW:
                preview = preview[:_PREVIEW] + f"… ({len(content)} characters)"
            lines.append((f"{message.get('role')}: {preview}", "dim"))

    turn = 0
    for message in messages[start:]:
        role = message.get("role")
        if role == "assistant":
            turn += 1
            info = turns[turn - 1] if turn <= len(turns) else {}
            notes = []
            if info.get("finish_reason") == "length":
                notes.append("cut at the turn's token limit")
            if info.get("malformed"):
                notes.append("malformed")
            if info.get("tool_calls"):
                notes.append(f"{info['tool_calls']} tool call{'s' if info['tool_calls'] != 1 else ''}")
            lines.append(("", ""))
            lines.append((f"── turn {turn} · model{' (' + ', '.join(notes) + ')' if notes else ''} ──", "bold"))
            lines += _indent(str(message.get("content") or ""))
            lines += _calls(message)
        else:
            answering = f" → result of {message['tool_call_id']}" if message.get("tool_call_id") else ""
            lines.append((f"── turn {turn} · environment ({role}{answering}) ──", "bold yellow"))
            lines += _indent(str(message.get("content") or ""))
    lines.append(("", ""))
    lines.append((f"── end: {_ENDINGS.get(ending, ending)} ──", "bold"))
    return lines


def episode_cells(stored: StoredEpisode, record: dict[str, Any]) -> list[str]:
    """One row of a source's episode list: id, reward, success, turns, how it ended, the question."""
    question = " ".join(str(record.get("question") or "").split())
    if len(question) > 80:
        question = question[:80] + "…"
    return [
        stored.id,
        _number(float(record.get("reward", 0.0))),
        "yes" if record.get("success") else "no",
        str(len(record.get("turns") or [])),
        str(record.get("finish_reason") or ""),
        question,
    ]
