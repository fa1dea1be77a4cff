"""How an appsim app declares its APIs: typed, documented endpoints with AppWorld's API-doc shape.

An app is a class over its own SQLite database. Each API is a method decorated with `@api`; the
method's signature (type hints, defaults) becomes the parameter list of its doc, `bounds=` adds
numeric constraints, `params=` describes each parameter. APIs that need a logged-in user take an
`access_token` (added by the framework, listed first as AppWorld does) and receive the user's row as
`user`. Calls are validated before the method runs: unknown or missing parameters and wrong types
are HTTP-style 422 errors, a bad token is 401, as in AppWorld.
"""

from __future__ import annotations

import inspect
import math
import sqlite3
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from rlagent.worlds.appsim.world import World

PAGE_LIMIT_MAX = 20
ACCOUNT_APIS = ("login", "logout", "show_account")


class ApiError(Exception):
    """An API call's failure: an HTTP status and a message (AppWorld answers `{"message": ...}`)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    required: bool
    description: str
    default: Any = None
    constraints: tuple[str, ...] = ()
    bounds: tuple[float | None, float | None] = (None, None)

    def doc(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "required": self.required,
            "description": self.description,
            "default": self.default,
            "constraints": list(self.constraints),
        }


@dataclass
class Api:
    app: str
    name: str
    method: str
    path: str
    description: str
    params: list[Param]
    func: Callable[..., Any]
    needs_auth: bool
    returns: Any = None

    def doc(self) -> dict[str, Any]:
        return {
            "app_name": self.app,
            "api_name": self.name,
            "path": self.path,
            "method": self.method,
            "description": self.description,
            "parameters": [p.doc() for p in self.params],
            "response_schemas": {
                "success": self.returns if self.returns is not None else {},
                "failure": {"message": "string"},
            },
        }


@dataclass
class _Declared:
    method: str
    path: str
    description: str
    auth: bool
    params: dict[str, str]
    bounds: dict[str, tuple[float | None, float | None]]
    returns: Any
    func: Callable[..., Any] = field(repr=False, default=None)  # type: ignore[assignment]


def api(
    method: str,
    path: str,
    description: str,
    *,
    auth: bool = True,
    params: dict[str, str] | None = None,
    bounds: dict[str, tuple[float | None, float | None]] | None = None,
    returns: Any = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare an app method as an API. `path` may use `{app}`; `params` describes each parameter."""

    def wrap(func: Callable[..., Any]) -> Callable[..., Any]:
        func.__appsim_api__ = _Declared(method, path, description, auth, params or {}, bounds or {}, returns)  # type: ignore[attr-defined]
        return func

    return wrap


_TYPE_NAMES = {str: "string", int: "integer", float: "number", bool: "boolean"}

PAGE_PARAMS = {
    "page_index": "The index of the page to return, starting at 0.",
    "page_limit": f"The maximum number of results on the page (at most {PAGE_LIMIT_MAX}).",
}
PAGE_BOUNDS: dict[str, tuple[float | None, float | None]] = {
    "page_index": (0, None),
    "page_limit": (1, PAGE_LIMIT_MAX),
}


def _type_name(hint: Any) -> str:
    if hint is Any:
        return "any"
    origin = typing.get_origin(hint)
    if origin in (list, tuple):
        (inner,) = typing.get_args(hint)[:1] or (str,)
        return f"list[{_type_name(inner)}]"
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return _type_name(args[0])
    return _TYPE_NAMES.get(hint, "string")


def _constraint_text(low: float | None, high: float | None) -> tuple[str, ...]:
    parts = []
    if low is not None:
        parts.append(f"value >= {low}")
    if high is not None:
        parts.append(f"<= {high}" if parts else f"value <= {high}")
    return (", ".join(parts),) if parts else ()


def collect_apis(cls: type[App]) -> list[Api]:
    """The documented APIs of an app class, in declaration order (login first when present)."""
    apis = []
    for attr in _declaration_order(cls):
        if attr in ACCOUNT_APIS and not cls.has_accounts:
            continue
        func = getattr(cls, attr)
        declared: _Declared = func.__appsim_api__
        hints = typing.get_type_hints(func)
        params = []
        if declared.auth:
            params.append(Param("access_token", "string", True, f"Access token obtained from {cls.name} app login."))
        bounds = {**PAGE_BOUNDS, **declared.bounds}
        for pname, p in inspect.signature(func).parameters.items():
            if pname in ("self", "user"):
                continue
            required = p.default is inspect.Parameter.empty
            default = None if required else p.default
            description = declared.params.get(pname) or PAGE_PARAMS.get(pname) or pname.replace("_", " ").capitalize()
            low_high = bounds.get(pname, (None, None))
            params.append(
                Param(
                    pname,
                    _type_name(hints.get(pname, str)),
                    required,
                    description,
                    default,
                    _constraint_text(*low_high),
                    low_high,
                )
            )
        params.sort(key=lambda p: not p.required)
        path = declared.path.replace("{app}", cls.name)
        apis.append(
            Api(
                cls.name,
                attr,
                declared.method,
                path,
                declared.description,
                params,
                func,
                declared.auth,
                declared.returns,
            )
        )
    return apis


