"""`rlagent new-task NAME` writes a package that passes its own test as written (training a step included)."""

import os
import subprocess
import sys

import pytest


def run(*args, cwd):
    return subprocess.run([*args], capture_output=True, text=True, cwd=cwd, env={**os.environ, "COLUMNS": "200"})


@pytest.mark.slow
def test_new_task_package_passes_its_own_tests(tmp_path, tiny_path):
    made = run(sys.executable, "-m", "rlagent", "new-task", "inventory", "--dir", str(tmp_path), cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    package = tmp_path / "inventory"
    for name in (
        "env.py",
        "reward.py",
        "data/train.jsonl",
        "data/dev.jsonl",
        "recipes/recipe/inventory_smoke.yaml",
        "recipes/recipe/inventory_gpu.yaml",
        "tests/test_inventory.py",
        "README.md",
    ):
        assert (package / name).is_file(), name
    assert "rlagent" not in (package / "env.py").read_text().split('"""', 2)[2]  # the environment needs no rlagent
    tests = run(sys.executable, "-m", "pytest", "inventory/tests", "-q", "-p", "no:cacheprovider", cwd=tmp_path)
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-2000:]
    assert "3 passed" in tests.stdout


def test_new_task_refuses_bad_names_in_one_line(tmp_path):
    (tmp_path / "taken").mkdir()
    cases = [
        ("Bad-Name", "must be a lowercase Python identifier"),
        ("json", "already an importable module"),
        ("taken", "already exists"),
    ]
    for name, message in cases:
        result = run(sys.executable, "-m", "rlagent", "new-task", name, "--dir", str(tmp_path), cwd=tmp_path)
        assert result.returncode == 2 and message in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]
