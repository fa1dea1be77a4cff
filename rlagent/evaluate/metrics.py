"""Aggregate episode results: success rate with a Wilson interval, pass@k, mean@k, loop statistics.

Every per-episode metric is averaged over the episodes that report it (`metric_means`): a metric that applies to
some episodes only (`tgc_difficulty_2`, `api_calls`, `code_error_rate`) is never diluted by the others. The
definitions, formulas and denominators of every reported number are in docs/METRICS.md."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

from rlagent.rollout.episode import Episode


def wilson_interval(successes: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a binomial proportion (sensible at 0, 1 and small n)."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples with c successes (Chen et al. 2021)."""
    if n - c < k:
        return 1.0
    return 1.0 - math.prod((n - c - i) / (n - i) for i in range(k))


def metric_means(rows: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """The mean of each key over the dicts that have it: a key an episode does not report does not apply to that
    episode, so it is left out of that key's denominator, never counted as 0. Keys sorted; {} for no rows."""
    sums, counts = _tally(rows)
    return {key: sums[key] / counts[key] for key in sorted(counts)}


def metric_counts(rows: Iterable[Mapping[str, float]]) -> dict[str, int]:
    """How many of the dicts have each key: the denominator `metric_means` divides by. Keys sorted."""
    _, counts = _tally(rows)
    return {key: counts[key] for key in sorted(counts)}


def _tally(rows: Iterable[Mapping[str, float]]) -> tuple[dict[str, float], dict[str, int]]:
    sums: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    for row in rows:
        for key, value in row.items():
            sums[key] += float(value)
            counts[key] += 1
    return sums, counts


def aggregate(episodes: Sequence[Episode], k: int) -> dict[str, float]:
    """Suite-independent summary of scored episodes; `success` is the mean over all samples (mean@k), its interval
    (`success_ci_*`) has the task as its unit; `success_first` is the first sample's, with its own interval."""
    if not episodes:
        return {}
    by_example: dict[str, list[Episode]] = defaultdict(list)
    for ep in episodes:
        by_example[ep.example.id].append(ep)
    n_ep, n_tasks = len(episodes), len(by_example)
    successes = sum(ep.success for ep in episodes)
    success = successes / n_ep
    per_example_first = [group[0].success for group in by_example.values()]
    # k samples of one task are not k independent trials: the interval of `success` counts tasks (each task's
    # share of successes is its value; the binomial variance bounds that of values in [0, 1], so with k > 1 the
    # interval is conservative, and with k = 1 it is the usual Wilson interval)
    low, high = wilson_interval(success * n_tasks, n_tasks)
    first_low, first_high = wilson_interval(sum(per_example_first), n_tasks)
    out: dict[str, float] = {
        "examples": float(n_tasks),
        "episodes": float(n_ep),
        "success": success,
        "success_ci_low": low,
        "success_ci_high": high,
        "success_first": sum(per_example_first) / n_tasks,
        "success_first_ci_low": first_low,
        "success_first_ci_high": first_high,
        "reward": sum(ep.reward for ep in episodes) / n_ep,
        f"pass@{k}": sum(pass_at_k(len(g), sum(e.success for e in g), k) for g in by_example.values()) / n_tasks,
        f"mean@{k}": success,
        "truncation_rate": sum(ep.truncated for ep in episodes) / n_ep,
    }
    out.update(metric_means(ep.metrics for ep in episodes))
    out.update(scenario_metrics(by_example))
    turns = sum(len(ep.turns) for ep in episodes)
    out["malformed_rate"] = sum(t.malformed for ep in episodes for t in ep.turns) / turns if turns else 0.0
    return out


def scenario_metrics(by_example: dict[str, list[Episode]]) -> dict[str, float]:
    """SGC (scenario goal completion): the share of scenarios all of whose tasks succeeded (first sample),
    with a Wilson interval; only for suites whose examples name a `scenario_id` (AppWorld, appsim)."""
    scenarios: dict[str, list[bool]] = defaultdict(list)
    for group in by_example.values():
        scenario = group[0].example.data.get("scenario_id")
        if scenario is None:
            return {}
        scenarios[scenario].append(group[0].success)
    # a scenario cut short by task.limit / eval_limit is not counted as complete
    size = max(len(results) for results in scenarios.values())
    whole = [results for results in scenarios.values() if len(results) == size]
    solved = sum(all(results) for results in whole)
    low, high = wilson_interval(solved, len(whole))
    return {
        "scenarios": float(len(whole)),
        "scenarios_partial": float(len(scenarios) - len(whole)),
        "sgc": solved / len(whole),
        "sgc_ci_low": low,
        "sgc_ci_high": high,
    }
