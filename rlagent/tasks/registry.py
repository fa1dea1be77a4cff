"""Build the task suite a recipe names."""

from __future__ import annotations

from rlagent.config.schema import TaskConfig
from rlagent.tasks.base import TaskSuite

NOT_BUILT: dict[str, str] = {}
"""Suites named in the schema whose machinery this version lacks (none today)."""


def check_suite_built(cfg: TaskConfig) -> None:
    """Kept for callers that check before building; every suite of the schema is built."""


def build_suite(cfg: TaskConfig) -> TaskSuite:
    if cfg.suite == "custom":
        from rlagent.tasks.custom.suite import CustomSuite

        return CustomSuite(cfg)
    if cfg.suite in ("appsim", "appworld"):
        from rlagent.tasks.appworld.suite import AppWorldSuite

        return AppWorldSuite(cfg)
    from rlagent.tasks.search.suite import SearchSuite

    return SearchSuite(cfg)
