"""Map rlagent's algorithm, trainer and rollout settings onto TRL's GRPOConfig."""

from __future__ import annotations

from pathlib import Path

import torch
from trl import GRPOConfig

from rlagent.config.schema import RecipeConfig
from rlagent.config.steps import StepPlan
from rlagent.launch.commands import world_size


def grpo_config(cfg: RecipeConfig, output_dir: Path, run_name: str | None = None) -> GRPOConfig:
    """One generated batch of prompts_per_step x num_generations episodes per training step (over all the training
    processes: each gets an equal share, launch/commands.py: check_split), split into minibatches of
    algorithm.minibatch_size episodes, each one optimizer step, for num_iterations passes (config/steps.py). TRL counts
    optimizer steps, so max_steps, save_steps and logging_steps are scaled by the optimizer steps per batch (one
    metrics row per generated batch). `run_name` names the run in the metric sinks (trainer.report_to)."""
    a, t = cfg.algorithm, cfg.trainer
    plan = StepPlan.from_config(cfg, world_size())
    per_batch = plan.optimizer_steps_per_batch
    return GRPOConfig(
        output_dir=str(output_dir),
        max_steps=plan.optimizer_steps,
        per_device_train_batch_size=t.micro_batch_size,
        gradient_accumulation_steps=plan.gradient_accumulation_steps,
        steps_per_generation=plan.micro_batches_per_batch,
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
        # TRL calls a completion truncated when its last token is not EOS, which is wrong for turns that end on a stop
        # string (</search>, </answer>, a code block): AgentGRPOTrainer masks by the episode's own truncated flag.
        mask_truncated_completions=False,
        temperature=max(cfg.rollout.temperature, 1e-6),
        max_completion_length=cfg.rollout.max_episode_tokens,
        logging_steps=t.logging_steps * per_batch,
        save_strategy="steps" if t.save_steps else "no",
        save_steps=(t.save_steps or 1) * per_batch,
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
