"""A pool of world servers on 127.0.0.1: one episode holds one server; dead servers are restarted.

A server is any process that serves AppWorld's environment protocol on a port it is given: appsim
(`rlagent appsim serve --port P`) or the real AppWorld server from `make appworld`. Each server gets its own
experiment name (AppWorld writes its outputs under experiments/outputs/<name>/, so concurrent servers must
not share one) and a log file in `log_dir`. A server that dies while an episode holds it makes that
episode's next call raise `WorldServerError` (the episode is errored, never scored); the next `acquire`
finds it dead and restarts it. `close()` kills every server's process group, and runs at exit and on
SIGINT/SIGTERM, so an interrupted run leaves no servers behind.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rlagent.errors import UserError
from rlagent.models.registry import rlagent_home
from rlagent.tasks.appworld.client import HttpWorldClient, WorldServerError

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Launch:
    """How to start one server on a given port."""

    argv: Sequence[str]
    env: Mapping[str, str] = field(default_factory=dict)  # added to this process's environment
    cwd: Path | None = None


ServerCommand = Callable[[int], Launch]
"""port -> Launch; the server must listen on 127.0.0.1:port and answer `GET /` with HTTP 200 once ready."""


def appsim_command(*extra_args: str) -> ServerCommand:
    """rlagent's offline world: `python -m rlagent appsim serve --port P [extra_args]`."""
    return lambda port: Launch([sys.executable, "-m", "rlagent", "appsim", "serve", "--port", str(port), *extra_args])


def default_appworld_venv() -> Path:
    """$APPWORLD_VENV, else $RLAGENT_HOME/appworld-venv: where `make appworld` installs."""
    return Path(os.environ.get("APPWORLD_VENV") or rlagent_home() / "appworld-venv").expanduser()


def appworld_installed(venv: Path | None = None) -> bool:
    """True once `make appworld` has finished in `venv` (its stamp file exists)."""
    venv = venv or default_appworld_venv()
    return (venv / "bin" / "python").is_file() and any(venv.glob(".installed-*"))


def appworld_command(root: Path, venv: Path | None = None) -> ServerCommand:
    """The real AppWorld environment server, reading tasks from `root`/data and writing `root`/experiments.

    It runs AppWorld's own FastAPI app under uvicorn bound to 127.0.0.1: `appworld serve environment` has no
    host option and binds 0.0.0.0, which would expose code execution beyond this machine.
    """
    venv = venv or default_appworld_venv()
    if not appworld_installed(venv):
        raise UserError(f"the AppWorld venv is not installed at {venv}: run `make appworld` (or set APPWORLD_VENV)")
    root = Path(root).resolve()
    if not (root / "data").is_dir():
        raise UserError(f"AppWorld root {root} has no data/ folder (tasks go in data/tasks/<task_id>/)")
    python = str(venv / "bin" / "python")

    def command(port: int) -> Launch:
        argv = [python, "-m", "uvicorn", "appworld.serve.environment:app", "--host", HOST, "--port", str(port)]
        return Launch(argv, env={"APPWORLD_ROOT": str(root)}, cwd=root)

    return command


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def log_tail(path: Path, max_bytes: int = 4000) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(max(0, path.stat().st_size - max_bytes))
            return handle.read().decode("utf-8", "replace").strip()
    except OSError:
        return ""


class WorldServer:
    """One server process of the pool: its port, experiment name, log file and client."""

    def __init__(
        self, index: int, command: ServerCommand, log_path: Path, experiment_name: str, client_timeout_s: float
    ):
        self.index = index
        self.command = command
        self.log_path = log_path
        self.experiment_name = experiment_name
        self.client_timeout_s = client_timeout_s
        self.process: subprocess.Popen | None = None
        self.port = 0
        self.client = HttpWorldClient(f"http://{HOST}:0")
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def describe(self) -> str:
        """Text added to a client error: whether the process died, and where its log is."""
        code = self.process.poll() if self.process is not None else None
        if code is None:
            return f"server log: {self.log_path}"
        lines = log_tail(self.log_path).splitlines()
        return f"server process exited with code {code}; last log line: {lines[-1] if lines else '(empty)'}"

    def launch(self) -> None:
        self.port = free_port()
        launch = self.command(self.port)
        self.starts += 1
        with self.log_path.open("ab") as log:
            log.write(f"\n=== start {self.starts}: port {self.port}: {' '.join(launch.argv)}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                list(launch.argv),
                cwd=launch.cwd,
                env={**os.environ, **launch.env},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: close() kills the server and its children
            )
        self.client.close_session()
        self.client = HttpWorldClient(self.url, timeout_s=self.client_timeout_s, context=self.describe)

    def wait_ready(self, timeout_s: float, poll_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            code = self.process.poll()
            if code is not None:
                self.stop()
                raise self.start_error(f"exited with code {code} before it was ready")
            if self.client.health():
                return
            if time.monotonic() > deadline:
                self.stop()
                raise self.start_error(f"was not ready in {timeout_s:g} s")
            time.sleep(poll_s)

    def start_error(self, what: str) -> WorldServerError:
        tail = "\n".join(log_tail(self.log_path).splitlines()[-15:])
        return WorldServerError(self.url, "(start)", f"server {self.index} {what}; log {self.log_path}:\n{tail}")

    def start(self, timeout_s: float, poll_s: float) -> None:
        self.launch()
        try:
            self.wait_ready(timeout_s, poll_s)
        except WorldServerError:
            if "address already in use" not in log_tail(self.log_path).lower():
                raise
            self.launch()  # another process took the free port between our probe and the server's bind
            self.wait_ready(timeout_s, poll_s)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None and self.client.health()

    def stop(self, grace_s: float = 5.0) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 10.0)):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, sig)
            try:
                process.wait(timeout=wait_s)
                if sig == signal.SIGTERM:  # the leader is gone; make sure nothing else of its group stays
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(process.pid, signal.SIGKILL)
                break
            except subprocess.TimeoutExpired:
                continue
        self.client.close_session()


