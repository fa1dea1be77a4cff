"""rollout.engine=vllm_server: a real `vllm serve` subprocess of the tiny model generates token ids whose logprobs
match transformers, receives the trainer's weights after each update, and stops with the run; bad settings fail in
one line before anything is created."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM

from rlagent.config.compose import compose_recipe
from rlagent.errors import UserError
from rlagent.rollout.engines.base import Sampling
from rlagent.rollout.engines.vllm_server import VllmServerEngine, write_weights
from rlagent.train.run import train, train_command
from rlagent.train.sync import policy_weights, push_weights

from .conftest import free_port
from .engines import BATCH_TOLERANCE, hf_logprobs
from .engines import REQUEST_TOLERANCE as TOLERANCE
from .test_train import letter_task_run
from .test_train_interrupt import interrupt_after_checkpoint

SERVER = ("rollout.engine=vllm_server", "rollout.vllm.kv_cache_memory_gb=0.25", "rollout.vllm.max_model_len=1024")
QUESTIONS = ["What is the capital of France?", "Name three primary colours.", "Who wrote Hamlet?"]


def rlagent(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "400"}  # the dry run's table on unwrapped lines
    return subprocess.run(
        [sys.executable, "-m", "rlagent", *args], capture_output=True, text=True, timeout=300, env=env
    )


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def started_server(tiny_path, tmp_path_factory):
    """The engine with a server it started itself (the mode `rlagent train` uses), one for the module: tests take it
    through `server`."""
    cfg, _ = compose_recipe(["recipe=smoke_search", *SERVER])
    engine = VllmServerEngine(tiny_path, cfg, log_dir=tmp_path_factory.mktemp("server") / "logs")
    yield engine
    port = int(engine.server.base_url.rsplit(":", 1)[1])
    engine.close()
    assert not port_open(port)


@pytest.fixture(scope="module")
def reference(tiny_path):
    """The initial weights, as the trainer loads them (never changed by a test)."""
    return AutoModelForCausalLM.from_pretrained(tiny_path, dtype=torch.float32)


@pytest.fixture
def server(started_server, reference):
    """The module's server holding the initial weights again, whatever the test before pushed into it (training,
    a LoRA policy, perturbed weights): each test starts from the same state, in any order."""
    started_server.load_weights(list(reference.state_dict().items()))
    return started_server


def perturbed(model, scale: float = 0.02):
    """A copy of `model`'s weights plus seeded noise: weights no test expects the server to hold."""
    generator = torch.Generator().manual_seed(0)
    weights = model.state_dict().items()
    return [(name, tensor + torch.randn(tensor.shape, generator=generator) * scale) for name, tensor in weights]


def chat_prompts(tokenizer) -> list[list[int]]:
    return [
        tokenizer.apply_chat_template([{"role": "user", "content": q}], add_generation_prompt=True, tokenize=True)[
            "input_ids"
        ]
        for q in QUESTIONS
    ]


def test_settings_are_checked_when_the_recipe_is_composed():
    cases = [
        (["rollout.vllm_server.url=ftp://x"], "is not an http(s)://HOST:PORT address"),
        (["rollout.vllm_server.port=70000"], "must be between 0 (a free port) and 65535"),
        (["rollout.vllm_server.extra_args=['--port=9']"], "sets --port, which rlagent sets itself"),
        (["rollout.vllm_server.url=http://127.0.0.1:9", "rollout.vllm_server.port=5"], "with rollout.vllm_server.url"),
        (["rollout.vllm_server.max_concurrency=0"], "must be at least 1"),
    ]
    for overrides, message in cases:
        with pytest.raises(UserError) as caught:
            compose_recipe(["recipe=smoke_search", "rollout=vllm_server", *overrides])
        assert message in str(caught.value), (overrides, str(caught.value))
    cfg, _ = compose_recipe(["recipe=smoke_search", "rollout=vllm_server"])
    assert cfg.rollout.engine == "vllm_server" and cfg.rollout.vllm_server.url is None


def test_weights_file_keeps_tied_tensors_apart(tmp_path):
    from safetensors.torch import load_file

    embed = torch.randn(6, 4)
    weights = [("embed.weight", embed), ("head.weight", embed), ("row", embed[2]), ("w", torch.ones(3, 2).t())]
    write_weights(weights, tmp_path / "w.safetensors")
    back = load_file(str(tmp_path / "w.safetensors"))
    assert sorted(back) == ["embed.weight", "head.weight", "row", "w"]
    assert torch.equal(back["head.weight"], embed) and torch.equal(back["row"], embed[2])
    assert not (tmp_path / "w.safetensors.partial").exists()


