"""The program inside the sandbox: runs the model's code in one namespace that lives as long as the process.

Standard library only. The host starts it as `python -I -S -B -c BOOTSTRAP SOURCE CONFIG` (process.py), so
no file of the project has to be readable inside. At start it

1. drops to the uid/gid the host chose (bwrap as root: a uid of its own, so RLIMIT_NPROC applies),
2. applies the rlimits (CPU, address space, file size, open files, core 0, processes),
3. moves the protocol channel off fds 0 and 1: stdin and stdout are duplicated to private, non-inheritable
   fds and fds 0 and 1 are pointed at /dev/null. The code's `print` (sys.stdout) is captured in-process;
   writes straight to fd 1 (`os.write(1, ...)`, `sys.__stdout__`, subprocesses) are lost in /dev/null, and
   fd 2 (stderr) goes to the host's log, never into the output.

Protocol: one JSON object a line, both ways.
    host -> child  {"type": "exec", "code": str, "timeout": float}
                   {"type": "result", "ok": true, "value": ...} | {"type": "result", "ok": false, "status", "body"}
    child -> host  {"type": "ready", "pid", "uid"}
                   {"type": "call", "app", "api", "kwargs"}          (an apis.<app>.<api>(**kwargs) call)
                   {"type": "done", "output": str, "failed": bool, "timed_out": bool}

Output, as AppWorld's /execute builds it: the code is stripped; empty code gives "No code available to
execute."; a syntax error gives "Execution failed. Traceback:\\nSyntax error in line:\\n<line>\\nMessage: <msg>";
success gives the captured stdout, or "Execution successful." when it is blank; an exception gives
"Execution failed. Traceback:\\n" and the traceback reduced to the frames of the model's code (AppWorld's
filter: lines that are not frame lines are kept, frame lines only when the frame is in "<python-input>").
Unlike AppWorld, stdout printed before a failure is kept, in front of the failure text.

Processes the code starts do not outlive the execute: forks that run to the end exit instead of touching
the channel, and whatever is still running when the code returns is killed and reaped (stop_leftovers).

Timeout: an ITIMER_REAL alarm raises TimeoutError in the code, so the namespace survives. While an API call
waits for the host the alarm is held back and raised when the call returns, so the channel never tears.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import linecache
import os
import re
import resource
import signal
import sys
import textwrap
import threading
import traceback

FRAME_LINE = re.compile(r' +File "(.*?)", line (\d+), in .+')
INPUT_NAME = re.compile(r'File "<python-input-\d+>"')


class ExecTimeout(TimeoutError):
    """Raised in the model's code when the execute's wall-clock limit passes."""


class Channel:
    """Newline-delimited JSON over the fds that were stdin and stdout at start."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.reader = os.fdopen(os.dup(0), "rb")
        self.out_fd = os.dup(1)
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(null, 1)
        os.close(null)

    def send(self, message: dict) -> None:
        if os.getpid() != self.pid:  # a fork of the code that ran to the end: it must not answer the host
            os._exit(0)
        data = (json.dumps(message) + "\n").encode()
        while data:
            data = data[os.write(self.out_fd, data) :]

    def receive(self) -> dict | None:
        if os.getpid() != self.pid:
            os._exit(0)
        line = self.reader.readline()
        return json.loads(line) if line else None


class Capture:
    """sys.stdout during an execute: keeps the first `limit` characters and counts the rest."""

    encoding = "utf-8"
    errors = "strict"

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.parts: list[str] = []
        self.kept = 0
        self.dropped = 0

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        kept = text[: self.limit - self.kept]
        if kept:
            self.parts.append(kept)
            self.kept += len(kept)
        self.dropped += len(text) - len(kept)
        return len(text)

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    def text(self) -> str:
        text = "".join(self.parts)
        if self.dropped:
            if text and not text.endswith("\n"):
                text += "\n"
            text += f"[output truncated: {self.dropped} more characters]\n"
        return text


