"""The CUDA path: the hf engine generates on the GPU and agrees with the trainer's model; `rlagent train` with
trainer=gpu (bf16 autocast) steps, checkpoints, resumes and evaluates on the GPU. Skipped where CUDA is absent
(CI has no GPU: these ran on a lent H200, see docs/GPU.md)."""

import json
import subprocess
import sys

import pytest
import torch

from rlagent.rollout.engines.base import Sampling
from rlagent.rollout.engines.hf import HFEngine, resolve_device

from .engines import hf_logprobs

pytestmark = [
    pytest.mark.slow,
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]


def test_auto_device_is_the_gpu():
    assert resolve_device("auto").type == "cuda"
    assert resolve_device("cpu").type == "cpu"


def test_hf_engine_generates_on_the_gpu_and_matches_a_cpu_forward(tiny_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    smol_tokenizer = AutoTokenizer.from_pretrained(tiny_path)  # SmolLM2's tokenizer
    engine = HFEngine(tiny_path, batch_size=4)
    assert engine.model.device.type == "cuda"
    prompt = smol_tokenizer.encode("Question: who wrote Hamlet? Answer:")
    outs = engine.generate([prompt] * 3, [Sampling(max_tokens=16, temperature=1.0, seed=0)] * 3)
    assert all(len(o.token_ids) == len(o.logprobs) > 0 for o in outs)
    cpu_model = AutoModelForCausalLM.from_pretrained(tiny_path, dtype=torch.float32)
    for out in outs:
        expected = hf_logprobs(cpu_model, prompt, out.token_ids)
        assert max(abs(a - b) for a, b in zip(out.logprobs, expected, strict=True)) < 2e-3


def test_engine_takes_weights_from_a_gpu_policy(tiny_path):
    from transformers import AutoModelForCausalLM

    engine = HFEngine(tiny_path, batch_size=2)
    policy = AutoModelForCausalLM.from_pretrained(tiny_path, dtype=torch.float32).to("cuda")
    with torch.no_grad():
        for p in policy.parameters():
            p.add_(0.01)
    engine.load_weights(policy.state_dict().items())
    for name, value in engine.model.state_dict().items():
        assert torch.equal(value, policy.state_dict()[name]), name


def rlagent(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rlagent", *args], capture_output=True, text=True)


def test_train_resume_and_eval_on_the_gpu(tmp_path):
    run_dir = tmp_path / "gpu"
    common = (
        "recipe=smoke_search",
        "rollout=hf",
        "trainer=gpu",
        f"run.dir={run_dir}",
        "trainer.prompts_per_step=2",
        "trainer.micro_batch_size=4",
        "trainer.save_steps=1",
        "trainer.eval_steps=2",
        "trainer.eval_limit=4",
        "trainer.report_to=[]",
        "rollout.max_new_tokens=24",
        "rollout.max_episode_tokens=96",
        "algorithm.beta=0.001",  # the tiny model's reward is always 0: the KL term keeps Adam stepping
    )
    first = rlagent("train", *common, "trainer.max_steps=2")
    assert first.returncode == 0, first.stderr[-3000:]
    status = json.loads((run_dir / "run.json").read_text())
    assert status["status"] == "completed"
    assert status["accelerator"].startswith("cuda:"), status
    again = rlagent("train", *common, "trainer.max_steps=3", "resume=true")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resuming at step 2" in again.stderr
    state = json.loads((run_dir / "checkpoints" / "step-3" / "trainer_state.json").read_text())
    assert state["global_step"] == 3
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    mismatch = [r["logprob_mismatch/mean"] for r in rows if "logprob_mismatch/mean" in r]
    # bf16 autocast trainer vs fp32 engine; the random tiny model's near-uniform logits give about 0.1 on an H200
    assert mismatch and all(0 <= m < 0.5 for m in mismatch), mismatch
    evaluated = rlagent(
        "eval", "recipe=smoke_search", "rollout=hf", f"checkpoint={run_dir}", "task.limit=4", f"run.dir={tmp_path}/ev"
    )
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
