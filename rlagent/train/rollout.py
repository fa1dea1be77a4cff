"""The rollout side of training: TRL's `rollout_func` runs the shared agent loop, a reward function
scores episodes with the task verifier."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rlagent.launch.commands import process_rank
from rlagent.rollout.episode import Episode
from rlagent.rollout.loop import AgentLoop
from rlagent.runs.files import write_jsonl_atomic
from rlagent.runs.rundir import RunDir
from rlagent.tasks.base import Example, TaskSuite
from rlagent.train.async_rollout import Batch, ExampleStream, Prefetcher, last_batch, prefetch_depth
from rlagent.train.dynamic_sampling import RefillStats, refill
from rlagent.train.sync import push_weights


@dataclass
class AsyncSettings:
    """trainer.async_rollouts' settings as the rollout needs them."""

    max_staleness: int
    updates_per_batch: int
    """Optimizer steps (policy versions) per generated batch: minibatches x algorithm.num_iterations."""
    prompts_per_step: int
    """Prompts of one generation batch over all training processes."""
    max_steps: int
    """Optimizer steps of the run: no batch is played past the one the last optimizer step trains on."""
    rank: int = 0
    processes: int = 1


class AgentRollout:
    """Callable handed to GRPOTrainer as `rollout_func`.

    TRL's sampler already repeats each prompt num_generations times, so the batch arrives as
    consecutive groups; each row becomes one episode of the agent loop. The trainer subclass sets
    `batch_rows` (the dataset rows behind the prompts) just before TRL calls us.

    With `asynchronous` settings (trainer.async_rollouts) the next batches are played in a background thread while
    the trainer updates (train/async_rollout.py); their prompts come from the rollout's own seeded stream.
    """

    def __init__(
        self,
        loop: AgentLoop,
        examples: list[Example],
        run: RunDir,
        num_generations: int,
        seed: int,
        synced_step: int | None = 0,
        asynchronous: AsyncSettings | None = None,
        suite: TaskSuite | None = None,
        dynamic_rounds: int = 0,
    ):
        self.loop, self.run = loop, run
        self.engine = loop.engine
        self.examples = {ex.id: ex for ex in examples}
        self.num_generations, self.seed = num_generations, seed
        self.synced_step = synced_step
        self.batch_rows: list[dict[str, Any]] = []
        self.last_episodes: list[Episode] = []
        self.timings: dict[str, float] = {}
        self.lock = threading.RLock()
        """Held while a batch is played, weights are pushed or an evaluation runs: one at a time on the engine."""
        self.asynchronous = asynchronous
        self.suite, self.dynamic_rounds = suite, dynamic_rounds
        """algorithm.dynamic_sampling: extra rounds that replace groups without reward variance (0: off)."""
        self.dynamic_stats: RefillStats | None = None
        self.regenerated = 0
        self._index = 0
        self._prefetcher: Prefetcher | None = None
        if asynchronous is not None:
            self._stream = ExampleStream([ex.id for ex in examples], asynchronous.prompts_per_step, seed)
            self._prefetcher = Prefetcher(self._play)

    def sync(self, model: Any, step: int) -> None:
        """Push the policy's weights to the engine unless it already has this step's (after the batch being played
        in the background, if any)."""
        with self.lock:
            if self.synced_step != step:
                pushed = push_weights(model, self.engine)
                self.timings["weight_sync_s"] = self.timings.get("weight_sync_s", 0.0) + pushed
                self.synced_step = step

    def _episodes(self, items: list[tuple[Example, int]], seed: int, first_index: int) -> Batch:
        """Play `items` on the engine as it is now; every episode records the policy version that sampled it."""
        with self.lock:
            version = self.synced_step if self.synced_step is not None else -1
            started = time.perf_counter()
            episodes = self.loop.run(items, seed=seed, first_index=first_index)
            timings = {"rollout_generation_s": self.loop.stats.generation_s, "rollout_env_s": self.loop.stats.env_s}
            dynamic = None
            if self.dynamic_rounds:
                episodes, dynamic = self._refill(episodes, seed, first_index + len(items), timings)
            timings["rollout_s"] = time.perf_counter() - started
        for ep in episodes:
            ep.policy_version = version
        return Batch(episodes, version, timings, dynamic)

    def _refill(
        self, episodes: list[Episode], seed: int, first_index: int, timings: dict[str, float]
    ) -> tuple[list[Episode], RefillStats]:
        """Dynamic sampling: score the batch here (the reward function then skips scored episodes) and replace its
        groups without reward variance by fresh groups played with the same weights (train/dynamic_sampling.py)."""
        from rlagent.rollout.loop import score_episodes

        score_episodes(self.suite, episodes)

        def play(items: list[tuple[Example, int]], round_: int) -> list[Episode]:
            played = self.loop.run(items, seed=seed + 7919 * round_, first_index=first_index + 100_003 * (round_ - 1))
            timings["rollout_generation_s"] += self.loop.stats.generation_s
            timings["rollout_env_s"] += self.loop.stats.env_s
            return played

        episodes, stats = refill(
            episodes,
            self.num_generations,
            play,
            lambda played: score_episodes(self.suite, played),
            list(self.examples.values()),
            self.dynamic_rounds,
            seed,
        )
        timings["dynamic_sampling_s"] = stats.seconds
        return episodes, stats

    def __call__(self, prompts: list[Any], trainer: Any) -> dict[str, list]:
        rows = self.batch_rows
        if len(rows) != len(prompts):
            raise RuntimeError(f"rollout got {len(prompts)} prompts but {len(rows)} dataset rows")
        step = trainer.state.global_step
        self.timings.clear()
        self.timings["weight_sync_s"] = 0.0
        if self.asynchronous is not None:
            batch = self._take(step, trainer, len(rows))
        else:
            self.sync(trainer.model, step)
            items = [(self.examples[row["example_id"]], i % self.num_generations) for i, row in enumerate(rows)]
            # several training processes: this one's share starts at process_index x share in the step's batch
            first = trainer.accelerator.process_index * len(items)
            batch = self._episodes(items, self.seed * 1_000_003 + step, first)
        self.timings.update(batch.timings)
        self.dynamic_stats = batch.dynamic
        self.last_episodes = episodes = batch.episodes
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

    # --- asynchronous rollouts -------------------------------------------------------------------------------

    def _items(self, index: int) -> list[tuple[Example, int]]:
        """This process's share of generation batch `index` of the stream, each prompt num_generations times."""
        ids = self._stream.batch(index)
        share = len(ids) // self.asynchronous.processes
        mine = ids[self.asynchronous.rank * share : (self.asynchronous.rank + 1) * share]
        return [(self.examples[i], g) for i in mine for g in range(self.num_generations)]

    def _play(self, index: int) -> Batch:
        items = self._items(index)
        seed = self.seed * 1_000_003 + index * self.asynchronous.updates_per_batch  # the nominal step's seed
        return self._episodes(items, seed, self.asynchronous.rank * len(items))

    def _take(self, step: int, trainer: Any, rows: int) -> Batch:
        """The batch of this step: played ahead (waited for), or played now when there is none or it is older than
        max_staleness versions; the policy is pushed first. The next batches start once the trainer has scored
        this one (`play_ahead`), so a verifier never runs beside the environments of a batch being played."""
        settings = self.asynchronous
        index = step // settings.updates_per_batch
        future = self._prefetcher.take(index)
        started = time.perf_counter()
        batch = future.result() if future is not None else None
        self.sync(trainer.model, step)  # after any other batch being played: the lock
        if batch is None or step - batch.version > settings.max_staleness:
            if batch is not None:
                self.regenerated += len(batch.episodes)
            batch = self._play(index)  # the current weights, in the foreground
        # what this step waited for its batch: played ahead, waiting for the engine lock, or played now (not the push)
        self.timings["rollout_wait_s"] = time.perf_counter() - started - self.timings["weight_sync_s"]
        if len(batch.episodes) != rows:
            raise RuntimeError(f"the async rollout played {len(batch.episodes)} episodes for {rows} dataset rows")
        self._index = index
        return batch

    def play_ahead(self) -> None:
        """Start the next batches in the background (up to the last one the run trains on)."""
        if self.asynchronous is None:
            return
        settings = self.asynchronous
        last = last_batch(settings.max_steps, settings.updates_per_batch)
        for ahead in range(1, prefetch_depth(settings.max_staleness, settings.updates_per_batch) + 1):
            if self._index + ahead <= last:
                self._prefetcher.submit(self._index + ahead)

    def close(self) -> None:
        """Stop playing ahead (the batch being played ends on its own)."""
        if self._prefetcher is not None:
            self._prefetcher.close()

    def save_rollouts(self, step: int) -> None:
        if process_rank():  # several training processes: rank 0 writes every process's episodes (trainer.py)
            return
        write_jsonl_atomic(self.run.rollouts / f"step-{step:06d}.jsonl", (ep.to_record() for ep in self.last_episodes))


def make_reward_func(suite: TaskSuite, timings: dict[str, float]) -> Callable[..., list[float]]:
    """TRL reward function: the suite's verifier scores each episode (outcome reward at the final turn)."""

    def reward(prompts: list, completions: list, episode: list[Episode], **_: Any) -> list[float]:
        from rlagent.rollout.loop import score_episodes

        started = time.perf_counter()
        score_episodes(suite, [ep for ep in episode if not ep.scored])  # dynamic sampling scored its batch already
        timings["scoring_s"] = time.perf_counter() - started
        return [ep.reward for ep in episode]

    reward.__name__ = f"{suite.name}_verifier"
    return reward
