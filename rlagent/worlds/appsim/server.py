"""`rlagent appsim serve`: appsim behind AppWorld's environment-server HTTP protocol (FastAPI + uvicorn).

Reply shapes follow AppWorld 0.1.3's server, so AppWorld's own client (`AppWorld(task_id,
remote_environment_url=URL)`, with `rlagent appsim export` as its APPWORLD_ROOT) drives appsim: every POST
answers `{"output": ...}`; `GET /` (`{"message": ...}`) and `GET /api_docs` answer bare; `GET /tasks/<id>`
answers for any task of the catalogue, initialised or not; an unknown or uninitialised task id is a
plain-text HTTP 500. Binds 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

from typing import Any

from rlagent.sandbox.config import SandboxConfig
from rlagent.worlds.appsim.export import task_info
from rlagent.worlds.appsim.service import AppsimService, UnknownTask


def create_app(service: AppsimService | None = None) -> Any:
    from fastapi import Body, FastAPI, Request
    from fastapi.responses import PlainTextResponse

    service = service or AppsimService()
    app = FastAPI(title="appsim environment server", docs_url=None, redoc_url=None)
    app.state.service = service

    @app.exception_handler(UnknownTask)
    async def unknown_task(_: Request, exc: UnknownTask) -> PlainTextResponse:
        return PlainTextResponse(str(exc), status_code=500)

    def body_task(body: dict[str, Any]) -> str:
        task_id = body.get("task_id")
        if not isinstance(task_id, str):
            raise UnknownTask("Request body needs a string task_id.")
        return task_id

    @app.post("/initialize")
    def initialize(body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        task_id = body_task(body)
        keys = ("experiment_name", "max_interactions", "timeout_seconds", "random_seed")
        return {"output": service.initialize(task_id, **{k: body[k] for k in keys if k in body})}

    @app.post("/execute")
    def execute(body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        return {"output": service.execute(body_task(body), str(body.get("code", "")))}

    @app.post("/task_completed")
    def task_completed(body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        return {"output": service.task_completed(body_task(body))}

    @app.post("/evaluate")
    def evaluate(body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        return {"output": service.evaluate(body_task(body), bool(body.get("suppress_errors", True)))}

    @app.post("/stats")
    def stats(body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        return {"output": service.stats(body_task(body))}

    @app.post("/close")
    def close(body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        service.close(body_task(body))
        return {"output": None}

    @app.post("/close_all")
    def close_all(body: dict[str, Any] | None = Body(None)) -> dict[str, Any]:
        service.close_all()  # AppWorld wants the active task_id here; appsim holds many tasks and closes them all
        return {"output": None}

    @app.get("/tasks/{task_id}")
    def task(task_id: str) -> dict[str, Any]:
        session = service.sessions.get(task_id)
        if session is not None:
            return {"output": session.info()}
        try:
            return {"output": task_info(task_id)}
        except KeyError:
            raise UnknownTask(f"Task {task_id} does not exist in appsim.") from None

    @app.get("/")
    def root() -> dict[str, Any]:
        return {"message": "Welcome to the appsim environment server (AppWorld's environment protocol)."}

    @app.get("/api_docs")
    def api_docs() -> dict[str, Any]:
        return service.api_docs()

    @app.on_event("shutdown")
    def shutdown() -> None:
        service.close_all()

    return app


def serve(port: int, host: str = "127.0.0.1", sandbox: SandboxConfig | None = None) -> None:
    import uvicorn

    uvicorn.run(create_app(AppsimService(sandbox, one_world=True)), host=host, port=port, log_level="warning")
