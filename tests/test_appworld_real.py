"""The real AppWorld environment server (from `make appworld`), started by the pool, on a task of our own.

AppWorld's task data cannot be downloaded here (and may not be redistributed unencrypted), so
scripts/appworld/make_task.py writes one small task in AppWorld's on-disk format into a temporary
APPWORLD_ROOT: specs, a ground truth with our own evaluation, empty app databases and the API docs.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from rlagent.tasks.appworld.client import WorldServerError
from rlagent.tasks.appworld.pool import ServerPool, appworld_command, appworld_installed, default_appworld_venv

REPO = Path(__file__).resolve().parents[1]
TASK = "rlagentsum_1"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not appworld_installed(),
        reason=f"no AppWorld venv at {default_appworld_venv()}: run `make appworld` (about 30 s, offline after pip)",
    ),
]


@pytest.fixture(scope="module")
def appworld_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("appworld-root")
    python = default_appworld_venv() / "bin" / "python"
    made = subprocess.run(
        [str(python), str(REPO / "scripts" / "appworld" / "make_task.py"), "--root", str(root), "--task-id", TASK],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert made.returncode == 0, made.stderr[-3000:]
    return root


@pytest.fixture(scope="module")
def pool(appworld_root, tmp_path_factory):
    logs = tmp_path_factory.mktemp("appworld-logs")
    with ServerPool(appworld_command(appworld_root), 1, logs, experiment_prefix="rlagent-test-") as started:
        yield started


def test_real_server_round_trip(pool, appworld_root):
    with pool.acquire() as lease:
        client = lease.client
        assert client.health() and client.health(TASK) and not client.health("missing_1")
        task = client.initialize(TASK, experiment_name=lease.experiment_name, max_interactions=20, timeout_seconds=10)
        assert task["task_id"] == TASK and task["instruction"].startswith("What is 17 plus 25?")
        assert task["supervisor"] == {
            "first_name": "Ada",
            "last_name": "Quill",
            "email": "ada.quill@example.org",
            "phone_number": "5550100",
        }
        assert task["datetime"] == "2024-03-01T09:30:00"
        assert client.execute(TASK, "print(1 + 1)") == "2\n"
        assert "Quill" in client.execute(TASK, "print(apis.supervisor.show_profile()['last_name'])")
        assert client.execute(TASK, "x = 1") == "Execution successful."
        assert client.execute(TASK, "1 / 0").startswith("Execution failed. Traceback:")
        assert client.task_completed(TASK) is False
        before = client.evaluate(TASK)
        assert before["success"] is False and before["num_tests"] == 2 and len(before["failures"]) == 2
        assert {"requirement", "trace", "label"} <= set(before["failures"][0])
        client.execute(TASK, "apis.supervisor.complete_task(answer=17 + 25)")
        assert client.task_completed(TASK) is True
        after = client.evaluate(TASK)
        assert after == {
            "success": True,
            "difficulty": 1,
            "num_tests": 2,
            "passes": [
                {"requirement": "the active task is marked complete", "label": "no_op_fail"},
                {"requirement": "the answer is the sum", "label": "no_op_fail"},
            ],
            "failures": [],
        }
        assert "supervisor" in client.api_docs()
        with pytest.raises(WorldServerError, match="HTTP 500"):
            client.execute("other_1", "print(1)")  # not the active world
        client.close(TASK)
    outputs = appworld_root / "experiments" / "outputs" / "rlagent-test-0" / "tasks" / TASK
    assert (outputs / "logs" / "environment_io.md").is_file()


def test_pool_close_stops_the_real_server(pool):
    pid = pool.servers[0].process.pid
    pool.close()
    assert not Path(f"/proc/{pid}").exists()
