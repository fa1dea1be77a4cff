"""The custom suite: the user's rows by split, one CustomEnvironment per episode, the reward as verifier.

Everything that can be checked without a model is checked when the suite is built and when a split's rows
are first read (before a run directory exists): the import paths, the tools' schemas, reset's and the
reward's signatures against the rows' fields, and one do-nothing episode whose reward must be a number.
"""

from __future__ import annotations

from rlagent.config.schema import TaskConfig
from rlagent.errors import UserError
from rlagent.tasks.base import Example
from rlagent.tasks.custom.env import CustomEnvironment
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