class Api:
    """`apis.<app>.<api>`: keyword arguments only, sent to the host, the JSON reply returned."""

    def __init__(self, session: Session, app: str, api: str) -> None:
        self._session, self._app, self._api = session, app, api

    def __call__(self, *args, **kwargs):
        if args:
            raise TypeError(
                f"apis.{self._app}.{self._api}() takes keyword arguments only, got {len(args)} positional "
                f"argument(s): call it as apis.{self._app}.{self._api}(name=value, ...)"
            )
        return self._session.call(self._app, self._api, kwargs)

    def __repr__(self) -> str:
        return f"<api apis.{self._app}.{self._api}>"


class App:
    """`apis.<app>`: any attribute is an API of the app (the host says whether it exists)."""

    def __init__(self, session: Session, app: str) -> None:
        self._session, self._app = session, app

    def __getattr__(self, api: str) -> Api:
        if api.startswith("__"):
            raise AttributeError(api)
        return Api(self._session, self._app, api)

    def __repr__(self) -> str:
        return f"<app apis.{self._app}>"


class Apis:
    """The global `apis`: `apis.<app>.<api>(**kwargs)`."""

    def __init__(self, session: Session, app_names: list[str] | None) -> None:
        self._session, self._app_names = session, app_names

    def __getattr__(self, app: str) -> App:
        if app.startswith("__"):
            raise AttributeError(app)
        if self._app_names is not None and app not in self._app_names:
            raise AttributeError(f"apis has no app named {app!r}; the apps are: {', '.join(self._app_names)}")
        return App(self._session, app)

    def __dir__(self) -> list[str]:
        return list(self._app_names or [])

    def __repr__(self) -> str:
        return "<apis: " + (", ".join(self._app_names) if self._app_names is not None else "any app") + ">"


class Session:
    """The persistent namespace and one execute at a time."""

    def __init__(self, channel: Channel, config: dict) -> None:
        self.channel = channel
        self.max_output_chars = config["max_output_chars"]
        self.own_pid_namespace = bool(config.get("own_pid_namespace"))
        self.namespace = {"__name__": "__main__", "__builtins__": builtins}
        self.namespace["apis"] = Apis(self, config.get("app_names"))
        self.executes = 0
        self.armed = False
        self.in_call = False
        self.pending_timeout = False
        self.timeout = 0.0
        self.call_lock = threading.Lock()
        signal.signal(signal.SIGALRM, self.on_alarm)

    def on_alarm(self, signum, frame) -> None:
        if not self.armed:
            return
        if self.in_call:
            self.pending_timeout = True
            return
        raise ExecTimeout(f"execution exceeded the {self.timeout} s limit")

    def call(self, app: str, api: str, kwargs: dict):
        try:
            message = {"type": "call", "app": app, "api": api, "kwargs": kwargs}
            json.dumps(message)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"apis.{app}.{api}(): arguments must be JSON values (str, int, float, bool, None, list, dict): {exc}"
            ) from None
        if os.getpid() != self.channel.pid:
            raise RuntimeError("apis can only be called from the sandbox's main process, not from a fork")
        with self.call_lock:
            self.in_call = True
            try:
                self.channel.send(message)
                reply = self.channel.receive()
            finally:
                self.in_call = False
        if reply is None:
            os._exit(0)
        if self.pending_timeout:
            self.pending_timeout = False
            raise ExecTimeout(f"execution exceeded the {self.timeout} s limit")
        if reply["ok"]:
            return reply["value"]
        raise Exception(f"Response status code is {reply['status']}:\n{json.dumps(reply['body'])}")

    def run(self, code: str, timeout: float) -> dict:
        code = code.strip()
        if not code:
            return done("No code available to execute.", failed=False)
        self.executes += 1
        filename = f"<python-input-{self.executes}>"
        try:
            compiled = compile(code, filename, "exec", dont_inherit=True)
        except (SyntaxError, ValueError) as exc:
            text = getattr(exc, "text", None) or ""
            message = getattr(exc, "msg", None) or str(exc)
            return done(f"Execution failed. Traceback:\nSyntax error in line:\n{text.rstrip()}\nMessage: {message}")
        linecache.cache[filename] = (len(code), None, [line + "\n" for line in code.splitlines()], filename)
        capture = Capture(self.max_output_chars)
        saved = sys.stdout
        failure = None
        self.timeout = timeout
        self.pending_timeout = False
        sys.stdout = capture
        try:
            try:
                self.armed = True
                signal.setitimer(signal.ITIMER_REAL, timeout)
                exec(compiled, self.namespace)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
                self.armed = False
        except BaseException as exc:
            failure = exc
        finally:
            sys.stdout = saved
        if os.getpid() != self.channel.pid:  # a fork of the code that ran to the end
            os._exit(0)
        stop_leftovers(self.own_pid_namespace)
        printed = capture.text()
        if failure is None:
            return done(printed if printed.strip() else "Execution successful.", failed=False)
        if printed and not printed.endswith("\n"):
            printed += "\n"
        if isinstance(failure, ExecTimeout):
            return done(f"{printed}Execution failed. Traceback:\nTimeoutError: {failure}", timed_out=True)
        trace = format_failure(failure)
        if len(trace) > self.max_output_chars:  # e.g. raise Exception("x" * 60_000_000)
            cut = len(trace) - self.max_output_chars
            trace = trace[: self.max_output_chars] + f"\n[traceback truncated: {cut} more characters]"
        return done(printed + "Execution failed. Traceback:\n" + trace)


