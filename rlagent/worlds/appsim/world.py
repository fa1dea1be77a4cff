"""One task's world: every app's SQLite database, logins, the task's completion, API dispatch.

A world is built from `WorldData` (population.py, plus a task template's additions). Each app has
its own in-memory SQLite database so that the evaluator can diff the state before and after an
episode table by table. `call(app, api, kwargs)` is the only door in: the sandboxed code, the HTTP
server and the tests all go through it.
"""

from __future__ import annotations

import contextlib
import json
import random
import sqlite3
import threading
from datetime import datetime
from typing import Any

from rlagent.worlds.appsim.framework import Api, ApiError, App, bind, collect_apis
from rlagent.worlds.appsim.population import WorldData

Snapshot = dict[str, dict[Any, dict[str, Any]]]
"""'app.table' -> primary key -> row (column -> value)."""


class World:
    def __init__(self, data: WorldData):
        from rlagent.worlds.appsim.apps import APP_CLASSES

        self.data = data
        self.now = data.now
        self.supervisor = data.supervisor
        self._rng = random.Random(data.seed ^ 0x5EED)
        self._tokens: dict[str, tuple[str, int]] = {}
        self._lock = threading.RLock()
        self.completed = False
        self.answer: Any = None
        self.status: str | None = None
        self.api_calls = 0
        self.apps: dict[str, App] = {}
        self.apis: dict[str, dict[str, Api]] = {}
        for cls in APP_CLASSES:
            db = sqlite3.connect(":memory:", check_same_thread=False)
            db.row_factory = sqlite3.Row
            if cls.schema:
                db.executescript(cls.schema)
            self.apps[cls.name] = cls(self, db)
            self.apis[cls.name] = {a.name: a for a in collect_apis(cls)}
            self._load(db, data.tables.get(cls.name, {}))

    @staticmethod
    def _load(db: sqlite3.Connection, tables: dict[str, list[dict[str, Any]]]) -> None:
        for table, rows in tables.items():
            for row in rows:
                values = [json.dumps(v) if isinstance(v, list | dict) else v for v in row.values()]
                columns = ", ".join(row)
                marks = ", ".join("?" for _ in row)
                db.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})", values)
        db.commit()

    # --- time and tokens --------------------------------------------------------------------
    def now_text(self) -> str:
        return self.now.strftime("%Y-%m-%dT%H:%M:%S")

    def issue_token(self, app: str, user_id: int) -> str:
        token = "".join(self._rng.choice("0123456789abcdef") for _ in range(32))
        self._tokens[token] = (app, user_id)
        return token

    def revoke_tokens(self, app: str, user_id: int) -> None:
        for token, owner in list(self._tokens.items()):
            if owner == (app, user_id):
                del self._tokens[token]

    def user_for_token(self, app: str, token: str, app_obj: App) -> dict[str, Any]:
        owner = self._tokens.get(token)
        if owner is None or owner[0] != app:
            raise ApiError(401, f"Invalid or expired access token for the {app} app. Log in with apis.{app}.login.")
        user = app_obj.user_by("id", owner[1])
        if user is None:
            raise ApiError(401, "The account of this access token no longer exists.")
        return user

    # --- calls ------------------------------------------------------------------------------
    def call(self, app: str, api_name: str, kwargs: dict[str, Any]) -> Any:
        """Run one API call; raises ApiError (status, message) as AppWorld's APIs answer."""
        with self._lock:
            self.api_calls += 1
            if app not in self.apps:
                raise ApiError(404, f"No app named '{app}'. Apps: {', '.join(self.apps)}.")
            api = self.apis[app].get(api_name)
            if api is None:
                raise ApiError(
                    404,
                    f"No API named '{api_name}' in the {app} app. "
                    f"Look it up with apis.api_docs.show_api_descriptions(app_name='{app}').",
                )
            target = self.apps[app]
            bound = bind(target, api, dict(kwargs))
            try:
                result = api.func(target, **bound)
                target.db.commit()
            except Exception:  # an API error, or a value SQLite rejects: no half-done write survives
                target.db.rollback()
                raise
            return json.loads(json.dumps(result))

    def docs(self) -> dict[str, dict[str, dict[str, Any]]]:
        return {app: {name: a.doc() for name, a in apis.items()} for app, apis in self.apis.items()}

    # --- state for the evaluator ------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        """Every row of every table, keyed by primary key (id, or the whole row)."""
        snap: Snapshot = {}
        for name, app in self.apps.items():
            query = "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
            tables = [r[0] for r in app.db.execute(query).fetchall()]
            for table in tables:
                rows = app.db.execute(f"SELECT * FROM {table}").fetchall()
                keyed: dict[Any, dict[str, Any]] = {}
                for row in rows:
                    record = dict(row)
                    key = record["id"] if "id" in record else tuple(record.values())
                    keyed[key] = record
                snap[f"{name}.{table}"] = keyed
        return snap

    def table(self, app: str, table: str) -> list[dict[str, Any]]:
        """Current rows of a table as dicts (JSON columns decoded where they hold lists)."""
        rows = []
        for row in self.apps[app].db.execute(f"SELECT * FROM {table}").fetchall():
            record = dict(row)
            for key, value in record.items():
                if isinstance(value, str) and value.startswith("["):
                    with contextlib.suppress(ValueError):
                        record[key] = json.loads(value)
            rows.append(record)
        return rows

    def close(self) -> None:
        for app in self.apps.values():
            app.db.close()


def now_from(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S")