@pytest.mark.slow
def test_server_generations_match_transformers(server, reference):
    prompts = chat_prompts(server.tokenizer)
    greedy = server.generate(prompts, [Sampling(max_tokens=16, temperature=0.0) for _ in prompts])
    for prompt, gen in zip(prompts, greedy, strict=True):
        assert len(gen.token_ids) == len(gen.logprobs) and 0 < len(gen.token_ids) <= 16
        assert gen.finish_reason == ("length" if len(gen.token_ids) == 16 else "stop")
        with torch.no_grad():
            logits = reference(torch.tensor([prompt + gen.token_ids])).logits[0, len(prompt) - 1 : -1]
        assert logits.argmax(-1).tolist() == gen.token_ids  # greedy: transformers' argmax at every step
        reference_logprobs = hf_logprobs(reference, prompt, gen.token_ids)
        assert max(abs(a - b) for a, b in zip(gen.logprobs, reference_logprobs, strict=True)) < TOLERANCE
        assert gen.text == server.tokenizer.decode(gen.token_ids, skip_special_tokens=True)

    # sampled: each token's logprob is the one after temperature, as the trainer computes it
    sampled = server.generate(prompts, [Sampling(max_tokens=12, temperature=0.7, seed=i) for i in range(3)])
    for prompt, gen in zip(prompts, sampled, strict=True):
        reference_logprobs = hf_logprobs(reference, prompt, gen.token_ids, temperature=0.7)
        assert max(abs(a - b) for a, b in zip(gen.logprobs, reference_logprobs, strict=True)) < TOLERANCE

    # a stop string ends the turn and stays in the text; the tokens are the greedy ones up to it
    text = greedy[0].text
    start = max(1, len(text) // 3)
    stop = text[start : start + 3]
    assert len(stop) == 3
    cut = text.find(stop) + len(stop)
    (stopped,) = server.generate([prompts[0]], [Sampling(max_tokens=16, temperature=0.0, stop=[stop])])
    assert stopped.finish_reason == "stop" and stopped.text == text[:cut]
    assert stopped.token_ids == greedy[0].token_ids[: len(stopped.token_ids)]


@pytest.mark.slow
def test_training_pushes_each_update_to_the_server(server, reference, tmp_path, tiny_path):
    pushes = len(server.pushes)
    cfg, suite, run = letter_task_run(tmp_path, "run", *SERVER, "trainer.max_steps=3", "algorithm.learning_rate=1e-3")
    summary = train(cfg, run, suite, suite.examples("train"), tiny_path, engine=server)
    assert summary["steps"] == 3
    rows = [r for r in run.metrics.rows() if "train/loss" in r]
    # every rollout after the first starts with a push; the server's sampling logprobs then agree with the
    # trainer's recomputation on the exact training tensors
    for row in rows[1:]:
        assert row["timing/weight_sync_s"] > 0
        assert row["logprob_mismatch/max"] < BATCH_TOLERANCE, row
    assert len(server.pushes) - pushes >= 2
    print("weight pushes:", server.pushes[pushes:])
    print("timing/weight_sync_s per step:", [r["timing/weight_sync_s"] for r in rows])

    # the server now holds the policy after step 2 (what the step-3 rollout used), not the initial weights
    after_two = AutoModelForCausalLM.from_pretrained(run.checkpoints / "step-2", dtype=torch.float32)
    prompt = chat_prompts(server.tokenizer)[0]
    (gen,) = server.generate([prompt], [Sampling(max_tokens=16, temperature=1.0, seed=11)])
    trained = hf_logprobs(after_two, prompt, gen.token_ids)
    untrained = hf_logprobs(reference, prompt, gen.token_ids)
    assert max(abs(a - b) for a, b in zip(gen.logprobs, trained, strict=True)) < TOLERANCE
    assert max(abs(a - b) for a, b in zip(gen.logprobs, untrained, strict=True)) > 10 * TOLERANCE


@pytest.mark.slow
def test_async_training_through_the_server(server, reference, tmp_path, tiny_path):
    """trainer.async_rollouts: the server plays step n+1's batch while the trainer updates on step n's; each batch was
    sampled by the policy one version back (never older), the pushes land between batches, and the loss takes
    truncated importance weights for the gap."""
    from .test_async_rollouts import rollout_versions

    pushes = len(server.pushes)
    cfg, suite, run = letter_task_run(
        tmp_path, "async", *SERVER, "trainer.async_rollouts=true", "trainer.max_steps=3", "algorithm.learning_rate=1e-3"
    )
    summary = train(cfg, run, suite, suite.examples("train"), tiny_path, engine=server)
    assert summary["steps"] == 3
    assert rollout_versions(run) == {0: [0] * 8, 1: [0] * 8, 2: [1] * 8}
    rows = [r for r in run.metrics.rows() if "train/loss" in r]
    assert [r["async/staleness_max"] for r in rows] == [0.0, 1.0, 1.0]
    assert rows[0]["logprob_mismatch/max"] < BATCH_TOLERANCE  # the fresh batch: server and trainer agree
    for row in rows[1:]:  # stale rows: the gap is the update's, far beyond fp32 noise, and the weights correct it
        assert row["async/policy_gap_max"] > 10 * BATCH_TOLERANCE, row
        assert abs(row["importance/weight_mean"] - 1.0) > 1e-5, row
    assert len(server.pushes) - pushes == 2  # after steps 1 and 2, each before the next batch started


@pytest.mark.slow
def test_a_lora_policy_reaches_the_server_merged(server, reference, tiny_path):
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)
    lora = LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj", "down_proj"], task_type="CAUSAL_LM")
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_path, dtype=torch.float32), lora).eval()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:  # peft starts B at zero: give the adapter something to say
                param.normal_(0.0, 0.05)
    assert push_weights(model, server) > 0
    merged = AutoModelForCausalLM.from_pretrained(tiny_path, dtype=torch.float32)
    with torch.no_grad(), policy_weights(model) as weights:
        merged.load_state_dict(dict(weights), strict=False)  # the server now holds base + B A (lm_head tied)
    prompt = chat_prompts(server.tokenizer)[1]
    (gen,) = server.generate([prompt], [Sampling(max_tokens=12, temperature=1.0)])
    adapted = hf_logprobs(merged, prompt, gen.token_ids)
    base = hf_logprobs(reference, prompt, gen.token_ids)
    assert max(abs(a - b) for a, b in zip(gen.logprobs, adapted, strict=True)) < TOLERANCE
    assert max(abs(a - b) for a, b in zip(gen.logprobs, base, strict=True)) > 10 * TOLERANCE


