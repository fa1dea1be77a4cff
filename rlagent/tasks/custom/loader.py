"""Import a plug-in object named `package.module:Name` or `path/to/file.py:Name`, with one-line errors.

Module paths are looked up in the current folder first, then in the installed packages (as `python -m`
does). A file inside a package (folders with `__init__.py`) is imported as part of that package, so its
relative imports work; a lone file is imported under a private name with its folder on `sys.path`.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

from rlagent.errors import UserError, did_you_mean


def where(exc: BaseException) -> str:
    """`file.py:LINE` of the innermost frame of an exception (the user's code, usually)."""
    frames = traceback.extract_tb(exc.__traceback__)
    if isinstance(exc, SyntaxError) and exc.filename:
        return f"{Path(exc.filename).name}:{exc.lineno}"
    return f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "?"


def describe(exc: BaseException) -> str:
    """One line: exception type, first line of its message, and where it was raised."""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    name = type(exc).__name__
    return f"{name}: {message} ({where(exc)})" if message else f"{name} ({where(exc)})"


def _on_path(folder: Path) -> None:
    text = str(folder)
    if text not in sys.path:
        sys.path.insert(0, text)


def _import_module(name: str, key: str, spec: str) -> ModuleType:
    _on_path(Path.cwd())
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing and (name == missing or name.startswith(missing + ".")):
            raise UserError(
                f"{key}={spec}: module '{name}' not found (looked in {Path.cwd()} and the installed packages)"
            ) from None
        raise UserError(f"{key}={spec}: importing {name} failed: {describe(exc)}") from None
    except Exception as exc:  # the user's module raised while importing
        raise UserError(f"{key}={spec}: importing {name} failed: {describe(exc)}") from None


def _package_root(path: Path) -> Path:
    """The topmost folder above `path` still inside a package (has `__init__.py`), or the file's folder."""
    root = path.parent
    while (root / "__init__.py").is_file() and (root.parent / "__init__.py").is_file():
        root = root.parent
    return root


def _import_file(path: Path, key: str, spec: str) -> ModuleType:
    path = path.expanduser()
    if not path.is_absolute():
        path = Path.cwd() / path
    if not path.is_file():
        raise UserError(f"{key}={spec}: file {path} does not exist")
    path = path.resolve()
    if (path.parent / "__init__.py").is_file():
        root = _package_root(path)
        dotted = ".".join([*path.relative_to(root.parent).with_suffix("").parts])
        _on_path(root.parent)
        return _import_module(dotted, key, spec)
    _on_path(path.parent)
    name = f"rlagent_plugin_{path.stem}_{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"
    if name in sys.modules:
        return sys.modules[name]
    module_spec = importlib.util.spec_from_file_location(name, path)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    try:
        module_spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise UserError(f"{key}={spec}: importing {path.name} failed: {describe(exc)}") from None
    return module


def load_object(spec: str, key: str) -> Any:
    """The object `spec` names; `key` (the recipe key) is quoted in errors."""
    target, _, attr = spec.strip().rpartition(":")
    if not target or not attr or not attr.replace(".", "").replace("_", "").isalnum():
        raise UserError(f"{key}={spec} must name an object as package.module:Name or path/to/file.py:Name")
    is_file = target.endswith(".py") or "/" in target or os.sep in target
    module = _import_file(Path(target), key, spec) if is_file else _import_module(target, key, spec)
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            names = [n for n in dir(obj) if not n.startswith("_")]
            raise UserError(f"{key}={spec}: {target} has no attribute '{part}'{did_you_mean(part, names)}")
        obj = getattr(obj, part)
    return obj
