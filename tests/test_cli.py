"""The command line: help, recipes, errors."""

import os
import subprocess
import sys

import pytest

from .test_config import EXPECTED_RECIPES


def rlagent(*args):
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "rlagent", *args], capture_output=True, text=True, env=env)


def test_help_lists_every_command():
    result = rlagent("--help")
    assert result.returncode == 0
    for command in ("train", "eval", "compare-runs", "runs", "recipes", "models"):
        assert command in result.stdout
    for sub in (
        ("recipes", "--help"),
        ("models", "--help"),
        ("train", "--help"),
        ("eval", "--help"),
        ("compare-runs", "--help"),
        ("runs", "list", "--help"),
        ("runs", "show", "--help"),
        ("models", "prepare", "--help"),
    ):
        assert rlagent(*sub).returncode == 0, sub


def test_recipes_list_and_show():
    listed = rlagent("recipes", "list")
    assert listed.returncode == 0
    for name in EXPECTED_RECIPES:
        assert name in listed.stdout
    assert "appsim/appsim" in listed.stdout and "appworld/appworld" in listed.stdout
    shown = rlagent("recipes", "show", "appworld_7b")
    assert shown.returncode == 0 and "name_or_path: Qwen/Qwen2.5-7B-Instruct" in shown.stdout
    overridden = rlagent("recipes", "show", "nq_3b", "trainer.max_steps=50")
    assert "max_steps: 50" in overridden.stdout
    keys = rlagent("recipes", "keys", "algorithm")
    assert "algorithm.advantage_estimator" in keys.stdout and "trainer.max_steps" not in keys.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("recipes", "show", "nope"), "recipe=nope is not a known recipe"),
        (("train", "recipe=smoke_search", "trainer.max_stepz=3"), "unknown key 'trainer.max_stepz'"),
        (("eval", "recipe=smoke_search", "task.limit=x"), "task.limit"),
        (("eval",), "recipe=NAME is required"),
        (("eval", "recipe=appworld_7b", "task.appworld.appworld_root=null"), "task.appworld.appworld_root is not set"),
        (("eval", "recipe=smoke_appsim", "task.appworld.difficulties=[4]"), "task.appworld.difficulties has 4"),
        (("eval", "recipe=smoke_appsim", "task.split=nope"), "split 'nope' of task.suite=appsim does not exist"),
        (("appsim", "tasks", "--split", "nope"), "unknown appsim split 'nope'"),
        (("models", "prepare", "gpt5"), "unknown model 'gpt5'"),
        (
            ("eval", "recipe=smoke_search", "rollout=openai", "rollout.openai.base_url=http://127.0.0.1:9/v1"),
            "cannot reach the OpenAI-compatible server at http://127.0.0.1:9/v1",
        ),
        (
            ("train", "recipe=smoke_search", "algorithm.num_generations=1", "trainer.micro_batch_size=2"),
            "GRPO needs at least 2 episodes per prompt",
        ),
        (("train", "recipe=smoke_search", "algorithm.epsilon=0"), "algorithm.epsilon must be > 0"),
    ],
)
def test_errors_are_one_line_with_exit_code_2(args, message):
    result = rlagent(*args)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
