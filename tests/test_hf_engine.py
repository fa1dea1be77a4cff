"""rollout.engine=hf samples exactly what the trainer scores: plain softmax(logits / T), whatever the model's
generation_config.json asks for (a Hub Qwen ships temperature, top_k, top_p and repetition_penalty there)."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from rlagent.errors import UserError
from rlagent.rollout.engines.base import Sampling
from rlagent.rollout.engines.hf import HFEngine

from .engines import hf_logprobs

pytestmark = pytest.mark.slow

HUB_STYLE = {
    "do_sample": True,
    "temperature": 0.2,
    "top_k": 3,
    "top_p": 0.5,
    "repetition_penalty": 1.8,
    "no_repeat_ngram_size": 1,
    "min_new_tokens": 20,
}
"""Sampling defaults as a Hub model's generation_config.json carries them (Qwen2.5: temperature 0.7, top_p 0.8,
top_k 20, repetition_penalty 1.05), made strong enough that any of them leaking into `generate` shows."""
QUESTIONS = ["What is the capital of France?", "Name three primary colours.", "Who wrote Hamlet?"]
T = 0.7


@pytest.fixture(scope="module")
def hub_style_path(tiny_path, tmp_path_factory) -> str:
    """The tiny model, with HUB_STYLE added to its generation_config.json."""
    folder = tmp_path_factory.mktemp("hub-style") / "tiny"
    shutil.copytree(tiny_path, folder)
    config = json.loads((folder / "generation_config.json").read_text())
    (folder / "generation_config.json").write_text(json.dumps({**config, **HUB_STYLE}, indent=2))
    return str(folder)


def chat_prompts(tokenizer) -> list[list[int]]:
    return [
        tokenizer.apply_chat_template([{"role": "user", "content": q}], add_generation_prompt=True, tokenize=True)[
            "input_ids"
        ]
        for q in QUESTIONS
    ]


def test_the_model_generation_config_leaves_sampling_alone(hub_style_path, tiny_path):
    hub, plain = HFEngine(hub_style_path, batch_size=4), HFEngine(tiny_path, batch_size=4)
    prompts = chat_prompts(hub.tokenizer)
    sampling = [Sampling(max_tokens=24, temperature=T, seed=5) for _ in prompts]
    sampled = hub.generate(prompts, sampling)

    # the same draws as from the model without those settings: same tokens, same logprobs
    assert [g.token_ids for g in sampled] == [g.token_ids for g in plain.generate(prompts, sampling)]
    worst, ranks = 0.0, []
    for prompt, gen in zip(prompts, sampled, strict=True):
        assert len(gen.token_ids) == len(gen.logprobs) > 0
        # the trainer's logprobs at temperature T (tests/engines.py hf_logprobs), not those of a penalised,
        # truncated distribution
        reference = hf_logprobs(hub.model, prompt, gen.token_ids, temperature=T)
        worst = max(worst, *(abs(a - b) for a, b in zip(gen.logprobs, reference, strict=True)))
        with torch.no_grad():
            logits = hub.model(torch.tensor([prompt + gen.token_ids])).logits[0, len(prompt) - 1 : -1]
        ranks += [int((row > row[token]).sum()) for row, token in zip(logits, gen.token_ids, strict=True)]
    assert worst < 1e-4, worst
    assert max(ranks) >= HUB_STYLE["top_k"], ranks  # tokens outside the config's top-k were drawn

    # greedy (evaluation): the argmax of the logits at every step, with no repetition penalty on it
    greedy = hub.generate(prompts, [Sampling(max_tokens=24, temperature=0.0) for _ in prompts])
    assert [g.token_ids for g in greedy] == [
        g.token_ids for g in plain.generate(prompts, [Sampling(max_tokens=24, temperature=0.0) for _ in prompts])
    ]
    for prompt, gen in zip(prompts, greedy, strict=True):
        with torch.no_grad():
            logits = hub.model(torch.tensor([prompt + gen.token_ids])).logits[0, len(prompt) - 1 : -1]
        assert logits.argmax(-1).tolist() == gen.token_ids


def test_requests_with_different_settings_are_sampled_apart(tiny_path):
    """One `generate` call samples a batch with one setting: rows asking for another temperature are not
    silently sampled with the first row's."""
    engine = HFEngine(tiny_path, batch_size=8)
    prompts = chat_prompts(engine.tokenizer)
    sampling = [Sampling(max_tokens=8, temperature=t, seed=1) for t in (1.0, 0.0, 0.5)]
    results = engine.generate(prompts, sampling)
    for prompt, gen, s in zip(prompts, results, sampling, strict=True):
        reference = hf_logprobs(engine.model, prompt, gen.token_ids, temperature=s.temperature or 1.0)
        assert max(abs(a - b) for a, b in zip(gen.logprobs, reference, strict=True)) < 1e-4, s
    (alone,) = engine.generate([prompts[1]], [sampling[1]])
    assert results[1].token_ids == alone.token_ids  # greedy, as if it had been sent alone


def test_a_model_with_its_own_generate_is_refused_in_one_line(tiny_path, tmp_path):
    folder = tmp_path / "custom"
    shutil.copytree(tiny_path, folder)
    (folder / "custom_generate").mkdir()
    (folder / "custom_generate" / "generate.py").write_text("def generate(model, *args, **kwargs):\n    return None\n")
    with pytest.raises(UserError) as caught:
        HFEngine(str(folder), trust_remote_code=True)
    message = str(caught.value)
    assert "\n" not in message and "brings its own generate" in message and "rollout.engine=vllm" in message
