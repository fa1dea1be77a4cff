"""Paper parity from one source (rlagent/config/parity.py): every recipe that reproduces a paper is composed and each
row checked against it (derived quantities too: generated batches, episodes and optimizer steps per batch, evaluation
split and size, turn and token limits); docs/ALGORITHMS.md's tables must be scripts/parity_tables.py's output."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest

from rlagent.config import parity
from rlagent.config.compose import recipe_names

ROOT = Path(__file__).resolve().parent.parent
RECIPES = [recipe for paper in parity.PAPERS for recipe in paper.recipes]


def test_every_paper_recipe_exists():
    assert set(RECIPES) <= set(recipe_names())
    assert {"appworld_7b", "appworld_32b", "nq_3b", "nq_7b", "musique_7b"} <= set(RECIPES)


@pytest.mark.parametrize("recipe", RECIPES)
def test_recipe_matches_its_paper_row_by_row(recipe):
    failures = parity.verify(recipe)
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("recipe", RECIPES)
def test_rows_that_are_not_exact_say_why(recipe, capsys):
    rows = parity.paper_of(recipe).rows(recipe)
    for row in rows:
        if row.status != parity.EXACT:
            assert row.note.strip(), f"{recipe}: {row.quantity} is marked {row.status} without a reason"
    with capsys.disabled():  # the list of what is not exact, in the test log
        for row in rows:
            if row.status != parity.EXACT:
                print(f"\n{recipe}: {row.quantity} [{row.status}]: {row.note}", end="")


def test_the_derived_quantities_the_issue_names_are_exact_rows():
    """Generated batches, episodes per batch, passes, evaluation split and size, turn and token limits: LOOP's are
    checked as exact in both appworld recipes (optimizer steps per batch is an approximation, with its value)."""
    for recipe in ("appworld_7b", "appworld_32b"):
        exact = {
            name: value
            for row in parity.paper_of(recipe).rows(recipe)
            if row.status == parity.EXACT
            for name, value in row.checks.items()
        }
        assert exact["StepPlan.batches"] == 200 and exact["StepPlan.episodes_per_batch"] == 240
        assert exact["StepPlan.epochs"] == 2
        assert exact["task.split"] == "test_normal" and exact["task.appworld.eval_difficulties"] == []
        assert exact["task.eval_split"] == "dev" and exact["trainer.eval_limit"] == 57
        assert exact["rollout.max_new_tokens"] == 1500 and exact["rollout.vllm.max_model_len"] == 32768
        steps = [r for r in parity.paper_of(recipe).rows(recipe) if "StepPlan.optimizer_steps_per_batch" in r.checks]
        assert [(r.status, r.checks["StepPlan.optimizer_steps_per_batch"]) for r in steps] == [
            (parity.APPROXIMATION, 10)
        ]
    nq = {n: v for r in parity.paper_of("nq_3b").rows("nq_3b") if r.status == parity.EXACT for n, v in r.checks.items()}
    assert nq["task.max_turns"] == 5 and nq["task.search.max_searches"] == 4 and nq["task.search.top_k"] == 3
    assert nq["rollout.max_new_tokens"] == 500


@pytest.mark.parametrize(
    ("recipe", "override", "quantity"),
    [
        ("appworld_32b", "algorithm.epsilon=0.2", "policy loss"),
        ("appworld_32b", "trainer.max_steps=100", "iterations (generated batches)"),
        ("appworld_32b", "algorithm.num_iterations=1", "passes over each iteration's episodes"),
        ("appworld_7b", "task.appworld.eval_difficulties=[1,2]", "final evaluation"),
        ("appworld_7b", "trainer.eval_limit=20", "evaluations during training"),
        ("appworld_32b", "algorithm.minibatch_size=80", "optimizer steps per iteration"),
        ("nq_3b", "task.max_turns=4", "turns"),
        ("nq_7b", "rollout.max_new_tokens=512", "tokens per model turn"),
        ("nq_3b", "algorithm.num_generations=5", "episodes per question (group)"),
    ],
)
def test_a_row_that_no_longer_holds_fails(recipe, override, quantity):
    """An exact row whose value is not the paper's, an approximation whose stated value is not the recipe's, and a
    differs row whose recipe already has the paper's value are each reported, naming the row."""
    assert parity.verify(recipe, only=quantity) == []
    failures = parity.verify(recipe, (override,), only=quantity)
    assert any(f.startswith(f"{recipe}: {quantity!r} (") for f in failures), failures
    assert all(repr(quantity) in f for f in failures), failures


def test_malformed_rows_are_reported():
    bad = [
        parity.Row("q", "p", "yes", {"algorithm.beta": 0.0}),
        parity.Row("q", "p", parity.APPROXIMATION, {"algorithm.beta": 0.0}),
        parity.Row("q", "p", parity.DIFFERS, {"algorithm.beta": 0.1}, note="why"),
        parity.Row("q", "p", parity.EXACT, {"task.max_turns": 50}, overrides=("task.max_turns=50",)),
        parity.Row("q", "p", parity.EXACT),
    ]
    for row in bad:
        assert parity.row_problems(row), row


def test_docs_hold_the_generated_tables(capsys):
    old_argv = sys.argv
    sys.argv = ["parity_tables.py"]
    try:
        with pytest.raises(SystemExit) as done:
            runpy.run_path(str(ROOT / "scripts" / "parity_tables.py"), run_name="__main__")
    finally:
        sys.argv = old_argv
    assert done.value.code == 0
    printed = capsys.readouterr().out
    doc = (ROOT / "docs" / "ALGORITHMS.md").read_text()
    for paper in parity.PAPERS:
        block = parity.markdown(paper)
        assert block in printed
        assert block in doc, f"docs/ALGORITHMS.md's {paper.title} table is stale: run scripts/parity_tables.py"
    # no other parity table (an old hand-written one) and no row claiming a bare "yes"
    assert doc.count(f"| quantity | {parity.LOOP.title} |") == 1
    assert doc.count(f"| quantity | {parity.SEARCH_R1.title} |") == 1
    assert "| yes" not in doc and "exact?" not in doc
