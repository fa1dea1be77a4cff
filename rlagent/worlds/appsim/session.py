"""One task being played: its world, the agent's code sandbox, completion and evaluation.

The world's ground truth (the tests, the snapshot before the episode) stays in this process; the
agent's code runs in the sandbox and reaches the world only through `World.call`.
"""

from __future__ import annotations

from typing import Any

from rlagent.sandbox.config import SandboxConfig
from rlagent.sandbox.process import ApiCallError, CodeSandbox
from rlagent.worlds.appsim.evaluate import evaluate
from rlagent.worlds.appsim.framework import ApiError
from rlagent.worlds.appsim.tasks.catalog import instance, spec
from rlagent.worlds.appsim.world import World


class TaskSession:
    def __init__(self, task_id: str, sandbox: SandboxConfig | None = None):
        self.task_id = task_id
        self.spec = spec(task_id)
        data, self.instance = instance(task_id)
        self.world = World(data)
        self.before = self.world.snapshot()
        self.sandbox = CodeSandbox(self._handle, sandbox or SandboxConfig(), app_names=list(self.world.apps))
        self.executions = 0
        self.failed_executions = 0

    def _handle(self, app: str, api: str, kwargs: dict[str, Any]) -> Any:
        try:
            return self.world.call(app, api, kwargs)
        except ApiError as exc:
            raise ApiCallError(exc.status, {"message": exc.message}) from None

    def info(self) -> dict[str, Any]:
        sup = self.world.supervisor
        return {
            "task_id": self.task_id,
            "instruction": self.instance.instruction,
            "supervisor": {
                "first_name": sup.first_name,
                "last_name": sup.last_name,
                "email": sup.email,
                "phone_number": sup.phone_number,
            },
            "datetime": self.world.now_text(),
        }

    def execute(self, code: str) -> str:
        result = self.sandbox.execute(code)
        self.executions += 1
        self.failed_executions += int(result.failed)
        return result.output

    def task_completed(self) -> bool:
        return self.world.completed

    def evaluate(self) -> dict[str, Any]:
        return evaluate(self.instance, self.before, self.world, self.spec.difficulty)

    def close(self) -> None:
        self.sandbox.close()
        self.world.close()