class Lease:
    """One server held by one episode; use as a context manager so the server goes back to the pool."""

    def __init__(self, pool: ServerPool, server: WorldServer) -> None:
        self.pool = pool
        self.server = server
        self.client = server.client
        self.experiment_name = server.experiment_name
        self.url = server.url
        self.released = False

    def check(self) -> None:
        """Raise WorldServerError if the server process has died since this episode took it."""
        process = self.server.process
        if process is None or process.poll() is not None:
            raise WorldServerError(self.url, "(process)", self.server.describe())

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.pool.release(self)

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc_info) -> None:
        self.release()


class ServerPool:
    """`size` servers started by `command`; `acquire()` hands one to an episode, `close()` kills them all."""

    def __init__(
        self,
        command: ServerCommand,
        size: int,
        log_dir: Path,
        *,
        experiment_prefix: str | None = None,
        start_timeout_s: float = 120.0,
        client_timeout_s: float = 150.0,
        poll_s: float = 0.2,
    ) -> None:
        if size < 1:
            raise UserError(f"a server pool needs at least 1 server, got {size}")
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        prefix = experiment_prefix or f"rlagent-{os.getpid()}-"
        self.servers = [
            WorldServer(i, command, self.log_dir / f"server-{i}.log", f"{prefix}{i}", client_timeout_s)
            for i in range(size)
        ]
        self.start_timeout_s = start_timeout_s
        self.poll_s = poll_s
        self.idle: list[WorldServer] = []
        self.closed = False
        self.cond = threading.Condition(threading.RLock())  # re-entrant: close() may run in a signal handler
        register_for_cleanup(self)

    def start(self) -> ServerPool:
        """Launch every server, then wait until all answer; on any failure kill them all and raise."""
        try:
            for server in self.servers:
                server.launch()
            for server in self.servers:
                server.wait_ready(self.start_timeout_s, self.poll_s)
        except BaseException:
            self.close()
            raise
        with self.cond:
            self.idle = list(self.servers)
        return self

    def acquire(self, timeout_s: float | None = None) -> Lease:
        """A healthy server for one episode (restarted first if it died); waits while all are held."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        with self.cond:
            while not self.idle and not self.closed:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise TimeoutError(f"no world server free in {timeout_s:g} s ({len(self.servers)} in the pool)")
                self.cond.wait(left)
            if self.closed:
                raise WorldServerError("(pool)", "(acquire)", "the server pool is closed")
            server = self.idle.pop(0)
        try:
            if not server.alive():
                server.stop()
                server.start(self.start_timeout_s, self.poll_s)
        except BaseException:
            self.put_back(server)
            raise
        return Lease(self, server)

    def put_back(self, server: WorldServer) -> None:
        with self.cond:
            if not self.closed:
                self.idle.append(server)
            self.cond.notify()

    def release(self, lease: Lease) -> None:
        self.put_back(lease.server)

    def restarts(self) -> int:
        """How many times servers were started beyond the first start of each."""
        return sum(max(0, server.starts - 1) for server in self.servers)

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.idle = []
            self.cond.notify_all()
        for server in self.servers:
            server.stop()
        _POOLS.discard(self)

    def __enter__(self) -> ServerPool:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.close()


_POOLS: set[ServerPool] = set()  # strong references: a pool nobody closed is still closed at exit
_cleanup = {"atexit": False, "signals": False}


def close_all_pools() -> None:
    for pool in list(_POOLS):
        pool.close()


def _on_signal(previous, signum, frame) -> None:
    close_all_pools()
    if callable(previous):
        previous(signum, frame)
    elif previous != signal.SIG_IGN:
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)


def register_for_cleanup(pool: ServerPool) -> None:
    """Close `pool` at exit and on SIGINT/SIGTERM (handlers chained to the previous ones, installed once from
    the main thread: Python allows signal handlers only there)."""
    _POOLS.add(pool)
    if not _cleanup["atexit"]:
        _cleanup["atexit"] = True
        atexit.register(close_all_pools)
    if not _cleanup["signals"] and threading.current_thread() is threading.main_thread():
        _cleanup["signals"] = True
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous = signal.getsignal(signum)
            signal.signal(signum, lambda num, frame, previous=previous: _on_signal(previous, num, frame))
