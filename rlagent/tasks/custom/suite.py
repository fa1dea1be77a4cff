"""The custom suite: the user's rows by split, one CustomEnvironment per episode, the reward as verifier.

Everything that can be checked without a model is checked when the suite is built and when a split's rows
are first read (before a run directory exists): the import paths, the tools' schemas, reset's and the
reward's signatures against the rows' fields, and one do-nothing episode whose reward must be a number.
"""

from __future__ import annotations

import json
from typing import Any

from rlagent.config.schema import TaskConfig
from rlagent.errors import UserError
from rlagent.tasks.base import Example
from rlagent.tasks.custom.env import CustomEnvironment
from rlagent.tasks.custom.loader import describe, load_object
from rlagent.tasks.custom.plugin import check_fields, load_plugin
from rlagent.tasks.custom.rows import read_rows, to_examples
from rlagent.tasks.custom.verifier import CustomVerifier

POSITIVE = ("tool_timeout_s", "reset_timeout_s", "max_tool_calls", "max_calls_per_turn", "max_observation_chars")


class CustomSuite:
    name = "custom"

    def __init__(self, cfg: TaskConfig):
        self.cfg = cfg
        for key in POSITIVE:
            if getattr(cfg.custom, key) <= 0:
                raise UserError(f"task.custom.{key}={getattr(cfg.custom, key)} must be positive")
        self.plugin = load_plugin(cfg.custom)
        self.verifier = CustomVerifier(cfg.custom.success_threshold)
        self._splits: dict[str, list[Example]] = {}
        self._probed = False
        self.oracle = load_object(cfg.custom.oracle, "task.custom.oracle") if cfg.custom.oracle else None
        if self.oracle is not None and not callable(self.oracle):
            raise UserError(f"task.custom.oracle={cfg.custom.oracle} is not a function")

    def examples(self, split: str) -> list[Example]:
        if split not in self._splits:
            rows, source = read_rows(self.cfg, split)
            examples = to_examples(rows, split, self.cfg.custom.id_field, source)
            if not examples:
                raise UserError(f"split '{split}' of task=custom ({source}) has no rows")
            for fields in dict.fromkeys(tuple(ex.data) for ex in examples):
                check_fields(self.plugin, list(fields), source)
            self._splits[split] = examples
        if not self._probed:
            self.probe(self._splits[split][0])
        examples = self._splits[split]
        return examples[: self.cfg.limit] if self.cfg.limit else examples

    def probe(self, example: Example) -> None:
        """Play the do-nothing episode (one empty reply) of `example`: reset must work, the reward must be a number."""
        env = self.make_env(example)
        try:
            env.reset()
            env.step("")
            env.state()
        finally:
            env.close()
        self._probed = True

    def make_env(self, example: Example) -> CustomEnvironment:
        return CustomEnvironment(example, self.plugin, self.cfg)

    def demonstration(self, example: Example) -> list[str] | None:
        """The user's oracle (task.custom.oracle) for one row, as model turns in the Hermes/Qwen tool-call format
        both protocols read; None without an oracle."""
        if self.oracle is None:
            return None
        try:
            turns = self.oracle(**example.data)
        except Exception as exc:  # the user's code: one line naming it, not a traceback
            raise UserError(f"task.custom.oracle failed on row {example.id}: {describe(exc)}") from None
        if not turns:
            return None
        if not isinstance(turns, (list, tuple)):
            raise UserError(
                f"task.custom.oracle returned a {type(turns).__name__} for row {example.id}; it must return a list "
                "of turns (tool calls as {'name': ..., 'arguments': {...}} and strings)"
            )
        return [self._turn(turn, example.id) for turn in turns]

    def _turn(self, turn: Any, row: str) -> str:
        if isinstance(turn, str):
            return turn
        known = list(self.plugin.tools)
        if (
            not isinstance(turn, dict)
            or turn.get("name") not in known
            or not isinstance(turn.get("arguments", {}), dict)
        ):
            raise UserError(
                f"task.custom.oracle returned {str(turn)[:80]!r} for row {row}; each turn is a string or "
                f"{{'name': <one of {', '.join(known)}>, 'arguments': {{...}}}}"
            )
        try:
            call = json.dumps({"name": turn["name"], "arguments": turn.get("arguments", {})})
        except (TypeError, ValueError) as exc:
            raise UserError(
                f"task.custom.oracle: the arguments of {turn['name']} for row {row} are not JSON: {exc}"
            ) from None
        return f"<tool_call>\n{call}\n</tool_call>"
