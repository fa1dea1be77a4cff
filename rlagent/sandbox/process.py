"""CodeSandbox: one persistent, isolated Python process per episode that runs model-written code.

The process runs child.py (standard library only) and keeps one namespace across `execute` calls, like an
IPython session. Inside it the global `apis` turns `apis.<app>.<api>(**kwargs)` into a request over the
process's stdin/stdout (newline-delimited JSON); the host calls `handler(app, api, kwargs)` in the thread
running `execute` and sends the JSON result back. `ApiCallError(status, body)` from the handler becomes
`Exception("Response status code is <status>:\\n<json body>")` inside, AppWorld's behaviour; any other
handler exception becomes status 500 with {"message": str(exc)}. Output format: see child.py.

Modes (the limits are set by child.py at start; see bwrap.py for what the sandbox sees and how the
process limit was measured):
- bwrap: namespaces (no network, own pid space, private /tmp, read-only system files, no project, no
  $HOME, no host environment), a uid of its own (so the process limit holds even when the host is root),
  RLIMIT_CPU/AS/FSIZE/NOFILE/CORE/NPROC. Killing bwrap tears the whole pid namespace down.
- rlimits: the same program as a plain subprocess in a new session, a cleared environment and a private
  temporary working directory, with RLIMIT_CPU/AS/FSIZE/NOFILE/CORE. It does NOT protect: the file system
  (the code reads and writes whatever the host user can: the project, $HOME, /etc/shadow when root), the
  network, other processes (signals, /proc/<pid>/environ of the host's processes), the number of processes
  (no RLIMIT_NPROC: it is per user, and as root it binds nothing), processes that call setsid() (they
  escape the kill on close), and, when the host runs as root, the rlimits themselves (root may raise
  them). Use it for trusted code or where bubblewrap cannot run.

Timeouts: the child interrupts the code with an alarm (variables survive); when it has not answered
`timeout_s + GRACE_S` after the execute began (time spent in the handler not counted), its process group
is killed and the next execute starts a fresh process (`restarted=True`). A process that dies (memory,
CPU limit, os._exit) is restarted the same way, and so is one that stops reading its replies (the host never
blocks on a write) or breaks the protocol. The channel is the child's to forge: its output is made valid
UTF-8 and cut at what the child itself could produce before the host passes it on.
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import os
import random
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlagent.sandbox import bwrap
from rlagent.sandbox.config import MODES, SandboxConfig

log = logging.getLogger(__name__)

GRACE_S = 2.0  # how long past timeout_s the host waits for the child's own TimeoutError
START_TIMEOUT_S = 30.0  # a loaded machine can take long to start an interpreter
MAX_MESSAGE_BYTES = 64 << 20
BOOTSTRAP = "import sys;exec(compile(sys.argv[1],'<sandbox>','exec'))"
CHILD_SOURCE = Path(__file__).with_name("child.py").read_text()
LOST = "variables from earlier executes are lost"
_warned: set[str] = set()  # fallback reasons already logged; the first also goes to stderr

Handler = Callable[[str, str, dict], Any]


class ApiCallError(Exception):
    """Raised by a handler: the API answered `status` with the JSON `body` (AppWorld: a failed request)."""

    def __init__(self, status: int, body: dict):
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body


class SandboxError(RuntimeError):
    """The sandbox process could not be started."""


@dataclass
class ExecResult:
    output: str  # what AppWorld's /execute returns for this code
    failed: bool  # the code raised, timed out, or the process died
    timed_out: bool = False
    restarted: bool = False  # a fresh process replaced the old one: variables are lost
    api_calls: int = 0  # apis.* calls made during this execute


class _Child:
    """One running sandbox process: its protocol pipes and a thread that drains its stderr into the log."""

    def __init__(self, argv: list[str], cwd: str | None, workdir: str | None, bwrapped: bool) -> None:
        env = dict(bwrap.ENV, HOME=workdir or "/tmp", TMPDIR=workdir or "/tmp")
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd, env=env,
            start_new_session=True,
        )  # fmt: skip
        self.workdir = workdir
        self.bwrapped = bwrapped
        self.buffer = bytearray()
        self.poll = select.poll()
        self.poll.register(self.proc.stdout.fileno(), select.POLLIN)
        # writes never block: a child that stops reading (it forged calls and spins) must not hang the host
        os.set_blocking(self.proc.stdin.fileno(), False)
        self.write_poll = select.poll()
        self.write_poll.register(self.proc.stdin.fileno(), select.POLLOUT)
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=20)
        self.drain = threading.Thread(target=self._drain, daemon=True, name=f"sandbox-stderr-{self.proc.pid}")
        self.drain.start()

    def _drain(self) -> None:
        for line in iter(lambda: self.proc.stderr.readline(8192), b""):
            text = line.decode(errors="replace").rstrip()
            self.stderr_tail.append(text)
            log.debug("sandbox %d: %s", self.proc.pid, text)

    def send(self, message: dict, deadline: float) -> bool:
        """Write one message; False when the child has not taken it all by `deadline` (it stopped reading)."""
        data = memoryview(json.dumps(message).encode() + b"\n")
        fd = self.proc.stdin.fileno()
        while data:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if not self.write_poll.poll(min(remaining, 3600.0) * 1000):
                continue
            try:
                data = data[os.write(fd, data) :]
            except BlockingIOError:
                continue
        return True

    def receive(self, deadline: float) -> dict | str | None:
        """The next message; None at end of file; "timeout" past `deadline`; "garbage" when it is no message."""
        fd = self.proc.stdout.fileno()
        while (newline := self.buffer.find(b"\n")) < 0:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return "timeout"
            if not self.poll.poll(min(remaining, 3600.0) * 1000):
                continue
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return None
            self.buffer += chunk
            if len(self.buffer) > MAX_MESSAGE_BYTES:
                return "garbage"
        line = bytes(self.buffer[:newline])
        del self.buffer[: newline + 1]
        try:
            message = json.loads(line)
        except ValueError:
            return "garbage"
        return message if isinstance(message, dict) else "garbage"

    def how_it_ended(self) -> str:
        try:
            code = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return "it stopped answering"
        number = -code if code < 0 else code - 128 if self.bwrapped and code > 128 else 0
        if number:
            name = signal.Signals(number).name if number in signal.valid_signals() else f"signal {number}"
            return f"killed by {name}" + (" (CPU time limit reached)" if name == "SIGXCPU" else "")
        return f"exit code {code}"

    def kill(self, politely: bool = False) -> None:
        """End the process. `politely`: an idle child exits on end of input, so bwrap reaps its pid namespace
        itself (SIGKILL leaves bwrap's init to the host's init to reap); SIGKILL after a second anyway."""
        for stream in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(OSError):
                stream.close()
        if politely:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=1)
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)  # bwrap: the pid namespace dies with it
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                log.warning("sandbox process %d did not die on SIGKILL", self.proc.pid)
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)


def _kill_all(children: set[_Child]) -> None:
    for child in list(children):
        child.kill(politely=True)
    children.clear()


def resolve_mode(config: SandboxConfig) -> str:
    """The mode to run: bwrap when asked for and working here, else rlimits (with a loud warning, logged once
    per reason; the first reason also printed to stderr, whatever logging is set up)."""
    if config.mode not in MODES:
        raise ValueError(f"sandbox mode must be one of {', '.join(MODES)}, not {config.mode!r}")
    if config.mode == "rlimits":
        return "rlimits"
    problem = bwrap.problem(config.bwrap_path)
    if problem is None:
        return "bwrap"
    message = (
        f"sandbox: {problem}; falling back to mode rlimits, which does NOT isolate the file system, the "
        "network or other processes (install bubblewrap: apt-get install bubblewrap)"
    )
    if message not in _warned:
        if not _warned:
            print(f"WARNING: {message}", file=sys.stderr, flush=True)
        _warned.add(message)
        log.warning(message)
    return "rlimits"


class CodeSandbox:
    """A persistent Python process that runs model-written code with `apis.<app>.<api>(**kwargs)` preloaded."""

    def __init__(
        self, handler: Handler, config: SandboxConfig | None = None, app_names: list[str] | None = None
    ) -> None:
        self.config = config or SandboxConfig()
        self.handler = handler
        self.app_names = list(app_names) if app_names is not None else None
        self.mode = resolve_mode(self.config)
        self._lock = threading.Lock()
        self._closed = False
        self._children: set[_Child] = set()
        self._child: _Child | None = None
        self._finalizer = weakref.finalize(self, _kill_all, self._children)
        self._child = self._start()

    def __enter__(self) -> CodeSandbox:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    @property
    def pid(self) -> int | None:
        """The host pid of the running process (bwrap's, in mode bwrap); None between a death and a restart."""
        return self._child.proc.pid if self._child else None

    def _start(self) -> _Child:
        as_root = os.geteuid() == 0
        cfg = self.config
        limits = {
            "RLIMIT_CPU": cfg.cpu_s,
            "RLIMIT_AS": cfg.memory_mb << 20,
            "RLIMIT_FSIZE": cfg.file_size_mb << 20,
            "RLIMIT_NOFILE": 256,
            "RLIMIT_CORE": 0,
        }
        settings: dict[str, Any] = {"max_output_chars": cfg.max_output_chars, "app_names": self.app_names}
        if self.mode == "bwrap":
            limits["RLIMIT_NPROC"] = cfg.max_processes
            settings["own_pid_namespace"] = True
            if as_root:
                uid = random.SystemRandom().randrange(1_000_000, 2_000_000_000)
                settings.update(uid=uid, gid=uid)
        settings["limits"] = limits
        tail = [bwrap.interpreter(), "-I", "-S", "-B", "-c", BOOTSTRAP, CHILD_SOURCE, json.dumps(settings)]
        if self.mode == "bwrap":
            binary = shutil.which(cfg.bwrap_path) or cfg.bwrap_path
            child = _Child(bwrap.command(binary, 4 * cfg.file_size_mb, as_root) + tail, None, None, True)
        else:
            workdir = tempfile.mkdtemp(prefix="rlagent-sandbox-")
            child = _Child(tail, workdir, workdir, False)
        self._children.add(child)
        ready = child.receive(time.monotonic() + START_TIMEOUT_S)
        if not isinstance(ready, dict) or ready.get("type") != "ready":
            child.kill()
            child.drain.join(timeout=1)
            self._children.discard(child)
            detail = " | ".join(child.stderr_tail) or f"no answer ({ready})"
            raise SandboxError(f"the sandbox process ({self.mode}) did not start: {detail}")
        return child

    def _drop(self, child: _Child) -> None:
        child.kill()
        self._children.discard(child)
        self._child = None

    def execute(self, code: str) -> ExecResult:
        """Run `code` in the persistent namespace; the result's output is AppWorld's /execute reply."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the sandbox is closed")
            if self._child is None:  # the previous execute killed it (its result said restarted=True)
                self._child = self._start()
            child = self._child
            try:
                result = self._run(child, code)
            except BaseException:
                self._drop(child)  # a handler raised past us: the child waits for a reply that never comes
                raise
            if result.restarted:
                self._drop(child)
            return result

    def _run(self, child: _Child, code: str) -> ExecResult:
        timeout = float(self.config.timeout_s)
        deadline = time.monotonic() + timeout + GRACE_S
        calls = 0
        try:
            sent = child.send({"type": "exec", "code": code, "timeout": timeout}, deadline)
            while True:
                message = child.receive(deadline) if sent else "timeout"
                if message == "timeout":
                    text = f"TimeoutError: execution exceeded the {timeout} s limit"
                    note = f"The sandbox process did not stop in time and was restarted: {LOST}."
                    return ExecResult(self._failed(f"{text}\n{note}"), True, True, True, calls)
                if not isinstance(message, dict):
                    break
                if message.get("type") == "call":
                    calls += 1
                    started = time.monotonic()
                    reply = self._dispatch(message)
                    deadline += time.monotonic() - started
                    sent = child.send(reply, deadline)
                elif message.get("type") == "done":
                    if not isinstance(message["output"], str):
                        message = "garbage"
                        break
                    output = self._clean(message["output"])
                    return ExecResult(output, bool(message["failed"]), bool(message["timed_out"]), False, calls)
                else:
                    message = "garbage"
                    break
        except (BrokenPipeError, ConnectionResetError):
            message = None
        except (KeyError, TypeError, ValueError):
            message = "garbage"
        if message == "garbage":
            why = "the sandbox process broke its protocol (the code wrote to its private channel?)"
        else:
            why = f"the sandbox process died ({child.how_it_ended()})"
            child.drain.join(timeout=1)
            log.info("sandbox: %s; its stderr ended with: %s", why, " | ".join(list(child.stderr_tail)[-3:]))
        return ExecResult(self._failed(f"SandboxError: {why}; it was restarted, {LOST}."), True, False, True, calls)

    def _clean(self, output: str) -> str:
        """The child's output as the host passes it on: valid UTF-8 (a lone surrogate such as print('\\ud800')
        would make the tokenizer raise) and no longer than the child itself would make it (stdout and a
        traceback, each cut at max_output_chars); the channel is the child's, so a forged reply is cut here."""
        output = output.encode("utf-8", "replace").decode("utf-8")
        limit = 2 * self.config.max_output_chars + 1000
        if len(output) > limit:
            output = output[:limit] + f"\n[output truncated: {len(output) - limit} more characters]\n"
        return output

    @staticmethod
    def _failed(text: str) -> str:
        return "Execution failed. Traceback:\n" + text

    def _dispatch(self, message: dict) -> dict:
        app, api, kwargs = message["app"], message["api"], message["kwargs"]
        try:
            reply = {"type": "result", "ok": True, "value": self.handler(app, api, kwargs)}
            json.dumps(reply)
            return reply
        except ApiCallError as exc:
            body = json.loads(json.dumps(exc.body, default=str))
            return {"type": "result", "ok": False, "status": exc.status, "body": body}
        except Exception as exc:
            log.warning("sandbox: handler failed on %s.%s: %r", app, api, exc)
            return {"type": "result", "ok": False, "status": 500, "body": {"message": str(exc)}}

    def close(self) -> None:
        """Kill the process (and, in mode bwrap, everything in its pid namespace). Idempotent."""
        with self._lock:
            self._closed = True
            self._child = None
            self._finalizer()
