"""Push the trainer's weights into the generation engine, and measure how well they agree."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch


def _is_peft(model: Any) -> bool:
    return hasattr(model, "peft_config") and hasattr(model, "merge_adapter")


@contextmanager
def policy_weights(model: Any) -> Iterator[list[tuple[str, torch.Tensor]]]:
    """The policy's weights under checkpoint names; LoRA adapters are merged in for the duration."""
    if not _is_peft(model):
        yield [(name, tensor) for name, tensor in model.state_dict().items()]
        return
    model.merge_adapter()
    try:
        weights = []
        for name, param in model.named_parameters():
            name = name.removeprefix("base_model.model.").replace(".base_layer", "")
            if "lora_" in name or "original_module" in name:
                continue
            weights.append((name.replace("modules_to_save.default.", ""), param.data))
        yield weights
    finally:
        model.unmerge_adapter()


def push_weights(model: Any, engine: Any) -> float:
    """Load the policy's current weights into `engine`; return the seconds it took. A LoRA policy goes as its
    adapter alone when the engine serves adapters (model.lora.sync=adapter), else merged into full weights."""
    started = time.perf_counter()
    if _is_peft(model) and getattr(engine, "serves_adapters", False):
        push_adapter(model, engine)
    else:
        with torch.no_grad(), policy_weights(model) as weights:
            engine.load_weights(weights)
    return time.perf_counter() - started


def push_adapter(model: Any, engine: Any) -> None:
    """Save the policy's adapter (peft's format) to a scratch folder and have the engine serve it."""
    folder = tempfile.mkdtemp(prefix="rlagent-adapter-")
    try:
        model.save_pretrained(folder)
        engine.load_adapter(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def logprob_mismatch(trainer_logps: torch.Tensor, engine_logps: torch.Tensor, mask: torch.Tensor) -> dict[str, float]:
    """Mean and max |trainer - engine| logprob over the tokens the model generated (mask 1)."""
    delta = (trainer_logps.float() - engine_logps.float()).abs()[mask.bool()]
    delta = delta[torch.isfinite(delta)]
    if delta.numel() == 0:
        return {"mean": 0.0, "max": 0.0}
    return {"mean": float(delta.mean()), "max": float(delta.max())}


def truncated_importance_weights(
    trainer_logps: torch.Tensor, engine_logps: torch.Tensor, mask: torch.Tensor, cap: float
) -> tuple[torch.Tensor, dict[str, float]]:
    """Per-token weights min(pi_trainer / pi_engine, cap) (truncated importance sampling, TIS) for the tokens the
    model generated (mask 1), 1 elsewhere and where the engine gave no logprob; with their mean, min and clipped
    share over the generated tokens."""
    log_ratio = torch.nan_to_num((trainer_logps.detach().float() - engine_logps.float()) * mask, nan=0.0)
    weights = torch.exp(log_ratio).clamp(max=cap)
    chosen = weights[mask.bool()]
    if chosen.numel() == 0:
        return weights, {}
    stats = {
        "weight_mean": float(chosen.mean()),
        "weight_min": float(chosen.min()),
        "clipped_share": float((chosen >= cap).float().mean()),
    }
    return weights, stats
