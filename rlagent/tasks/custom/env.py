"""CustomEnvironment: one episode of the user's TRL-style environment behind rlagent's Environment seam.

`reset` builds the user's instance (on the episode's own thread), calls `reset(**row)` and returns the
row's prompt with reset's text appended to its last message. `step` reads the model's tool calls, runs
them (limits, timeouts, errors as observations) and answers with their results; a reply without a tool
call is the final answer. `state` scores the episode while the instance is still alive, so the verifier
only reads numbers.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from rlagent.config.schema import TaskConfig
from rlagent.errors import UserError
from rlagent.tasks.base import Example, StepResult
from rlagent.tasks.custom import protocol
from rlagent.tasks.custom.calls import CallRecord, run_call
from rlagent.tasks.custom.loader import describe
from rlagent.tasks.custom.plugin import Plugin
from rlagent.tasks.custom.reward import score
from rlagent.tasks.custom.rows import prompt_messages
from rlagent.tasks.custom.worker import CallTimeout, EpisodeThread


class CustomEnvironment:
    def __init__(self, example: Example, plugin: Plugin, cfg: TaskConfig):
        self.example, self.plugin, self.cfg, self.custom = example, plugin, cfg, cfg.custom
        self.tools_mode = cfg.custom.protocol == "tools"
        self.tools = plugin.schemas if self.tools_mode else None
        self.stop = None if self.tools_mode else protocol.TEXT_STOP
        self.observation_role = "tool" if self.tools_mode else "user"
        self.thread: EpisodeThread | None = None
        self.instance: Any = None
        self.completion: list[dict[str, Any]] = []
        self.calls: list[CallRecord] = []
        self.final_answer: str | None = None
        self.error: str | None = None
        self._state: dict[str, Any] | None = None

    # --- start ------------------------------------------------------------------------------------
    def reset(self) -> list[dict[str, Any]]:
        self.thread = EpisodeThread(f"rlagent-episode-{self.example.id}")
        limit, label = self.custom.reset_timeout_s, self.plugin.label
        try:
            self.instance = self.thread.call(self.plugin.factory, timeout=limit)
            extra = self.thread.call(self.instance.reset, timeout=limit, **self.example.data)
        except CallTimeout:
            raise UserError(
                f"{label}() and reset(**row) took longer than task.custom.reset_timeout_s={limit:g} "
                f"on example {self.example.id}"
            ) from None
        except Exception as exc:
            raise UserError(f"{label}.reset failed on example {self.example.id}: {describe(exc)}") from None
        if extra is not None and not isinstance(extra, str):
            raise UserError(
                f"{label}.reset returned {type(extra).__name__} on example {self.example.id}; "
                "it must return None or text to append to the prompt"
            )
        messages = prompt_messages(self.example.data)
        if extra:
            messages[-1] = {**messages[-1], "content": messages[-1]["content"] + extra}
        return self._with_system(messages)

    def _with_system(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        parts = [] if messages[0]["role"] == "system" else [self.cfg.system_prompt]
        if not self.tools_mode:
            parts.append(protocol.text_instructions(self.plugin.schemas))
        text = "\n\n".join(p for p in parts if p)
        if not text:
            return messages
        if messages[0]["role"] == "system":
            return [{**messages[0], "content": f"{messages[0]['content']}\n\n{text}"}, *messages[1:]]
        return [{"role": "system", "content": text}, *messages]

    # --- turns ------------------------------------------------------------------------------------
    def _refuse(self, text: str, message: str) -> StepResult:
        self.completion.append(protocol.assistant_message(text, []))
        self.completion.append({"role": self.observation_role, "content": message})
        return StepResult(message, done=False, malformed=True)

    def step(self, action: str) -> StepResult:
        if self.error:
            return StepResult(None, done=True)
        calls = protocol.parse_calls(action, list(self.plugin.tools))
        if isinstance(calls, str):
            return self._refuse(action, calls)
        if not calls:
            self.final_answer = protocol.strip_think(action).strip()
            self.completion.append(protocol.assistant_message(action, []))
            return StepResult(None, done=True)
        if len(calls) > self.custom.max_calls_per_turn:
            return self._refuse(
                action,
                f"Your reply makes {len(calls)} tool calls; make at most {self.custom.max_calls_per_turn} per reply.",
            )
        left = self.custom.max_tool_calls - len(self.calls)
        if left <= 0:
            return self._refuse(
                action,
                f"You have used all {self.custom.max_tool_calls} tool calls. "
                "Reply with your final answer now, without a tool call.",
            )
        self.completion.append(protocol.assistant_message(action, calls))
        results = []
        for call in calls[:left]:
            tool = self.plugin.tools[call.name]
            assert self.thread is not None
            text, record = run_call(
                self.instance,
                tool,
                call.arguments,
                self.thread,
                self.plugin.timeout(self.custom, call.name),
                self.custom.max_observation_chars,
            )
            self.calls.append(record)
            results.append((call.name, text))
            self.completion.append({"role": "tool", "name": call.name, "content": text})
            if self.thread.stuck:  # a sync tool overran its timeout: the instance is in an unknown state
                self.error = f"tool {record.error} (a sync tool cannot be interrupted; make it async)"
                return StepResult(None, done=True, tool_calls=len(results))
        per_call = [text for _, text in results]
        if len(calls) > left:
            limit = f"Only {left} of your calls ran: the episode's {self.custom.max_tool_calls} tool calls are used up."
            results.append(("limit", limit))
            per_call += [f"Not run: the episode's {self.custom.max_tool_calls} tool calls are used up."] * (
                len(calls) - left
            )
        return StepResult(
            protocol.observation(results, self.tools_mode),
            done=False,
            tool_calls=len(results),
            tool_results=per_call if self.tools_mode else None,
        )

    # --- end --------------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        if self._state is None:
            reward, metrics = 0.0, {}
            if not self.error and self.thread is not None:
                thread, limit = self.thread, self.custom.reset_timeout_s
                reward, metrics = score(
                    self.plugin,
                    self.instance,
                    self.completion,
                    self.example.data,
                    self.example.id,
                    lambda fn, *a, **k: thread.call(fn, *a, timeout=limit, **k),
                )
            self._state = {
                "final_answer": self.final_answer,
                "calls": [asdict(c) for c in self.calls],
                "reward": reward,
                "reward_metrics": metrics,
                "errored": self.error is not None,
                "error": self.error,
            }
        return self._state

    def close(self) -> None:
        if self.thread is not None:
            self.thread.close()
        self.instance = None
