"""Terminal output: one rich console on stderr for progress and messages, tables to stdout."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

err_console = Console(stderr=True)
out_console = Console(width=None if sys.stdout.isatty() else 240)
"""Tables to stdout; piped or redirected, a wide fixed width instead of 80 columns, so cells stay readable."""


def friendly(func: Callable[..., Any]) -> Callable[..., Any]:
    """Report UserError as one line on stderr with exit code 2 (for every CLI command)."""
    from rlagent.errors import UserError

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except UserError as exc:
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None

    return wrapper


def progress_bar(transient: bool = False) -> Progress:
    """A progress bar with count, elapsed and remaining time (hidden when stderr is not a terminal)."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[status]}"),
        console=err_console,
        transient=transient,
    )
