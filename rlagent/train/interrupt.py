"""SIGINT (Ctrl-C) and SIGTERM (what Slurm and container schedulers send before a kill) during `rlagent train`.

The first signal raises `Interrupted` in the main thread wherever training is: the current step is abandoned
(its checkpoint, if it was being written, stays in checkpoints/.staging and never counts), the `finally` blocks
close the environments, the world servers and the engine, and `rlagent train` marks the run interrupted in
run.json, prints one line saying how to resume, and exits 128 + the signal's number (130, 143). A signal that
arrives while it stops is ignored, so the cleanup and the status write finish; SIGKILL is the way to cut it short.
`Interrupted` is a BaseException, so `except Exception` handlers on the way (an environment's world-failure
handling) do not swallow it. `resume=true` continues from the last complete checkpoint.
"""

from __future__ import annotations

import contextlib
import shlex
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(BaseException):
    """A stop signal reached training."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.name = signal.Signals(signum).name
        super().__init__(self.name)

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM raise Interrupted (the first one; later ones are ignored until the
    block exits); the previous handlers come back afterwards. Outside the main thread Python cannot set
    handlers, and nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame) -> None:
        for number in SIGNALS:
            signal.signal(number, signal.SIG_IGN)
        raise Interrupted(signum)

    previous = {number: signal.signal(number, stop) for number in SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def resume_command(overrides: list[str], run_dir: Path) -> str:
    """The command line that continues this run: the same overrides, resume=true and run.dir."""
    kept = [o for o in overrides if not o.lstrip("+~").startswith(("resume=", "run.dir="))]
    return shlex.join(["rlagent", "train", *kept, "resume=true", f"run.dir={run_dir}"])
