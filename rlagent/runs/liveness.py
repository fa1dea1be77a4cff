"""Whether a run that run.json records as running still has its process: a run killed by the OOM killer or
kill -9 never gets to write how it ended. Read only; run.json is never rewritten here."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

DIED = "died"
"""Shown for a run recorded as running whose process on this host is gone (killed: OOM, kill -9, a lost machine)."""

START_TOLERANCE_S = 5.0
"""How much later than run.json's started_unix a process may seem to have started and still be the run's own
(/proc gives the boot time in whole seconds; the clock may have been adjusted)."""


def _proc_state(pid: int) -> tuple[str, float] | None:
    """(state letter, start time as unix seconds) of a process from /proc, or None where /proc cannot say."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = next(line for line in Path("/proc/stat").read_text().splitlines() if line.startswith("btime "))
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) ": state is field 3, starttime field 22
        return fields[0], int(boot.split()[1]) + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, StopIteration, ValueError, IndexError):
        return None


def process_gone(pid: int, started_unix: float | None = None) -> bool:
    """True when no process `pid` runs, when it is a zombie (killed, not yet reaped), or when the process now
    holding `pid` started after `started_unix` (the run's process is gone and its pid was reused)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OSError):
        pass  # it exists (another user's process)
    state = _proc_state(pid)
    if state is None:
        return False
    letter, started = state
    if letter in ("Z", "X"):
        return True
    return started_unix is not None and started > started_unix + START_TOLERANCE_S


def run_died(info: dict[str, Any]) -> bool:
    """run.json says running, was written on this host, and its process is gone."""
    pid, since = info.get("pid"), info.get("started_unix")
    if info.get("status") != "running" or info.get("host") != platform.node() or not isinstance(pid, int):
        return False
    return process_gone(pid, float(since) if isinstance(since, (int, float)) else None)


def died_hint(info: dict[str, Any], path: Path, recipe: str) -> str:
    """What happened and how to continue, for a run that died."""
    gone = f"process {info.get('pid')} on {info.get('host')} is gone (killed?) without recording how it ended"
    if info.get("command", "train") != "train":
        return f"{gone}; run the evaluation again"
    command = f"rlagent train recipe={recipe} resume=true run.dir={path}"
    return f"{gone}; continue it with: {command} (and its other overrides)"
