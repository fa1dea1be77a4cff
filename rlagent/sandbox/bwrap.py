"""Bubblewrap: the command line that isolates a sandbox process, and a probe that bubblewrap works here.

What the sandbox sees: read-only /usr (with /bin, /lib, /lib64 as the host's symlinks or read-only binds) and
the base interpreter's prefix (`sys.base_prefix`, e.g. /root/.pyenv/versions/3.11.7; not the venv, not the
project, nothing else of $HOME), a private size-limited tmpfs on /tmp (the working directory) and /dev/shm,
its own /proc and a minimal /dev; the root is remounted read-only. Namespaces: network (loopback only, no
route out), pid (the host's processes are invisible, `kill` cannot reach them), ipc, uts and cgroup;
`--die-with-parent` and `--new-session`; the environment is cleared to PATH, LANG, HOME and TMPDIR.

The process limit, measured here (Linux 6.18, bubblewrap 0.8.0, tests run as root): RLIMIT_NPROC does not
bind uid 0 (the kernel exempts INIT_USER), and bubblewrap's user namespace maps the sandbox's uid back to the
caller's, so as root `--unshare-user --uid 65534` still counts processes against uid 0. Running bwrap itself
as an unprivileged uid fails because /root is mode 0700 and the interpreter lives under it. What works:
as root, bwrap runs privileged without a user namespace and the child program drops to a random uid of its
own (1e6..2e9, gid the same) before running anything else, then sets RLIMIT_NPROC; the count is per uid, so
per sandbox. A loop of 200 forks inside got 15 (16 - the child itself) and EAGAIN for the rest, in each of
three sandboxes at once. As any other user, bwrap creates a user namespace (`--unshare-all`) and the kernel
counts RLIMIT_NPROC per (user namespace, uid): again per sandbox (14 forks: bwrap's init counts too).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

SYSTEM_DIRS = ("/usr", "/bin", "/lib", "/lib64", "/sbin")
ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/tmp", "TMPDIR": "/tmp"}


def interpreter() -> str:
    """The real interpreter behind the venv: `-I -S` keeps its site-packages (and the venv) out anyway."""
    path = os.path.join(sys.base_prefix, "bin", "python3")
    return path if os.path.exists(path) else os.path.realpath(sys.executable)


def _read_only_paths() -> list[str]:
    args: list[str] = []
    for path in SYSTEM_DIRS:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    prefix = os.path.realpath(sys.base_prefix)
    if not any(prefix == d or prefix.startswith(d + "/") for d in SYSTEM_DIRS):
        parts = prefix.strip("/").split("/")
        for depth in range(1, len(parts)):  # traversable by the sandbox's uid even where the host has 0700
            args += ["--perms", "0755", "--dir", "/" + "/".join(parts[:depth])]
        args += ["--ro-bind", prefix, prefix]
    return args


def command(binary: str, tmp_size_mb: int, as_root: bool) -> list[str]:
    """The bwrap prefix of the sandbox command line (the interpreter and its arguments follow it)."""
    if as_root:  # privileged: no user namespace, the child drops to a uid of its own (see the module docstring)
        namespaces = ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
    else:
        namespaces = ["--unshare-all"]
    size = str(tmp_size_mb << 20)
    args = [binary, *namespaces, "--die-with-parent", "--new-session", "--hostname", "sandbox"]
    args += _read_only_paths()
    args += ["--perms", "1777", "--size", size, "--tmpfs", "/tmp", "--proc", "/proc", "--dev", "/dev"]
    args += ["--perms", "1777", "--size", size, "--tmpfs", "/dev/shm", "--remount-ro", "/", "--clearenv"]
    for name, value in ENV.items():
        args += ["--setenv", name, value]
    return [*args, "--chdir", "/tmp"]


_WORKS: set[str] = set()
"""Binaries that have run a sandbox in this process: only success is cached, so one probe that times out on a
loaded machine is retried next time instead of switching every later sandbox to rlimits."""


def problem(binary: str) -> str | None:
    """None when `binary` runs the interpreter in a sandbox here, else why not (one line)."""
    if binary in _WORKS:
        return None
    path = shutil.which(binary)
    if path is None:
        return f"bubblewrap ({binary!r}) is not installed or not on PATH"
    argv = [*command(path, 1, os.geteuid() == 0), interpreter(), "-I", "-S", "-c", "pass"]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, env=ENV)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bubblewrap ({path}) did not run: {exc}"
    if done.returncode != 0:
        return f"bubblewrap ({path}) failed here: {done.stderr.strip() or f'exit code {done.returncode}'}"
    _WORKS.add(binary)
    return None
