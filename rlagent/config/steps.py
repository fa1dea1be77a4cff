"""What one training step is: a generated batch, split into minibatches, each an optimizer step, for num_iterations
passes. The one place that turns trainer.max_steps (generated batches) into optimizer steps, for train (TRL's
GRPOConfig), --dry-run and `recipes show`."""

from __future__ import annotations

from dataclasses import dataclass

from rlagent.config.schema import RecipeConfig
from rlagent.errors import UserError


@dataclass(frozen=True)
class StepPlan:
    """The batch arithmetic of a recipe. A *step* (trainer.max_steps, eval_steps, save_steps, checkpoints/step-N,
    rollouts/step-N, metrics rows) is one generated batch and every optimizer step taken on it, as in verl's training
    steps and LOOP's iterations; TRL's own `global_step` counts optimizer steps."""

    batches: int
    """Generated batches the run trains on (trainer.max_steps)."""
    episodes_per_batch: int
    """trainer.prompts_per_step x algorithm.num_generations."""
    minibatch_size: int
    """Episodes per optimizer step (algorithm.minibatch_size, 0 resolved to the whole batch)."""
    epochs: int
    """Passes over each generated batch (algorithm.num_iterations)."""
    processes: int
    """Training processes sharing each batch."""
    micro_batch_size: int
    """Episodes per forward/backward pass in one process."""

    @property
    def minibatches(self) -> int:
        """Optimizer steps per pass over a generated batch."""
        return self.episodes_per_batch // self.minibatch_size

    @property
    def optimizer_steps_per_batch(self) -> int:
        return self.minibatches * self.epochs

    @property
    def optimizer_steps(self) -> int:
        return self.batches * self.optimizer_steps_per_batch

    @property
    def gradient_accumulation_steps(self) -> int:
        """Micro-batches per optimizer step in each process."""
        return self.minibatch_size // (self.micro_batch_size * self.processes)

    @property
    def micro_batches_per_batch(self) -> int:
        """Micro-batches of one generated batch in each process (TRL's steps_per_generation)."""
        return self.episodes_per_batch // (self.micro_batch_size * self.processes)

    @classmethod
    def from_config(cls, cfg: RecipeConfig, processes: int = 1) -> StepPlan:
        """The plan of `cfg` over `processes` training processes; a UserError names what does not divide."""
        a, t = cfg.algorithm, cfg.trainer
        episodes = t.prompts_per_step * a.num_generations
        minibatch = a.minibatch_size or episodes
        if minibatch < 0 or episodes % minibatch:
            raise UserError(
                f"algorithm.minibatch_size={a.minibatch_size} must divide a step's {episodes} episodes "
                f"(trainer.prompts_per_step x algorithm.num_generations); 0 takes the whole batch"
            )
        if a.minibatch_size and minibatch % (t.micro_batch_size * processes):  # whole batches: launch's check_split
            raise UserError(
                f"algorithm.minibatch_size={minibatch} episodes do not split into {processes} process(es) x "
                f"trainer.micro_batch_size={t.micro_batch_size}; change one of them"
            )
        if a.num_iterations < 1:
            raise UserError(f"algorithm.num_iterations={a.num_iterations} must be at least 1")
        return cls(t.max_steps, episodes, minibatch, a.num_iterations, processes, t.micro_batch_size)


def derived_comment(cfg: RecipeConfig) -> str:
    """What the recipe's steps amount to, as YAML comment lines (`rlagent recipes show`)."""
    la = cfg.launcher
    plan = StepPlan.from_config(cfg, la.num_processes * la.num_machines)
    return (
        "# derived (rlagent/config/steps.py): a step = one generated batch and its optimizer steps\n"
        f"#   generated batches (trainer.max_steps): {plan.batches}\n"
        f"#   episodes per batch: {plan.episodes_per_batch}\n"
        f"#   optimizer steps per batch: {plan.optimizer_steps_per_batch} ({plan.minibatches} minibatch(es) of "
        f"{plan.minibatch_size} episodes x {plan.epochs} epoch(s))\n"
        f"#   optimizer steps in all: {plan.optimizer_steps}\n"
    )
