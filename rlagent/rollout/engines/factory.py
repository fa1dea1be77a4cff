"""Build the engine a recipe names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rlagent.config.schema import RecipeConfig
from rlagent.models.merge import is_adapter, merged_checkpoint
from rlagent.models.registry import resolve_model


def policy_path(cfg: RecipeConfig) -> str:
    """The weights to generate with: `checkpoint=` when given (a LoRA checkpoint is merged into its base
    model first), else the recipe's model."""
    if not cfg.checkpoint:
        return resolve_model(cfg.model.name_or_path)
    path = Path(resolve_model(cfg.checkpoint))
    if is_adapter(path):
        return str(merged_checkpoint(path, resolve_model(cfg.model.name_or_path)))
    return str(path)


def build_engine(cfg: RecipeConfig, model_path: str | None = None) -> Any:
    """A VllmEngine, HFEngine or OpenAIEngine for `cfg.rollout.engine`."""
    engine = cfg.rollout.engine
    if engine == "openai":
        from rlagent.rollout.engines.openai import OpenAIEngine

        return OpenAIEngine(cfg.rollout.openai, cfg.model.name_or_path)
    path = model_path or policy_path(cfg)
    if engine == "hf":
        from rlagent.rollout.engines.hf import HFEngine

        return HFEngine(
            path,
            dtype=cfg.model.dtype,
            batch_size=cfg.rollout.hf_batch_size,
            trust_remote_code=cfg.model.trust_remote_code,
        )
    from rlagent.rollout.engines.vllm import VllmEngine

    return VllmEngine(path, cfg.model, cfg.rollout, seed=cfg.seed)
