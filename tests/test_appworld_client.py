"""The world client and the server pool against real HTTP servers on 127.0.0.1.

The server here is tests/protocol_stub_server.py, a stand-in that speaks AppWorld's environment protocol
(the real AppWorld server is exercised in test_appworld_real.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rlagent.tasks.appworld.client import HttpWorldClient, WorldServerError
from rlagent.tasks.appworld.pool import Launch, ServerPool, free_port

STUB = Path(__file__).with_name("protocol_stub_server.py")


def stub_command(port: int) -> Launch:
    return Launch([sys.executable, str(STUB), "--port", str(port)])


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes whose process group is `pgid`, read from /proc."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


@pytest.fixture
def pool(tmp_path):
    with ServerPool(stub_command, 1, tmp_path / "logs", start_timeout_s=30) as started:
        yield started


def test_round_trip(pool):
    with pool.acquire() as lease:
        client = lease.client
        task = client.initialize("stub_1", experiment_name=lease.experiment_name, max_interactions=10)
        assert task["instruction"] == "What is 17 plus 25?" and task["supervisor"]["first_name"] == "Stub"
        assert client.execute("stub_1", "print(1 + 1)") == "2\n"
        assert client.execute("stub_1", "x = 1") == "Execution successful."
        assert client.execute("stub_1", "1 / 0").startswith("Execution failed. Traceback:")
        assert client.task_completed("stub_1") is False
        before = client.evaluate("stub_1")
        assert before["success"] is False and len(before["failures"]) == 2
        assert client.execute("stub_1", "apis.supervisor.complete_task(answer=17 + 25)") == "Execution successful."
        assert client.task_completed("stub_1") is True
        after = client.evaluate("stub_1")
        assert after["success"] is True and after["num_tests"] == 2 and not after["failures"]
        assert client.health() and client.health("stub_1") and not client.health("missing_1")
        assert "supervisor" in client.api_docs()
        client.close("stub_1")
        client.close_all("stub_1")


def test_server_error_becomes_world_server_error(pool):
    with pool.acquire() as lease:
        with pytest.raises(WorldServerError) as raised:
            lease.client.execute("stub_1", "print(1)")  # no world initialized: the server answers 500
        assert raised.value.status == 500 and raised.value.endpoint == "/execute"
        assert "Internal Server Error" in str(raised.value) and lease.url in str(raised.value)
        with pytest.raises(WorldServerError, match="HTTP 500"):
            lease.client.initialize("missing_1")
        lease.client.initialize("broken_1")
        with pytest.raises(WorldServerError, match="output lacks success"):
            lease.client.evaluate("broken_1")


def test_connection_refused_is_quick():
    client = HttpWorldClient(f"http://127.0.0.1:{free_port()}", timeout_s=30)
    start = time.monotonic()
    with pytest.raises(WorldServerError, match="cannot connect"):
        client.execute("stub_1", "print(1)")
    assert time.monotonic() - start < 2
    assert client.health() is False


def test_slow_reply_times_out(pool):
    with pool.acquire() as lease:
        lease.client.initialize("stub_1")
        impatient = HttpWorldClient(lease.url, timeout_s=0.5)
        with pytest.raises(WorldServerError, match=r"no reply in 0\.5 s"):
            impatient.execute("stub_1", "import time\ntime.sleep(2)")


def test_killed_server_errors_the_episode_and_is_restarted(pool):
    with pool.acquire() as lease:
        lease.client.initialize("stub_1", experiment_name=lease.experiment_name)
        os.killpg(lease.server.process.pid, signal.SIGKILL)
        lease.server.process.wait(timeout=10)
        with pytest.raises(WorldServerError, match="exited with code -9"):
            lease.client.execute("stub_1", "print(1)")
        with pytest.raises(WorldServerError, match="exited"):
            lease.check()
        old_url = lease.url
    with pool.acquire(timeout_s=30) as lease:
        assert pool.restarts() == 1 and lease.url != old_url
        lease.client.initialize("stub_1", experiment_name=lease.experiment_name)
        assert lease.client.execute("stub_1", "print(6 * 7)") == "42\n"
    log = (pool.log_dir / "server-0.log").read_text()
    assert "=== start 1" in log and "=== start 2" in log


def test_acquire_waits_for_a_free_server(tmp_path):
    with ServerPool(stub_command, 2, tmp_path / "logs", experiment_prefix="exp-") as pool:
        first, second = pool.acquire(), pool.acquire()
        assert {first.experiment_name, second.experiment_name} == {"exp-0", "exp-1"}
        assert first.url != second.url
        with pytest.raises(TimeoutError):
            pool.acquire(timeout_s=0.3)
        second.release()
        with pool.acquire(timeout_s=1) as third:
            assert third.url == second.url
        first.release()


def test_close_leaves_no_process(tmp_path):
    pool = ServerPool(stub_command, 2, tmp_path / "logs").start()
    pids = [server.process.pid for server in pool.servers]
    assert all(group_members(pid) for pid in pids)
    lease = pool.acquire()
    pool.close()
    assert not any(Path(f"/proc/{pid}").exists() for pid in pids)
    assert not any(group_members(pid) for pid in pids)
    assert not lease.client.health()
    with pytest.raises(WorldServerError, match="cannot connect"):
        lease.client.execute("stub_1", "print(1)")
    with pytest.raises(WorldServerError, match="closed"):
        pool.acquire()


def test_server_that_never_comes_up_says_why(tmp_path):
    def failing(port: int) -> Launch:
        return Launch([sys.executable, "-c", "import sys; print('cannot open the world database'); sys.exit(3)"])

    pool = ServerPool(failing, 1, tmp_path / "logs", start_timeout_s=10)
    with pytest.raises(WorldServerError, match="exited with code 3") as raised:
        pool.start()
    assert "cannot open the world database" in str(raised.value)


CHILD = """
import signal, sys, time
from pathlib import Path
from rlagent.tasks.appworld.pool import Launch, ServerPool
signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal (a background job inherits SIG_IGN)
stub, logs = sys.argv[1], sys.argv[2]
pool = ServerPool(lambda port: Launch([sys.executable, stub, "--port", str(port)]), 2, Path(logs)).start()
print(" ".join(str(server.process.pid) for server in pool.servers), flush=True)
time.sleep(120)
"""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_run_leaves_no_orphans(tmp_path, signum):
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(STUB), str(tmp_path / "logs")], stdout=subprocess.PIPE, text=True
    )
    try:
        pids = [int(pid) for pid in child.stdout.readline().split()]
        assert len(pids) == 2 and all(group_members(pid) for pid in pids)
        child.send_signal(signum)
        assert child.wait(timeout=30) != 0
        assert not any(group_members(pid) for pid in pids)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
