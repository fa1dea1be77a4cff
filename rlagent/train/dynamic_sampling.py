"""Dynamic sampling (DAPO): a group whose episodes all got the same reward carries no gradient, so it is replaced by a
fresh group of another training example, played and scored with the same weights, until the batch holds
prompts_per_step groups with reward variance or `max_rounds` extra generation rounds have run. Groups still without
variance after the last round stay in the batch (the zero-variance filter, when on, keeps them out of the loss).
The batch keeps its shape, so TRL's tensors, the micro-batches and the minibatches are unchanged."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from rlagent.rollout.episode import Episode
from rlagent.tasks.base import Example


def has_signal(group: Sequence[Episode]) -> bool:
    """The group can move the policy: its rewards differ and no episode errored (an errored group has no baseline)."""
    if any(ep.errored for ep in group):
        return False
    rewards = [ep.reward for ep in group]
    return max(rewards) != min(rewards)


@dataclass
class RefillStats:
    """What dynamic sampling did on one batch (summed over the training processes by the trainer)."""

    groups_generated: int = 0
    """Groups played: the batch's own and every extra one."""
    groups_kept: int = 0
    """Groups with reward variance in the batch that trains."""
    groups_dropped: int = 0
    """Groups played and not trained on with signal: extra ones without variance, and the batch's own replaced."""
    rounds: int = 0
    """Extra generation rounds run."""
    seconds: float = 0.0
    """Time spent in the extra rounds (playing and scoring)."""
    replaced: list[int] = field(default_factory=list)
    """Indices of the batch's groups that were replaced."""

    def metrics(self) -> dict[str, float]:
        return {
            "dynamic/groups_generated": float(self.groups_generated),
            "dynamic/groups_kept": float(self.groups_kept),
            "dynamic/groups_dropped": float(self.groups_dropped),
            "dynamic/rounds": float(self.rounds),
        }


def refill(
    episodes: list[Episode],
    group: int,
    play: Callable[[list[tuple[Example, int]], int], list[Episode]],
    score: Callable[[list[Episode]], None],
    spare: Sequence[Example],
    max_rounds: int,
    seed: int,
) -> tuple[list[Episode], RefillStats]:
    """Replace the groups of `episodes` (scored, `group` consecutive episodes per example) that have no reward variance
    with groups of examples drawn from `spare` (seeded by `seed`), played by `play(items, round)` and scored by
    `score`, for at most `max_rounds` rounds. Returns the new batch (same length, groups in place) and the stats."""
    groups = [episodes[i : i + group] for i in range(0, len(episodes), group)]
    stats = RefillStats(groups_generated=len(groups))
    empty = [g for g, eps in enumerate(groups) if not has_signal(eps)]
    rng = random.Random(seed)
    in_batch = {eps[0].example.id for eps in groups}
    started = time.perf_counter()
    while empty and stats.rounds < max_rounds and spare:
        stats.rounds += 1
        fresh = [ex for ex in spare if ex.id not in in_batch] or list(spare)
        chosen = rng.sample(fresh, min(len(empty), len(fresh)))
        in_batch.update(ex.id for ex in chosen)
        played = play([(ex, s) for ex in chosen for s in range(group)], stats.rounds)
        score(played)
        stats.groups_generated += len(chosen)
        for start in range(0, len(played), group):
            candidate = played[start : start + group]
            if has_signal(candidate) and empty:
                slot = empty.pop(0)
                groups[slot] = candidate
                stats.replaced.append(slot)
    stats.seconds = time.perf_counter() - started if stats.rounds else 0.0
    stats.groups_kept = sum(has_signal(eps) for eps in groups)
    stats.groups_dropped = stats.groups_generated - stats.groups_kept
    return [ep for eps in groups for ep in eps], stats
