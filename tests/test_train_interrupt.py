"""Stopping a training run: SIGTERM and SIGINT end `rlagent train` cleanly and resumably; a kill -9 during a
checkpoint write never leaves a partial checkpoint that counts."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from rlagent.config.compose import compose_recipe
from rlagent.runs.rundir import RunDir, open_run_dir
from rlagent.train.checkpoints import MARKER, CheckpointStore
from rlagent.train.interrupt import Interrupted, resume_command, stop_on_signals

COMMON = ("recipe=smoke_search", "trainer.save_steps=1", "algorithm.beta=0.001")


def rlagent(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rlagent", *args], capture_output=True, text=True, timeout=900)


def train_steps(run_dir: Path) -> list[int]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [r["step"] for r in rows if "train/loss" in r]


def interrupt_after_checkpoint(
    run_dir: Path, step: int, signum: int, *overrides: str, recipe: tuple[str, ...] = COMMON
) -> tuple[int, str, list[str]]:
    """Start `rlagent train`, wait for checkpoints/step-<step> to be complete, send `signum`; the exit code, stderr
    and the command lines of the process tree at the signal (checked gone)."""
    argv = [sys.executable, "-m", "rlagent", "train", *recipe, f"run.dir={run_dir}", *overrides]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 600
        while not (run_dir / "checkpoints" / f"step-{step}" / MARKER).is_file():
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                _, err = proc.communicate(timeout=60)
                pytest.fail(f"no step-{step} checkpoint (exit code {proc.returncode}): {err[-3000:]}")
            time.sleep(0.2)
        assert json.loads((run_dir / "run.json").read_text())["status"] == "running"
        tree = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
        commands = [" ".join(p.cmdline()) for p in tree]
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    _, alive = psutil.wait_procs(tree, timeout=10)
    assert not alive, f"processes outlived the run: {alive}"
    return proc.returncode, err, commands


@pytest.mark.slow
def test_sigterm_and_sigint_stop_training_resumably(tmp_path, tiny_path):
    run_dir = tmp_path / "runs" / "smoke"

    # SIGTERM (a scheduler's stop) once the first checkpoint is complete
    code, err, _ = interrupt_after_checkpoint(run_dir, 1, signal.SIGTERM, "trainer.max_steps=50")
    assert code == 143, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    last = err.strip().splitlines()[-1]
    assert last.startswith("interrupted by SIGTERM; resume with: rlagent train recipe=smoke_search"), last
    assert last.endswith(f"trainer.max_steps=50 resume=true run.dir={run_dir}"), last
    status = json.loads((run_dir / "run.json").read_text())
    latest = CheckpointStore(run_dir / "checkpoints").latest()
    assert status["status"] == "interrupted" and status["interrupted_by"] == "SIGTERM"
    assert latest is not None and status["resume_from"] == str(latest)
    k = int(latest.name.split("-")[1])
    assert train_steps(run_dir)[:k] == list(range(1, k + 1))  # every checkpointed step logged once
    listing = rlagent("runs", "list", str(run_dir.parent))
    assert listing.returncode == 0 and "interrupted" in listing.stdout, listing.stdout + listing.stderr
    shown = rlagent("runs", "show", str(run_dir))
    assert f"interrupted by SIGTERM (resumes from step-{k})" in shown.stdout, shown.stdout + shown.stderr

    # resumed, then Ctrl-C (SIGINT) once the next checkpoint is complete
    code, err, _ = interrupt_after_checkpoint(run_dir, k + 1, signal.SIGINT, "trainer.max_steps=50", "resume=true")
    assert code == 130, err[-3000:]
    assert f"resuming at step {k}" in err and "Traceback" not in err, err[-3000:]
    assert err.strip().splitlines()[-1].startswith("interrupted by SIGINT; resume with: rlagent train"), err[-500:]
    status = json.loads((run_dir / "run.json").read_text())
    assert status["status"] == "interrupted" and status["interrupted_by"] == "SIGINT"
    assert len(status["invocations"]) == 2
    store = CheckpointStore(run_dir / "checkpoints")
    k = int(store.latest().name.split("-")[1])

    # a kill -9 mid-save of step k+1 left its staging folder half-written and a step folder without its marker
    debris = run_dir / "checkpoints" / f"step-{k + 1}"
    debris.mkdir(exist_ok=True)
    (debris / "model.safetensors").write_bytes(b"\0" * 100)
    staged = run_dir / "checkpoints" / ".staging" / f"checkpoint-{k + 1}"
    staged.mkdir(parents=True, exist_ok=True)
    (staged / "stale-file-from-the-killed-save").write_text("x")
    assert store.latest().name == f"step-{k}"

    done = rlagent("train", *COMMON, f"run.dir={run_dir}", "resume=true", f"trainer.max_steps={k + 1}")
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"resuming at step {k}" in done.stderr
    assert train_steps(run_dir) == list(range(1, k + 2))  # no step lost, none logged twice
    status = json.loads((run_dir / "run.json").read_text())
    assert status["status"] == "completed" and len(status["invocations"]) == 3
    assert "interrupted_by" not in status and "resume_from" not in status
    final = run_dir / "checkpoints" / f"step-{k + 1}"
    assert (final / MARKER).is_file() and (final / "model.safetensors").stat().st_size > 1000
    assert not (final / "stale-file-from-the-killed-save").exists()
    assert json.loads((final / "trainer_state.json").read_text())["global_step"] == k + 1


@pytest.mark.slow
def test_sigterm_stops_world_servers_and_sandboxes(tmp_path, tiny_path):
    """appsim through a pool of `rlagent appsim serve` processes, each episode's code in a bwrap sandbox: after
    SIGTERM no server, sandbox or other process of the run is left."""
    run_dir = tmp_path / "appsim"
    recipe = ("recipe=smoke_appsim", "task.appworld.world=appsim_servers", "task.appworld.num_servers=2")
    code, err, commands = interrupt_after_checkpoint(
        run_dir, 1, signal.SIGTERM, "trainer.max_steps=50", "trainer.save_steps=1", recipe=recipe
    )
    assert code == 143 and "Traceback" not in err, err[-3000:]
    assert err.strip().splitlines()[-1].startswith("interrupted by SIGTERM; resume with: rlagent train"), err[-500:]
    servers = [c for c in commands if "appsim serve" in c]
    assert len(servers) == 2, commands  # running at the signal, gone after it (checked above)
    assert json.loads((run_dir / "run.json").read_text())["status"] == "interrupted"


SAVER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from rlagent.train.checkpoints import CheckpointStore

    store = CheckpointStore(Path(sys.argv[1]))
    shards, size = int(sys.argv[2]), int(sys.argv[3])
    latest = store.latest()
    step = int(latest.name.split("-")[1]) + 1 if latest else 1
    while True:
        for again in range(2):  # each step saved twice: the second save replaces a complete step-N
            store.clear_staging()
            staged = store.staging / f"checkpoint-{step}"
            staged.mkdir(parents=True)
            for i in range(shards):
                (staged / f"shard-{i}.bin").write_bytes(bytes([step % 251]) * size)
            store.commit(staged, step, {"again": again})
            store.prune(2)
        step += 1
    """
)


