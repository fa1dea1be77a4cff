"""The code sandbox: real processes, real bubblewrap (tests that need it skip, with the reason, without it)."""

from __future__ import annotations

import logging
import os
import socket
import sys
import time
import uuid
from pathlib import Path

import psutil
import pytest

from rlagent.sandbox import ApiCallError, CodeSandbox, SandboxConfig
from rlagent.sandbox import bwrap as bwrap_module

REPO = Path(__file__).resolve().parents[1]
BWRAP_PROBLEM = bwrap_module.problem("bwrap")
needs_bwrap = pytest.mark.skipif(BWRAP_PROBLEM is not None, reason=f"bubblewrap unusable: {BWRAP_PROBLEM}")


def handler(app: str, api: str, kwargs: dict):
    if api == "login" and kwargs.get("password") != "secret":
        raise ApiCallError(401, {"message": "Invalid token."})
    if api == "crash":
        raise RuntimeError("the world broke")
    if api == "slow":
        time.sleep(0.8)
    return {"app": app, "api": api, "kwargs": kwargs}


def make(mode: str = "bwrap", **fields) -> CodeSandbox:
    return CodeSandbox(handler, SandboxConfig(mode=mode, **fields), app_names=["spotify", "venmo"])


@pytest.fixture(params=["bwrap", "rlimits"])
def mode(request) -> str:
    if request.param == "bwrap" and BWRAP_PROBLEM is not None:
        pytest.skip(f"bubblewrap unusable: {BWRAP_PROBLEM}")
    return request.param


@pytest.fixture
def box(mode: str):
    with make(mode, timeout_s=0.5) as sandbox:
        assert sandbox.mode == mode
        yield sandbox


def test_state_persists_and_output_format(box: CodeSandbox) -> None:
    assert box.execute("x = 41").output == "Execution successful."
    assert box.execute("x += 1\nprint(x)").output == "42\n"
    assert box.execute("def half(n):\n    return n // 2").output == "Execution successful."
    assert box.execute("   ").output == "No code available to execute."
    result = box.execute("print('before')\ny = half(x) / 0")
    assert result.failed and not result.timed_out and not result.restarted
    assert result.output == (
        "before\nExecution failed. Traceback:\n"
        '  File "<python-input>", line 2, in <module>\n'
        "    y = half(x) / 0\n"
        "        ~~~~~~~~^~~\n"
        "ZeroDivisionError: division by zero"
    )
    # a function defined in an earlier execute shows its own source line
    result = box.execute("half(None)")
    assert 'File "<python-input>", line 2, in half\n    return n // 2\n' in result.output
    assert result.output.endswith("TypeError: unsupported operand type(s) for //: 'NoneType' and 'int'")
    result = box.execute("x = (1,\nprint(x)")
    assert result.failed
    assert result.output == (
        "Execution failed. Traceback:\nSyntax error in line:\nx = (1,\nMessage: '(' was never closed"
    )
    assert box.execute("print(x)").output == "42\n"
    # only sys.stdout is captured: writes to fd 1 are lost, never mixed into the protocol
    assert box.execute("import os\nos.write(1, b'lost\\n')\nprint('kept')").output == "kept\n"


def test_code_that_writes_into_the_channel_gets_a_fresh_process(box: CodeSandbox) -> None:
    box.execute("kept = 1")
    vandal = (
        "import os\n"
        "for fd in range(3, 10):\n"
        "    try:\n"
        "        os.write(fd, b'{]\\n')\n"
        "    except OSError:\n"
        "        pass"
    )
    result = box.execute(vandal)
    assert result.failed and result.restarted
    assert "SandboxError: the sandbox process broke its protocol" in result.output
    assert "NameError" in box.execute("kept").output


def test_api_calls_round_trip_through_the_handler(box: CodeSandbox) -> None:
    result = box.execute("r = apis.spotify.show_song(song_id=7, tags=['a', None])\nprint(r['kwargs'])")
    assert result.output == "{'song_id': 7, 'tags': ['a', None]}\n" and result.api_calls == 1
    result = box.execute("apis.venmo.login(username='a', password='secret')\napis.spotify.login(username='a')")
    assert result.api_calls == 2 and result.failed
    assert result.output == (
        "Execution failed. Traceback:\n"
        '  File "<python-input>", line 2, in <module>\n'
        "    apis.spotify.login(username='a')\n"
        'Exception: Response status code is 401:\n{"message": "Invalid token."}'
    )
    result = box.execute("apis.spotify.crash()")
    assert result.output.endswith('Exception: Response status code is 500:\n{"message": "the world broke"}')
    result = box.execute("apis.spotify.show_song(7)")
    assert result.api_calls == 0
    assert "TypeError: apis.spotify.show_song() takes keyword arguments only" in result.output
    result = box.execute("apis.gmail.send()")
    assert "AttributeError: apis has no app named 'gmail'; the apps are: spotify, venmo" in result.output
    result = box.execute("apis.spotify.play(song=object())")
    assert "TypeError: apis.spotify.play(): arguments must be JSON values" in result.output
    # the failed calls left the channel in step: the session goes on
    assert box.execute("print(apis.venmo.ping()['api'])").output == "ping\n"


