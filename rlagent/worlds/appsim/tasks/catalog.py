"""The task catalogue: scenarios (3 tasks from one template), task ids, splits.

Every task is determined by (template, scenario index, task number), so listing tasks builds no
world; `instance(task_id)` builds the world and the concrete task on demand. Splits are fixed
functions of the scenario index: train / dev / test_normal share templates (different scenarios),
test_challenge uses only the challenge templates.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from functools import cache

from rlagent.worlds.appsim.population import WorldData, generate
from rlagent.worlds.appsim.tasks.checks import Instance
from rlagent.worlds.appsim.tasks.templates import TEMPLATES, Template

SPLITS = ("train", "dev", "test_normal", "test_challenge")
TASKS_PER_SCENARIO = 3
NORMAL_SCENARIOS = {"train": 3, "dev": 2, "test_normal": 6}
"""Scenarios per normal template in each split (11 templates: 99 / 66 / 198 tasks)."""
CHALLENGE_SCENARIOS = 12
"""Scenarios per challenge template in test_challenge (3 templates: 108 tasks)."""


@dataclass(frozen=True)
class TaskSpec:
    task_id: str
    scenario_id: str
    template: str
    split: str
    difficulty: int
    seed: int


def _scenario_id(template: str, index: int) -> str:
    return hashlib.sha256(f"appsim/{template}/{index}".encode()).hexdigest()[:7]


@cache
def catalog() -> dict[str, TaskSpec]:
    specs: dict[str, TaskSpec] = {}
    for name, tmpl in TEMPLATES.items():
        plan = [("test_challenge", CHALLENGE_SCENARIOS)] if tmpl.challenge else list(NORMAL_SCENARIOS.items())
        index = 0
        for split, count in plan:
            for _ in range(count):
                scenario = _scenario_id(name, index)
                for number in range(1, TASKS_PER_SCENARIO + 1):
                    task_id = f"{scenario}_{number}"
                    seed = int(hashlib.sha256(task_id.encode()).hexdigest()[:8], 16)
                    specs[task_id] = TaskSpec(task_id, scenario, name, split, tmpl.difficulty, seed)
                index += 1
    return specs


def task_ids(split: str, difficulties: tuple[int, ...] | None = None) -> list[str]:
    if split not in SPLITS:
        raise KeyError(split)
    return [
        s.task_id for s in catalog().values() if s.split == split and (not difficulties or s.difficulty in difficulties)
    ]


def spec(task_id: str) -> TaskSpec:
    return catalog()[task_id]


def template_of(task_id: str) -> Template:
    return TEMPLATES[spec(task_id).template]


def instance(task_id: str) -> tuple[WorldData, Instance]:
    """The task's initial world records (template additions included) and the concrete task."""
    task = spec(task_id)
    data = generate(task.seed)
    built = TEMPLATES[task.template].build(random.Random(task.seed + 1), data)
    return data, built