def test_kill_9_during_checkpoint_writes_never_leaves_a_partial_latest(tmp_path):
    """A real SIGKILL at random moments of staging, committing, replacing and pruning checkpoints: every
    checkpoint the store counts is whole, and the next saver continues after the latest one."""
    root, shards, size = tmp_path / "checkpoints", 16, 256 << 10
    root.mkdir()
    store = CheckpointStore(root)
    rng = random.Random(0)
    reached = 0
    for _ in range(15):
        saver = subprocess.Popen([sys.executable, "-c", SAVER, str(root), str(shards), str(size)])
        time.sleep(rng.uniform(0.3, 1.2))
        saver.send_signal(signal.SIGKILL)
        saver.wait()
        for step, path in store.complete():
            files = sorted(path.glob("shard-*.bin"))
            assert len(files) == shards, (step, sorted(p.name for p in path.iterdir()))
            assert all(f.read_bytes() == bytes([step % 251]) * size for f in files), step
        latest = store.latest()
        if latest is not None:
            step = int(latest.name.split("-")[1])
            assert step >= reached  # never back past a checkpoint that was complete
            reached = step
    assert reached >= 3  # the savers got through several checkpoints between the kills


def test_interrupted_status_and_resume_line(tmp_path):
    cfg, _ = compose_recipe(["recipe=smoke_search", f"run.dir={tmp_path / 'r'}"])
    run = open_run_dir(cfg, "train")
    run.fail("RuntimeError: boom")
    run.interrupt("SIGTERM", run.checkpoints / "step-4")
    status = run.status()
    assert status["status"] == "interrupted" and status["resume_from"].endswith("step-4")
    assert status["error"] == "RuntimeError: boom"  # fields merge within one invocation
    cfg.resume = True
    run = RunDir(run.path)
    run.start("train", cfg)
    status = run.status()
    assert status["status"] == "running" and len(status["invocations"]) == 2
    assert not {"error", "finished", "interrupted_by", "resume_from"} & set(status)
    overrides = ["recipe=smoke_search", "run.dir=/old place", "resume=false", "task.limit=3", "run.name=a b"]
    line = resume_command(overrides, Path("/r un"))  # one line a shell runs as is
    assert line == "rlagent train recipe=smoke_search task.limit=3 'run.name=a b' resume=true 'run.dir=/r un'"