def test_timeout_interrupts_and_keeps_the_session(box: CodeSandbox) -> None:
    box.execute("kept = 'still here'")
    for code in ("while True:\n    pass", "import time\ntime.sleep(100)", "print('started')\nwhile True: pass"):
        started = time.monotonic()
        result = box.execute(code)
        assert time.monotonic() - started < 2.0
        assert result.failed and result.timed_out and not result.restarted
        assert result.output.endswith("Execution failed. Traceback:\nTimeoutError: execution exceeded the 0.5 s limit")
    assert result.output.startswith("started\n")
    assert box.execute("print(kept)").output == "still here\n"


def test_timeout_during_an_api_call_waits_for_the_reply(box: CodeSandbox) -> None:
    result = box.execute("kept = 1\napis.spotify.slow()\nkept = 2")
    assert result.timed_out and not result.restarted and result.api_calls == 1
    assert box.execute("print(kept, apis.venmo.ping()['api'])").output == "1 ping\n"


def test_code_that_swallows_the_timeout_is_killed_and_restarted() -> None:
    with make("rlimits", timeout_s=0.5) as box:
        box.execute("kept = 1")
        started = time.monotonic()
        stubborn = "import time\nwhile True:\n    try:\n        time.sleep(10)\n    except BaseException:\n        pass"
        result = box.execute(stubborn)
        assert time.monotonic() - started < 4.0
        assert result.failed and result.timed_out and result.restarted
        assert "TimeoutError: execution exceeded the 0.5 s limit" in result.output
        assert "variables from earlier executes are lost" in result.output
        assert "NameError" in box.execute("kept").output
        assert box.execute("print('fresh')").output == "fresh\n"


def test_memory_bomb_and_death_restart(box: CodeSandbox) -> None:
    result = box.execute("b = bytearray(4 * 2**30)")
    assert result.failed and (result.output.endswith("MemoryError") or result.restarted)
    box.execute("kept = 1")
    result = box.execute("import os\nos._exit(0)")
    assert result.failed and result.restarted and not result.timed_out
    assert result.output == (
        "Execution failed. Traceback:\nSandboxError: the sandbox process died (exit code 0); it was restarted, "
        "variables from earlier executes are lost."
    )
    assert "NameError" in box.execute("kept").output
    assert box.execute("print('fresh')").output == "fresh\n"


def test_cpu_limit_kills_the_process() -> None:
    mode = "bwrap" if BWRAP_PROBLEM is None else "rlimits"
    with make(mode, cpu_s=1, timeout_s=5.0) as box:
        result = box.execute("while True:\n    pass")
        assert result.failed and result.restarted
        assert "killed by SIGXCPU (CPU time limit reached)" in result.output
        assert box.execute("print(1)").output == "1\n"


def test_huge_output_is_truncated(box: CodeSandbox) -> None:
    result = box.execute("print('x' * 1_000_000)")
    assert result.output == "x" * 20000 + "\n[output truncated: 980001 more characters]\n"
    result = box.execute("for i in range(30000):\n    print(i)\n1/0")
    assert "[output truncated: " in result.output and result.output.endswith("ZeroDivisionError: division by zero")


def test_host_environment_is_not_visible(mode: str, monkeypatch) -> None:
    monkeypatch.setenv("RLAGENT_TEST_SECRET", "hunter2-do-not-leak")
    with make(mode) as fresh:
        output = fresh.execute("import os\nprint(sorted(os.environ.items()))").output
    assert "hunter2" not in output and "RLAGENT_TEST_SECRET" not in output
    assert "VIRTUAL_ENV" not in output


