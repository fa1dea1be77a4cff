"""What a task's unit tests look at: the answer, and the difference between the world before and after.

A test is a requirement (one sentence), and a check over `Outcome`. Its AppWorld label
(`no_op_pass` / `no_op_fail`) is not written by hand: the evaluator runs every test on the untouched
world too, so the label says what doing nothing would have scored.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rlagent.worlds.appsim.world import Snapshot


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in row.items():
        if isinstance(value, str) and value.startswith("["):
            with contextlib.suppress(ValueError):
                value = json.loads(value)
        out[key] = value
    return out


@dataclass
class Outcome:
    """The end of an episode as the tests see it."""

    before: Snapshot
    after: Snapshot
    completed: bool
    answer: Any
    status: str | None

    def changed_tables(self) -> set[str]:
        return {t for t in set(self.before) | set(self.after) if self.before.get(t) != self.after.get(t)}

    def added(self, table: str) -> list[dict[str, Any]]:
        old, new = self.before.get(table, {}), self.after.get(table, {})
        return [_decode(row) for key, row in new.items() if key not in old]

    def removed(self, table: str) -> list[dict[str, Any]]:
        old, new = self.before.get(table, {}), self.after.get(table, {})
        return [_decode(row) for key, row in old.items() if key not in new]

    def updated(self, table: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """(before, after) of rows whose key stayed but whose values changed."""
        old, new = self.before.get(table, {}), self.after.get(table, {})
        return [(_decode(old[k]), _decode(new[k])) for k in old if k in new and old[k] != new[k]]

    def rows(self, table: str) -> list[dict[str, Any]]:
        return [_decode(r) for r in self.after.get(table, {}).values()]


Check = Callable[[Outcome], bool]


@dataclass
class Test:
    requirement: str
    check: Check


@dataclass
class Instance:
    """One task made concrete: what the agent is told, the tests, and a reference solution."""

    instruction: str
    tests: list[Test]
    oracle: str
    """Python code that solves the task through `apis` (the scripted oracle)."""
    expected_tables: set[str] = field(default_factory=set)
    answer: Any = None
    near_misses: dict[str, str] = field(default_factory=dict)
    """Reference wrong solutions, by what is wrong: the oracle with one input or step changed (wrong amount,
    wrong recipient, a step repeated or left out, collateral damage). Each must fail the tests
    (tests/test_appsim_near_miss.py), which is how a check that is too loose gets caught."""


def normalize_answer(value: Any) -> Any:
    """AppWorld-style comparison: quotes stripped, numbers canonical, case-folded, lists sorted."""
    if isinstance(value, list | tuple):
        return sorted((normalize_answer(v) for v in value), key=repr)
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        number = float(value)
        return str(int(number)) if number.is_integer() else f"{number:.10g}"
    if value is None:
        return None
    text = str(value).strip().strip("\"'`").strip().casefold()
    text = re.sub(r"\s+", " ", text)
    if re.fullmatch(r"[-+]?\$?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?", text):
        return normalize_answer(float(text.replace("$", "").replace(",", "")))
    return text


def same_text(a: Any, b: Any) -> bool:
    return a is not None and b is not None and normalize_answer(a) == normalize_answer(b)


def answer_test(expected: Any) -> Test:
    return Test(
        f"the task is completed with the answer {json.dumps(expected)}",
        lambda o: o.completed and o.status == "success" and normalize_answer(o.answer) == normalize_answer(expected),
    )


def collateral_test(expected: set[str]) -> Test:
    listed = ", ".join(sorted(expected)) or "none"
    return Test(
        f"no collateral damage: the changed tables are exactly the expected ones ({listed})",
        lambda o: o.changed_tables() == set(expected),
    )


Editable = dict[str, Callable[[dict[str, Any]], bool]]
"""'app.table' -> which existing records (judged by their values before the episode) the task may edit."""


def kept_records_test(tables: set[str], editable: Editable | None = None, edits: str = "") -> Test:
    """Collateral damage inside the changed tables: no existing record deleted, none edited but the task's own."""
    listed = ", ".join(sorted(tables)) or "none"
    editable = editable or {}

    def kept(o: Outcome) -> bool:
        for table in tables:
            may_edit = editable.get(table, lambda row: False)
            if o.removed(table) or not all(may_edit(before) for before, _ in o.updated(table)):
                return False
        return True

    return Test(
        f"no collateral damage: no existing record of the changed tables ({listed}) was deleted, and none was "
        f"edited except {edits or 'none'}",
        kept,
    )
