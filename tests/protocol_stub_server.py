"""A STAND-IN world server for tests: AppWorld's environment protocol, minimally, over the standard library.

Not appsim and not AppWorld: one hard-coded task (`stub_1`), code run with `exec`, and the same reply shapes
and failure modes as AppWorld 0.1.3's server (every reply `{"output": ...}`; a task that is not the active
one, or an unknown task, gets a plain-text HTTP 500; a missing body field gets HTTP 422).

    python tests/protocol_stub_server.py --port P
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SUPERVISOR = {"first_name": "Stub", "last_name": "Person", "email": "stub@example.org", "phone_number": "5550199"}
TASKS = {
    "stub_1": {"instruction": "What is 17 plus 25?", "answer": 42},
    "broken_1": {"instruction": "A task whose evaluation reply lacks its fields.", "answer": None},
}


class Supervisor:
    def __init__(self, world: dict[str, Any]) -> None:
        self.world = world

    def show_profile(self) -> dict[str, str]:
        return dict(SUPERVISOR)

    def complete_task(self, answer: Any = None, status: str = "success") -> dict[str, str]:
        self.world["completed"] = status == "success"
        self.world["answer"] = answer
        return {"message": "Marked the active task complete."}


class Apis:
    def __init__(self, world: dict[str, Any]) -> None:
        self.supervisor = Supervisor(world)


WORLD: dict[str, Any] = {}


def task_dict(task_id: str) -> dict[str, Any]:
    return {
        "task_id": task_id,
        "instruction": TASKS[task_id]["instruction"],
        "supervisor": SUPERVISOR,
        "datetime": "2024-03-01T09:30:00",
    }


def execute(code: str) -> str:
    code = code.strip()
    if not code:
        return "No code available to execute."
    stdout = io.StringIO()
    try:
        with contextlib.redirect_stdout(stdout):
            exec(compile(code, "<python-input>", "exec"), WORLD["namespace"])
    except Exception:
        return "Execution failed. Traceback:\n" + traceback.format_exc(limit=-1)
    return stdout.getvalue() or "Execution successful."


def evaluate(task_id: str) -> dict[str, Any]:
    if task_id == "broken_1":
        return {"oops": True}
    requirements = [("the task is complete", WORLD["completed"]), ("the answer is 42", WORLD.get("answer") == 42)]
    passes = [{"requirement": r, "label": "no_op_fail"} for r, ok in requirements if ok]
    failed = [r for r, ok in requirements if not ok]
    failures = [{"requirement": r, "trace": "AssertionError", "label": "no_op_fail"} for r in failed]
    return {"success": not failures, "difficulty": 1, "num_tests": 2, "passes": passes, "failures": failures}


class Handler(BaseHTTPRequestHandler):
    def reply(self, status: int, body: Any, content_type: str = "application/json") -> None:
        data = (json.dumps(body) if content_type == "application/json" else body).encode()
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def server_error(self) -> None:
        self.reply(500, "Internal Server Error", "text/plain; charset=utf-8")

    def do_GET(self) -> None:
        if self.path == "/":
            self.reply(200, {"message": "protocol stub server (a stand-in for tests)"})
        elif self.path == "/api_docs":
            self.reply(200, {"supervisor": {"show_profile": {"api_name": "show_profile", "parameters": []}}})
        elif self.path.startswith("/tasks/") and self.path[len("/tasks/") :] in TASKS:
            self.reply(200, {"output": task_dict(self.path[len("/tasks/") :])})
        elif self.path.startswith("/tasks/"):
            self.server_error()
        else:
            self.reply(404, {"detail": "Not Found"})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
        endpoint = self.path.lstrip("/")
        needed = {"initialize": ["task_id"], "execute": ["task_id", "code"]}.get(endpoint, ["task_id"])
        missing = [name for name in needed if name not in body]
        if missing:
            detail = [{"loc": ["body", name], "msg": "field required"} for name in missing]
            return self.reply(422, {"detail": detail})
        task_id = body["task_id"]
        if endpoint == "initialize":
            if task_id not in TASKS:
                return self.server_error()
            WORLD.clear()
            WORLD.update(task_id=task_id, completed=False, experiment_name=body.get("experiment_name"))
            WORLD["namespace"] = {"apis": Apis(WORLD)}
            return self.reply(200, {"output": task_dict(task_id)})
        if WORLD.get("task_id") != task_id:
            return self.server_error()
        if endpoint == "execute":
            output: Any = execute(body["code"])
        elif endpoint == "task_completed":
            output = WORLD["completed"]
        elif endpoint == "evaluate":
            output = evaluate(task_id)
        elif endpoint in ("close", "close_all"):
            output = None
        else:
            return self.reply(404, {"detail": "Not Found"})
        self.reply(200, {"output": output})

    def log_message(self, format: str, *args: Any) -> None:
        print(f"{self.command} {self.path} " + format % args, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(f"protocol stub server on 127.0.0.1:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
