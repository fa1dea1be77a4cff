"""A step is one generated batch and every optimizer step taken on it (rlagent/config/steps.py): checkpoints, rollouts,
metrics rows and evaluations are per batch; an evaluation after step N sees step N's weights; a resumed synchronous
run plays the same prompts in the same order as one that was never stopped."""

from __future__ import annotations

import json

import pytest

from rlagent.config.compose import compose_recipe
from rlagent.config.steps import StepPlan
from rlagent.errors import UserError
from rlagent.evaluate.runner import run_eval
from rlagent.rollout.engines.factory import build_engine
from rlagent.runs.rundir import open_run_dir

from .test_train import letter_task_run

pytestmark = pytest.mark.slow

# 2 prompts x 4 samples = 8 episodes, minibatches of 4 (2 per pass) x 2 passes = 4 optimizer steps per step
MINIBATCHES = (
    "rollout=hf",
    "trainer.prompts_per_step=2",
    "algorithm.num_generations=4",
    "trainer.micro_batch_size=2",
    "algorithm.minibatch_size=4",
    "algorithm.num_iterations=2",
    "algorithm.learning_rate=1e-2",
)


def test_the_plan_counts_batches_and_optimizer_steps():
    cfg, _ = compose_recipe(["recipe=appworld_32b"])
    plan = StepPlan.from_config(cfg)
    assert (plan.batches, plan.episodes_per_batch, plan.minibatches, plan.epochs) == (200, 240, 5, 2)
    assert (plan.optimizer_steps_per_batch, plan.optimizer_steps) == (10, 2000)
    with pytest.raises(UserError, match=r"algorithm\.minibatch_size=3 must divide"):
        compose_recipe(["recipe=smoke_search", "algorithm.minibatch_size=3"])
    with pytest.raises(UserError, match=r"do not split into 1 process\(es\) x trainer\.micro_batch_size=4"):
        compose_recipe(["recipe=smoke_search", "algorithm.minibatch_size=2"])


def rollout_ids(run, step: int) -> list[str]:
    path = run.rollouts / f"step-{step:06d}.jsonl"
    return [json.loads(line)["example_id"] for line in path.read_text().splitlines()]


def messages(path) -> list:
    return [json.loads(line)["messages"] for line in path.read_text().splitlines()]


def test_minibatch_steps_and_evaluations_see_the_step_weights(tmp_path, tiny_path):
    from rlagent.train.run import train

    cfg, suite, run = letter_task_run(
        tmp_path,
        "mb",
        *MINIBATCHES,
        "trainer.max_steps=2",
        "trainer.eval_steps=1",
        "trainer.eval_limit=3",
        "eval.temperature=0",
    )
    summary = train(cfg, run, suite, suite.examples("train"), tiny_path)
    assert summary["steps"] == 2
    # two generated batches, four optimizer steps each
    state = json.loads((run.checkpoints / "step-2" / "trainer_state.json").read_text())
    assert state["global_step"] == 8
    assert sorted(p.name for p in run.checkpoints.glob("step-*")) == ["step-1", "step-2"]
    assert sorted(p.name for p in run.rollouts.glob("*.jsonl")) == ["step-000001.jsonl", "step-000002.jsonl"]
    rows = [r for r in run.metrics.rows() if "train/loss" in r]
    assert [r["step"] for r in rows] == [1, 2]  # one row per generated batch
    assert all(r["rollout/success"] is not None for r in rows)

    # the evaluation logged at step 2 equals an evaluation of the step-2 checkpoint (and differs from step 0's)
    logged = messages(run.eval / f"{cfg.task.eval_split}-step-2.rollouts.jsonl")
    assert logged != messages(run.eval / f"{cfg.task.eval_split}-step-0.rollouts.jsonl")
    check, _ = compose_recipe(
        [
            "recipe=smoke_search",
            "rollout=hf",
            f"run.dir={tmp_path}/check",
            "eval.temperature=0",
            "rollout.max_new_tokens=24",
            "rollout.max_episode_tokens=96",
        ]
    )
    engine = build_engine(check, str(run.checkpoints / "step-2"))
    checked = open_run_dir(check, "eval")
    try:
        run_eval(check, checked, suite, engine=engine, split=cfg.task.eval_split, limit=3, tag="again")
    finally:
        engine.close()
    assert messages(checked.eval / f"{cfg.task.eval_split}-again.rollouts.jsonl") == logged


def test_a_resumed_run_plays_the_prompts_of_an_uninterrupted_one(tmp_path, tiny_path):
    from rlagent.train.run import train

    once = (*MINIBATCHES, "algorithm.num_iterations=1")  # 2 optimizer steps per step
    cfg, suite, whole = letter_task_run(tmp_path, "whole", *once, "trainer.max_steps=2")
    train(cfg, whole, suite, suite.examples("train"), tiny_path)
    cfg, suite, part = letter_task_run(tmp_path, "part", *once, "trainer.max_steps=1")
    train(cfg, part, suite, suite.examples("train"), tiny_path)
    # resumed on another schedule (4 optimizer steps per step instead of 2): refused before anything runs
    cfg, suite, other = letter_task_run(tmp_path, "part", *MINIBATCHES, "trainer.max_steps=2", "resume=true")
    with pytest.raises(UserError, match="step-1 holds 2 optimizer steps, but this recipe takes 4 per step"):
        train(cfg, other, suite, suite.examples("train"), tiny_path)
    cfg, suite, part = letter_task_run(tmp_path, "part", *once, "trainer.max_steps=2", "resume=true")
    train(cfg, part, suite, suite.examples("train"), tiny_path)
    for step in (1, 2):
        assert rollout_ids(part, step) == rollout_ids(whole, step), f"step {step}"
    assert len(set(rollout_ids(whole, 2))) == 2  # two prompts x four samples
