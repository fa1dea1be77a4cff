"""task=custom: a TRL-style environment class (no rlagent import) behind the agent loop.

Tools and schemas as TRL finds them, reset(**row), both protocols, async tools, timeouts, tool errors as
observations, limits, rewards (function, get_reward, both), rows from JSONL, CSV and a datasets folder,
and bad plug-ins reported in one line before any run directory exists.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from rlagent.config.schema import CustomTaskConfig, TaskConfig
from rlagent.errors import UserError
from rlagent.tasks.custom.suite import CustomSuite

COUNTER = '''
import asyncio
import time


class Counter:
    """Written for TRL's environment_factory: public methods are tools."""

    def reset(self, **kwargs):
        self.count = 0
        self.row = kwargs
        return kwargs.get("hint")

    def increment(self, step: int) -> int:
        """Add to the counter.

        Args:
            step: How much to add.
        """
        self.count += step
        return self.count

    async def slow_double(self, wait: float) -> int:
        """Double the counter after a pause.

        Args:
            wait: Seconds to wait first.
        """
        await asyncio.sleep(wait)
        self.count *= 2
        return self.count

    def stall(self, seconds: float) -> str:
        """Block the environment for a while.

        Args:
            seconds: How long.
        """
        time.sleep(seconds)
        return "done"

    def explode(self) -> str:
        """Fail like a broken backend."""
        raise RuntimeError("the backend is down")

    def get_reward(self) -> float:
        return float(self.count)

    def _helper(self):
        return "not a tool"
