"""Training over several processes on this machine's CPUs (launcher=accelerate, strategy ddp, gloo).

The process the user started checks everything (`rlagent train`'s checks, the run directory it will create), then
starts `accelerate launch` (launch/commands.py: cpu_launch) and waits. Every launched process runs the same
`rlagent train` with its own rollout engine: TRL hands each one a contiguous share of the step's prompts, the agent
loop plays them, rewards and the loss's token count are gathered, DDP averages the gradients, and each process
pushes its own (identical) weights into its own engine. Only rank 0 writes the run directory: run.json,
config.yaml, metrics.jsonl, rollouts/ (every process's episodes, gathered), eval/ and checkpoints/ (the other ranks
add only transformers' rng_state_<rank>.pth to each checkpoint, before rank 0 commits it).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

from rlagent.config.schema import RecipeConfig
from rlagent.launch.commands import cpu_launch
from rlagent.runs.rundir import RunDir, planned_run_path
from rlagent.ui import err_console

LAUNCH_OVERRIDES = "RLAGENT_LAUNCH_OVERRIDES"
"""Set for the launched processes: the overrides the user gave the launching `rlagent train` (JSON list)."""


def launched_overrides(overrides: list[str]) -> list[str]:
    """The user's own overrides (launcher=accelerate included) when accelerate started this process from
    `launch_processes`, else `overrides`: what a resume line must repeat."""
    given = os.environ.get(LAUNCH_OVERRIDES)
    return [str(o) for o in json.loads(given)] if given else overrides


class FollowerRunDir(RunDir):
    """The run directory as a rank other than 0 sees it: the same paths, and nothing of its own written there."""

    def start(self, *args: object, **kwargs: object) -> None:
        pass

    def finish(self, **summary: object) -> None:
        pass

    def fail(self, error: str) -> None:
        pass

    def interrupt(self, signal_name: str, checkpoint: Path | None) -> None:
        pass

    def rewind(self, step: int) -> int:
        return 0

    def abandon(self, error: str) -> None:
        pass


def follower_run_dir(cfg: RecipeConfig) -> FollowerRunDir:
    """Rank > 0: the directory rank 0 opens (the launching process pinned run.dir for every rank)."""
    return FollowerRunDir(Path(str(cfg.run.dir)))


def launch_processes(cfg: RecipeConfig, overrides: list[str]) -> int:
    """Start launcher.num_processes training processes and wait for them; their exit code.

    Called after every check `rlagent train` makes, so bad input never reaches the launched processes. SIGINT and
    SIGTERM go on to accelerate's launcher, which stops the training processes (rank 0 records `interrupted` and
    prints the resume line, with the user's overrides: `launched_overrides`); the exit code is then 130 or 143."""
    run_dir = planned_run_path(cfg, "train").resolve()
    argv = cpu_launch(cfg, overrides, str(run_dir))
    err_console.print(
        f"launching {cfg.launcher.num_processes} training processes (CPU, gloo) into {run_dir}",
        highlight=False, soft_wrap=True, markup=False,
    )  # fmt: skip
    # its own session: a Ctrl-C reaches it once, through this process, not also from the terminal
    env = {**os.environ, LAUNCH_OVERRIDES: json.dumps(list(overrides))}
    child = subprocess.Popen(argv, start_new_session=True, env=env)
    received: list[int] = []

    def forward_signal(num: int, _: object) -> None:
        received.append(num)
        child.send_signal(num)

    forward = {sig: signal.signal(sig, forward_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        code = child.wait()
        # stopped by a signal: the training processes recorded `interrupted`; exit as one process would (130/143)
        return 128 + received[0] if received else code
    finally:
        for sig, previous in forward.items():
            signal.signal(sig, previous)