def test_processes_do_not_outlive_close(box: CodeSandbox) -> None:
    box.execute("import subprocess\np = subprocess.Popen(['sleep', '60'])")
    root = psutil.Process(box.pid)
    # the sleep is killed when the execute ends: only the sandbox itself is left
    tree = [root, *root.children(recursive=True)]
    assert not any(p.name() == "sleep" for p in tree if p.is_running())
    box.close()
    box.close()  # idempotent
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        alive = [p for p in tree if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        if not alive:
            break
        time.sleep(0.05)
    assert not alive
    with pytest.raises(RuntimeError, match="closed"):
        box.execute("1")


@needs_bwrap
def test_network_is_blocked() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.settimeout(0.2)
        port = server.getsockname()[1]
        code = (
            "import socket\n"
            "try:\n"
            f"    socket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
            "    print('connected')\n"
            "except OSError as exc:\n"
            "    print('blocked', type(exc).__name__)"
        )
        with make() as box:
            assert box.execute(code).output.startswith("blocked")
        with pytest.raises(TimeoutError):
            server.accept()


@needs_bwrap
def test_file_system_is_isolated(tmp_path: Path) -> None:
    home = Path.home()
    on_the_way = set(Path(os.path.realpath(sys.base_prefix)).parts)
    private = [str(p) for p in home.iterdir() if p.name not in on_the_way][:10]
    paths = [str(REPO), str(REPO / "pyproject.toml"), sys.prefix, "/etc/shadow", "/etc/passwd", *private]
    code = (
        "import os\n"
        f"print([p for p in {paths!r} if os.path.exists(p)])\n"
        "for path in ['/x', '/usr/x', '/etc/x', '/root/x', '/proc/x']:\n"
        "    try:\n"
        "        open(path, 'w').write('x')\n"
        "        print('wrote', path)\n"
        "    except OSError:\n"
        "        pass\n"
        "open('/tmp/ok', 'w').write('fine')\n"
        "try:\n"
        "    open('/tmp/big', 'wb').write(b'x' * (2 << 20))\n"
        "except OSError as exc:\n"
        "    print('too big', exc.errno)\n"
        "import decimal, sqlite3, datetime\n"  # the stdlib stays importable after the uid switch
        "print(open('/tmp/ok').read(), os.getcwd())"
    )
    with make(file_size_mb=1) as box:
        assert box.execute(code).output == "[]\ntoo big 27\nfine /tmp\n"


@needs_bwrap
def test_tmp_is_private() -> None:
    name = f"/tmp/rlagent-sandbox-test-{uuid.uuid4().hex}"
    with make() as first, make() as second:
        assert first.execute(f"open({name!r}, 'w').write('x')\nprint(open({name!r}).read())").output == "x\n"
        assert second.execute(f"import os\nprint(os.path.exists({name!r}))").output == "False\n"
    assert not os.path.exists(name)


@needs_bwrap
def test_host_processes_are_out_of_reach() -> None:
    host = os.getpid()
    code = (
        "import os, signal\n"
        "print(os.getpid() < 100, os.getppid())\n"
        f"for pid in (1, {host}):\n"
        "    try:\n"
        "        os.kill(pid, signal.SIGKILL)\n"
        "        print('sent', pid)\n"
        "    except OSError as exc:\n"
        "        print(type(exc).__name__)\n"
        "print(sorted(int(p) for p in os.listdir('/proc') if p.isdigit()) == [1, os.getpid()])"
    )
    with make() as box:
        lines = box.execute(code).output.splitlines()
        # pid 1 is bwrap's init: root-owned (host is root) or immune to signals from inside its namespace
        assert lines[0] == "True 1" and lines[1] in ("PermissionError", "sent 1"), lines
        assert lines[2:] == ["ProcessLookupError", "True"], lines
        assert box.execute("print('alive')").output == "alive\n"
    assert psutil.pid_exists(host)


@needs_bwrap
def test_fork_bomb_is_contained_by_the_process_limit() -> None:
    bounded = (
        "import os, time\n"
        "pids, failed = [], 0\n"
        "for _ in range(200):\n"
        "    try:\n"
        "        pid = os.fork()\n"
        "    except OSError:\n"
        "        failed += 1\n"
        "        continue\n"
        "    if pid == 0:\n"
        "        time.sleep(0.5)\n"
        "        os._exit(0)\n"
        "    pids.append(pid)\n"
        "print(len(pids), failed)"
    )
    with make(max_processes=8, timeout_s=3.0) as box:
        forked, failed = map(int, box.execute(bounded).output.split())
        assert forked < 8 and forked + failed == 200
        result = box.execute("import os\nwhile True:\n    os.fork()")
        assert result.output.endswith("BlockingIOError: [Errno 11] Resource temporarily unavailable")
        assert box.execute("print('alive')").output == "alive\n"


def test_fallback_to_rlimits_warns(tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="rlagent.sandbox")
    with CodeSandbox(handler, SandboxConfig(bwrap_path=str(tmp_path / "no-bwrap"))) as box:
        assert box.mode == "rlimits"
        assert box.execute("print(1 + 1)").output == "2\n"
    assert any("falling back to mode rlimits" in r.getMessage() for r in caplog.records)


def test_handler_result_must_be_json() -> None:
    with CodeSandbox(lambda app, api, kwargs: {1, 2}, SandboxConfig(mode="rlimits")) as box:
        output = box.execute("apis.x.y()").output
    assert "Exception: Response status code is 500:" in output and "not JSON serializable" in output


def test_a_huge_exception_message_is_cut_like_output():
    from rlagent.sandbox import CodeSandbox, SandboxConfig

    with CodeSandbox(lambda app, api, kwargs: None, SandboxConfig(max_output_chars=1000)) as box:
        result = box.execute('raise Exception("x" * 5_000_000)')
    assert result.failed and len(result.output) < 2000 and "traceback truncated" in result.output
