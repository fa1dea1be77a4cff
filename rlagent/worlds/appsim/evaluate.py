"""Run a task's unit tests on the end state of its world: AppWorld's `/evaluate` answer.

Each test is also run on the untouched world, which gives its AppWorld label: `no_op_pass` when
doing nothing passes it (typically the collateral-damage test), `no_op_fail` otherwise. A test that
raises counts as failed, with its traceback as the failure's trace.
"""

from __future__ import annotations

import traceback
from typing import Any

from rlagent.worlds.appsim.tasks.checks import Instance, Outcome, Test
from rlagent.worlds.appsim.world import Snapshot, World


def _run(test: Test, outcome: Outcome) -> tuple[bool, str]:
    try:
        return bool(test.check(outcome)), ""
    except Exception:  # a check that crashes on a strange end state is a failed test, not a crash
        return False, traceback.format_exc(limit=3)


def evaluate(instance: Instance, before: Snapshot, world: World, difficulty: int) -> dict[str, Any]:
    outcome = Outcome(before, world.snapshot(), world.completed, world.answer, world.status)
    untouched = Outcome(before, before, False, None, None)
    passes, failures = [], []
    for test in instance.tests:
        label = "no_op_pass" if _run(test, untouched)[0] else "no_op_fail"
        ok, trace = _run(test, outcome)
        if ok:
            passes.append({"requirement": test.requirement, "label": label})
        else:
            failures.append(
                {"requirement": test.requirement, "trace": trace or "the requirement is not met", "label": label}
            )
    return {
        "success": not failures,
        "difficulty": difficulty,
        "num_tests": len(instance.tests),
        "passes": passes,
        "failures": failures,
    }
