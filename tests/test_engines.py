"""vLLM (CPU build) against transformers on real checkpoints: greedy tokens, logprobs, weight reloads."""

import subprocess
import sys

import pytest
import torch

from rlagent.rollout.engines.base import Sampling
from rlagent.rollout.engines.hf import HFEngine
from rlagent.train.sync import push_weights

from .engines import REQUEST_TOLERANCE as LOGPROB_TOLERANCE
from .engines import hf_logprobs, vllm_engine

pytestmark = pytest.mark.slow

QUESTIONS = ["What is the capital of France?", "Name three primary colours.", "Who wrote Hamlet?"]


def chat_prompts(tokenizer):
    return [
        tokenizer.apply_chat_template([{"role": "user", "content": q}], add_generation_prompt=True, tokenize=True)[
            "input_ids"
        ]
        for q in QUESTIONS
    ]


@pytest.fixture(scope="module", params=["tiny", "smollm2-135m"])
def engines(request, tiny_path, smollm2_path):
    path = tiny_path if request.param == "tiny" else smollm2_path
    vllm = vllm_engine(path)
    hf = HFEngine(path, batch_size=1)
    yield request.param, vllm, hf
    vllm.close()


def test_greedy_tokens_match(engines):
    name, vllm, hf = engines
    prompts = chat_prompts(hf.tokenizer)
    sampling = [Sampling(max_tokens=24, temperature=0.0) for _ in prompts]
    from_vllm = vllm.generate(prompts, sampling)
    from_hf = hf.generate(prompts, sampling)
    for a, b in zip(from_vllm, from_hf, strict=True):
        assert a.token_ids == b.token_ids, name
    if name == "smollm2-135m":
        assert "Paris" in from_vllm[0].text


def test_sampled_token_logprobs_match_transformers(engines):
    name, vllm, hf = engines
    prompts = chat_prompts(hf.tokenizer)
    generations = vllm.generate(prompts, [Sampling(max_tokens=32, temperature=1.0, seed=i) for i in range(3)])
    worst = 0.0
    for prompt, gen in zip(prompts, generations, strict=True):
        assert len(gen.token_ids) == len(gen.logprobs) > 0
        reference = hf_logprobs(hf.model, prompt, gen.token_ids)
        worst = max(worst, max(abs(a - b) for a, b in zip(gen.logprobs, reference, strict=True)))
    assert worst < LOGPROB_TOLERANCE, (name, worst)


def test_temperature_is_applied_to_logprobs(engines):
    _name, vllm, hf = engines
    prompt = chat_prompts(hf.tokenizer)[0]
    (gen,) = vllm.generate([prompt], [Sampling(max_tokens=16, temperature=0.7, seed=3)])
    reference = hf_logprobs(hf.model, prompt, gen.token_ids, temperature=0.7)
    assert max(abs(a - b) for a, b in zip(gen.logprobs, reference, strict=True)) < LOGPROB_TOLERANCE


def test_stop_strings_end_the_turn_and_stay_in_the_text(engines):
    _name, vllm, hf = engines
    prompt = chat_prompts(hf.tokenizer)[1]
    (free,) = vllm.generate([prompt], [Sampling(max_tokens=24, temperature=0.0)])
    stop = hf.tokenizer.decode(free.token_ids[2:5]).strip()  # a string the model is about to write
    (cut,) = vllm.generate([prompt], [Sampling(max_tokens=24, temperature=0.0, stop=[stop])])
    assert cut.finish_reason == "stop" and stop in cut.text and len(cut.token_ids) <= len(free.token_ids)
    assert cut.token_ids == free.token_ids[: len(cut.token_ids)]
    (hf_cut,) = hf.generate([prompt], [Sampling(max_tokens=24, temperature=0.0, stop=[stop])])
    assert hf_cut.token_ids == cut.token_ids


