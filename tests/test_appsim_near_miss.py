"""Near misses: every appsim template's oracle with one thing wrong must fail its task.

TGC is only as good as the tasks' checks, and the oracle and do-nothing runs of test_appsim.py cannot tell a
tight check from a loose one. So each template declares near misses next to its oracle
(`Instance.near_misses`: the oracle with a different amount, recipient, item or day, a step repeated or left
out, a wrong answer, collateral damage). Here every task of every template must declare at least two, and on
a sample of tasks that tries every kind of near miss a template declares, each near miss must run to its end
through the real sandbox and world, complete the task, and still fail the task's tests, while the oracle passes
and doing nothing fails.
"""

from __future__ import annotations

from collections import defaultdict
from functools import cache
from typing import NamedTuple

import pytest

from rlagent.sandbox.config import SandboxConfig
from rlagent.worlds.appsim.service import AppsimService
from rlagent.worlds.appsim.tasks.catalog import catalog, instance
from rlagent.worlds.appsim.tasks.templates import TEMPLATES

MIN_NEAR_MISSES = 2
"""Near misses every task must declare."""
MIN_TASKS = 2
"""Tasks per template that run their near misses (more where needed to try every kind at least once)."""


class Solutions(NamedTuple):
    oracle: str
    near_misses: dict[str, str]


@cache
def declared() -> dict[str, dict[str, Solutions]]:
    """template -> task id -> its oracle and near misses, over the whole catalogue (challenge templates too)."""
    out: dict[str, dict[str, Solutions]] = defaultdict(dict)
    for task_id, spec in catalog().items():
        built = instance(task_id)[1]
        out[spec.template][task_id] = Solutions(built.oracle, built.near_misses)
    return dict(out)


def sample(template: str) -> list[str]:
    """Tasks of the template that between them declare every kind of near miss it has (greedy cover)."""
    tasks = {task_id: set(solutions.near_misses) for task_id, solutions in declared()[template].items()}
    missing = set().union(*tasks.values())
    chosen: list[str] = []
    while missing or len(chosen) < min(MIN_TASKS, len(tasks)):
        best = max((t for t in tasks if t not in chosen), key=lambda t: len(missing & tasks[t]))
        chosen.append(best)
        missing -= tasks[best]
    return chosen


@pytest.fixture(scope="module")
def service():
    svc = AppsimService(SandboxConfig(mode="bwrap"))
    yield svc
    svc.close_all()


def test_every_task_of_every_template_declares_near_misses():
    assert set(declared()) == set(TEMPLATES)
    for template, tasks in declared().items():
        for task_id, (oracle, misses) in tasks.items():
            assert len(misses) >= MIN_NEAR_MISSES, (template, task_id, sorted(misses))
            codes = [oracle, *misses.values()]
            assert len(set(codes)) == len(codes), (template, task_id, "a near miss is the oracle or another one")


@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_near_misses_fail_while_the_oracle_passes(service, template):
    problems = []
    for task_id in sample(template):
        oracle, misses = declared()[template][task_id]
        service.initialize(task_id)
        assert not service.evaluate(task_id)["success"], (task_id, "doing nothing passes")
        output = service.execute(task_id, oracle)
        result = service.evaluate(task_id)
        assert result["success"], (task_id, "the oracle fails", output, result["failures"])
        for name, code in misses.items():
            service.initialize(task_id)  # a fresh world for each near miss
            output = service.execute(task_id, code)
            if output.startswith("Execution failed"):
                problems.append((task_id, name, f"does not run to its end: {output[-300:]}"))
            elif not service.task_completed(task_id):
                problems.append((task_id, name, "does not complete the task"))
            elif service.evaluate(task_id)["success"]:
                problems.append((task_id, name, "PASSES the task's tests: a check is too loose"))
        service.close(task_id)
    assert not problems, "\n".join(map(str, problems))
