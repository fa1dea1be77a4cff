"""AppWorld's environment endpoints over appsim task sessions, callable in-process.

The HTTP server (server.py) is a thin layer over this class, and the agent side uses it directly
as its in-process client (same method names and return values as the HTTP client), so tests and
CPU runs skip HTTP without taking a different code path through the world.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

from rlagent.sandbox.config import SandboxConfig
from rlagent.worlds.appsim.session import TaskSession
from rlagent.worlds.appsim.tasks.catalog import catalog


class UnknownTask(KeyError):
    """A task id that is not in the catalogue or was not initialised."""

    def __str__(self) -> str:
        return str(self.args[0])


class AppsimService:
    def __init__(self, sandbox: SandboxConfig | None = None, one_world: bool = False):
        self.sandbox = sandbox or SandboxConfig()
        self.one_world = one_world
        """Hold one task world at a time, as AppWorld's server does: initialising a task closes the others (so
        a session whose /close was lost cannot keep its sandbox alive for the server's lifetime)."""
        self.sessions: dict[str, TaskSession] = {}
        self._lock = threading.Lock()

    def _session(self, task_id: str) -> TaskSession:
        session = self.sessions.get(task_id)
        if session is None:
            raise UnknownTask(f"Task {task_id} is not initialised in this environment server.")
        return session

    def initialize(
        self,
        task_id: str,
        experiment_name: str | None = None,
        max_interactions: int | None = None,
        timeout_seconds: float | None = None,
        random_seed: int | None = None,
        **_: Any,
    ) -> dict[str, Any]:
        if task_id not in catalog():
            raise UnknownTask(f"Task {task_id} does not exist in appsim.")
        if self.one_world:
            self.close_all()
        self.close(task_id)
        config = self.sandbox if timeout_seconds is None else replace(self.sandbox, timeout_s=float(timeout_seconds))
        session = TaskSession(task_id, config)
        with self._lock:
            self.sessions[task_id] = session
        return session.info()

    def execute(self, task_id: str, code: str) -> str:
        return self._session(task_id).execute(code)

    def task_completed(self, task_id: str) -> bool:
        return self._session(task_id).task_completed()

    def evaluate(self, task_id: str, suppress_errors: bool = True) -> dict[str, Any]:
        return self._session(task_id).evaluate()

    def stats(self, task_id: str) -> dict[str, int]:
        session = self._session(task_id)
        return {
            "executions": session.executions,
            "failed_executions": session.failed_executions,
            "api_calls": session.world.api_calls,
        }

    def close(self, task_id: str) -> None:
        with self._lock:
            session = self.sessions.pop(task_id, None)
        if session is not None:
            session.close()

    def close_all(self) -> None:
        for task_id in list(self.sessions):
            self.close(task_id)

    def health(self, task_id: str | None = None) -> bool:
        return task_id is None or task_id in self.sessions

    def api_docs(self) -> dict[str, Any]:
        from rlagent.worlds.appsim.population import generate
        from rlagent.worlds.appsim.world import World

        world = World(generate(0))
        try:
            return world.docs()
        finally:
            world.close()
