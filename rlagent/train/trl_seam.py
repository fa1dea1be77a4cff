"""Every place rlagent relies on TRL's internals, in one module.

AgentGRPOTrainer (train/trainer.py) subclasses TRL's GRPOTrainer and overrides private methods, reads TRL's metric
buffer and its batch arithmetic. Nothing of that is public API, so each coupling is listed here with what rlagent
assumes, and `check_trl()` compares the installed TRL against the list: a TRL upgrade that renames a method or
changes its parameters stops `rlagent train` with one line naming the method, instead of training something else.

What rlagent relies on (TRL 1.16):
- `GRPOTrainer._generate_and_score_completions(self, inputs)`: called once per generated batch with the dataset rows;
  returns the batch's tensors (completion_mask, advantages, sampling_per_token_logps, num_items_in_batch) before TRL
  shuffles the batch and splits it into micro-batches.
- `GRPOTrainer.compute_loss(self, model, inputs, return_outputs, num_items_in_batch)`: one call per micro-batch.
- `GRPOTrainer._compute_loss(self, model, inputs)`: reads inputs["advantages"] after the policy's forward pass.
- `GRPOTrainer._get_per_token_logps_and_entropies(self, model, input_ids, attention_mask, logits_to_keep, ...)`:
  returns (logprobs, entropies, ...) of the loss's forward pass.
- `GRPOTrainer._save_checkpoint(self, model, trial)`: writes output_dir/checkpoint-<global_step>.
- `Trainer._get_grad_norm(self, model, grad_norm)` (transformers): each optimizer step's gradient norm.
- `GRPOTrainer._metrics["train"][name]`: a list per metric, averaged and cleared at each log.
- `GRPOConfig.steps_per_generation`, `num_iterations`, `gradient_accumulation_steps`: one generation per
  steps_per_generation x num_iterations micro-batches, an optimizer step per gradient_accumulation_steps of them;
  `state.global_step` counts optimizer steps; the dapo loss normalises by the batch's tokens x accumulation /
  steps_per_generation.
- `rollout_func(prompts, trainer)`: returns prompt_ids, completion_ids, logprobs and extra fields (env_mask, episode).
"""

from __future__ import annotations

import inspect
from typing import Any

from rlagent.errors import UserError

# (method of GRPOTrainer, the parameters rlagent passes or receives, in order)
METHODS: dict[str, tuple[str, ...]] = {
    "_generate_and_score_completions": ("self", "inputs"),
    "compute_loss": ("self", "model", "inputs", "return_outputs", "num_items_in_batch"),
    "_compute_loss": ("self", "model", "inputs"),
    "_get_per_token_logps_and_entropies": ("self", "model", "input_ids", "attention_mask", "logits_to_keep"),
    "_save_checkpoint": ("self", "model", "trial"),
    "_get_grad_norm": ("self", "model", "grad_norm"),  # transformers.Trainer's
}
CONFIG_FIELDS = ("steps_per_generation", "generation_batch_size", "num_iterations", "mask_truncated_completions")


def check_trl(trainer_class: Any = None, config_class: Any = None) -> None:
    """Raise a UserError naming the first TRL internal that is missing or whose parameters changed."""
    import trl

    trainer_class = trainer_class or trl.GRPOTrainer
    config_class = config_class or trl.GRPOConfig
    for name, expected in METHODS.items():
        method = getattr(trainer_class, name, None)
        if method is None:
            raise UserError(
                f"the installed TRL {trl.__version__} has no GRPOTrainer.{name}, which rlagent overrides "
                f"(rlagent/train/trl_seam.py); install the pinned version: pip install -c constraints/cpu.txt trl"
            )
        params = tuple(inspect.signature(method).parameters)[: len(expected)]
        if params != expected:
            raise UserError(
                f"the installed TRL {trl.__version__} changed GRPOTrainer.{name}{params}, rlagent expects {expected} "
                f"(rlagent/train/trl_seam.py); install the pinned version: pip install -c constraints/cpu.txt trl"
            )
    fields = getattr(config_class, "__dataclass_fields__", {})
    for name in CONFIG_FIELDS:
        if name not in fields:
            raise UserError(
                f"the installed TRL {trl.__version__} has no GRPOConfig.{name}, which rlagent sets "
                f"(rlagent/train/trl_seam.py); install the pinned version: pip install -c constraints/cpu.txt trl"
            )


def optimizer_steps_per_batch(args: Any) -> int:
    """Optimizer steps TRL takes on one generated batch: it generates once every steps_per_generation x num_iterations
    micro-batches, and steps the optimizer every gradient_accumulation_steps micro-batches."""
    return (args.steps_per_generation * args.num_iterations) // args.gradient_accumulation_steps


def training_step(args: Any, state: Any) -> int:
    """rlagent's step (generated batches done) from TRL's global_step (optimizer steps done)."""
    return state.global_step // optimizer_steps_per_batch(args)


def replace_metric(trainer: Any, name: str, value: float) -> None:
    """Replace the value TRL recorded for `name` on this batch (e.g. its clipped_ratio, which it computes from the
    last token) with rlagent's."""
    values = trainer._metrics["train"][name]
    if values:
        values[-1] = float(value)
    else:
        values.append(float(value))
