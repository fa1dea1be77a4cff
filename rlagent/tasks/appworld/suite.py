"""The AppWorld-style suite: appsim (offline, built in) or real AppWorld, with the same code agent.

Worlds: `inprocess` gives each episode its own in-process appsim service (its own sandboxed
Python process); `appsim_servers` and `appworld` hold one server of a pool per episode, as AppWorld
serves one task world per process.

Difficulty filters: `task.appworld.difficulties` filters the examples a run trains on (`examples`, what the trainer
asks for); evaluations ask for `evaluation_examples`, filtered by `task.appworld.eval_difficulties` (empty: every
task of the split, as LOOP and AppWorld report dev and test_normal). appsim and real AppWorld share both paths.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
from functools import cached_property
from pathlib import Path
from typing import Any

from rlagent.config.schema import TaskConfig
from rlagent.errors import UserError
from rlagent.tasks.appworld.env import AppWorldEnvironment, WorldHandle
from rlagent.tasks.appworld.verifier import AppWorldVerifier
from rlagent.tasks.base import Example

SPLITS = ("train", "dev", "test_normal", "test_challenge")


class AppWorldSuite:
    def __init__(self, cfg: TaskConfig):
        self.cfg = cfg
        self.app_cfg = cfg.appworld
        self.name = cfg.suite
        self.verifier = AppWorldVerifier(cfg.appworld)
        self._lock = threading.Lock()
        for key in ("difficulties", "eval_difficulties"):
            bad = [d for d in getattr(self.app_cfg, key) if d not in (1, 2, 3)]
            if bad:
                raise UserError(f"task.appworld.{key} has {bad[0]}; allowed: 1, 2, 3")
        timeout = self.app_cfg.sandbox.timeout_s
        if self.app_cfg.world != "inprocess" and self.app_cfg.request_timeout_s < timeout + 10:
            raise UserError(
                f"task.appworld.request_timeout_s={self.app_cfg.request_timeout_s} must exceed the execute timeout "
                f"task.appworld.sandbox.timeout_s={timeout} by at least 10 s"
            )
        if cfg.suite == "appworld" and self.app_cfg.world != "appworld":
            raise UserError("task.suite=appworld needs task.appworld.world=appworld (appsim worlds: task=appsim)")
        if cfg.suite == "appsim" and self.app_cfg.world == "appworld":
            raise UserError("task.appworld.world=appworld needs task=appworld (real AppWorld task ids)")

    # --- examples ---------------------------------------------------------------------------
    def examples(self, split: str) -> list[Example]:
        """The examples a run trains on: `split`'s tasks of the difficulties in task.appworld.difficulties."""
        return self._examples(split, "difficulties")

    def evaluation_examples(self, split: str) -> list[Example]:
        """The examples an evaluation plays: `split`'s tasks of the difficulties in task.appworld.eval_difficulties
        (empty: all); the training filter does not apply."""
        return self._examples(split, "eval_difficulties")

    def _examples(self, split: str, key: str) -> list[Example]:
        if split not in SPLITS:
            raise UserError(f"split '{split}' of task.suite={self.name} does not exist; allowed: {', '.join(SPLITS)}")
        wanted = tuple(getattr(self.app_cfg, key))
        found = self._appsim_examples(split) if self.name == "appsim" else self._appworld_examples(split)
        if wanted:
            found = [ex for ex in found if ex.data.get("difficulty") in wanted]
        if not found:
            raise UserError(
                f"split '{split}' of task.suite={self.name} has no tasks of difficulty {list(wanted)} "
                f"(task.appworld.{key})"
            )
        return found[: self.cfg.limit] if self.cfg.limit else found

    def _appsim_examples(self, split: str) -> list[Example]:
        from rlagent.worlds.appsim.tasks.catalog import spec, task_ids

        out = []
        for task_id in task_ids(split):
            s = spec(task_id)
            out.append(
                Example(
                    task_id,
                    {
                        "task_id": task_id,
                        "scenario_id": s.scenario_id,
                        "difficulty": s.difficulty,
                        "template": s.template,
                    },
                )
            )
        return out

    def _appworld_root(self) -> Path:
        root = self.app_cfg.appworld_root
        if not root:
            raise UserError(
                "task.appworld.appworld_root is not set: point it (or $APPWORLD_ROOT) at the folder "
                "holding AppWorld's downloaded data (`appworld download data`)"
            )
        return Path(root)

    def _appworld_examples(self, split: str) -> list[Example]:
        root = self._appworld_root()
        splits_dir = self.app_cfg.splits_dir
        if not splits_dir:
            if not self.cfg.data_dir:
                raise UserError(
                    "task.appworld.splits_dir is not set and there is no task.data_dir holding "
                    "appworld/splits/<split>.txt"
                )
            splits_dir = str(Path(self.cfg.data_dir) / "appworld" / "splits")
        path = Path(splits_dir) / f"{split}.txt"
        if not path.is_file():
            raise UserError(f"AppWorld split file {path} does not exist")
        ids = [line.strip() for line in path.read_text().splitlines() if line.strip()]
        out = []
        for task_id in ids:
            meta = root / "data" / "tasks" / task_id / "ground_truth" / "metadata.json"
            difficulty = json.loads(meta.read_text()).get("difficulty") if meta.is_file() else None
            out.append(
                Example(
                    task_id, {"task_id": task_id, "scenario_id": task_id.rsplit("_", 1)[0], "difficulty": difficulty}
                )
            )
        return out

    # --- worlds -----------------------------------------------------------------------------
    @cached_property
    def pool(self) -> Any:
        from rlagent.models.registry import rlagent_home
        from rlagent.tasks.appworld.pool import ServerPool, appsim_command, appworld_command

        cfg = self.app_cfg
        if cfg.world == "appworld":
            venv = Path(cfg.appworld_venv) if cfg.appworld_venv else None
            command = appworld_command(self._appworld_root(), venv)
        else:
            command = appsim_command("--sandbox-json", json.dumps(dataclasses.asdict(cfg.sandbox)))
        log_dir = rlagent_home() / "logs" / f"world-servers-{os.getpid()}"
        pool = ServerPool(
            command,
            cfg.num_servers,
            log_dir,
            experiment_prefix=f"{cfg.experiment_name}-{os.getpid()}-",
            start_timeout_s=cfg.server_start_timeout_s,
            client_timeout_s=cfg.request_timeout_s,
        )
        return pool.start()

    def _acquire(self) -> WorldHandle:
        if self.app_cfg.world == "inprocess":
            from rlagent.worlds.appsim.service import AppsimService

            service = AppsimService(self.app_cfg.sandbox)
            return service, service.close_all
        with self._lock:
            pool = self.pool
        lease = pool.acquire()
        lease.client.experiment_name = lease.experiment_name
        return lease.client, lease.release

    def demonstration(self, example: Example) -> list[str] | None:
        """appsim's scripted oracle as one code turn (its programs are 140-200 tokens); real AppWorld's ground
        truth is not read here."""
        if self.name != "appsim":
            return None
        from rlagent.worlds.appsim.tasks.catalog import instance

        oracle = instance(example.data["task_id"])[1].oracle
        return [f"I log in where needed and solve the task in one step.\n```python\n{oracle}```"]

    def make_env(self, example: Example) -> AppWorldEnvironment:
        return AppWorldEnvironment(example, self.app_cfg, self._acquire)

    def close(self) -> None:
        if "pool" in self.__dict__:
            self.pool.close()
