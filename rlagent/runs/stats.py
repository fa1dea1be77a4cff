"""Honest comparisons of success rates: paired bootstrap and McNemar on shared tasks, a two-sample test
otherwise. The task is the unit everywhere: k samples of one task are not k independent trials, so each task
counts once, with its mean success over its samples. A difference whose 95% interval contains 0 is reported as
within noise."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass


@dataclass
class Difference:
    """Success of B minus success of A, with a 95% interval and a verdict."""

    delta: float
    low: float
    high: float
    p_value: float
    paired: bool
    tasks: int

    @property
    def within_noise(self) -> bool:
        return self.low <= 0.0 <= self.high

    @property
    def delta_text(self) -> str:
        return f"{self.delta:+.3f}"

    @property
    def interval_text(self) -> str:
        return f"{self.low:+.3f} to {self.high:+.3f}"

    @property
    def verdict(self) -> str:
        if self.within_noise:
            return "within noise"
        return "better" if self.delta > 0 else "worse"


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def mcnemar_exact(gained: int, lost: int) -> float:
    """Two-sided exact McNemar p-value from the discordant pairs."""
    n = gained + lost
    if n == 0:
        return 1.0
    k = min(gained, lost)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


def paired_difference(
    a: dict[str, list[bool]], b: dict[str, list[bool]], reps: int = 2000, seed: int = 0
) -> Difference:
    """B - A over the tasks both runs evaluated: bootstrap over tasks, McNemar on first samples."""
    tasks = sorted(set(a) & set(b))
    score_a = [_mean([float(x) for x in a[t]]) for t in tasks]
    score_b = [_mean([float(x) for x in b[t]]) for t in tasks]
    diffs = [y - x for x, y in zip(score_a, score_b, strict=True)]
    rng = random.Random(seed)
    n = len(diffs)
    boots = sorted(_mean([diffs[rng.randrange(n)] for _ in range(n)]) for _ in range(reps)) if n else [0.0]
    low, high = boots[int(0.025 * (len(boots) - 1))], boots[int(0.975 * (len(boots) - 1))]
    gained = sum(1 for t in tasks if b[t][0] and not a[t][0])
    lost = sum(1 for t in tasks if a[t][0] and not b[t][0])
    return Difference(_mean(diffs), low, high, mcnemar_exact(gained, lost), True, n)


def unpaired_difference(p_a: float, n_a: int, p_b: float, n_b: int) -> Difference:
    """B - A for independent samples of n_a and n_b independent trials (tasks, never samples of one task): normal
    interval and two-proportion z-test."""
    pooled = (p_a * n_a + p_b * n_b) / max(n_a + n_b, 1)
    return _normal_difference(p_a, p_a * (1 - p_a), n_a, p_b, p_b * (1 - p_b), n_b, pooled * (1 - pooled))


def unpaired_task_difference(a: dict[str, list[bool]], b: dict[str, list[bool]]) -> Difference:
    """B - A when the runs share no task: each task is one observation, its mean success over its samples; normal
    interval of the difference of the two means, z-test with the pooled variance. With one sample per task this is
    the two-proportion test over tasks."""
    score_a = [_mean([float(x) for x in results]) for results in a.values() if results]
    score_b = [_mean([float(x) for x in results]) for results in b.values() if results]
    mean_a, mean_b, pooled = _mean(score_a), _mean(score_b), _mean(score_a + score_b)
    return _normal_difference(
        mean_a,
        _mean([(x - mean_a) ** 2 for x in score_a]),
        len(score_a),
        mean_b,
        _mean([(x - mean_b) ** 2 for x in score_b]),
        len(score_b),
        _mean([(x - pooled) ** 2 for x in score_a + score_b]),
    )


def _normal_difference(
    mean_a: float, var_a: float, n_a: int, mean_b: float, var_b: float, n_b: int, var_pooled: float
) -> Difference:
    """B - A from two independent samples' means and (population) variances: a normal 95% interval, and a z-test
    p-value under the null of one common distribution (variance `var_pooled`)."""
    se = math.sqrt(var_a / max(n_a, 1) + var_b / max(n_b, 1))
    delta = mean_b - mean_a
    se0 = math.sqrt(var_pooled * (1 / max(n_a, 1) + 1 / max(n_b, 1)))
    p_value = 1.0 if se0 == 0 else math.erfc(abs(delta) / se0 / math.sqrt(2))
    return Difference(delta, delta - 1.96 * se, delta + 1.96 * se, p_value, False, min(n_a, n_b))
