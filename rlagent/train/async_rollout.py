"""Asynchronous rollouts (trainer.async_rollouts): the next generation batches are played in a background thread
while the trainer updates on the current one.

The rollout cannot use TRL's rows for a batch it starts before TRL asks for it, so in this mode it draws every
batch's prompts from its own seeded stream (`ExampleStream`): batch c is the same list whatever ran before, so a
resumed run continues it. Weight pushes and evaluations take the rollout's engine lock, so they happen between two
batches, never inside one: every episode of a batch was sampled by one policy version, recorded on it.
"""

from __future__ import annotations

import queue
import random
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from rlagent.rollout.episode import Episode


class ExampleStream:
    """Example ids in seeded epochs (each a fresh permutation of all of them), cut into batches of `per_batch`."""

    def __init__(self, ids: list[str], per_batch: int, seed: int):
        if not ids:
            raise ValueError("no training examples")
        self.ids, self.per_batch, self.seed = list(ids), per_batch, seed
        self._epochs: dict[int, list[str]] = {}

    def _epoch(self, epoch: int) -> list[str]:
        order = self._epochs.get(epoch)
        if order is None:
            order = list(self.ids)
            random.Random(self.seed * 1_000_003 + epoch).shuffle(order)
            self._epochs = {epoch: order}  # batches go forward: one epoch cached is enough (read from two threads)
        return order

    def batch(self, index: int) -> list[str]:
        """The example ids of generation batch `index`."""
        start = index * self.per_batch
        return [self._epoch(i // len(self.ids))[i % len(self.ids)] for i in range(start, start + self.per_batch)]


@dataclass
class Batch:
    """One generation batch as the engine played it."""

    episodes: list[Episode]
    version: int
    """The optimizer step whose weights the engine held while the batch was played."""
    timings: dict[str, float]
    dynamic: Any = None
    """algorithm.dynamic_sampling's RefillStats for this batch (None when off)."""


class Prefetcher:
    """One daemon thread that plays submitted batches in order of submission."""

    def __init__(self, play: Callable[[int], Batch]):
        self._play = play
        self._jobs: queue.Queue[tuple[int, Future] | None] = queue.Queue()
        self._futures: dict[int, Future] = {}
        self._thread = threading.Thread(target=self._work, name="rlagent-async-rollouts", daemon=True)
        self._thread.start()

    def submit(self, index: int) -> None:
        if index not in self._futures:
            future: Future = Future()
            self._futures[index] = future
            self._jobs.put((index, future))

    def take(self, index: int) -> Future | None:
        """The batch submitted under `index` (removed from the queue), or None when it was never submitted."""
        return self._futures.pop(index, None)

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            index, future = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(self._play(index))
            except BaseException as exc:  # handed to the trainer, which raises it when it takes the batch
                future.set_exception(exc)

    def close(self, wait_s: float = 10.0) -> None:
        """Cancel what has not started and stop the thread, waiting up to `wait_s` for a batch being played (after
        the last step none is: nothing is played past it); the thread is a daemon, so one still playing (a run
        stopped mid-batch) cannot hold the process."""
        for future in self._futures.values():
            future.cancel()
        self._futures.clear()
        self._jobs.put(None)
        self._thread.join(wait_s)


def staleness_metrics(episodes: list[Episode], step: int) -> dict[str, float]:
    """How many optimizer steps the episodes lag the policy they train."""
    lags = [step - ep.policy_version for ep in episodes if ep.policy_version is not None]
    if not lags:
        return {}
    return {"async/staleness_mean": sum(lags) / len(lags), "async/staleness_max": float(max(lags))}


def prefetch_depth(max_staleness: int, updates_per_batch: int) -> int:
    """Batches generated ahead: each is updates_per_batch versions older when it trains than when it started, so only
    max_staleness // updates_per_batch of them can still be fresh enough (at least one is always played ahead)."""
    return max(1, max_staleness // updates_per_batch)


def last_batch(max_steps: int, updates_per_batch: int) -> int:
    """The index of the last generation batch a run of max_steps optimizer steps trains on."""
    return (max_steps + updates_per_batch - 1) // updates_per_batch - 1


def describe(settings: Any) -> str:
    """One line for the run's log: how far ahead the rollout plays."""
    depth = prefetch_depth(settings.max_staleness, settings.updates_per_batch)
    line = f"async rollouts: {depth} batch(es) played ahead, episodes at most {settings.max_staleness} version(s) old"
    if settings.updates_per_batch > settings.max_staleness:
        line += (
            f"; with {settings.updates_per_batch} optimizer steps per batch (minibatches x algorithm.num_iterations) "
            f"every batch played ahead is "
            f"{settings.updates_per_batch} versions old and is regenerated: set trainer.max_staleness >= "
            f"{settings.updates_per_batch}"
        )
    return line
