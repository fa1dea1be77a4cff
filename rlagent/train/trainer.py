"""GRPOTrainer with the agent loop as its rollout, rlagent's advantage options and atomic checkpoints."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch
from trl import GRPOTrainer

from rlagent.config.schema import AlgorithmConfig
from rlagent.errors import RunFailed
from rlagent.evaluate.metrics import metric_means
from rlagent.train.async_rollout import staleness_metrics
from rlagent.train.checkpoints import CheckpointStore
from rlagent.train.rollout import AgentRollout
from rlagent.train.sync import logprob_mismatch, truncated_importance_weights
from rlagent.train.trl_seam import check_trl, optimizer_steps_per_batch, replace_metric, training_step


def group_rewards(rewards: list[float], group: int) -> list[list[float]]:
    return [rewards[i : i + group] for i in range(0, len(rewards), group)]


class AgentGRPOTrainer(GRPOTrainer):
    """TRL's GRPOTrainer, plus:

    - the dataset rows of each generation batch are handed to the agent rollout (TRL passes the
      rollout function only the prompts);
    - leave-one-out advantages (LOOP/RLOO): TRL's group-mean advantage scaled by G/(G-1);
    - zero-variance groups dropped from the loss (DAPO's filter);
    - truncated episodes masked by the episode's own flag (`mask_truncated`), not TRL's last-token test, which calls
      every turn that ended on a stop string truncated;
    - errored episodes (rollout/loop.py) dropped with their group or kept at reward 0 (`errored_episodes`), and the
      run stopped once more than `max_error_share` of its episodes errored;
    - per-step metrics: success, engine-vs-trainer logprob mismatch, timings;
    - truncated importance weights min(pi_trainer / pi_engine, cap) on each token's advantage (`importance_cap`),
      and, with asynchronous rollouts, each row's policy staleness, so the mismatch check separates the engine's
      error (fresh rows) from the policy's drift (stale rows);
    - checkpoints staged and renamed into checkpoints/step-N only once complete.
    """

    def __init__(
        self,
        *args: Any,
        agent: AgentRollout,
        algorithm: AlgorithmConfig,
        checkpoints: CheckpointStore,
        check_logprobs: bool = True,
        save_total_limit: int | None = None,
        errored_episodes: str = "drop",
        max_error_share: float = 0.5,
        importance_cap: float | None = None,
        **kwargs: Any,
    ):
        check_trl()
        super().__init__(*args, rollout_func=agent, **kwargs)
        self.agent, self.algorithm, self.store = agent, algorithm, checkpoints
        self.check_logprobs, self.save_total_limit = check_logprobs, save_total_limit
        self.errored_episodes, self.max_error_share = errored_episodes, max_error_share
        self.episodes_played = self.episodes_errored = 0
        self.first_error: tuple[str, str] | None = None  # (example id, error)
        self.step_metrics: dict[str, float] = {}
        self.importance_cap = importance_cap
        self._mismatch_due = False
        self._loss_inputs: dict[str, Any] | None = None
        self._check_these = False
        self.single_process = self.accelerator.num_processes == 1
        self.steps_per_batch = optimizer_steps_per_batch(self.args)

    @property
    def training_step_done(self) -> int:
        """rlagent's steps (generated batches) done: TRL's global_step counts optimizer steps."""
        return training_step(self.args, self.state)

    def _record(self, name: str, value: float) -> None:
        self._metrics["train"][name].append(float(value))
        self.step_metrics[name] = float(value)

    def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        self.agent.batch_rows = inputs
        output = super()._generate_and_score_completions(inputs)
        if not self.model.training:
            return output
        episodes = self.agent.last_episodes
        group = self.num_generations
        if self.agent.asynchronous is not None:
            step = self.state.global_step
            lags = [step - (ep.policy_version if ep.policy_version is not None else step) for ep in episodes]
            output["policy_staleness"] = torch.tensor(lags, device=output["completion_mask"].device)
        rewards = [ep.reward for ep in episodes]
        if self.algorithm.mask_truncated_completions:
            self._mask_rows(output, [i for i, ep in enumerate(episodes) if ep.truncated])
        if self.algorithm.advantage_estimator == "leave_one_out":
            # r_i - mean_{j != i} r_j == G/(G-1) * (r_i - mean_j r_j); exact when scale_rewards=none.
            output["advantages"] = output["advantages"] * (group / (group - 1))
        if self.algorithm.filter_zero_variance_groups:
            self._drop_zero_variance_groups(output, rewards, group)
        # A group with an errored episode has no valid baseline: out of the loss entirely (errored_episodes=drop),
        # or the episode stays in at reward 0, which score_episodes gave it (errored_episodes=zero).
        errored = [
            g for g in range(len(episodes) // group) if any(ep.errored for ep in episodes[g * group : (g + 1) * group])
        ]
        if self.errored_episodes == "drop":
            self._drop_groups(output, errored, group)
        episodes = self._whole_step(output, episodes)
        rewards = [ep.reward for ep in episodes]
        # TRL's clipped_ratio says "the last token is not EOS" (every turn cut at a stop string); the episodes of the
        # whole batch know whether a length limit cut them
        replace_metric(self, "completions/clipped_ratio", sum(ep.truncated for ep in episodes) / max(1, len(episodes)))
        self._record("rollout/errored_groups", self._count_all(len(errored)))
        if self.agent.dynamic_stats is not None:  # algorithm.dynamic_sampling (train/dynamic_sampling.py)
            for key, value in self.agent.dynamic_stats.metrics().items():
                self._record(key, self._count_all(int(value)))
        if self.agent.asynchronous is not None:
            for key, value in staleness_metrics(episodes, self.state.global_step).items():
                self._record(key, value)
            self._record("async/regenerated", self._count_all(self.agent.regenerated))
            self.agent.regenerated = 0
        self._record_episode_metrics(episodes, rewards, group)
        self._check_error_share(episodes)
        # measured on the loss pass's own logprobs of the first micro-batch (no extra forward pass)
        self._mismatch_due = self.check_logprobs
        for key, value in self.agent.timings.items():
            self._record(f"timing/{key}", value)
        self.agent.save_rollouts(self.training_step_done + 1)
        self.agent.play_ahead()  # asynchronous rollouts: the next batch plays while this one trains
        return output

    def _check_error_share(self, episodes: list) -> None:
        """Stop the run once more than max_error_share of the episodes played since it (re)started errored."""
        self.episodes_played += len(episodes)
        errored = [ep for ep in episodes if ep.errored]
        self.episodes_errored += len(errored)
        if errored and self.first_error is None:
            ep = errored[0]
            self.first_error = (ep.example.id, ep.error or ep.env_state.get("error") or "errored")
        share = self.episodes_errored / max(1, self.episodes_played)
        if share > self.max_error_share:
            step = self.training_step_done + 1
            self.agent.save_rollouts(step)  # the failing step's episodes, with their errors, for the post-mortem
            example, error = self.first_error or ("?", "errored")
            raise RunFailed(
                f"training stopped at step {step}: {self.episodes_errored} of {self.episodes_played} episodes errored "
                f"since the run started ({share:.0%}, more than trainer.max_error_share={self.max_error_share:g}); "
                f"first error (example {example}): {error}"
            )

    def _count_all(self, count: int) -> int:
        """`count` summed over the training processes (itself in one process)."""
        if self.accelerator.num_processes == 1:
            return count
        total = self.accelerator.reduce(torch.tensor(count, device=self.accelerator.device), reduction="sum")
        return int(total.item())

    def _whole_step(self, output: dict[str, Any], episodes: list) -> list:
        """With several training processes: the loss's token count over all of them (TRL gathers it, but the groups
        dropped here are dropped per process), and every process's episodes in the batch's order, for the step's
        metrics, the error share (every process stops together) and rank 0's rollouts/. In one process: `episodes`."""
        if self.accelerator.num_processes == 1:
            return episodes
        from accelerate.utils import gather_object

        mask = output["completion_mask"]
        if "tool_mask" in output:
            mask = mask * output["tool_mask"]
        output["num_items_in_batch"] = self.accelerator.gather(mask.sum()).sum().clamp(min=1)
        everyone = gather_object(episodes)
        self.agent.last_episodes = everyone
        return everyone

    def _drop_zero_variance_groups(self, output: dict[str, Any], rewards: list[float], group: int) -> None:
        drop = [g for g, values in enumerate(group_rewards(rewards, group)) if max(values) == min(values)]
        self._drop_groups(output, drop, group)
        self._record("rollout/dropped_groups", self._count_all(len(drop)))

    def _drop_groups(self, output: dict[str, Any], drop: list[int], group: int) -> None:
        """Remove whole groups from the loss: zero their completion mask and recount the loss's tokens."""
        self._mask_rows(output, [i for g in drop for i in range(g * group, (g + 1) * group)])

    def _mask_rows(self, output: dict[str, Any], rows: list[int]) -> None:
        """Remove episodes from the loss: zero their completion mask and recount the loss's tokens (the group's
        baseline still counts their rewards, as DAPO's overlong masking does)."""
        if not rows:
            return
        mask = output["completion_mask"]
        keep = torch.ones(mask.size(0), dtype=mask.dtype, device=mask.device)
        keep[rows] = 0
        output["completion_mask"] = mask * keep.unsqueeze(1)
        loss_mask = output["completion_mask"]
        if "tool_mask" in output:
            loss_mask = loss_mask * output["tool_mask"]
        output["num_items_in_batch"] = loss_mask.sum().clamp(min=1)

    def _record_episode_metrics(self, episodes: list, rewards: list[float], group: int) -> None:
        n = len(episodes) or 1
        # each metric over the episodes that report it (tgc_difficulty_2 over difficulty-2 episodes), not over all
        for key, value in metric_means(ep.metrics for ep in episodes).items():
            self._record(f"rollout/{key}", value)
        self._record("rollout/success", sum(ep.success for ep in episodes) / n)
        self._record("rollout/env_tokens", sum(len(ep.mask) - sum(ep.mask) for ep in episodes))
        groups = group_rewards(rewards, group)
        self._record("rollout/zero_variance_groups", sum(max(g) == min(g) for g in groups) / max(1, len(groups)))

    def _get_grad_norm(self, model: Any, grad_norm: Any = None) -> Any:
        """transformers logs the last optimizer step's gradient norm; a step here may hold several of them
        (minibatches, epochs), so update/grad_norm_mean averages all of the step's (non-zero when any moved)."""
        value = super()._get_grad_norm(model, grad_norm=grad_norm)
        self._metrics["train"]["update/grad_norm_mean"].append(float(value.item() if hasattr(value, "item") else value))
        return value

    def compute_loss(
        self, model: Any, inputs: dict[str, Any], return_outputs: bool = False, num_items_in_batch: Any = None
    ) -> Any:
        """Skip the forward and backward of a micro-batch that cannot move the policy: with no KL term (beta 0)
        and every advantage zero (e.g. all episodes of its groups got the same reward), GRPO's loss is exactly
        zero, so its gradient is too. Early on hard tasks this is most micro-batches."""
        # (one process only: under DDP every process must run the backward pass that averages the gradients)
        skip = self.single_process and self.beta == 0.0 and not bool(inputs["advantages"].abs().gt(0).any())
        self._record("update/skipped_share", float(skip))
        if skip:
            if self._mismatch_due:  # the step's mismatch check still needs its forward pass (no backward)
                with torch.no_grad():
                    super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            return torch.zeros((), device=inputs["advantages"].device, requires_grad=True)
        return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)

    def _compute_loss(self, model: Any, inputs: dict[str, Any]) -> Any:
        # a copy: the importance weights rewrite its advantages, and TRL reuses a batch when num_iterations > 1
        inputs = dict(inputs)
        self._loss_inputs, self._check_these = inputs, self._mismatch_due
        self._mismatch_due = False
        return super()._compute_loss(model, inputs)

    def _get_per_token_logps_and_entropies(self, *args: Any, **kwargs: Any) -> Any:
        """The policy's forward pass inside the loss: its logprobs also give the step's mismatch check and the
        importance weights, which TRL's loss then reads from inputs["advantages"] (per token)."""
        result = super()._get_per_token_logps_and_entropies(*args, **kwargs)
        inputs, self._loss_inputs = self._loss_inputs, None
        if inputs is not None:
            if self._check_these:
                self._record_mismatch(result[0], inputs)
            if self.importance_cap is not None and inputs.get("sampling_per_token_logps") is not None:
                self._weigh_advantages(result[0], inputs)
        return result

    def _weigh_advantages(self, trainer_logps: torch.Tensor, inputs: dict[str, Any]) -> None:
        """Truncated importance sampling: each token's advantage times min(pi_old / pi_engine, cap), pi_old being the
        policy that sampled the batch as the trainer computes it (TRL's old logprobs, which it keeps whenever a batch
        takes several optimizer steps: minibatches or num_iterations > 1; else this pass's own, detached: every
        micro-batch of the batch runs before its one optimizer step). For GRPO's clipped loss
        (and cispo, sapo) a non-negative per-token factor on the advantage equals the same factor on the loss."""
        mask = inputs["completion_mask"]
        if "tool_mask" in inputs:
            mask = mask * inputs["tool_mask"]
        old = inputs.get("old_per_token_logps")
        old = trainer_logps if old is None else old
        weights, stats = truncated_importance_weights(
            old, inputs["sampling_per_token_logps"], mask, self.importance_cap
        )
        advantages = inputs["advantages"]
        if advantages.dim() == 1:
            advantages = advantages.unsqueeze(1)
        inputs["advantages"] = advantages * weights.to(advantages.dtype)
        for key, value in stats.items():  # averaged over the step's micro-batches when TRL logs
            self._record(f"importance/{key}", value)

    @torch.no_grad()
    def _record_mismatch(self, trainer_logps: torch.Tensor, inputs: dict[str, Any]) -> None:
        """Engine-vs-trainer logprobs of the sampled tokens of the step's first micro-batch, taken from the
        loss's own forward pass (the policy is still the sampler's there: the first micro-batch of a step
        runs before its optimizer step), so the check costs no extra forward pass."""
        started = time.perf_counter()
        mask = inputs["completion_mask"]
        if "tool_mask" in inputs:
            mask = mask * inputs["tool_mask"]
        trainer_logps, engine_logps = trainer_logps.detach(), inputs["sampling_per_token_logps"]
        staleness = inputs.get("policy_staleness")
        if staleness is None:  # synchronous rollouts: every row was sampled by this policy
            fresh = torch.ones_like(mask)
        else:  # rows sampled by an older policy measure its drift too: reported apart, as async/policy_gap
            fresh = (staleness == 0).to(mask.dtype).unsqueeze(1).expand_as(mask)
            if bool((fresh == 0).logical_and(mask.bool()).any()):
                gap = logprob_mismatch(trainer_logps, engine_logps, mask * (1 - fresh))
                self._record("async/policy_gap_mean", gap["mean"])
                self._record("async/policy_gap_max", gap["max"])
        if bool((mask * fresh).any()):
            delta = logprob_mismatch(trainer_logps, engine_logps, mask * fresh)
            self._record("logprob_mismatch/mean", delta["mean"])
            self._record("logprob_mismatch/max", delta["max"])
        self._record("timing/mismatch_check_s", time.perf_counter() - started)

    def _save_checkpoint(self, model: Any, trial: Any) -> None:
        """Save into a staging folder with TRL/transformers, then commit it as checkpoints/step-N."""
        step = self.training_step_done
        if self.state.global_step % self.steps_per_batch:  # never: saves and stops fall on whole steps
            raise RuntimeError(f"checkpoint inside step {step + 1} (optimizer step {self.state.global_step})")
        main = self.accelerator.is_main_process  # several processes: each stages its rng state, rank 0 the rest
        if main:
            self.store.clear_staging()  # a save killed mid-way (and resumed before it) must not leave files in it
        self.accelerator.wait_for_everyone()
        original = self.args.output_dir
        self.args.output_dir = str(self.store.staging)
        try:
            super()._save_checkpoint(model, trial)
            self.accelerator.wait_for_everyone()
            staged = Path(self.store.staging) / f"checkpoint-{self.state.global_step}"
            if main:
                self.store.commit(staged, step, {"metrics": dict(self.step_metrics)})
            self.accelerator.wait_for_everyone()  # no process reads checkpoints/ before the commit
        except Exception as exc:  # a full disk, a quota, a read-only mount: what was staged goes, the run stops
            self.store.clear_staging()
            latest = self.store.latest()
            detail = f"{type(exc).__name__}: {exc}".splitlines()[0]
            raise RunFailed(
                f"checkpoint step-{step} could not be written ({detail}); its partial files were removed, the latest "
                f"complete checkpoint is {latest.name if latest else 'none'}",
                resumable=True,
            ) from exc
        finally:
            self.args.output_dir = original
        if main:
            self.store.prune(self.save_total_limit)