def test_the_first_signal_raises_once_and_the_handlers_come_back():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Interrupted) as caught, stop_on_signals():
        signal.raise_signal(signal.SIGTERM)
        time.sleep(5)  # the handler raises before this ends
    assert caught.value.exit_code == 143 and caught.value.name == "SIGTERM"
    with stop_on_signals():
        try:
            signal.raise_signal(signal.SIGINT)
        except Interrupted as stop:
            assert stop.exit_code == 130
            signal.raise_signal(signal.SIGTERM)  # a second signal while stopping is ignored
            signal.raise_signal(signal.SIGINT)
    assert signal.getsignal(signal.SIGTERM) is before


KILLED_MID_DELETE = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from rlagent.train.checkpoints import CheckpointStore

    store, kill_at, what = CheckpointStore(Path(sys.argv[1])), int(sys.argv[2]), sys.argv[3]
    staged = store.staging / "checkpoint-2"
    staged.mkdir(parents=True)
    for i in range(20):
        (staged / f"shard-{i}.bin").write_bytes(b"new" * 1000)
    deleted = 0
    unlink = os.unlink

    def unlink_then_die(*args, **kwargs):  # SIGKILL before the kill_at-th file deletion
        global deleted
        deleted += 1
        if deleted == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return unlink(*args, **kwargs)

    os.unlink = unlink_then_die
    if what == "replace":
        store.commit(staged, 2, {})  # step-2 saved again: the complete old step-2 is deleted first
    else:
        store.prune(1)  # step-1 deleted
    """
)


@pytest.mark.parametrize("what", ["replace", "prune"])
def test_kill_9_while_a_checkpoint_is_deleted_never_leaves_a_partial_one_counted(tmp_path, what):
    """Replacing a step saved again, and pruning old steps, delete a complete checkpoint: a SIGKILL after any
    number of its files are gone leaves either the whole checkpoint or one the store ignores."""
    for kill_at in (1, 2, 3, 8, 21):  # 21 deletions in all: the marker and 20 shards
        root = tmp_path / f"{what}-{kill_at}" / "checkpoints"
        store = CheckpointStore(root)
        for step in (1, 2):
            staged = store.staging / f"checkpoint-{step}"
            staged.mkdir(parents=True)
            for i in range(20):
                (staged / f"shard-{i}.bin").write_bytes(b"old" * 1000)
            store.commit(staged, step, {})
        done = subprocess.run([sys.executable, "-c", KILLED_MID_DELETE, str(root), str(kill_at), what])
        assert done.returncode == -signal.SIGKILL, (kill_at, done.returncode)
        for step, path in store.complete():
            shards = sorted(path.glob("shard-*.bin"))
            assert len(shards) == 20, (what, kill_at, step, len(shards))
            assert len({f.read_bytes() for f in shards}) == 1, (what, kill_at, step)
        assert store.latest() is not None and store.latest().name in ("step-1", "step-2")
        if what == "prune":
            assert store.latest().name == "step-2"
