"""trainer.async_rollouts: the next batch is played in a background thread while the trainer updates; no episode
older than max_staleness policy versions reaches the loss, and truncated importance weights correct the gap."""

from __future__ import annotations

import json
import math

import pytest
import torch

from rlagent.config.compose import compose_recipe
from rlagent.errors import UserError
from rlagent.train.async_rollout import ExampleStream, prefetch_depth
from rlagent.train.run import importance_cap, train
from rlagent.train.sync import truncated_importance_weights

from .test_train import letter_task_run

ASYNC = ("rollout=hf", "trainer.async_rollouts=true", "algorithm.learning_rate=1e-3")


def test_the_stream_is_seeded_epochs_whatever_ran_before():
    ids = [f"q{i}" for i in range(10)]
    stream = ExampleStream(ids, per_batch=4, seed=3)
    first = [stream.batch(i) for i in range(5)]  # 20 prompts: two whole epochs
    assert sorted(first[0] + first[1] + first[2][:2]) == sorted(ids)  # each example once per epoch
    assert sorted(first[2][2:] + first[3] + first[4]) == sorted(ids)
    assert first[0] + first[1] + first[2][:2] != first[2][2:] + first[3] + first[4]  # a fresh order each epoch
    # a resumed run asks for batch 3 first: the same prompts
    assert ExampleStream(ids, 4, seed=3).batch(3) == first[3]
    assert ExampleStream(ids, 4, seed=4).batch(0) != first[0]


def test_truncated_importance_weights():
    trainer = torch.tensor([[-1.0, -2.0, -0.5, -3.0]])
    engine = torch.tensor([[-1.5, -1.0, float("nan"), -1.0]])
    mask = torch.tensor([[1, 1, 1, 0]])
    weights, stats = truncated_importance_weights(trainer, engine, mask, cap=1.5)
    # exp(0.5) = 1.65 -> capped at 1.5; exp(-1) = 0.37; no engine logprob -> 1; outside the mask -> 1
    assert torch.allclose(weights, torch.tensor([[1.5, math.exp(-1.0), 1.0, 1.0]]))
    assert stats["clipped_share"] == pytest.approx(1 / 3)
    assert stats["weight_min"] == pytest.approx(math.exp(-1.0))
    assert prefetch_depth(max_staleness=1, updates_per_batch=1) == 1
    assert prefetch_depth(max_staleness=4, updates_per_batch=2) == 2
    assert prefetch_depth(max_staleness=1, updates_per_batch=2) == 1


def test_async_settings_are_checked_when_composed():
    cases = [
        (["trainer.max_staleness=0"], "trainer.max_staleness=0 must be at least 1"),
        (["trainer.importance_sampling_cap=0.5"], "trainer.importance_sampling_cap=0.5 must be at least 1"),
        (["trainer.async_rollouts=true"], "needs rollout.engine in ('vllm_server', 'hf'), not vllm"),
        (["trainer.importance_sampling=sometimes"], "trainer.importance_sampling"),
    ]
    for overrides, message in cases:
        with pytest.raises(UserError) as caught:
            compose_recipe(["recipe=smoke_search", *overrides])
        assert message in str(caught.value), (overrides, str(caught.value))
    sync, _ = compose_recipe(["recipe=smoke_search"])
    assert importance_cap(sync) is None  # synchronous runs take no importance weights unless asked
    cfg, _ = compose_recipe(["recipe=smoke_search", *ASYNC])
    assert importance_cap(cfg) == 2.0
    always, _ = compose_recipe(["recipe=smoke_search", "trainer.importance_sampling=always"])
    assert importance_cap(always) == 2.0


def rollout_versions(run) -> dict[int, list[int]]:
    """Policy versions of the episodes each step trained on, by 0-based step (rollouts/step-N.jsonl holds step N-1's:
    a step is a generated batch; versions count optimizer steps)."""
    out = {}
    for path in sorted(run.rollouts.glob("step-*.jsonl")):
        step = int(path.stem.split("-")[1]) - 1
        out[step] = [json.loads(line)["policy_version"] for line in path.read_text().splitlines()]
    return out


def train_rows(run) -> list[dict]:
    return [r for r in run.metrics.rows() if "train/loss" in r]


