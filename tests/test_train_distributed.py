"""launcher=accelerate on CPU: two real training processes (`accelerate launch`, torch.distributed over gloo, DDP,
TRL's GRPOTrainer in each, one hf engine per process) against one process, same global batch, same seed.

Each process plays its share of a step's episodes on its own engine, and each episode's sampling seed follows from
its place in the whole batch (AgentLoop.run's first_index); the hf engine generates one episode at a time
(rollout.hf_batch_size=1), so an episode's tokens do not depend on which other episodes share its batch. Both runs
therefore see the very same episodes, and what is left to differ is floating-point summation order: one process
accumulates its two micro-batches (TRL shuffles the 8 episodes before splitting them), two processes each compute
one and DDP's gloo all-reduce adds the two gradients. That moves results in the 6th-7th significant digit (measured:
losses within 6e-7 relative, grad norms within 3e-5). Adam divides each gradient by its own running magnitude, so a
weight whose gradient is at rounding level can take a visibly different step: one embedding entry of an unused
token ended 1.1e-4 apart, while the weights as a whole ended 4e-5 apart relative to how far they moved (3 steps at
learning rate 1e-3). The tolerances below leave ten to a hundred times that, and stay far below what a wrong split
would give (a lost half of the gradient changes the grad norm by tens of percent; a missed weight push changes the
step-3 episodes, which must be identical).
"""

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from safetensors.torch import load_file

pytestmark = pytest.mark.slow

LOSS_ABS, LOSS_REL = 1e-5, 1e-3  # the first iteration's loss is ~1e-7 (advantages sum to zero): absolute part
GRAD_NORM_REL = 1e-3
WEIGHT_REL = 1e-3  # ||final weights, 1 process - 2 processes|| / ||final - initial weights||
WEIGHT_ABS = 1e-3  # any single weight: one Adam step at learning rate 1e-3

LETTERS = '''
class LetterEnv:
    """A test task whose reward varies for any text: one echo tool; the reward is the share of 'e' in the model's
    turns (the random tiny model never solves a real task, so every group would have zero reward variance)."""

    def reset(self, **row):
        self.calls = 0

    def echo(self, text: str) -> str:
        """Echo a text back.

        Args:
            text: What to echo.
        """
        self.calls += 1
        return text


def letter_share(environment, completion, **row):
    text = " ".join(m["content"] or "" for m in completion if m["role"] == "assistant")
    return text.count("e") / max(1, len(text))
'''


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rlagent(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "rlagent", *args], capture_output=True, text=True, env=env)


def rows_by_step(run: Path) -> dict[int, dict]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in rows]
    assert steps == sorted(set(steps)), f"one metrics row per step, written once: {steps}"
    return {r["step"]: r for r in rows}


def episodes(run: Path, step: int) -> list[dict]:
    lines = (run / "rollouts" / f"step-{step:06d}.jsonl").read_text().splitlines()
    keep = ("example_id", "sample", "messages", "reward", "completion_tokens")
    return [{k: json.loads(line)[k] for k in keep} for line in lines]


def close(a: float, b: float, abs_tol: float, rel_tol: float) -> bool:
    return abs(a - b) <= abs_tol + rel_tol * abs(a)