@pytest.mark.slow
def test_a_lora_policy_is_served_as_an_adapter(tmp_path, tiny_path):
    """model.lora.sync=adapter with a server rlagent starts (--enable-lora, runtime adapter loading): each push
    loads the peft adapter under a new name, and the server then samples what the trainer scores."""
    cfg, suite, run = letter_task_run(
        tmp_path,
        "lora",
        *SERVER,
        "trainer.max_steps=2",
        "model.lora.enabled=true",
        "model.lora.r=8",
        "model.lora.sync=adapter",
        "algorithm.learning_rate=1e-2",
    )
    train(cfg, run, suite, suite.examples("train"), tiny_path)
    step2 = next(r for r in run.metrics.rows() if r["step"] == 2 and "train/loss" in r)
    # the update at lr 1e-2 moved the policy well past the tolerance: only the pushed adapter agrees this closely
    assert step2["timing/weight_sync_s"] > 0 and step2["logprob_mismatch/max"] < BATCH_TOLERANCE, step2
    step1 = next(r for r in run.metrics.rows() if r["step"] == 1 and "train/loss" in r)
    assert step1["logprob_mismatch/max"] < BATCH_TOLERANCE  # the base model, before any adapter


@pytest.mark.slow
def test_eval_and_dry_run_through_a_running_server(server, reference, tmp_path):
    """A given server (url) is checked by the dry run and used by `rlagent eval`, which first has it reload the
    policy from disk: weights pushed into it before are gone."""
    prompt = chat_prompts(server.tokenizer)[2]
    server.load_weights(perturbed(reference))  # what an earlier run left in the server
    (gen,) = server.generate([prompt], [Sampling(max_tokens=12, temperature=1.0)])
    initial = hf_logprobs(reference, prompt, gen.token_ids)
    assert max(abs(a - b) for a, b in zip(gen.logprobs, initial, strict=True)) > 10 * TOLERANCE
    url = f"{server.server.base_url}/v1"
    args = ("recipe=smoke_search", *SERVER, f"rollout.vllm_server.url={url}", "task.limit=2")
    dry = rlagent("train", *args, "--dry-run")
    assert dry.returncode == 0, dry.stderr[-2000:]
    assert "rollout server" in dry.stdout and "weight receiver ready" in dry.stdout
    done = rlagent("eval", *args, f"run.dir={tmp_path / 'eval'}")
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads((tmp_path / "eval" / "eval" / "dev.json").read_text())
    assert result["engine"] == "vllm_server" and result["metrics"]["examples"] == 2
    (gen,) = server.generate([prompt], [Sampling(max_tokens=12, temperature=1.0)])
    initial = hf_logprobs(reference, prompt, gen.token_ids)
    assert max(abs(a - b) for a, b in zip(gen.logprobs, initial, strict=True)) < TOLERANCE