'''

BONUS = """
def bonus(environment, completion, **row):
    done = bool(completion) and completion[-1]["content"] == row.get("goal")
    return {"reward": 0.5 if done else 0.0, "count": environment.count}
"""


def write(path: Path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return str(path)


def rows_file(tmp_path: Path, rows: list[dict], name: str = "train.jsonl") -> str:
    return write(tmp_path / name, "".join(json.dumps(r) + "\n" for r in rows))


def counter_suite(tmp_path, rows=None, reward=None, **custom) -> CustomSuite:
    env = write(tmp_path / "counter_env.py", COUNTER)
    rows = rows or [{"id": "a", "prompt": [{"role": "user", "content": "Count to 3."}], "goal": "3", "hint": " Go!"}]
    cfg = TaskConfig(
        suite="custom",
        source="local",
        files={"train": rows_file(tmp_path, rows)},
        custom=CustomTaskConfig(environment=f"{env}:Counter", reward=reward, **custom),
    )
    return CustomSuite(cfg)


def call(name: str, **arguments) -> str:
    return f"<tool_call>{json.dumps({'name': name, 'arguments': arguments})}</tool_call>"


def test_tools_schemas_and_reset_follow_trl(tmp_path):
    from transformers.utils import get_json_schema

    suite = counter_suite(tmp_path, protocol="tools")
    plugin = suite.plugin
    assert list(plugin.tools) == ["explode", "increment", "slow_double", "stall"]  # not reset, get_reward, _helper
    instance = plugin.factory()
    assert plugin.schemas == [get_json_schema(getattr(instance, name)) for name in plugin.tools]  # what TRL renders
    assert plugin.tools["slow_double"].is_async
    (example,) = suite.examples("train")
    env = suite.make_env(example)
    messages = env.reset()
    assert messages == [{"role": "user", "content": "Count to 3. Go!"}]  # reset's text appended, as TRL does
    assert env.instance.row == example.data  # reset(**row) got every field, prompt included
    assert (env.tools, env.observation_role, env.stop) == (plugin.schemas, "tool", None)
    env.close()


def test_text_protocol_lists_the_tools_in_the_system_message(tmp_path):
    rows = [{"prompt": "Count to 3.", "goal": "3"}]  # a string prompt is one user message
    suite = counter_suite(tmp_path, rows=rows, protocol="text")
    (example,) = suite.examples("train")
    assert example.id == "train-0"
    env = suite.make_env(example)
    system, user = env.reset()
    assert system["role"] == "system" and '"name": "increment"' in system["content"]
    assert "<tool_call>" in system["content"]
    assert user == {"role": "user", "content": "Count to 3."}
    assert (env.tools, env.observation_role, env.stop) == (None, "user", ["</tool_call>"])
    result = env.step(call("increment", step=2))
    assert result.observation == "<tool_response>\n2\n</tool_response>" and result.tool_calls == 1
    env.close()


def test_tools_mode_renders_schemas_through_the_chat_template(tmp_path):
    from rlagent.models.registry import is_prepared, prepared_dir
    from rlagent.rollout.chat import ChatFormat

    if not is_prepared("qwen2.5-coder-0.5b"):
        pytest.skip("qwen2.5-coder-0.5b is not prepared (its chat template has tool calling)")
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(prepared_dir("qwen2.5-coder-0.5b"))
    suite = counter_suite(tmp_path, protocol="tools")
    env = suite.make_env(suite.examples("train")[0])
    chat = ChatFormat(tokenizer, env.tools)
    prompt = tokenizer.decode(chat.prompt_ids(env.reset()))
    assert '"name": "increment"' in prompt and "<tools>" in prompt
    turn = tokenizer.encode(call("increment", step=1) + "<|im_end|>", add_special_tokens=False)
    observation = env.step(call("increment", step=1)).observation
    text = chat.continuation_text([{"role": "tool", "content": observation}], turn)
    assert "<tool_response>\n1\n</tool_response>" in text
    env.close()


def test_calls_errors_timeouts_and_limits(tmp_path):
    suite = counter_suite(
        tmp_path, max_tool_calls=8, max_calls_per_turn=2, tool_timeouts={"slow_double": 0.3, "stall": 0.3}
    )
    env = suite.make_env(suite.examples("train")[0])
    env.reset()
    assert env.step(call("increment", step="4")).observation == "4"  # "4" coerced to the int it must be
    untagged = '```json\n{"name": "increment", "arguments": {"step": 0}}\n```'  # small models drop the tags
    assert env.step(untagged).observation == "4"
    assert env.step(call("explode")).observation == "Error: the backend is down"  # an exception is an observation
    assert env.step(call("slow_double", wait=0.01)).observation == "8"  # async tools run on the event loop
    slow = env.step(call("slow_double", wait=5))
    assert slow.observation == "Error: slow_double took longer than 0.3 s." and not slow.done  # cancelled, goes on
    assert env.step(call("increment", step=1)).observation == "9"  # the cancelled double never happened
    refused = [
        (call("increment", stepp=1), "increment has no argument 'stepp'; it takes: step."),
        (call("increment"), "increment needs the argument 'step'."),
        (call("teleport"), "Unknown tool 'teleport'. The tools are: explode, increment, slow_double, stall."),
        ("<tool_call>{not json</tool_call>", "A tool call is not valid JSON"),
        (call("increment", step=1) * 3, "Your reply makes 3 tool calls; make at most 2 per reply."),
        (call("increment", step=1), "You have used all 8 tool calls."),
    ]
    for action, message in refused:
        result = env.step(action)
        assert message in result.observation and (result.malformed or result.observation.startswith("Error"))
    assert env.step("Nine.").done and env.final_answer == "Nine."
    state = env.state()
    assert state["reward"] == 9.0 and len(state["calls"]) == 8 and sum(c["timed_out"] for c in state["calls"]) == 1
    env.close()


def test_a_sync_tool_past_its_timeout_ends_the_episode_as_errored(tmp_path):
    from rlagent.rollout.episode import Episode
    from rlagent.rollout.loop import score_episodes

    suite = counter_suite(tmp_path, tool_timeouts={"stall": 0.2})
    example = suite.examples("train")[0]
    env = suite.make_env(example)
    env.reset()
    result = env.step(call("stall", seconds=3))
    assert result.done and env.state()["errored"] and "stall took longer than 0.2 s" in env.state()["error"]
    env.close()
    episode = Episode(example=example, sample=0, mask=[1, 1], env_state=env.state())
    score_episodes(suite, [episode])
    assert episode.mask == [0, 0] and episode.reward == 0.0 and episode.metrics["errored"] == 1.0


def test_reward_function_and_get_reward_add_up(tmp_path):
    reward = write(tmp_path / "rewards.py", BONUS)
    suite = counter_suite(tmp_path, reward=f"{reward}:bonus", success_threshold=3.5)
    env = suite.make_env(suite.examples("train")[0])
    env.reset()
    env.step(call("increment", step=3))
    env.step("3")
    state = env.state()
    assert state["reward"] == 3.5 and state["reward_metrics"] == {
        "count": 3.0,
        "reward/bonus": 0.5,
        "reward/get_reward": 3.0,
    }
    env.close()


def test_rows_from_csv_and_a_datasets_folder(tmp_path, monkeypatch):
    env = write(tmp_path / "counter_env.py", COUNTER)
    csv = write(tmp_path / "rows.csv", "id,prompt,goal\nx1,Count to 2.,2\nx2,Count to 5.,5\n")
    cfg = TaskConfig(
        suite="custom", source="local", files={"train": csv}, custom=CustomTaskConfig(environment=f"{env}:Counter")
    )
    examples = CustomSuite(cfg).examples("train")
    assert [(e.id, e.data["goal"]) for e in examples] == [("x1", "2"), ("x2", "5")]
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    folder = tmp_path / "hub"
    rows_file(folder, [{"prompt": [{"role": "user", "content": "Count to 4."}], "goal": "4"}], "train.jsonl")
    rows_file(folder, [{"prompt": [{"role": "user", "content": "Count to 7."}], "goal": "7"}], "validation.jsonl")
    cfg = TaskConfig(
        suite="custom", source="hub", hub_dataset=str(folder), custom=CustomTaskConfig(environment=f"{env}:Counter")
    )
    (dev,) = CustomSuite(cfg).examples("dev")  # dev is the dataset's validation split
    assert dev.data == {"prompt": [{"role": "user", "content": "Count to 7."}], "goal": "7"}


def env_module(
    tools: str = "",
    reset: str = "def reset(self, **row):\n    self.n = 0",
    extra: str = "def get_reward(self):\n    return 1.0",
) -> str:
    body = "\n\n".join(textwrap.indent(textwrap.dedent(part).strip(), "    ") for part in (reset, tools, extra) if part)
    return f"class Env:\n{body}\n"


GOOD_TOOL = '''
def ping(self, text: str) -> str:
    """Echo.

    Args:
        text: What to echo.
    """
    return text
