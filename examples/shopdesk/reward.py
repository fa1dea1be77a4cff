"""ShopDesk's reward: did the agent answer right, make the changes the request needs, and nothing else?

Called by rlagent once per finished episode as `score(environment, completion, **row)`:
- `answer` (question rows): the final reply (the episode's last message, without a tool call) must give it
  in at most MAX_WORDS words and give no other candidate: no number the question did not contain, no other
  item or status of the shop, so listing everything seen earns nothing;
- `changes` (action rows): each expected change must be in the database, e.g.
  {"table": "orders", "id": 1017, "set": {"status": "cancelled"}} or
  {"table": "refunds", "insert": {"order_id": 1017, "amount": 59.0}};
- any other change (a wrong refund, an extra cancellation) zeroes the reward.
The reward is the share of checks passed, times 0 if anything else changed; it reads only the database and
the final reply, so the same episode always gets the same reward.
"""

from __future__ import annotations

import re
from typing import Any

from .store import diff, snapshot

MAX_WORDS = 40


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+(?:\.[0-9]+)?", text.lower().replace(",", "").replace("$", ""))


def _numbers(words: list[str]) -> set[float]:
    return {float(w) for w in words if re.fullmatch(r"\d+(?:\.\d+)?", w)}


def _mentions(words: list[str], phrase: str) -> bool:
    target = _words(phrase)
    return bool(target) and any(words[i : i + len(target)] == target for i in range(len(words) - len(target) + 1))


def answer_matches(reply: str, expected: str, question: str, vocabulary: set[str]) -> bool:
    """The reply gives `expected` and no other candidate: for a number, no number the question did not
    contain; for a name (an item, a status), no other name of the shop's vocabulary."""
    words, asked = _words(reply), _words(question)
    if not words or len(words) > MAX_WORDS:
        return False
    target = _words(expected)
    if len(target) == 1 and _numbers(target):
        value = _numbers(target).pop()
        found, allowed = _numbers(words), _numbers(asked) | {value}
        return any(abs(n - value) < 0.005 for n in found) and all(
            any(abs(n - a) < 0.005 for a in allowed) for n in found
        )
    others = {v for v in vocabulary if not _mentions(_words(expected), v) and not _mentions(asked, v)}
    return _mentions(words, expected) and not any(_mentions(words, v) for v in others)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(a - b) < 0.005
    return a == b


def _covers(spec: dict[str, Any], change: dict[str, Any]) -> bool:
    if change["table"] != spec["table"]:
        return False
    if "insert" in spec:
        return change["op"] == "insert" and all(_same(change["row"].get(k), v) for k, v in spec["insert"].items())
    return (
        change["op"] == "update"
        and change["id"] == spec["id"]
        and change["set"].keys() <= spec["set"].keys()
        and all(_same(change["set"][k], spec["set"][k]) for k in change["set"])
    )


def _done(spec: dict[str, Any], changes: list[dict[str, Any]]) -> bool:
    if "insert" in spec:
        return sum(_covers(spec, c) for c in changes) == 1
    return any(_covers(spec, c) and c["set"].keys() == spec["set"].keys() for c in changes)


def _final_reply(completion: list[dict]) -> str:
    """The episode's final answer: its last message, when that is a reply without tool calls."""
    last = completion[-1] if completion else {}
    return last.get("content", "") if last.get("role") == "assistant" and not last.get("tool_calls") else ""


def _question(prompt: Any) -> str:
    if isinstance(prompt, str):
        return prompt
    return " ".join(m["content"] for m in prompt or [] if m["role"] == "user")


def score(environment: Any, completion: list[dict], answer: str | None = None, changes: Any = (), **row: Any) -> dict:
    made = diff(environment.initial, snapshot(environment.db))
    vocabulary = {r[k] for r in environment.initial["orders"].values() for k in ("item", "status")}
    checks = []
    if answer:
        checks.append(answer_matches(_final_reply(completion), answer, _question(row.get("prompt")), vocabulary))
    checks += [_done(spec, made) for spec in changes or ()]
    collateral = any(not any(_covers(spec, c) for spec in changes or ()) for c in made)
    passed = sum(checks) / len(checks) if checks else 0.0
    return {
        "reward": 0.0 if collateral else passed,
        "checks_passed": passed,
        "collateral": float(collateral),
        "rows_changed": float(len(made)),
    }