@pytest.mark.slow
def test_async_training_bounds_staleness_and_weighs_the_loss(tmp_path, tiny_path):
    cfg, suite, run = letter_task_run(tmp_path, "async", *ASYNC, "trainer.max_steps=4")
    summary = train(cfg, run, suite, suite.examples("train"), tiny_path)
    assert summary["steps"] == 4
    versions = rollout_versions(run)
    assert sorted(versions) == [0, 1, 2, 3]
    assert set(versions[0]) == {0}  # the first batch is played in the foreground
    for step in (1, 2, 3):
        assert set(versions[step]) == {step - 1}, versions  # played ahead, during the previous update
    rows = train_rows(run)
    assert [r["async/staleness_max"] for r in rows] == [0.0, 1.0, 1.0, 1.0]
    assert all(r["async/regenerated"] == 0 for r in rows)
    # step 0's batch is fresh: the engine's mismatch is measured on it; later batches measure the policy's drift
    assert rows[0]["logprob_mismatch/max"] < 1e-3
    for row in rows[1:]:
        assert "logprob_mismatch/max" not in row and row["async/policy_gap_max"] > 1e-3, row
        assert row["timing/rollout_wait_s"] >= 0 and row["timing/weight_sync_s"] > 0
    # the weights: 1 on the fresh batch (trainer and engine agree), away from 1 once the policy moved
    assert abs(rows[0]["importance/weight_mean"] - 1.0) < 1e-3
    assert any(abs(r["importance/weight_mean"] - 1.0) > 1e-4 for r in rows[1:])

    # the same run without the weights: identical first update (weights 1), different later ones
    cfg, suite, plain = letter_task_run(
        tmp_path, "plain", *ASYNC, "trainer.max_steps=4", "trainer.importance_sampling=off"
    )
    train(cfg, plain, suite, suite.examples("train"), tiny_path)
    assert rollout_versions(plain) == versions
    other = train_rows(plain)
    assert "importance/weight_mean" not in other[0]
    assert other[0]["train/grad_norm"] == pytest.approx(rows[0]["train/grad_norm"], rel=1e-3)
    assert any(
        abs(a["train/grad_norm"] - b["train/grad_norm"]) > 1e-4 * b["train/grad_norm"]
        for a, b in zip(rows[1:], other[1:], strict=True)
    )


@pytest.mark.slow
def test_batches_older_than_max_staleness_are_regenerated(tmp_path, tiny_path):
    """num_iterations=2: two optimizer steps (policy versions) per generated batch, so a batch played ahead is two
    versions old when it trains; with max_staleness=1 it is played again with the current weights, not trained on and
    not dropped."""
    cfg, suite, run = letter_task_run(
        tmp_path, "mu2", *ASYNC, "algorithm.num_iterations=2", "trainer.max_steps=2", "trainer.max_staleness=1"
    )
    train(cfg, run, suite, suite.examples("train"), tiny_path)
    versions = rollout_versions(run)  # by step (generated batch), each trained with two optimizer steps
    assert sorted(versions) == [0, 1]
    assert set(versions[0]) == {0} and set(versions[1]) == {2}  # regenerated at optimizer step 2 with its weights
    rows = [r for r in train_rows(run) if "async/staleness_max" in r]
    assert [r["step"] for r in rows] == [1, 2]
    assert [r["async/staleness_max"] for r in rows] == [0.0, 0.0]
    assert [r["async/regenerated"] for r in rows] == [0, 8]

    # resumed from the step-2 checkpoint (optimizer step 4): the stream goes on where it was (batch 2), played with
    # optimizer step 4's weights
    cfg, suite, run = letter_task_run(
        tmp_path, "mu2", *ASYNC, "algorithm.num_iterations=2", "trainer.max_steps=3", "resume=true"
    )
    train(cfg, run, suite, suite.examples("train"), tiny_path)
    assert rollout_versions(run)[2] == [4] * 8
    stream = ExampleStream([ex.id for ex in suite.examples("train")], cfg.trainer.prompts_per_step, cfg.seed)
    played = [json.loads(line)["example_id"] for line in (run.rollouts / "step-000003.jsonl").read_text().splitlines()]
    assert played == [i for i in stream.batch(2) for _ in range(4)]  # the batch played ahead: 2 prompts x 4 samples