def test_weight_reload_makes_the_engine_follow_the_trainer(engines):
    _name, vllm, hf = engines
    prompt = chat_prompts(hf.tokenizer)[2]
    (before,) = vllm.generate([prompt], [Sampling(max_tokens=12, temperature=1.0, seed=7)])
    original = {k: v.clone() for k, v in hf.model.state_dict().items()}
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for param in hf.model.parameters():
            param.add_(torch.randn(param.shape, generator=generator) * 0.02)
    try:
        seconds = push_weights(hf.model, vllm)
        assert seconds > 0
        (after,) = vllm.generate([prompt], [Sampling(max_tokens=12, temperature=1.0, seed=7)])
        reference = hf_logprobs(hf.model, prompt, after.token_ids)
        assert max(abs(a - b) for a, b in zip(after.logprobs, reference, strict=True)) < LOGPROB_TOLERANCE
        stale = hf_logprobs(hf.model, prompt, before.token_ids)
        assert max(abs(a - b) for a, b in zip(before.logprobs, stale, strict=True)) > 10 * LOGPROB_TOLERANCE
    finally:
        hf.model.load_state_dict(original)
        push_weights(hf.model, vllm)


GUARD_SCRIPT = """
import os, sys
os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
import bm25s  # imports numba, hence llvmlite, before vLLM starts
import rlagent.rollout.engines.vllm as engine_module
if sys.argv[2] == "off":
    engine_module._guard_llvmlite = lambda: None
from tests.engines import vllm_engine
engine = vllm_engine(sys.argv[1])
print("ENGINE-OK")
"""


@pytest.mark.parametrize("guard", ["on", "off"])
def test_bm25s_before_vllm(tiny_path, guard):
    """vLLM's kernel scan trips over llvmlite (imported via bm25s -> numba); the guard fixes it."""
    result = subprocess.run([sys.executable, "-c", GUARD_SCRIPT, tiny_path, guard], capture_output=True, text=True)
    if guard == "on":
        assert "ENGINE-OK" in result.stdout, result.stderr[-2000:]
    else:
        assert "ENGINE-OK" not in result.stdout
        assert "'_lib_fn_wrapper' object has no attribute 'get'" in result.stderr


def test_many_long_sampled_prompts_with_seeds(engines):
    """More prompt tokens than one scheduler step takes (chunked prefill) with per-request seeds: on CPU this
    crashed inside vLLM until the engine stopped passing per-request seeds there."""
    _name, vllm, hf = engines
    base = chat_prompts(hf.tokenizer)[0] * 12  # ~300 tokens
    prompts = [hf.tokenizer.encode(f"Request {i}.") + base for i in range(48)]  # distinct: no shared prefix
    results = vllm.generate(prompts, [Sampling(max_tokens=4, temperature=1.0, seed=i) for i in range(48)])
    assert len(results) == 48 and all(1 <= len(r.token_ids) <= 4 for r in results)


def test_model_chat_template_reaches_the_vllm_prompts(tmp_path, tiny_path):
    """model.chat_template must change what the agent loop renders with a vLLM engine (vLLM's own tokenizer is
    a pool of copies that ignores a template set after it loaded)."""
    from rlagent.config.compose import compose_recipe
    from rlagent.rollout.chat import ChatFormat
    from rlagent.rollout.engines.factory import build_engine

    template = tmp_path / "plain.jinja"
    template.write_text(
        "{% for m in messages %}<<{{ m['role'] }}>>{{ m['content'] }}{% endfor %}"
        "{% if add_generation_prompt %}<<assistant>>{% endif %}"
    )
    cfg, _ = compose_recipe(
        ["recipe=smoke_search", f"model.name_or_path={tiny_path}", f"model.chat_template={template}"]
    )
    engine = build_engine(cfg)
    try:
        chat = ChatFormat(engine.tokenizer, None, {engine.tokenizer.eos_token_id})
        rendered = engine.tokenizer.decode(chat.prompt_ids([{"role": "user", "content": "hello"}]))
        assert rendered.endswith("<<user>>hello<<assistant>>"), rendered
    finally:
        engine.close()
