"""The rollout side of training: TRL's `rollout_func` runs the shared agent loop, a reward function
scores episodes with the task verifier."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rlagent.launch.commands import process_rank
from rlagent.rollout.episode import Episode
from rlagent.rollout.loop import AgentLoop
from rlagent.runs.files import write_jsonl_atomic
from rlagent.runs.rundir import RunDir
from rlagent.tasks.base import Example, TaskSuite
from rlagent.train.sync import push_weights


class AgentRollout:
    """Callable handed to GRPOTrainer as `rollout_func`.

    TRL's sampler already repeats each prompt num_generations times, so the batch arrives as
    consecutive groups; each row becomes one episode of the agent loop. The trainer subclass sets
    `batch_rows` (the dataset rows behind the prompts) just before TRL calls us.
    """

    def __init__(
        self,
        loop: AgentLoop,
        examples: list[Example],
        run: RunDir,
        num_generations: int,
        seed: int,
        synced_step: int | None = 0,
    ):
        self.loop, self.run = loop, run
        self.engine = loop.engine
        self.examples = {ex.id: ex for ex in examples}
        self.num_generations, self.seed = num_generations, seed
        self.synced_step = synced_step
        self.batch_rows: list[dict[str, Any]] = []
        self.last_episodes: list[Episode] = []
        self.timings: dict[str, float] = {}

    def sync(self, model: Any, step: int) -> None:
        """Push the policy's weights to the engine unless it already has this step's."""
        if self.synced_step != step:
            self.timings["weight_sync_s"] = self.timings.get("weight_sync_s", 0.0) + push_weights(model, self.engine)
            self.synced_step = step

    def __call__(self, prompts: list[Any], trainer: Any) -> dict[str, list]:
        rows = self.batch_rows
        if len(rows) != len(prompts):
            raise RuntimeError(f"rollout got {len(prompts)} prompts but {len(rows)} dataset rows")
        step = trainer.state.global_step
        self.timings.clear()
        self.timings["weight_sync_s"] = 0.0
        self.sync(trainer.model, step)
        items = [(self.examples[row["example_id"]], i % self.num_generations) for i, row in enumerate(rows)]
        started = time.perf_counter()
        # several training processes: this one's share starts at process_index x share in the step's batch
        first = trainer.accelerator.process_index * len(items)
        episodes = self.loop.run(items, seed=self.seed * 1_000_003 + step, first_index=first)
        self.timings["rollout_s"] = time.perf_counter() - started
        self.timings["rollout_generation_s"] = self.loop.stats.generation_s
        self.timings["rollout_env_s"] = self.loop.stats.env_s
        self.last_episodes = episodes
        # An episode that errored before its first token (e.g. the engine returned none) still takes one position
        # in TRL's tensors: an end-of-turn token under mask 0, outside the loss.
        filler = min(self.loop.eos_ids)
        empty = [not ep.completion_ids for ep in episodes]
        return {
            "prompt_ids": [ep.prompt_ids for ep in episodes],
            "completion_ids": [[filler] if e else ep.completion_ids for ep, e in zip(episodes, empty, strict=True)],
            "logprobs": [[0.0] if e else ep.logprobs for ep, e in zip(episodes, empty, strict=True)],
            "env_mask": [[0] if e else ep.mask for ep, e in zip(episodes, empty, strict=True)],
            "episode": episodes,
        }

    def save_rollouts(self, step: int) -> None:
        if process_rank():  # several training processes: rank 0 writes every process's episodes (trainer.py)
            return
        write_jsonl_atomic(self.run.rollouts / f"step-{step:06d}.jsonl", (ep.to_record() for ep in self.last_episodes))


def make_reward_func(suite: TaskSuite, timings: dict[str, float]) -> Callable[..., list[float]]:
    """TRL reward function: the suite's verifier scores each episode (outcome reward at the final turn)."""

    def reward(prompts: list, completions: list, episode: list[Episode], **_: Any) -> list[float]:
        from rlagent.rollout.loop import score_episodes

        started = time.perf_counter()
        score_episodes(suite, episode)
        timings["scoring_s"] = time.perf_counter() - started
        return [ep.reward for ep in episode]

    reward.__name__ = f"{suite.name}_verifier"
    return reward
