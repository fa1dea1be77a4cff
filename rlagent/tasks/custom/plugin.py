"""The user's plug-in, loaded and checked before anything runs: environment factory, tools, reward.

The environment follows TRL's `environment_factory` contract: a class (or zero-argument factory) whose
instances have `reset(**row)` returning None or text appended to the prompt's last message, public
methods that are the tools, and optionally `get_reward()` scoring the finished episode. The reward
function, when given, is called per episode as `f(environment, completion, **row)`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rlagent.config.schema import CustomTaskConfig
from rlagent.errors import UserError
from rlagent.tasks.custom.loader import describe, load_object
from rlagent.tasks.custom.tools import Tool, discover_tools, own_parameters

ENV_KEY, REWARD_KEY = "task.custom.environment", "task.custom.reward"


@dataclass
class Plugin:
    factory: Callable[[], Any]
    label: str
    tools: dict[str, Tool]
    schemas: list[dict[str, Any]]
    reset: inspect.Signature
    has_get_reward: bool
    reward_fn: Callable[..., Any] | None
    reward_label: str

    def timeout(self, cfg: CustomTaskConfig, tool: str) -> float:
        return float(cfg.tool_timeouts.get(tool, cfg.tool_timeout_s))


def _env_class(spec: str) -> tuple[Callable[[], Any], type]:
    obj = load_object(spec, ENV_KEY)
    if inspect.isclass(obj):
        return obj, obj
    if not callable(obj):
        raise UserError(f"{ENV_KEY}={spec} is a {type(obj).__name__}, not a class or a factory function")
    try:
        instance = obj()
    except Exception as exc:
        raise UserError(f"{ENV_KEY}={spec}: calling the factory failed: {describe(exc)}") from None
    return obj, type(instance)


def _method(cls: type, name: str) -> Any:
    member = inspect.getattr_static(cls, name, None)
    return getattr(cls, name) if member is not None and callable(getattr(cls, name, None)) else None


def _signature(cls: type, name: str) -> inspect.Signature:
    """A method's signature as its callers see it (without `self`)."""
    return inspect.Signature(list(own_parameters(cls, name, getattr(cls, name)).values()))


def _check_get_reward(cls: type, label: str) -> bool:
    if _method(cls, "get_reward") is None:
        return False
    try:
        _signature(cls, "get_reward").bind()
    except TypeError:
        message = f"{label}.get_reward must take no arguments (it reads the episode from the environment)"
        raise UserError(message) from None
    return True


def _reward_fn(spec: str) -> tuple[Callable[..., Any], str]:
    fn = load_object(spec, REWARD_KEY)
    if not callable(fn):
        raise UserError(f"{REWARD_KEY}={spec} is a {type(fn).__name__}, not a function")
    try:
        inspect.signature(fn).bind(None, [])
    except TypeError:
        raise UserError(f"reward {spec} must take (environment, completion, **row)") from None
    except ValueError:  # builtins without a signature: trust them
        pass
    return fn, spec


def load_plugin(cfg: CustomTaskConfig) -> Plugin:
    if not cfg.environment:
        raise UserError(f"task=custom needs {ENV_KEY}=package.module:Class (or path/to/file.py:Class)")
    factory, cls = _env_class(cfg.environment)
    label = cls.__name__
    reset = _method(cls, "reset")
    if reset is None:
        raise UserError(f"{label} has no reset method: an episode starts with reset(**row) (TRL's contract)")
    tools = discover_tools(cls, label)
    has_get_reward = _check_get_reward(cls, label)
    reward_fn, reward_label = _reward_fn(cfg.reward) if cfg.reward else (None, f"{label}.get_reward")
    if reward_fn is None and not has_get_reward:
        raise UserError(f"no reward: set {REWARD_KEY}=module:function or give {label} a get_reward() method")
    names = [t.name for t in tools]
    for name, seconds in cfg.tool_timeouts.items():
        if name not in names:
            raise UserError(
                f"task.custom.tool_timeouts names '{name}', which is not a tool of {label}; tools: {', '.join(names)}"
            )
        if seconds <= 0:
            raise UserError(f"task.custom.tool_timeouts.{name}={seconds} must be positive")
    return Plugin(
        factory=factory,
        label=label,
        tools={t.name: t for t in tools},
        schemas=[t.schema for t in tools],
        reset=_signature(cls, "reset"),
        has_get_reward=has_get_reward,
        reward_fn=reward_fn,
        reward_label=reward_label,
    )


def check_fields(plugin: Plugin, fields: list[str], source: str) -> None:
    """reset(**row) and the reward function must take the rows' fields (TRL passes every column)."""
    kwargs = dict.fromkeys(fields)
    try:
        plugin.reset.bind(**kwargs)
    except TypeError as exc:
        raise UserError(
            f"{plugin.label}.reset{plugin.reset} cannot take the fields of the rows in {source} "
            f"({', '.join(fields)}): {exc}; TRL calls reset(**row), so add **kwargs"
        ) from None
    if plugin.reward_fn is not None:
        try:
            inspect.signature(plugin.reward_fn).bind(None, [], **kwargs)
        except TypeError as exc:
            raise UserError(
                f"reward {plugin.reward_label} cannot take the fields of the rows in {source} ({', '.join(fields)}): "
                f"{exc}; it is called as f(environment, completion, **row), so add **row"
            ) from None
        except ValueError:
            pass
