"""The run directory: config.yaml, run.json, metrics.jsonl, rollouts/, checkpoints/, eval/.

A run directory is created only after the configuration validated, is never overwritten unless the
run is resumed, and records its status in run.json so that a crashed or partial run is never taken
for a finished one: running, completed, failed (an error), or interrupted (SIGINT/SIGTERM; `resume=true`
continues it from the checkpoint named in resume_from).
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rlagent import __version__
from rlagent.config.compose import to_yaml
from rlagent.config.schema import RecipeConfig
from rlagent.errors import UserError
from rlagent.runs.files import write_json_atomic, write_text_atomic
from rlagent.runs.metrics_log import MetricsLog

CONFIG = "config.yaml"
_STEP_IN_NAME = re.compile(r"step-0*(\d+)\.")
STATUS = "run.json"
ENDED_FIELDS = ("finished", "error", "interrupted_by", "resume_from")
"""Fields that describe how an invocation ended; a resumed run's start clears them."""


def _accelerator() -> str:
    """`cuda:N (device name)` for this process's GPU when torch sees one, else `cpu`."""
    import torch

    if not torch.cuda.is_available():
        return "cpu"
    index = torch.cuda.current_device()
    return f"cuda:{index} ({torch.cuda.get_device_name(index)})"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class RunDir:
    """Paths and status of one run directory."""

    path: Path
    created: bool = False

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG

    @property
    def status_path(self) -> Path:
        return self.path / STATUS

    @property
    def rollouts(self) -> Path:
        return self.path / "rollouts"

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def eval(self) -> Path:
        return self.path / "eval"

    @property
    def metrics(self) -> MetricsLog:
        return MetricsLog(self.path / "metrics.jsonl")

    def status(self) -> dict[str, Any]:
        try:
            return json.loads(self.status_path.read_text())
        except (OSError, json.JSONDecodeError):
            return {}

    def _update_status(self, **fields: Any) -> None:
        write_json_atomic(self.status_path, {**self.status(), **fields})

    def start(self, command: str, cfg: RecipeConfig) -> None:
        # how the previous invocation ended goes: a resumed run is running again, not failed or interrupted
        previous = {k: v for k, v in self.status().items() if k not in ENDED_FIELDS}
        history = previous.get("invocations", [])
        history.append({"command": command, "started": _now()})
        fields = dict(
            recipe=cfg.name,
            status="running",
            command=command,
            invocations=history,
            rlagent=__version__,
            host=platform.node(),
            accelerator=_accelerator(),
            pid=os.getpid(),
            started_unix=time.time(),
        )
        write_json_atomic(self.status_path, {**previous, **fields})

    def finish(self, **summary: Any) -> None:
        self._update_status(status="completed", finished=_now(), **summary)

    def fail(self, error: str) -> None:
        self._update_status(status="failed", finished=_now(), error=error)

    def interrupt(self, signal_name: str, checkpoint: Path | None) -> None:
        """Stopped by SIGINT/SIGTERM: resumable from `checkpoint`, the last complete one (None: from the start)."""
        resume_from = str(checkpoint) if checkpoint else None
        self._update_status(status="interrupted", finished=_now(), interrupted_by=signal_name, resume_from=resume_from)

    def rewind(self, step: int) -> int:
        """Forget what was logged after `step` (resuming from its checkpoint re-runs those steps):
        metric rows, evaluations tagged step-N and rollouts of steps N > step. Returns dropped metric rows."""
        for folder, pattern in ((self.eval, "*-step-*"), (self.rollouts, "step-*.jsonl")):
            for path in folder.glob(pattern):
                match = _STEP_IN_NAME.search(path.name)
                if match and int(match.group(1)) > step:
                    path.unlink()
        return self.metrics.truncate_after(step)

    def abandon(self, error: str) -> None:
        """After bad input: remove a directory this invocation created if it holds no results, else mark failed."""
        if self.created and not any(self.checkpoints.glob("step-*")) and not any(self.eval.glob("*.json")):
            shutil.rmtree(self.path, ignore_errors=True)
        elif self.path.exists():
            self.fail(error)


def default_run_path(cfg: RecipeConfig, command: str) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    suffix = "" if command == "train" else f"-{command}"
    return Path(cfg.run.root) / f"{cfg.name}{suffix}-{stamp}"


def planned_run_path(cfg: RecipeConfig, command: str) -> Path:
    """The run directory `command` would open, after the checks that refuse it; creates nothing."""
    path = Path(cfg.run.dir) if cfg.run.dir else default_run_path(cfg, command)
    if cfg.resume:
        if not (path / CONFIG).is_file():
            raise UserError(f"resume=true needs an existing run directory with {CONFIG}: set run.dir (got '{path}')")
    elif path.exists() and any(path.iterdir()):
        raise UserError(
            f"run directory '{path}' already exists; pass resume=true to continue it, or choose another run.dir"
        )
    return path


def open_run_dir(cfg: RecipeConfig, command: str) -> RunDir:
    """Create the run directory for `command`, or reopen it when resuming; never overwrite a run."""
    run = RunDir(planned_run_path(cfg, command))
    if not cfg.resume:
        run.path.mkdir(parents=True, exist_ok=True)
        run.created = True
    for sub in (run.rollouts, run.checkpoints, run.eval):
        sub.mkdir(parents=True, exist_ok=True)
    write_text_atomic(run.config_path, to_yaml(cfg))
    run.start(command, cfg)
    return run


def eval_into_existing(cfg: RecipeConfig) -> bool:
    """Whether `eval` adds its files to the existing run that run.dir names (else it opens a new run)."""
    return bool(cfg.run.dir) and (Path(str(cfg.run.dir)) / CONFIG).is_file()


def open_for_eval(cfg: RecipeConfig) -> RunDir:
    """Eval writes into run.dir when it names an existing run (adding eval files), else into a new run."""
    if eval_into_existing(cfg):
        run = RunDir(Path(str(cfg.run.dir)))
        run.eval.mkdir(exist_ok=True)
        return run
    return open_run_dir(cfg, "eval")