def done(output: str, failed: bool = True, timed_out: bool = False) -> dict:
    return {"type": "done", "output": output, "failed": failed, "timed_out": timed_out}


def format_failure(exc: BaseException) -> str:
    """The traceback as AppWorld shows it: only the frames of the model's code, named "<python-input>"."""
    lines = "".join(traceback.TracebackException.from_exception(exc).format()).splitlines()
    kept, take = [], False
    for line in lines:
        if not line.startswith("  "):
            kept.append(line)
            continue
        match = FRAME_LINE.match(line)
        if match:
            take = "python-input" in match.group(1)
        if take:
            kept.append(line)
    first = next((i for i, line in enumerate(kept) if "python-input" in line), 0)
    return textwrap.dedent(INPUT_NAME.sub('File "<python-input>"', "\n".join(kept[first:])))


def stop_leftovers(own_pid_namespace: bool) -> None:
    """Kill the processes the code started and left running, then reap the zombies (they count against
    RLIMIT_NPROC). In a pid namespace of its own that is every process but this one and bwrap's init: kill(-1)
    reaches exactly those and needs no file descriptor (code that holds every fd it may open must not stop
    this); without one, the processes of this process group (a process that called setsid() escapes)."""
    if own_pid_namespace:
        with contextlib.suppress(OSError):
            os.kill(-1, signal.SIGKILL)
    else:
        me, group = os.getpid(), os.getpgid(0)
        try:
            names = os.listdir("/proc")
        except OSError:  # no fd left: the code holds them all
            names = []
        for name in names:
            if not name.isdigit() or int(name) in (me, 1):
                continue
            try:
                if os.getpgid(int(name)) == group:
                    os.kill(int(name), signal.SIGKILL)
            except OSError:
                pass
    while True:
        try:
            pid, _ = os.waitpid(-1, 0)
        except ChildProcessError:
            return
        except OSError:
            return
        if pid == 0:
            return


def drop_privileges(uid: int, gid: int) -> None:
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)


def apply_limits(limits: dict[str, int]) -> None:
    """setrlimit to the given values (RLIMIT_CPU: hard one second later), never above the hard limit in force."""
    for name, value in limits.items():
        kind = getattr(resource, name)
        _, hard = resource.getrlimit(kind)
        wanted = (value, value + 1 if kind == resource.RLIMIT_CPU else value)
        if hard != resource.RLIM_INFINITY:
            wanted = (min(wanted[0], hard), min(wanted[1], hard))
        resource.setrlimit(kind, wanted)


def main() -> None:
    config = json.loads(sys.argv[-1])
    if config.get("uid") is not None:
        drop_privileges(config["uid"], config["gid"])
    apply_limits(config["limits"])
    channel = Channel()
    session = Session(channel, config)
    channel.send({"type": "ready", "pid": os.getpid(), "uid": os.getuid()})
    while True:
        message = channel.receive()
        if message is None:
            return
        if message["type"] == "exec":
            channel.send(session.run(message["code"], float(message["timeout"])))


if __name__ == "__main__":
    main()