def test_two_cpu_processes_train_like_one(tmp_path, tiny_path):
    (tmp_path / "letters.py").write_text(textwrap.dedent(LETTERS))
    rows = [{"id": f"q{i}", "prompt": [{"role": "user", "content": f"Write about topic {i}."}]} for i in range(8)]
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    recipe = [
        "recipe=smoke_search",
        "task=custom",
        f"task.custom.environment={tmp_path}/letters.py:LetterEnv",
        f"task.custom.reward={tmp_path}/letters.py:letter_share",
        "task.custom.protocol=text",
        f"task.files.train={tmp_path}/rows.jsonl",
        "task.max_turns=2",
        "rollout=hf",
        "rollout.hf_batch_size=1",
        "rollout.max_new_tokens=16",
        "rollout.max_episode_tokens=48",
        # a step: 2 prompts x 4 episodes, micro-batches of 4 (one process: 2 of them; two processes: 1 each);
        # token-level loss (its normaliser is the loss's token count gathered over the processes) and two passes
        # over each batch, so that the second pass's loss is not zero by construction
        "algorithm.loss_type=dapo",
        "algorithm.num_iterations=2",
        "algorithm.learning_rate=1e-3",
        "trainer.max_steps=3",
        "trainer.save_steps=0",
    ]
    one, two = tmp_path / "one", tmp_path / "two"
    single = rlagent("train", *recipe, f"run.dir={one}")
    assert single.returncode == 0, single.stderr[-3000:]
    port = f"launcher.main_process_port={free_port()}"
    double = rlagent("train", *recipe, "launcher=accelerate", "launcher.num_processes=2", port, f"run.dir={two}")
    assert double.returncode == 0, double.stderr[-3000:]
    assert "launching 2 training processes" in double.stderr

    status = json.loads((two / "run.json").read_text())
    assert status["status"] == "completed" and status["processes"] == 2 and status["steps"] == 3
    assert yaml.safe_load((two / "config.yaml").read_text())["launcher"]["kind"] == "local"  # what each rank ran

    # The same episodes: step 1 on the initial weights, step 3 (steps 2 reuses step 1's batch) on the weights each
    # process pushed into its own engine after two updates. Rank 0 wrote every process's episodes.
    for step in (1, 3):
        mine, theirs = episodes(one, step), episodes(two, step)
        assert len(theirs) == 8 and mine == theirs, step
    assert len({ep["reward"] for ep in episodes(one, 1)}) > 1  # the reward varies: there is a gradient

    a, b = rows_by_step(one), rows_by_step(two)
    assert sorted(a) == sorted(b) == [1, 2, 3]
    report = []
    for step in (1, 2, 3):
        x, y = a[step], b[step]
        report.append((step, x["train/loss"], y["train/loss"], x["train/grad_norm"], y["train/grad_norm"]))
        assert x.get("train/reward") == y.get("train/reward")  # gathered over both processes: the same 8 rewards
        assert close(x["train/loss"], y["train/loss"], LOSS_ABS, LOSS_REL), report
        assert close(x["train/grad_norm"], y["train/grad_norm"], 0.0, GRAD_NORM_REL), report
        assert x["train/grad_norm"] > 1.0  # a real gradient each step (a dropped half would show here)
    assert abs(a[2]["train/loss"]) > 100 * LOSS_ABS, report  # the second pass's loss is a real number to compare
    for key in ("rollout/model_tokens", "rollout/turns", "rollout/zero_variance_groups", "train/num_tokens"):
        assert a[1][key] == b[1][key], key  # step metrics describe the whole batch, not rank 0's half

    # The final weights agree: as a whole to a small fraction of how far training moved them, each within a step.
    final_one = load_file(one / "checkpoints" / "step-3" / "model.safetensors")
    final_two = load_file(two / "checkpoints" / "step-3" / "model.safetensors")
    start = load_file(Path(tiny_path) / "model.safetensors")
    apart = sum(((final_one[k] - final_two[k]) ** 2).sum().item() for k in final_one) ** 0.5
    moved = sum(((final_one[k] - start[k]) ** 2).sum().item() for k in final_one) ** 0.5
    worst = max((final_one[k] - final_two[k]).abs().max().item() for k in final_one)
    assert apart / moved < WEIGHT_REL and worst < WEIGHT_ABS, (apart, moved, worst, report)
    print("per step (step, loss 1 process, loss 2 processes, grad norm 1, grad norm 2):", report)
    print(f"final weights: |1 process - 2 processes| = {apart:.3e} of {moved:.3e} moved; largest entry {worst:.2e}")

    # Only rank 0 wrote the run directory; the other rank added its rng state to the checkpoint, nothing else.
    checkpoint = sorted(p.name for p in (two / "checkpoints" / "step-3").iterdir())
    assert "rng_state_0.pth" in checkpoint and "rng_state_1.pth" in checkpoint
    assert sorted(p.name for p in (two / "checkpoints").iterdir()) == ["step-3"]
