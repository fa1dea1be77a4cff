"""Trainer callbacks: metrics.jsonl, the live terminal view, periodic evaluation."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rich.progress import Progress
from transformers import TrainerCallback

from rlagent.runs.metrics_log import MetricsLog
from rlagent.train.trl_seam import optimizer_steps_per_batch, training_step

# TRL / transformers log keys worth keeping, renamed into rlagent's namespaces.
_RENAMES = {
    "loss": "train/loss",
    "grad_norm": "train/grad_norm",
    "learning_rate": "train/learning_rate",
    "reward": "train/reward",
    "reward_std": "train/reward_std",
    "frac_reward_zero_std": "train/frac_reward_zero_std",
    "kl": "train/kl",
    "entropy": "train/entropy",
    "num_tokens": "train/num_tokens",
}


def rename(logs: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in logs.items():
        if key in _RENAMES:
            out[_RENAMES[key]] = value
        elif key.startswith(("clip_ratio", "completions/", "rewards/")):
            out[f"train/{key}"] = value
        elif key.startswith(
            ("rollout/", "timing/", "logprob_mismatch/", "update/", "memory/", "async/", "importance/", "dynamic/")
        ):
            out[key] = value
    return out


class MetricsCallback(TrainerCallback):
    """Append each logged step to metrics.jsonl, with wall-clock step time. A step is one generated batch and all the
    optimizer steps taken on it (config/steps.py); TRL logs once per step (logging_steps is scaled to match)."""

    def __init__(self, log: MetricsLog):
        self.log = log
        self.step_started = time.perf_counter()
        self.step_s = 0.0
        self.last_row: dict[str, Any] = {}

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.global_step % optimizer_steps_per_batch(args) == 0:  # a generated batch starts
            self.step_started = time.perf_counter()

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.step_s = time.perf_counter() - self.step_started

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if not logs or "train_runtime" in logs:
            return
        row = rename(logs)
        step_s = self.step_s
        row["timing/step_s"] = step_s
        # asynchronous rollouts: the batch was played during the previous update; this step only waited for it
        rollout = "rollout_wait_s" if "timing/rollout_wait_s" in row else "rollout_s"
        spent = sum(row.get(f"timing/{k}", 0.0) for k in (rollout, "scoring_s", "weight_sync_s", "mismatch_check_s"))
        row["timing/update_s"] = max(0.0, step_s - spent)
        tokens = row.get("rollout/model_tokens", 0.0)
        gen = row.get("timing/rollout_generation_s", 0.0)
        if gen:
            episodes = args.per_device_train_batch_size * args.steps_per_generation
            row["rollout/tokens_per_s"] = tokens * episodes / gen
        row.update(gpu_memory())
        self.last_row = row
        self.log.append(training_step(args, state), row)


def gpu_memory() -> dict[str, float]:
    """This process's peak GPU memory since the last call (allocated by tensors, reserved by the caching
    allocator), in GiB; nothing on a machine without CUDA."""
    import torch

    if not torch.cuda.is_available():
        return {}
    gib = 2**30
    row = {
        "memory/gpu_peak_allocated_gib": torch.cuda.max_memory_allocated() / gib,
        "memory/gpu_peak_reserved_gib": torch.cuda.max_memory_reserved() / gib,
    }
    torch.cuda.reset_peak_memory_stats()
    return row


def logprob_check(row: dict[str, Any], label: str) -> str:
    """The step's engine/trainer check for a progress line: the mismatch, or, when every row it saw was sampled by
    an older policy (asynchronous rollouts), the policy gap (that policy's drift, not the engine's error)."""
    if "logprob_mismatch/max" not in row and "async/policy_gap_max" in row:
        return f"policy gap {row['async/policy_gap_max']:.1e}"
    return f"{label} {row.get('logprob_mismatch/max', 0.0):.1e}"


class LiveView(TrainerCallback):
    """A rich progress bar over training steps with the latest reward, success and timings."""

    def __init__(self, progress: Progress, metrics: MetricsCallback, total: int):
        self.progress, self.metrics = progress, metrics
        self.task = progress.add_task("train", total=total, status="starting")

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.progress.update(self.task, completed=training_step(args, state))

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        row = self.metrics.last_row
        if not row:
            return
        status = (
            f"reward {row.get('train/reward', 0):.3f}  success {row.get('rollout/success', 0):.3f}  "
            f"{logprob_check(row, 'Δlogp')}  step {row.get('timing/step_s', 0):.1f}s"
        )
        self.progress.update(self.task, completed=training_step(args, state), status=status)


def _clock(seconds: float) -> str:
    seconds = int(max(0.0, seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


class PlainProgress(TrainerCallback):
    """One plain line per step on stderr (for logs, pipes and nohup): step, elapsed, ETA, reward, success,
    mismatch and seconds per phase; never truncated."""

    def __init__(self, metrics: MetricsCallback, total: int, write: Callable[[str], None]):
        self.metrics, self.total, self.write = metrics, total, write
        self.started = time.perf_counter()
        self.first_step: int | None = None

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.started = time.perf_counter()
        self.first_step = step = training_step(args, state)
        per_batch = optimizer_steps_per_batch(args)
        detail = f" ({per_batch} optimizer steps each)" if per_batch > 1 else ""
        self.write(f"train: {self.total} steps{detail}, starting at step {step}")

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        row = self.metrics.last_row
        if not row or not logs or "train_runtime" in logs:
            return
        step = training_step(args, state)
        elapsed = time.perf_counter() - self.started
        done = max(1, step - (self.first_step or 0))
        eta = elapsed / done * (self.total - step)
        phases = "  ".join(
            f"{name} {row.get(f'timing/{key}', 0.0):.1f}s"
            for name, key in (("rollout", "rollout_s"), ("update", "update_s"), ("sync", "weight_sync_s"))
        )
        if "timing/rollout_wait_s" in row:  # asynchronous: played ahead; how long this step waited for it
            phases += f"  waited {row['timing/rollout_wait_s']:.1f}s  staleness {row.get('async/staleness_max', 0):.0f}"
        self.write(
            f"step {step}/{self.total}  elapsed {_clock(elapsed)}  eta {_clock(eta)}  "
            f"reward {row.get('train/reward', 0.0):.3f}  success {row.get('rollout/success', 0.0):.3f}  "
            f"{logprob_check(row, 'mismatch')}  {phases}"
        )


class PeriodicEval(TrainerCallback):
    """Evaluate on the eval split every `every` steps (and at step 0, before any update); steps are generated batches,
    so an evaluation runs after the last optimizer step of its batch."""

    def __init__(self, every: int, evaluate: Callable[[int], None], max_steps: int, at_start: bool):
        self.every, self.evaluate, self.max_steps, self.at_start = every, evaluate, max_steps, at_start
        self.done: set[int] = set()

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.at_start and state.global_step == 0:
            self._run(0)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.global_step % optimizer_steps_per_batch(args):
            return  # inside a generated batch
        step = training_step(args, state)
        if step % self.every == 0 or step == self.max_steps:
            self._run(step)

    def _run(self, step: int) -> None:
        if step not in self.done:
            self.done.add(step)
            self.evaluate(step)
