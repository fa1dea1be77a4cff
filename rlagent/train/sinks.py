"""Extra metric sinks (trainer.report_to): kept inside the run directory.

transformers' TensorBoard callback would write to CHECKPOINTS/runs/DATE_HOST and wandb to ./wandb of the current
directory; here TensorBoard writes RUN/logs/tensorboard and wandb RUN/logs/wandb (an offline run with
WANDB_MODE=offline, which `wandb sync` can upload later). TENSORBOARD_LOGGING_DIR or WANDB_DIR set by the user win.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rlagent.errors import UserError

SINK_PACKAGES = {"tensorboard": "tensorboard", "wandb": "wandb", "mlflow": "mlflow"}


def check_sinks(report_to: list[str]) -> None:
    for sink in report_to:
        if importlib.util.find_spec(SINK_PACKAGES[sink]) is None:
            raise UserError(f"trainer.report_to={sink} needs the {SINK_PACKAGES[sink]} package installed")


def tensorboard_dir(run_path: Path) -> Path:
    return run_path / "logs" / "tensorboard"


@contextlib.contextmanager
def sink_environment(report_to: list[str], run_path: Path) -> Iterator[None]:
    """WANDB_DIR inside the run directory for the duration of the training (unless the user set it); the wandb run
    is finished on the way out so that its files are complete and a later run in this process starts its own."""
    if "wandb" not in report_to:
        yield
        return
    before = os.environ.get("WANDB_DIR")
    if before is None:
        (run_path / "logs").mkdir(parents=True, exist_ok=True)
        os.environ["WANDB_DIR"] = str(run_path / "logs")
    try:
        yield
    finally:
        wandb = sys.modules.get("wandb")
        if wandb is not None and wandb.run is not None:
            wandb.finish()
        if before is None:
            os.environ.pop("WANDB_DIR", None)


def place_sinks(trainer: Any, run_path: Path) -> None:
    """Point transformers' TensorBoard callback (if any) at RUN/logs/tensorboard."""
    from transformers.integrations import TensorBoardCallback

    for callback in trainer.callback_handler.callbacks:
        if isinstance(callback, TensorBoardCallback) and callback.logging_dir is None:
            callback.logging_dir = str(tensorboard_dir(run_path))
