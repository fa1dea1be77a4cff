"""`rlagent new-task NAME`: write a ready custom-task package from the templates next to this file.

The package (environment, reward, example rows, a CPU smoke recipe, a GPU recipe, a test and a README)
passes its own test as written; `__NAME__`, `__CLASS__` and `__SYSTEM__` in the templates' paths and text
become the package name, the environment's class name and the rows' system prompt.
"""

from __future__ import annotations

import json
import keyword
import re
import shutil
import sys
from importlib.util import find_spec
from pathlib import Path

from rlagent.errors import UserError

TEMPLATES = Path(__file__).parent / "templates"
SYSTEM = (
    "You are a warehouse assistant. Use the tools to check stock and to reserve units; reserve only what you are "
    "asked to. When you are done, reply in one short sentence."
)


def class_name(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_") if part) + "Env"


def check_name(name: str, target: Path) -> None:
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name) or keyword.iskeyword(name):
        raise UserError(f"task name '{name}' must be a lowercase Python identifier, e.g. inventory or order_desk")
    if target.exists():
        raise UserError(f"{target} already exists; choose another name or --dir")
    if name in sys.stdlib_module_names or name in sys.builtin_module_names or find_spec(name) is not None:
        raise UserError(f"task name '{name}' is already an importable module; choose another name")


def write_package(name: str, parent: Path) -> list[Path]:
    """Write the package `parent/name`; returns the files written."""
    target = parent / name
    check_name(name, target)
    if not parent.is_dir():
        raise UserError(f"--dir {parent} is not a folder")
    replacements = {"__NAME__": name, "__CLASS__": class_name(name), "__SYSTEM__": json.dumps(SYSTEM)[1:-1]}
    staging = parent / f".{name}.new"
    shutil.rmtree(staging, ignore_errors=True)
    written = []
    try:
        for template in sorted(TEMPLATES.rglob("*.tmpl")):
            relative = str(template.relative_to(TEMPLATES))[: -len(".tmpl")]
            text = template.read_text()
            for key, value in replacements.items():
                relative, text = relative.replace(key, value), text.replace(key, value)
            path = staging / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            written.append(target / relative)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return written


def new_task_command(name: str, parent: Path) -> None:
    from rlagent.ui import out_console

    files = write_package(name, parent)
    target = parent / name
    out_console.print(f"wrote {target}/ ({len(files)} files)", highlight=False)
    for path in files:
        out_console.print(f"  {path.relative_to(parent)}", highlight=False)
    where = "" if parent.resolve() == Path.cwd() else f"cd {parent} && "
    out_console.print(
        f"next: {where}python -m pytest {name}/tests\n"
        f"      RLAGENT_RECIPES_PATH={name}/recipes rlagent train recipe={name}_smoke",
        highlight=False,
    )