'''

BAD_PLUGINS = [
    ("module", None, "env:Env", "module 'nowhere_pkg.env' not found"),
    ("file", None, "missing/env.py:Env", "missing/env.py does not exist"),
    ("attribute", env_module(GOOD_TOOL), "{file}:Envv", "has no attribute 'Envv' (did you mean Env?)"),
    ("syntax", "class Env(:\n", "{file}:Env", "failed: SyntaxError"),
    ("no tools", env_module(), "{file}:Env", "Env has no tools"),
    (
        "no docstring",
        env_module("def ping(self, text: str) -> str:\n    return text"),
        "{file}:Env",
        "tool Env.ping has no docstring",
    ),
    (
        "no hint",
        env_module('def ping(self, text) -> str:\n    """Echo.\n\n    Args:\n        text: What.\n    """'),
        "{file}:Env",
        "parameter 'text' of tool Env.ping has no type hint",
    ),
    (
        "no args doc",
        env_module('def ping(self, text: str) -> str:\n    """Echo."""'),
        "{file}:Env",
        "the docstring does not describe argument 'text'",
    ),
    (
        "reset signature",
        env_module(GOOD_TOOL, reset="def reset(self, question):\n    pass"),
        "{file}:Env",
        "Env.reset(question) cannot take the fields of the rows",
    ),
    (
        "reset raises",
        env_module(GOOD_TOOL, reset="def reset(self, **row):\n    raise KeyError('sku')"),
        "{file}:Env",
        "Env.reset failed on example r1: KeyError: 'sku'",
    ),
    ("no reward", env_module(GOOD_TOOL, extra=""), "{file}:Env", "no reward: set task.custom.reward"),
    (
        "nan reward",
        env_module(GOOD_TOOL, extra="def get_reward(self):\n    return float('nan')"),
        "{file}:Env",
        "reward Env.get_reward returned nan for example r1; a reward must be a finite number",
    ),
    (
        "text reward",
        env_module(GOOD_TOOL, extra="def get_reward(self):\n    return 'high'"),
        "{file}:Env",
        "reward Env.get_reward returned 'high' for example r1",
    ),
    (
        "get_reward args",
        env_module(GOOD_TOOL, extra="def get_reward(self, completion):\n    return 1.0"),
        "{file}:Env",
        "Env.get_reward must take no arguments",
    ),
]


@pytest.mark.parametrize(("case", "source", "spec", "message"), BAD_PLUGINS, ids=[c[0] for c in BAD_PLUGINS])
def test_bad_plugins_fail_in_one_line_before_a_run_directory(tmp_path, monkeypatch, case, source, spec, message):
    from rlagent.train.run import train_command

    monkeypatch.chdir(tmp_path)
    file = write(tmp_path / f"plugin_{case.replace(' ', '_')}.py", source) if source else "unused"
    spec = spec.replace("{file}", file).replace("env:Env", "nowhere_pkg.env:Env")
    rows = rows_file(tmp_path, [{"id": "r1", "prompt": "Hi."}])
    overrides = [
        "recipe=smoke_search",
        "task=custom",
        f"task.custom.environment={spec}",
        f"task.files.train={rows}",
        f"run.root={tmp_path}/runs",
    ]
    with pytest.raises(UserError) as info:
        train_command(overrides)
    assert message in str(info.value) and "\n" not in str(info.value), str(info.value)
    assert not (tmp_path / "runs").exists()


def rlagent(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "rlagent", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_cli_reports_bad_plugins_in_one_line_with_exit_2(tmp_path):
    rows = rows_file(tmp_path, [{"id": "r1", "prompt": "Hi."}])
    env = write(tmp_path / "noisy.py", env_module(GOOD_TOOL, extra="def get_reward(self):\n    return float('nan')"))
    cases = [
        (
            ["train", "recipe=smoke_search", "task=custom", f"task.custom.environment={env}:Env"],
            "reward Env.get_reward returned nan",
        ),
        (
            ["eval", "recipe=smoke_search", "task=custom", "task.custom.environment=nowhere_pkg.env:Env"],
            "module 'nowhere_pkg.env' not found",
        ),
        (["eval", "recipe=smoke_search", "task=custom"], "task=custom needs task.custom.environment"),
    ]
    for args, message in cases:
        result = rlagent(
            *args, f"task.files.train={rows}", f"task.files.dev={rows}", f"run.root={tmp_path}/runs", cwd=tmp_path
        )
        assert result.returncode == 2 and message in result.stderr, result.stderr[-2000:]
        assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_a_reward_that_breaks_mid_run_leaves_no_run_directory(tmp_path, tiny_path):
    """The do-nothing probe passes; the first real episode's NaN stops `eval` in one line and removes its run."""
    rows = rows_file(tmp_path, [{"id": "r1", "prompt": "Say something."}])
    env = write(tmp_path / "picky.py", env_module(GOOD_TOOL, extra=""))
    reward = write(
        tmp_path / "picky_reward.py",
        """
        def score(environment, completion, **row):
            return float("nan") if completion[-1]["content"] else 0.0
    """,
    )
    result = rlagent(
        "eval",
        "recipe=smoke_search",
        "task=custom",
        "rollout=hf",
        "task.custom.protocol=text",
        f"task.custom.environment={env}:Env",
        f"task.custom.reward={reward}:score",
        f"task.files.dev={rows}",
        "rollout.max_new_tokens=8",
        f"run.root={tmp_path}/runs",
        cwd=tmp_path,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    last = result.stderr.strip().splitlines()[-1]  # after the engine's loading output: the error, in one line
    assert last.startswith("error: reward ") and last.endswith(
        "returned nan for example r1; a reward must be a finite number"
    ), result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


ORACLE = """
def solve(goal, **row):
    first = {"name": "increment", "arguments": {"step": int(goal) - 1}}
    return [first, {"name": "increment", "arguments": {"step": 1}}, f"The counter is at {goal}."]


def broken(**row):
    return [{"name": "teleport", "arguments": {}}]
"""


@pytest.mark.parametrize("protocol", ["tools", "text"])
def test_a_custom_oracle_demonstrates_rows_for_the_warm_start(tmp_path, tiny_path, protocol):
    from transformers import AutoTokenizer

    from rlagent.rollout.loop import LoopSettings
    from rlagent.train.warm_start import record_demonstrations

    oracle = write(tmp_path / "oracle.py", ORACLE)
    rows = [{"id": f"r{n}", "prompt": f"Count to {n}.", "goal": str(n)} for n in (3, 5, 8)]
    suite = counter_suite(tmp_path, rows=rows, protocol=protocol, oracle=f"{oracle}:solve", success_threshold=3.0)
    tokenizer = AutoTokenizer.from_pretrained(tiny_path)
    settings = LoopSettings(max_turns=4, max_new_tokens=64, max_episode_tokens=512)
    episodes = record_demonstrations(suite, suite.examples("train"), tokenizer, {tokenizer.eos_token_id}, settings, 3)
    assert [ep.env_state["reward"] for ep in episodes] == [3.0, 5.0, 8.0]  # the tools really ran
    assert all(ep.success and len(ep.turns) == 3 and ep.turns[-1].action.startswith("The counter") for ep in episodes)

    bad = counter_suite(tmp_path, rows=rows, oracle=f"{oracle}:broken")
    with pytest.raises(UserError, match=r"task\.custom\.oracle returned .* for row r3; each turn is a string or"):
        bad.demonstration(bad.examples("train")[0])
    with pytest.raises(UserError, match=r"task\.custom\.oracle="):
        counter_suite(tmp_path, rows=rows, oracle=f"{oracle}:missing")
