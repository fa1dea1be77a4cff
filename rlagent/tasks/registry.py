"""Build the task suite a recipe names."""

from __future__ import annotations

from rlagent.config.schema import TaskConfig
from rlagent.errors import NotBuiltError
from rlagent.tasks.base import TaskSuite

NOT_BUILT = {
    "appworld": "AppWorld (HTTP client for AppWorld's environment server, TGC/SGC verifier)",
    "appsim": "the offline AppWorld-compatible world",
}


def check_suite_built(cfg: TaskConfig) -> None:
    """Raise NotBuiltError (exit 2) for suites this version does not have yet."""
    if cfg.suite in NOT_BUILT:
        raise NotBuiltError(
            f"task suite '{cfg.suite}' is not built yet: {NOT_BUILT[cfg.suite]} is missing from this version; "
            "built suites: search"
        )


def build_suite(cfg: TaskConfig) -> TaskSuite:
    check_suite_built(cfg)
    from rlagent.tasks.search.suite import SearchSuite

    return SearchSuite(cfg)
