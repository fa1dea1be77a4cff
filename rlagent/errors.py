"""`UserError`: bad input from the user, reported as one line and exit code 2."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class UserError(Exception):
    """Bad input: the CLI prints the message on one line and exits with code 2."""

    exit_code = 2


class NotBuiltError(UserError):
    """A command or suite whose machinery is not built yet."""


def did_you_mean(word: str, allowed: Iterable[str]) -> str:
    """' (did you mean X?)' when a close match exists, else ''."""
    close = difflib.get_close_matches(word, list(allowed), n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def allowed_list(allowed: Iterable[str]) -> str:
    """Comma-separated allowed values, sorted."""
    return ", ".join(sorted(allowed))
