"""trainer.report_to: a real tiny training run writes TensorBoard events and an offline wandb run inside its run
directory, with rlagent's training metrics in them."""

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def scalars(event_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(event_dir))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_tensorboard_and_offline_wandb_land_in_the_run_directory(tmp_path, tiny_path):
    run_dir, cwd = tmp_path / "run", tmp_path / "cwd"
    cwd.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("WANDB_DIR", "TENSORBOARD_LOGGING_DIR")}
    env |= {"WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    overrides = [
        "recipe=smoke_search", f"run.dir={run_dir}", "rollout=hf", "rollout.max_new_tokens=16", "task.max_turns=1",
        "trainer.max_steps=1", "trainer.prompts_per_step=1", "algorithm.num_generations=2",
        "trainer.micro_batch_size=2", "trainer.report_to=[tensorboard,wandb]",
    ]  # fmt: skip
    command = [sys.executable, "-m", "rlagent", "train", *overrides]
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd)
    assert result.returncode == 0, result.stderr[-3000:]
    assert not any(cwd.iterdir())  # nothing in ./runs or ./wandb of the working directory
    assert not (run_dir / "checkpoints" / "runs").exists()  # transformers' default place

    # TensorBoard: the step's metrics as rlagent logged them to metrics.jsonl
    (row,) = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    event_dirs = {p.parent for p in (run_dir / "logs" / "tensorboard").rglob("events.out.tfevents.*")}
    assert len(event_dirs) == 1
    tb = scalars(event_dirs.pop())
    assert tb["train/reward"] == [(1, pytest.approx(row["train/reward"], abs=1e-6))]
    assert tb["train/rollout/success"] == [(1, pytest.approx(row["rollout/success"], abs=1e-6))]
    assert tb["train/num_tokens"] == [(1, pytest.approx(row["train/num_tokens"]))]
    assert row["train/num_tokens"] > 0

    # wandb: one offline run under RUN/logs/wandb holding the same metric names
    (offline,) = (run_dir / "logs" / "wandb").glob("offline-run-*")
    (records,) = offline.glob("run-*.wandb")
    data = records.read_bytes()
    assert b"train/reward" in data and b"train/rollout/success" in data and b"train/num_tokens" in data
    assert run_dir.name.encode() in data  # the run is named after the run directory
