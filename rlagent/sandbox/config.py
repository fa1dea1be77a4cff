"""SandboxConfig: how model-written code is isolated and limited (see rlagent/sandbox/process.py)."""

from __future__ import annotations

from dataclasses import dataclass

from rlagent.config.fields import option

MODES = ("bwrap", "rlimits")


@dataclass
class SandboxConfig:
    """One persistent Python process per episode that runs the model's code."""

    mode: str = option(
        "bwrap",
        help="Isolation: bwrap (bubblewrap namespaces, rlimits, a uid of its own) or rlimits (a plain subprocess "
        "with rlimits only). bwrap falls back to rlimits with a warning when bubblewrap is missing or broken.",
        choices=MODES,
    )
    timeout_s: float = option(10.0, help="Wall-clock limit of one execute, in seconds.")
    cpu_s: int = option(60, help="RLIMIT_CPU of the whole sandbox process: seconds of CPU over its life.")
    memory_mb: int = option(1024, help="RLIMIT_AS of the sandbox process (address space), in MiB.")
    max_processes: int = option(
        16, help="Processes and threads the sandbox may run at once (RLIMIT_NPROC on a uid of its own; bwrap only)."
    )
    max_output_chars: int = option(
        20000, help="Captured stdout of one execute beyond this many characters is cut, with a marker line."
    )
    file_size_mb: int = option(
        16, help="RLIMIT_FSIZE: the largest file the code may write, in MiB; the private /tmp (bwrap) holds 4x this."
    )
    bwrap_path: str = option("bwrap", help="Name or path of the bubblewrap binary that mode bwrap runs.")
