"""Engine construction helpers shared by the slow tests."""

from __future__ import annotations

import torch

from rlagent.config.schema import ModelConfig, RolloutConfig


def vllm_engine(path: str, seed: int = 0):
    from rlagent.rollout.engines.vllm import VllmEngine

    rollout = RolloutConfig()
    rollout.vllm.kv_cache_memory_gb = 0.25
    rollout.vllm.max_model_len = 1024
    return VllmEngine(path, ModelConfig(dtype="float32"), rollout, seed=seed)


@torch.no_grad()
def hf_logprobs(model, prompt: list[int], completion: list[int], temperature: float = 1.0) -> list[float]:
    """The transformers model's logprobs of `completion` after `prompt`."""
    ids = torch.tensor([prompt + completion])
    logits = model(ids).logits[0, len(prompt) - 1 : -1].float() / temperature
    return logits.log_softmax(-1).gather(-1, torch.tensor(completion)[:, None])[:, 0].tolist()
