"""Build the engine a recipe names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rlagent.config.schema import RecipeConfig
from rlagent.errors import UserError
from rlagent.models.merge import is_adapter, merged_checkpoint
from rlagent.models.registry import resolve_model


def policy_path(cfg: RecipeConfig) -> str:
    """The weights to generate with: `checkpoint=` when given (a checkpoint folder, or a run directory for
    its newest complete checkpoint; LoRA checkpoints are merged into their base model first), else the
    recipe's model."""
    if not cfg.checkpoint:
        return resolve_model(cfg.model.name_or_path)
    path = Path(resolve_model(cfg.checkpoint))
    if (path / "checkpoints").is_dir():  # a run directory: its newest complete checkpoint
        from rlagent.train.checkpoints import CheckpointStore

        latest = CheckpointStore(path / "checkpoints").latest()
        if latest is None:
            raise UserError(f"run directory '{path}' has no complete checkpoint")
        path = latest
    if is_adapter(path):
        return str(merged_checkpoint(path, resolve_model(cfg.model.name_or_path)))
    return str(path)


def chat_template_override(cfg: RecipeConfig) -> str | None:
    """The Jinja text of `model.chat_template`, if set (a missing file is a UserError)."""
    if not cfg.model.chat_template:
        return None
    path = Path(cfg.model.chat_template).expanduser()
    if not path.is_file():
        raise UserError(f"model.chat_template file '{path}' does not exist")
    return path.read_text()


def build_engine(
    cfg: RecipeConfig, model_path: str | None = None, training: bool = False, log_dir: Path | None = None
) -> Any:
    """A VllmEngine, VllmServerEngine, HFEngine or OpenAIEngine for `cfg.rollout.engine`, with model.chat_template
    applied; `training` builds a vLLM engine that serves LoRA adapters when model.lora.sync=adapter; `log_dir` (the
    run's logs/) receives the output of a vLLM server the engine starts."""
    template = chat_template_override(cfg)
    if cfg.rollout.engine != "openai" and model_path is None:
        model_path = policy_path(cfg)  # resolved once: a LoRA checkpoint is merged here
    engine = _build(cfg, model_path, training, log_dir)
    if template is not None and engine.tokenizer is not None:
        if engine.name == "vllm":
            # vLLM's tokenizer is a pool that renders chats with copies made when it loaded, so a template set
            # on it afterwards is ignored; the agent loop renders with a plain tokenizer of the same model instead
            from transformers import AutoTokenizer

            engine.tokenizer = AutoTokenizer.from_pretrained(model_path, trust_remote_code=cfg.model.trust_remote_code)
        engine.tokenizer.chat_template = template
    return engine


def _build(cfg: RecipeConfig, model_path: str | None, training: bool, log_dir: Path | None = None) -> Any:
    engine = cfg.rollout.engine
    if engine == "openai":
        from rlagent.rollout.engines.openai import OpenAIEngine

        return OpenAIEngine(cfg.rollout.openai, cfg.model.name_or_path)
    path = model_path or policy_path(cfg)  # model_path is set by build_engine; kept for direct callers
    if engine == "vllm_server":
        from rlagent.rollout.engines.vllm_server import VllmServerEngine, serves_adapters

        return VllmServerEngine(path, cfg, log_dir=log_dir, adapters=serves_adapters(cfg, training))
    if engine == "hf":
        from rlagent.rollout.engines.hf import HFEngine

        return HFEngine(
            path,
            dtype=cfg.model.dtype,
            batch_size=cfg.rollout.hf_batch_size,
            device=cfg.rollout.hf_device,
            trust_remote_code=cfg.model.trust_remote_code,
        )
    from rlagent.rollout.engines.vllm import VllmEngine

    lora = cfg.model.lora
    adapters = training and lora.enabled and lora.sync == "adapter"
    return VllmEngine(path, cfg.model, cfg.rollout, seed=cfg.seed, adapters=adapters)
