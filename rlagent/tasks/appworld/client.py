"""HTTP client for a world speaking AppWorld's environment-server protocol (real AppWorld or appsim).

Every reply of the protocol is `{"output": ...}` with HTTP 200; `GET /api_docs` answers its document bare.
A failure of the world itself (unreachable, timed out, an HTTP error, a reply of the wrong shape) raises
`WorldServerError`, which the agent loop catches to mark the episode errored: never a score.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import requests

EVALUATION_KEYS = ("success", "num_tests", "passes", "failures")


class WorldServerError(Exception):
    """The world server failed (not the agent): the episode that used it is errored, not scored."""

    def __init__(self, url: str, endpoint: str, detail: str, status: int | None = None) -> None:
        self.url = url
        self.endpoint = endpoint
        self.detail = detail
        self.status = status
        code = f" HTTP {status}" if status is not None else ""
        super().__init__(f"world server {url} {endpoint}{code}: {detail}")


class WorldClient(Protocol):
    """One task world at a time, addressed by its task id (AppWorld's server holds one world per process)."""

    base_url: str

    def initialize(
        self,
        task_id: str,
        *,
        experiment_name: str = ...,
        max_interactions: int = ...,
        timeout_seconds: int = ...,
        random_seed: int | None = ...,
        **extra: Any,
    ) -> dict[str, Any]:
        """Load the task's world: {task_id, instruction, supervisor: {first_name, ...}, datetime}."""
        ...

    def execute(self, task_id: str, code: str) -> str:
        """Run Python code in the world; its printed output or an `Execution failed. Traceback:` text."""
        ...

    def task_completed(self, task_id: str) -> bool: ...

    def evaluate(self, task_id: str) -> dict[str, Any]:
        """{success, difficulty, num_tests, passes: [{requirement, label}], failures: [{requirement, trace, label}]}."""
        ...

    def close(self, task_id: str) -> None: ...

    def close_all(self, task_id: str) -> None: ...

    def health(self, task_id: str | None = None) -> bool: ...

    def api_docs(self) -> dict[str, Any] | list[Any]: ...


def first_line(text: str, limit: int = 300) -> str:
    line = next((part.strip() for part in text.splitlines() if part.strip()), "(empty body)")
    return line if len(line) <= limit else line[: limit - 3] + "..."


class HttpWorldClient:
    """`WorldClient` over HTTP with `requests`; `timeout_s` bounds each reply (keep it above the world's own
    per-execution `timeout_seconds`). `context`, when given, is called on a failure and its text appended to
    the error (the server pool tells whether the process died and what its log says)."""

    def __init__(
        self,
        base_url: str,
        timeout_s: float = 150.0,
        connect_timeout_s: float = 5.0,
        context: Callable[[], str] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.connect_timeout_s = min(connect_timeout_s, timeout_s)
        self.context = context
        self.session = requests.Session()
        self.session.trust_env = False  # the world is local: no proxies from the environment
        # One connection per request: AppWorld's server (uvicorn) drops a kept-alive connection after an
        # HTTP 500, and the next request on it would fail as if the server were gone.
        self.session.headers["Connection"] = "close"

    def _error(self, endpoint: str, detail: str, status: int | None = None) -> WorldServerError:
        if self.context is not None:
            extra = self.context()
            if extra:
                detail = f"{detail} ({extra})"
        return WorldServerError(self.base_url, endpoint, detail, status)

    def _request(self, method: str, endpoint: str, body: dict[str, Any] | None = None, timeout_s: float | None = None):
        timeout = (self.connect_timeout_s, timeout_s or self.timeout_s)
        try:
            response = self.session.request(method, self.base_url + endpoint, json=body, timeout=timeout)
        except requests.ConnectTimeout:
            raise self._error(endpoint, f"no connection in {timeout[0]:g} s") from None
        except requests.Timeout:
            raise self._error(endpoint, f"no reply in {timeout[1]:g} s") from None
        except requests.ConnectionError as exc:
            raise self._error(endpoint, f"cannot connect ({type(exc).__name__})") from None
        except requests.RequestException as exc:
            raise self._error(endpoint, f"request failed: {first_line(str(exc))}") from None
        if response.status_code != 200:
            raise self._error(endpoint, first_line(response.text), response.status_code)
        try:
            return response.json()
        except ValueError:
            raise self._error(endpoint, f"reply is not JSON: {first_line(response.text)}", 200) from None

    def _call(self, method: str, endpoint: str, body: dict[str, Any] | None = None, timeout_s: float | None = None):
        reply = self._request(method, endpoint, body, timeout_s)
        if not isinstance(reply, dict) or "output" not in reply:
            raise self._error(endpoint, f"reply has no 'output': {first_line(repr(reply))}", 200)
        return reply["output"]

    def initialize(
        self,
        task_id: str,
        *,
        experiment_name: str = "default",
        max_interactions: int = 1000,
        timeout_seconds: int = 100,
        random_seed: int | None = 100,
        **extra: Any,
    ) -> dict[str, Any]:
        body = {
            "task_id": task_id,
            "experiment_name": experiment_name,
            "max_interactions": max_interactions,
            "timeout_seconds": timeout_seconds,
            "random_seed": random_seed,
            **extra,
        }
        output = self._call("POST", "/initialize", body)
        if not isinstance(output, dict) or "instruction" not in output:
            raise self._error("/initialize", f"output has no 'instruction': {first_line(repr(output))}", 200)
        return output

    def execute(self, task_id: str, code: str) -> str:
        output = self._call("POST", "/execute", {"task_id": task_id, "code": code})
        if not isinstance(output, str):
            raise self._error("/execute", f"output is not a string: {first_line(repr(output))}", 200)
        return output

    def task_completed(self, task_id: str) -> bool:
        output = self._call("POST", "/task_completed", {"task_id": task_id})
        if not isinstance(output, bool):
            raise self._error("/task_completed", f"output is not a bool: {first_line(repr(output))}", 200)
        return output

    def evaluate(self, task_id: str) -> dict[str, Any]:
        # suppress_errors=False makes AppWorld 0.1.3 answer HTTP 500 as soon as one test fails.
        output = self._call("POST", "/evaluate", {"task_id": task_id, "suppress_errors": True})
        if not isinstance(output, dict) or any(key not in output for key in EVALUATION_KEYS):
            raise self._error(
                "/evaluate", f"output lacks {', '.join(EVALUATION_KEYS)}: {first_line(repr(output))}", 200
            )
        return output

    def stats(self, task_id: str) -> dict[str, Any]:
        """appsim's per-task counters (executions, failed executions, API calls); {} from servers without
        `/stats` (real AppWorld)."""
        try:
            output = self._call("POST", "/stats", {"task_id": task_id})
        except WorldServerError:
            return {}
        return output if isinstance(output, dict) else {}

    def close(self, task_id: str) -> None:
        self._call("POST", "/close", {"task_id": task_id})

    def close_all(self, task_id: str) -> None:
        """AppWorld 0.1.3 wants the active world's task id here too (HTTP 422 without it, 500 for another)."""
        self._call("POST", "/close_all", {"task_id": task_id})

    def health(self, task_id: str | None = None) -> bool:
        """True when the server answers `GET /` (or `GET /tasks/<task_id>`: the task exists) with HTTP 200."""
        endpoint = "/" if task_id is None else f"/tasks/{task_id}"
        try:
            response = self.session.get(self.base_url + endpoint, timeout=(self.connect_timeout_s, 10.0))
        except requests.RequestException:
            return False
        return response.status_code == 200

    def api_docs(self) -> dict[str, Any] | list[Any]:
        """AppWorld answers this one bare (not wrapped in `output`); a wrapped reply is accepted too."""
        reply = self._request("GET", "/api_docs")
        if isinstance(reply, dict) and set(reply) == {"output"}:
            return reply["output"]
        return reply

    def close_session(self) -> None:
        self.session.close()
