"""An environment class's tools, found the way TRL's `environment_factory` finds them.

Every public function of the class (not starting with `_`) except `reset` and `get_reward` is a tool.
Its JSON schema comes from its signature, type hints and Google-style docstring through transformers'
`get_json_schema`, which is what the chat template's `tools=` gets when TRL passes the bound methods, so
the model sees the same tool descriptions under TRL and here.
"""

from __future__ import annotations

import inspect
import typing
from dataclasses import dataclass, field
from typing import Any

from rlagent.errors import UserError

RESERVED = ("reset", "get_reward")
"""Public methods of the contract that are not tools."""

_ARGS_HELP = "describe each argument in an `Args:` section (`name: what it is`), as TRL requires"


@dataclass
class Tool:
    """One tool: its name, JSON schema, and what calling it needs."""

    name: str
    schema: dict[str, Any]
    is_async: bool
    parameters: dict[str, inspect.Parameter] = field(default_factory=dict)
    hints: dict[str, Any] = field(default_factory=dict)

    @property
    def required(self) -> list[str]:
        return [n for n, p in self.parameters.items() if p.default is inspect.Parameter.empty]


def tool_names(cls: type) -> list[str]:
    """Names of the class's tools, in TRL's order (alphabetical, as `inspect.getmembers` lists them)."""
    return [
        name
        for name, _ in inspect.getmembers(cls, predicate=inspect.isfunction)
        if not name.startswith("_") and name not in RESERVED
    ]


def own_parameters(cls: type, name: str, fn: Any) -> dict[str, inspect.Parameter]:
    """The parameters of a method as its callers see them (without `self`)."""
    params = list(inspect.signature(fn).parameters.values())
    if not isinstance(inspect.getattr_static(cls, name), staticmethod) and params:
        params = params[1:]  # self
    return {p.name: p for p in params}


def _tool(cls: type, label: str, name: str) -> Tool:
    from transformers.utils import get_json_schema
    from transformers.utils.chat_template_utils import DocstringParsingException, TypeHintParsingException

    fn = getattr(cls, name)
    where = f"tool {label}.{name}"
    if not (inspect.getdoc(fn) or "").strip():
        raise UserError(f"{where} has no docstring: its first line becomes the tool's description; {_ARGS_HELP}")
    params = own_parameters(cls, name, fn)
    for param in params.values():
        if param.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            raise UserError(f"{where} takes *{param.name}: a tool needs named, typed parameters only")
        if param.annotation is inspect.Parameter.empty:
            raise UserError(f"parameter '{param.name}' of {where} has no type hint (e.g. `{param.name}: str`)")
    try:
        hints = typing.get_type_hints(fn)
        schema = get_json_schema(fn)
    except DocstringParsingException as exc:
        missing = str(exc).rsplit("argument", 1)[-1].strip(" '\"")
        if "no description for the argument" in str(exc):
            raise UserError(f"{where}: the docstring does not describe argument '{missing}'; {_ARGS_HELP}") from None
        raise UserError(f"{where}: {str(exc).splitlines()[0]}") from None
    except TypeHintParsingException as exc:
        raise UserError(f"{where}: a type hint has no JSON schema ({exc.args[0].strip(': ')})") from None
    except Exception as exc:  # unresolvable forward references and the like
        raise UserError(f"{where}: cannot read its type hints ({type(exc).__name__}: {exc})") from None
    return Tool(name, schema, inspect.iscoroutinefunction(fn), params, {k: v for k, v in hints.items()})


def discover_tools(cls: type, label: str) -> list[Tool]:
    """The tools of an environment class, each checked; a class without tools is an error."""
    names = tool_names(cls)
    if not names:
        raise UserError(
            f"{label} has no tools: its public methods other than reset and get_reward are the agent's tools "
            "(give it at least one, with type hints and a docstring)"
        )
    return [_tool(cls, label, name) for name in names]
