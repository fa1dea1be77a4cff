"""Map rlagent's algorithm, trainer and rollout settings onto TRL's GRPOConfig."""

from __future__ import annotations

from pathlib import Path

import torch
from trl import GRPOConfig

from rlagent.config.schema import RecipeConfig
from rlagent.launch.commands import world_size


def grpo_config(cfg: RecipeConfig, output_dir: Path, run_name: str | None = None) -> GRPOConfig:
    """One optimizer step per generated batch of prompts_per_step x num_generations episodes, over all the training
    processes: each process gets an equal share of them (launch/commands.py: check_split). `run_name` names the run
    in the metric sinks (trainer.report_to)."""
    a, t = cfg.algorithm, cfg.trainer
    episodes = t.prompts_per_step * a.num_generations
    return GRPOConfig(
        output_dir=str(output_dir),
        max_steps=t.max_steps,
        per_device_train_batch_size=t.micro_batch_size,
        gradient_accumulation_steps=episodes // (t.micro_batch_size * world_size()),
        num_generations=a.num_generations,
        num_iterations=a.num_iterations,
        learning_rate=a.learning_rate,
        lr_scheduler_type=a.lr_scheduler_type,
        warmup_steps=a.warmup_ratio,
        weight_decay=a.weight_decay,
        max_grad_norm=a.max_grad_norm,
        beta=a.beta,
        epsilon=a.epsilon,
        epsilon_high=a.epsilon_high,
        loss_type=a.loss_type,
        scale_rewards=a.scale_rewards,
        importance_sampling_level=a.importance_sampling_level,
        mask_truncated_completions=a.mask_truncated_completions,
        temperature=max(cfg.rollout.temperature, 1e-6),
        max_completion_length=cfg.rollout.max_episode_tokens,
        logging_steps=t.logging_steps,
        save_strategy="steps" if t.save_steps else "no",
        save_steps=t.save_steps or 1,
        report_to=list(t.report_to) or "none",
        run_name=run_name,
        seed=cfg.seed,
        bf16=t.bf16,
        gradient_checkpointing=cfg.model.gradient_checkpointing,
        use_vllm=False,
        # Dropout (e.g. LoRA dropout) would make the trainer's logprobs differ from the sampler's.
        disable_dropout=True,
        use_cpu=not torch.cuda.is_available(),
        ddp_find_unused_parameters=False,  # several processes: every trainable parameter takes part
        disable_tqdm=True,
        remove_unused_columns=False,
        log_completions=False,
        model_init_kwargs={"dtype": cfg.model.dtype, "trust_remote_code": cfg.model.trust_remote_code},
    )
