"""`rlagent appsim serve | tasks | export`."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import typer
from rich.table import Table

from rlagent.errors import UserError
from rlagent.ui import friendly, out_console

appsim_app = typer.Typer(
    help="The offline AppWorld-compatible world: serve it, list and export its tasks.", no_args_is_help=True
)


def _check_split(split: str | None) -> None:
    from rlagent.worlds.appsim.tasks.catalog import SPLITS

    if split is not None and split not in SPLITS:
        raise UserError(f"unknown appsim split '{split}'; allowed: {', '.join(SPLITS)}")


@appsim_app.command("serve")
@friendly
def serve_command(
    port: int = typer.Option(8000, "--port", help="TCP port on the host."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (loopback by default)."),
    sandbox: str = typer.Option("bwrap", "--sandbox", help="Code sandbox: bwrap or rlimits."),
    timeout_s: float = typer.Option(10.0, "--timeout", help="Wall-clock seconds per execute."),
    sandbox_json: str = typer.Option(
        None, "--sandbox-json", help="Every sandbox setting as JSON (task.appworld.sandbox); overrides the two above."
    ),
) -> None:
    """Serve appsim with AppWorld's environment-server protocol (one process, many tasks)."""
    import dataclasses
    import json

    from rlagent.sandbox.config import SandboxConfig
    from rlagent.worlds.appsim.server import serve

    if sandbox not in ("bwrap", "rlimits"):
        raise UserError(f"--sandbox {sandbox} is not allowed; allowed: bwrap, rlimits")
    if not 0 < port < 65536:
        raise UserError(f"--port {port} is not a TCP port (1 to 65535)")
    config = SandboxConfig(mode=sandbox, timeout_s=timeout_s)
    if sandbox_json:
        try:
            fields = json.loads(sandbox_json)
            config = dataclasses.replace(SandboxConfig(), **fields)
        except (ValueError, TypeError) as exc:
            allowed = ", ".join(f.name for f in dataclasses.fields(SandboxConfig))
            raise UserError(f"--sandbox-json is not a JSON object of sandbox settings ({allowed}): {exc}") from None
    serve(port, host, config)


@appsim_app.command("tasks")
@friendly
def tasks_command(split: str = typer.Option(None, "--split", help="List this split's task ids.")) -> None:
    """Task counts by split and difficulty, or one split's task ids with template and difficulty."""
    from rlagent.worlds.appsim.tasks.catalog import SPLITS, catalog

    _check_split(split)
    specs = list(catalog().values())
    if split:
        for s in specs:
            if s.split == split:
                out_console.print(f"{s.task_id}\t{s.template}\tdifficulty {s.difficulty}", highlight=False)
        return
    table = Table(title="appsim tasks")
    for column in ("split", "tasks", "scenarios", "difficulty 1", "difficulty 2", "difficulty 3", "templates"):
        table.add_column(column)
    for name in SPLITS:
        chosen = [s for s in specs if s.split == name]
        levels = Counter(s.difficulty for s in chosen)
        table.add_row(
            name,
            str(len(chosen)),
            str(len({s.scenario_id for s in chosen})),
            *(str(levels.get(d, 0)) for d in (1, 2, 3)),
            str(len({s.template for s in chosen})),
        )
    out_console.print(table)


@appsim_app.command("export")
@friendly
def export_command(
    folder: Path = typer.Argument(..., help="An APPWORLD_ROOT-like folder; tasks go to data/tasks/<task_id>/."),
    split: str = typer.Option(None, "--split", help="Only this split (default: all)."),
) -> None:
    """Write task specs in AppWorld's on-disk layout so AppWorld's own client can drive appsim."""
    from rlagent.worlds.appsim.export import export_tasks

    _check_split(split)
    count = export_tasks(folder, split)
    out_console.print(f"exported {count} appsim tasks to {folder / 'data' / 'tasks'}", highlight=False)