def _declaration_order(cls: type) -> list[str]:
    seen: dict[str, None] = {}
    for klass in reversed(cls.__mro__):
        for attr, value in vars(klass).items():
            if callable(value) and hasattr(value, "__appsim_api__"):
                seen.setdefault(attr, None)
    return list(seen)


def _coerce(param: Param, value: Any) -> Any:
    """Pydantic-v1-like coercion (AppWorld's servers run pydantic 1): numeric strings become numbers."""
    if value is None:
        if param.required:
            raise ApiError(422, f"Parameter '{param.name}' is required and may not be null.")
        return None
    kind = param.type
    if kind == "any":
        return value
    try:
        if kind == "integer":
            if isinstance(value, bool):
                raise ValueError
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            value = int(value)
        elif kind == "number":
            if isinstance(value, bool):
                raise ValueError
            value = float(value)
            if not math.isfinite(value):
                raise ValueError
        elif kind == "boolean":
            if isinstance(value, str) and value.lower() in ("true", "false"):
                value = value.lower() == "true"
            elif not isinstance(value, bool):
                raise ValueError
        elif kind.startswith("list["):
            if not isinstance(value, list | tuple):
                raise ValueError
            value = list(value)
        elif not isinstance(value, str):
            if isinstance(value, int | float):
                value = str(value)
            else:
                raise ValueError
    except (ValueError, TypeError, OverflowError):
        raise ApiError(422, f"Invalid value for parameter '{param.name}': expected {kind}, got {value!r}.") from None
    low, high = param.bounds
    if isinstance(value, int | float) and not isinstance(value, bool):
        if low is not None and value < low:
            raise ApiError(422, f"Invalid value for parameter '{param.name}': must be >= {low}, got {value}.")
        if high is not None and value > high:
            raise ApiError(422, f"Invalid value for parameter '{param.name}': must be <= {high}, got {value}.")
    return value


class App:
    """Base of every app: its database, its users and logins."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    schema: ClassVar[str] = ""
    username_field: ClassVar[str] = "email"
    has_accounts: ClassVar[bool] = True

    def __init__(self, world: World, db: sqlite3.Connection):
        self.world, self.db = world, db

    # --- helpers for API bodies -------------------------------------------------------------
    def rows(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        return [dict(r) for r in self.db.execute(sql, args).fetchall()]

    def row(self, sql: str, *args: Any) -> dict[str, Any] | None:
        found = self.db.execute(sql, args).fetchone()
        return dict(found) if found is not None else None

    def execute(self, sql: str, *args: Any) -> int:
        """Run a write; returns lastrowid."""
        cursor = self.db.execute(sql, args)
        return int(cursor.lastrowid or 0)

    def must(self, record: dict[str, Any] | None, what: str) -> dict[str, Any]:
        if record is None:
            raise ApiError(404, f"{what} not found.")
        return record

    @staticmethod
    def page(items: list[Any], page_index: int, page_limit: int) -> list[Any]:
        start = page_index * page_limit
        return items[start : start + page_limit]

    def now(self) -> str:
        return self.world.now_text()

    def user_by(self, field_name: str, value: Any) -> dict[str, Any] | None:
        return self.row(f"SELECT * FROM users WHERE {field_name} = ?", value)

    @staticmethod
    def public_user(user: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in user.items() if k not in ("password",)}

    # --- accounts ---------------------------------------------------------------------------
    @api(
        "POST",
        "/{app}/auth/token",
        "Log in to your account and get an access token for the other APIs of this app.",
        auth=False,
        params={
            "username": "Your account's username (email, or phone number for the phone app).",
            "password": "Your account's password.",
        },
        returns={"access_token": "string", "token_type": "string"},
    )
    def login(self, username: str, password: str) -> dict[str, Any]:
        user = self.user_by(self.username_field, username)
        if user is None or user["password"] != password:
            raise ApiError(401, "Invalid credentials.")
        return {"access_token": self.world.issue_token(self.name, user["id"]), "token_type": "Bearer"}

    @api("DELETE", "/{app}/auth/token", "Log out: the access token stops working.", returns={"message": "string"})
    def logout(self, user: dict[str, Any]) -> dict[str, Any]:
        self.world.revoke_tokens(self.name, user["id"])
        return {"message": "Successfully logged out."}

    @api("GET", "/{app}/account", "Show your account's details.", returns={"id": "integer", "email": "string"})
    def show_account(self, user: dict[str, Any]) -> dict[str, Any]:
        return self.public_user(user)


def bind(app: App, api_: Api, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Validate a call's keyword arguments against the API's parameters; returns the method's kwargs."""
    allowed = {p.name: p for p in api_.params}
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise ApiError(
            422,
            f"Unexpected parameter(s) for {api_.app}.{api_.name}: {', '.join(unknown)}. "
            f"Allowed: {', '.join(allowed) or 'none'}.",
        )
    bound: dict[str, Any] = {}
    for param in api_.params:
        if param.name not in kwargs:
            if param.required:
                raise ApiError(422, f"Missing required parameter '{param.name}' for {api_.app}.{api_.name}.")
            continue
        bound[param.name] = _coerce(param, kwargs[param.name])
    if api_.needs_auth:
        token = bound.pop("access_token")
        bound["user"] = app.world.user_for_token(api_.app, token, app)
    return bound