@pytest.mark.slow
def test_bad_server_settings_exit_2_in_one_line(server, tmp_path, tiny_path):
    runs = tmp_path / "runs"
    down = rlagent(
        "train", "recipe=smoke_search", *SERVER, f"rollout.vllm_server.url=http://127.0.0.1:{free_port()}",
        f"run.root={runs}",
    )  # fmt: skip
    assert down.returncode == 2 and "Traceback" not in down.stderr, down.stderr[-2000:]
    assert len(down.stderr.strip().splitlines()) == 1, down.stderr
    assert "cannot reach the vLLM server at http://127.0.0.1:" in down.stderr

    url = server.server.base_url
    other = tmp_path / "other-model"
    shutil.copytree(tiny_path, other)
    busy = int(url.rsplit(":", 1)[1])
    cases = [
        ([f"rollout.vllm_server.url={url}", f"model.name_or_path={other}"], f"not the policy {other.resolve()}"),
        ([f"rollout.vllm_server.url={url}", "rollout.vllm.max_model_len=4096"], "tokens, fewer than rollout.vllm"),
        ([f"rollout.vllm_server.port={busy}"], f"rollout.vllm_server.port={busy} is in use"),
        (["rollout.vllm_server.extra_args=[--model,x]"], "sets --model, which rlagent sets itself"),
    ]
    for overrides, message in cases:  # the same checks, in this process (each CLI start costs seconds)
        with pytest.raises(UserError) as caught:
            train_command(["recipe=smoke_search", *SERVER, *overrides, f"run.root={runs}"])
        assert message in str(caught.value) and "\n" not in str(caught.value), (overrides, str(caught.value))
    assert not runs.exists() or not any(runs.iterdir())


@pytest.mark.slow
def test_sigterm_stops_the_server_train_started(tmp_path):
    """`rlagent train` starts its own server (output in RUN/logs/vllm_server.log); SIGTERM after the first
    checkpoint ends the run resumably and leaves no server process behind."""
    run_dir = tmp_path / "cli"
    code, err, commands = interrupt_after_checkpoint(
        run_dir, 1, signal.SIGTERM, *SERVER, "trainer.max_steps=50", "trainer.save_steps=1"
    )
    assert code == 143 and "Traceback" not in err, err[-3000:]
    assert err.strip().splitlines()[-1].startswith("interrupted by SIGTERM; resume with: rlagent train"), err[-500:]
    servers = [c for c in commands if "vllm.entrypoints.openai.api_server" in c]
    assert servers, commands  # running at the signal, gone after it with its children (checked by the helper)
    log = (run_dir / "logs" / "vllm_server.log").read_text()
    assert "--worker-extension-cls rlagent.rollout.engines.vllm_worker.PolicyReceiver" in log
    rows = [json.loads(line) for line in Path(run_dir / "metrics.jsonl").read_text().splitlines()]
    # agreement after pushes is test_training_pushes_each_update_to_the_server's; here only: nothing logged
    # disagrees (once, on a loaded machine, no row had the key by the time SIGTERM landed)
    mismatch = [r["logprob_mismatch/max"] for r in rows if "logprob_mismatch/max" in r]
    assert all(m < BATCH_TOLERANCE for m in mismatch), rows
