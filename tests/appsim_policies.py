"""Scripted code-agent policies for appsim (text-engine interface of the agent loop): the oracle runs
each task's reference solution, the silent one never writes code, the clumsy one writes failing code."""

from __future__ import annotations

from rlagent.rollout.engines.base import Generation, Sampling
from rlagent.tasks.appworld.prompt import task_block
from rlagent.tasks.base import Example
from rlagent.worlds.appsim.tasks.catalog import instance


def _key(text: str) -> str:
    return text[text.rindex("Today's date:") :].strip()


class AppsimOracle:
    """Replies with the task's reference solution in one ```python block (optionally plus an extra step)."""

    name = "appsim-oracle"
    tokenizer = None

    def __init__(self, examples: list[Example], extra_code: str = ""):
        self.code: dict[str, str] = {}
        for ex in examples:
            data, built = instance(ex.id)
            sup = data.supervisor
            info = {
                "datetime": data.now.strftime("%Y-%m-%dT%H:%M:%S"),
                "instruction": built.instruction,
                "supervisor": {
                    "first_name": sup.first_name,
                    "last_name": sup.last_name,
                    "email": sup.email,
                    "phone_number": sup.phone_number,
                },
            }
            self.code[_key(task_block(info))] = built.oracle
        self.extra_code = extra_code

    def _reply(self, conversation: list[dict]) -> str:
        user = [m["content"] for m in conversation if m["role"] == "user" and "Today's date:" in m["content"]][-1]
        return f"Here is the solution.\n```python\n{self.extra_code}{self.code[_key(user)]}```"

    def chat(self, conversations: list[list[dict]], sampling: list[Sampling], tools=None) -> list[Generation]:
        return [Generation([], [], self._reply(c), "stop") for c in conversations]

    def close(self) -> None:
        pass


class SilentCoder:
    name = "silent"
    tokenizer = None

    def chat(self, conversations, sampling, tools=None):
        return [Generation([], [], "I am not sure what to do.", "stop") for _ in conversations]

    def close(self) -> None:
        pass


class ClumsyCoder:
    """Calls an API without its access token every turn: each execute fails."""

    name = "clumsy"
    tokenizer = None

    def chat(self, conversations, sampling, tools=None):
        text = "```python\nprint(apis.venmo.show_balance())\n```"
        return [Generation([], [], text, "stop") for _ in conversations]

    def close(self) -> None:
        pass
