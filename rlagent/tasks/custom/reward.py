"""The reward of a finished custom episode, checked: a finite number, or a bug reported in one line.

Sources (summed when both exist, as TRL sums its reward functions with weight 1):
- the reward function `f(environment, completion, **row)`: `completion` is the episode after the prompt as
  TRL completion messages (assistant turns with `tool_calls`, `tool` results); it returns a number, or a
  dict with a number under `reward` and other numbers as per-episode metrics;
- the environment's `get_reward()`.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any

from rlagent.errors import UserError
from rlagent.tasks.custom.loader import describe
from rlagent.tasks.custom.plugin import Plugin
from rlagent.tasks.custom.worker import CallTimeout


def _number(value: Any, who: str, example_id: str, what: str = "a reward") -> float:
    if isinstance(value, bool):
        return float(value)
    if not isinstance(value, numbers.Real):
        shown = repr(value) if len(repr(value)) <= 40 else type(value).__name__
        raise UserError(f"reward {who} returned {shown} for example {example_id}; {what} must be a finite number")
    number = float(value)
    if not math.isfinite(number):
        raise UserError(f"reward {who} returned {number} for example {example_id}; {what} must be a finite number")
    return number


def _split(value: Any, who: str, example_id: str) -> tuple[float, dict[str, float]]:
    if isinstance(value, dict):
        if "reward" not in value:
            raise UserError(f"reward {who} returned a dict without 'reward' for example {example_id}")
        metrics = {str(k): _number(v, who, example_id, f"metric '{k}'") for k, v in value.items() if k != "reward"}
        return _number(value["reward"], who, example_id), metrics
    return _number(value, who, example_id), {}


def score(
    plugin: Plugin,
    instance: Any,
    completion: list[dict[str, Any]],
    row: dict[str, Any],
    example_id: str,
    call: Callable[..., Any],
) -> tuple[float, dict[str, float]]:
    """(reward, metrics) of one episode; `call(fn, *args, **kwargs)` runs user code on the episode's thread."""
    total, metrics = 0.0, {}
    sources: list[tuple[str, Callable[[], Any]]] = []
    if plugin.reward_fn is not None:
        sources.append((plugin.reward_label, lambda: call(plugin.reward_fn, instance, completion, **row)))
    if plugin.has_get_reward:
        sources.append((f"{plugin.label}.get_reward", lambda: call(instance.get_reward)))
    for who, run in sources:
        try:
            value = run()
        except CallTimeout as exc:
            raise UserError(f"reward {who} {exc} on example {example_id}") from None
        except UserError:
            raise
        except Exception as exc:
            raise UserError(f"reward {who} failed on example {example_id}: {describe(exc)}") from None
        reward, extra = _split(value, who, example_id)
        total += reward
        metrics.update(extra)
        if len(sources) > 1:
            metrics[f"reward/{who.rsplit(':', 1)[-1].rsplit('.', 1)[-1]}"] = reward
    return total, metrics
