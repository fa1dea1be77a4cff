"""AppWorld's own Python client (from `make appworld`) drives appsim: `rlagent appsim export` writes the task
files the client reads locally, `rlagent appsim serve` is its remote environment.

Runs scripts/appworld/drive_task.py in the AppWorld venv: `AppWorld(task_id, remote_environment_url=URL)` with
no other argument, `execute`, `task_completed`, `evaluate`, `close`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rlagent.tasks.appworld.pool import ServerPool, appsim_command, appworld_installed, default_appworld_venv
from rlagent.worlds.appsim.tasks.catalog import instance, task_ids

REPO = Path(__file__).resolve().parents[1]
DRIVER = REPO / "scripts" / "appworld" / "drive_task.py"

pytestmark = pytest.mark.skipif(
    not appworld_installed(),
    reason=f"no AppWorld venv at {default_appworld_venv()}: run `make appworld` (about 30 s, offline after pip)",
)


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("appsim-root")
    made = subprocess.run(
        [sys.executable, "-m", "rlagent", "appsim", "export", str(folder), "--split", "dev"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert made.returncode == 0, made.stderr[-3000:]
    return folder


@pytest.fixture(scope="module")
def server_url(tmp_path_factory):
    logs = tmp_path_factory.mktemp("appsim-logs")
    with ServerPool(appsim_command(), 1, logs, start_timeout_s=60) as pool, pool.acquire() as lease:
        yield lease.url


def drive(root: Path, url: str, task_id: str, *args: str) -> dict:
    python = default_appworld_venv() / "bin" / "python"
    env = {**os.environ, "APPWORLD_ROOT": str(root)}
    done = subprocess.run(
        [str(python), str(DRIVER), "--url", url, "--task-id", task_id, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=root,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_export_holds_what_the_client_reads(root):
    task_id = task_ids("dev")[0]
    task_dir = root / "data" / "tasks" / task_id
    specs = json.loads((task_dir / "specs.json").read_text())
    assert specs["db_version"] == "0.1.0" and specs["instruction"] == instance(task_id)[1].instruction
    truth = task_dir / "ground_truth"
    assert json.loads((truth / "answer.json").read_text()) is None  # the answer stays in appsim
    metadata = json.loads((truth / "metadata.json").read_text())
    assert {"difficulty", "num_apps", "num_solution_code_lines"} <= set(metadata)
    standard = root / "data" / "api_docs" / "standard"
    assert json.loads((standard / "amazon.json").read_text()) == {}  # an AppWorld app appsim does not have
    docs = json.loads((standard / "phone.json").read_text())
    assert all({"response_schemas", "canary_string"} <= set(doc) for doc in docs.values())


def test_appworld_client_solves_an_appsim_task_with_its_oracle(root, server_url, tmp_path):
    task_id = task_ids("dev")[0]
    code = tmp_path / "oracle.py"
    code.write_text(instance(task_id)[1].oracle)
    result = drive(root, server_url, task_id, "--code-file", str(code))
    assert result["task_id"] == task_id and result["instruction"] == instance(task_id)[1].instruction
    assert result["output"] == "Execution successful." and result["completed"] is True
    assert result["success"] is True and result["num_tests"] >= 2 and not result["failures"]
    assert "phone" in result["api_doc_apps"] and "amazon" not in result["api_doc_apps"]


def test_appworld_client_no_op_fails(root, server_url):
    task_id = task_ids("dev")[-1]
    result = drive(root, server_url, task_id, "--no-ground-truth")
    assert result["output"] is None and result["completed"] is False and result["success"] is False
    assert result["failures"] and all(f["label"] == "no_op_fail" for f in result["failures"])
    assert len(result["passes"]) + len(result["failures"]) == result["num_tests"]
