"""The code agent's environment: one task world per episode, reached through AppWorld's protocol.

`reset` initialises the task on its world (in-process appsim, or a server held from a pool) and
returns the prompt; `step` runs the code of the model's reply there and shows the output; the
episode ends when the task is marked complete (or at the loop's turn limit). `state` evaluates the
task on the world's side, so nothing the agent's code wrote can reach the verifier. A world that
fails (server died, timed out) marks the episode errored: it is excluded from the loss, not scored.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

from rlagent.config.schema import AppWorldConfig
from rlagent.rollout.actions import Action, parse_tool_call
from rlagent.tasks.appworld.code import NO_CODE, cut_output, extract_code
from rlagent.tasks.appworld.prompt import opening_messages
from rlagent.tasks.base import Example, StepResult

log = logging.getLogger(__name__)

EXECUTE_TOOL = [
    {
        "type": "function",
        "function": {
            "name": "execute",
            "description": "Run Python code in the persistent session where `apis` reaches the apps; returns "
            "what the code printed, or the traceback of a failure.",
            "parameters": {
                "type": "object",
                "properties": {"code": {"type": "string", "description": "The Python code to run."}},
                "required": ["code"],
            },
        },
    }
]

FAILED = "Execution failed. Traceback:"

WorldHandle = tuple[Any, Callable[[], None]]
"""A client speaking the protocol, and what to call once the episode is over (release a server)."""


class AppWorldEnvironment:
    def __init__(self, example: Example, cfg: AppWorldConfig, acquire: Callable[[], WorldHandle], seed: int = 0):
        self.example, self.cfg, self._acquire, self.seed = example, cfg, acquire, seed
        self.task_id = example.data["task_id"]
        self.tools_mode = cfg.protocol == "tools"
        self.tools = EXECUTE_TOOL if self.tools_mode else None
        self.stop = None
        self.observation_role = "tool" if self.tools_mode else "user"
        self.client: Any = None
        self._release: Callable[[], None] | None = None
        self.info: dict[str, Any] = {}
        self.executions = 0
        self.failed_executions = 0
        self.doc_lookups = 0
        self.completed = False
        self.error: str | None = None
        self._evaluation: dict[str, Any] | None = None
        self._stats: dict[str, Any] = {}

    def reset(self) -> list[dict[str, Any]]:
        try:
            self.client, self._release = self._acquire()
            self.info = self.client.initialize(
                self.task_id,
                experiment_name=getattr(self.client, "experiment_name", None) or "rlagent",
                random_seed=self.seed,
                timeout_seconds=self.cfg.sandbox.timeout_s,
            )
        except Exception as exc:  # a world that fails to start is errored, whatever raised
            self._fail(exc)
            self.info = {
                "task_id": self.task_id,
                "instruction": "(the world server failed)",
                "datetime": "",
                "supervisor": {"first_name": "", "last_name": "", "email": "", "phone_number": ""},
            }
        return opening_messages(self.info, self.cfg.demonstration, self.tools_mode)

    def step(self, action_text: str) -> StepResult:
        if self.error:
            return StepResult(None, done=True)
        if self.tools_mode:
            action = parse_tool_call(action_text, {"execute": ["code"]})
            if not isinstance(action, Action):
                return StepResult(action.message, done=False, malformed=True)
            code = action.arguments["code"]
        else:
            code = extract_code(action_text)
            if code is None:
                return StepResult(NO_CODE, done=False, malformed=True)
        self.doc_lookups += code.count("apis.api_docs.")
        try:
            output = self.client.execute(self.task_id, code)
            self.completed = bool(self.client.task_completed(self.task_id))
        except Exception as exc:  # the world failed (server died, sandbox could not restart): not the agent
            self._fail(exc)
            return StepResult(None, done=True, tool_calls=1)
        self.executions += 1
        # stdout printed before a failure comes first, so the failure marker may follow it
        self.failed_executions += int(output.startswith(FAILED) or f"\n{FAILED}" in output)
        shown = cut_output(output, self.cfg.max_observation_chars)
        observation = shown if self.tools_mode else f"Output:\n```\n{shown}\n```"
        return StepResult(None if self.completed else observation, done=self.completed, tool_calls=1)

    def _finish(self) -> None:
        if self._evaluation is not None or self.client is None:
            return
        if not self.error:
            try:
                self._evaluation = self.client.evaluate(self.task_id)
                stats = getattr(self.client, "stats", None)
                self._stats = stats(self.task_id) if callable(stats) else {}
            except Exception as exc:
                self._fail(exc)
        self._evaluation = self._evaluation or {}

    def _fail(self, exc: BaseException) -> None:
        self.error = f"{type(exc).__name__}: {exc}"
        log.warning("episode of %s errored: %s", self.task_id, self.error)

    def state(self) -> dict[str, Any]:
        self._finish()
        return {
            "task_id": self.task_id,
            "instruction": self.info.get("instruction"),
            "completed": self.completed,
            "evaluation": self._evaluation,
            "executions": self.executions,
            "failed_executions": self.failed_executions,
            "doc_lookups": self.doc_lookups,
            "api_calls": self._stats.get("api_calls"),
            "errored": self.error is not None,
            "error": self.error,
        }

    def close(self) -> None:
        if self.client is not None:
            with contextlib.suppress(Exception):
                self.client.close(self.task_id)
        if self._release is not None:
            self._release()
            self._release = None
