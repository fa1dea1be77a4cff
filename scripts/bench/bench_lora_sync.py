"""LoRA weight sync: merging the adapter and reloading every weight vs. serving the adapter itself as a vLLM
LoRA (model.lora.sync=merged / adapter). For each model: the seconds one sync takes, what generation costs
afterwards (a served adapter adds its matmuls to every token), and the post-sync logprob mismatch against the
trainer's peft model (fp32). Prints a markdown table.

    .venv/bin/python scripts/bench/bench_lora_sync.py [MODEL ...]   (default: tiny smollm2-135m qwen2.5-coder-0.5b)
"""

from __future__ import annotations

import resource
import sys
import time

from common import timed

from rlagent.config.schema import LoraConfig, ModelConfig, RolloutConfig
from rlagent.models.prepare import prepare
from rlagent.rollout.engines.base import Sampling
from rlagent.train.sync import push_weights

PROMPTS, RANK = 8, 16
TOKENS = {"tiny": 32, "smollm2-135m": 16, "qwen2.5-coder-0.5b": 8}
"""Tokens sampled per prompt: fewer for larger models, whose served adapter generates at a token or less per second
on vLLM-CPU (so the whole benchmark stays under 10 minutes); tokens/s is what compares."""


def trained_peft_model(path: str):
    """The model with a rank-16 adapter on every projection, its B matrices random (as after training)."""
    import torch
    from peft import LoraConfig as PeftLora
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    targets = LoraConfig().target_modules
    model = get_peft_model(base, PeftLora(r=RANK, lora_alpha=2 * RANK, lora_dropout=0.0, target_modules=targets))
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.01)
    return model.eval()


def peft_logprobs(model, prompt: list[int], completion: list[int]) -> list[float]:
    import torch

    with torch.no_grad():
        logits = model(torch.tensor([prompt + completion])).logits[0, len(prompt) - 1 : -1].float()
    return torch.log_softmax(logits, -1).gather(1, torch.tensor(completion)[:, None])[:, 0].tolist()


def engine(path: str, adapters: bool):
    from rlagent.rollout.engines.vllm import VllmEngine

    rollout = RolloutConfig()
    rollout.vllm.kv_cache_memory_gb = 0.5
    rollout.vllm.max_model_len = 1024
    lora = LoraConfig(enabled=True, r=RANK, sync="adapter" if adapters else "merged")
    model = ModelConfig(dtype="float32", lora=lora)
    return VllmEngine(path, model, rollout, seed=0, adapters=adapters)


def measure(name: str) -> list[str]:
    path = str(prepare(name))
    model = trained_peft_model(path)
    rows = []
    for mode in ("merged", "adapter"):
        llm = engine(path, adapters=mode == "adapter")
        try:
            sync_s, _ = timed(lambda llm=llm: push_weights(model, llm), repeats=3)
            prompts = [
                llm.tokenizer.apply_chat_template(
                    [{"role": "user", "content": f"Tell me fact number {i} about rivers."}],
                    add_generation_prompt=True,
                    tokenize=True,
                )["input_ids"]
                for i in range(PROMPTS)
            ]
            sampling = [Sampling(max_tokens=TOKENS.get(name, 16), temperature=1.0, seed=i) for i in range(PROMPTS)]
            llm.generate(prompts[:1], sampling[:1])  # warm-up
            started = time.perf_counter()
            generations = llm.generate(prompts, sampling)
            gen_s = time.perf_counter() - started
            tokens = sum(len(g.token_ids) for g in generations)
            deltas = [
                abs(a - b)
                for prompt, g in zip(prompts, generations, strict=True)
                for a, b in zip(g.logprobs, peft_logprobs(model, prompt, g.token_ids), strict=True)
            ]
        finally:
            llm.close()
        rows.append(
            f"| {name} | {mode} | {sync_s:.3f} | {tokens} | {gen_s:.2f} | {tokens / gen_s:.1f} | "
            f"{sum(deltas) / len(deltas):.1e} | {max(deltas):.1e} |"
        )
    merged_s = float(rows[0].split("|")[3])
    adapter_s = float(rows[1].split("|")[3])
    faster = f"| {name} | adapter ({merged_s / adapter_s:.1f}x faster sync) |"
    rows[1] = rows[1].replace(f"| {name} | adapter |", faster)
    return rows


def main() -> None:
    names = sys.argv[1:] or ["tiny", "smollm2-135m", "qwen2.5-coder-0.5b"]
    print(
        f"| model (fp32, LoRA r={RANK} on 7 projections) | sync | sync s | tokens sampled ({PROMPTS} prompts) "
        "| generate s | tokens/s | mismatch mean | mismatch max |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for name in names:
        for row in measure(name):
            print(row, flush=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"\npeak resident memory of the benchmark process: {peak:.1f} GiB")


if __name__ == "__main__":
    main()
