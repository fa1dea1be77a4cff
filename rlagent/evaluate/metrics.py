"""Aggregate episode results: success rate with a Wilson interval, pass@k, mean@k, loop statistics."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence

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


def aggregate(episodes: Sequence[Episode], k: int) -> dict[str, float]:
    """Suite-independent summary of scored episodes; `success` is the mean over all samples (mean@k)."""
    if not episodes:
        return {}
    by_example: dict[str, list[Episode]] = defaultdict(list)
    for ep in episodes:
        by_example[ep.example.id].append(ep)
    n_ep = len(episodes)
    successes = sum(ep.success for ep in episodes)
    per_example_first = [group[0].success for group in by_example.values()]
    low, high = wilson_interval(sum(per_example_first), len(per_example_first))
    out: dict[str, float] = {
        "examples": float(len(by_example)),
        "episodes": float(n_ep),
        "success": successes / n_ep,
        "success_first": sum(per_example_first) / len(per_example_first),
        "success_ci_low": low,
        "success_ci_high": high,
        "reward": sum(ep.reward for ep in episodes) / n_ep,
        f"pass@{k}": sum(pass_at_k(len(g), sum(e.success for e in g), k) for g in by_example.values())
        / len(by_example),
        f"mean@{k}": successes / n_ep,
        "truncation_rate": sum(ep.truncated for ep in episodes) / n_ep,
    }
    keys = sorted({key for ep in episodes for key in ep.metrics})
    for key in keys:
        out[key] = sum(ep.metrics.get(key, 0.0) for ep in episodes) / n_ep
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
