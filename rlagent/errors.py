"""`UserError`: bad input from the user, reported as one line and exit code 2; `RunFailed`: a started run that
stops, one line and exit code 1."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class UserError(Exception):
    """Bad input: the CLI prints the message on one line and exits with code 2."""

    exit_code = 2


class NotBuiltError(UserError):
    """A command or suite whose machinery is not built yet."""


class RunFailed(UserError):
    """A run that started cannot usefully go on (too many errored episodes, a checkpoint that could not be
    written): one line on stderr, exit code 1, run.json status `failed`, the run directory kept.
    `resumable`: the run can continue from its latest complete checkpoint once the cause is fixed."""

    exit_code = 1

    def __init__(self, message: str, resumable: bool = False):
        super().__init__(message)
        self.resumable = resumable


def did_you_mean(word: str, allowed: Iterable[str]) -> str:
    """' (did you mean X?)' when a close match exists, else ''."""
    close = difflib.get_close_matches(word, list(allowed), n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def allowed_list(allowed: Iterable[str]) -> str:
    """Comma-separated allowed values, sorted."""
    return ", ".join(sorted(allowed))
