"""Rows of a custom task, in TRL's dataset format: a `prompt` (chat messages or a string) plus any fields.

From JSONL or CSV files (`task.files.<split>`, else `<task.data_dir>/<task.dataset>/<split>.jsonl|.csv`)
or a Hugging Face dataset (`task.source=hub`, `task.hub_dataset`; a local dataset folder works too).
Each row is passed whole to the environment's `reset(**row)` and to the reward function.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from rlagent.config.schema import TaskConfig
from rlagent.errors import UserError
from rlagent.tasks.base import Example
from rlagent.tasks.datafiles import HUB_SPLIT_ALIASES, read_jsonl_strict

SUFFIXES = (".jsonl", ".csv")


def _read_csv(path: Path) -> list[Any]:
    with path.open(encoding="utf-8", newline="") as handle:
        return [dict(row) for row in csv.DictReader(handle)]


def _local_path(cfg: TaskConfig, split: str) -> Path:
    if split in cfg.files:
        path = Path(cfg.files[split]).expanduser()
        if not path.is_file():
            raise UserError(f"{split} file '{path}' does not exist (task.files.{split})")
        return path
    if not cfg.data_dir:
        raise UserError(f"task=custom has no rows for split '{split}': set task.files.{split}=PATH (JSONL or CSV)")
    folder = Path(cfg.data_dir).expanduser() / cfg.dataset
    for suffix in SUFFIXES:
        if (folder / f"{split}{suffix}").is_file():
            return folder / f"{split}{suffix}"
    raise UserError(f"no {split}.jsonl or {split}.csv in {folder}; set task.files.{split}=PATH")


def _hub_rows(cfg: TaskConfig, split: str) -> tuple[list[Any], str]:
    if not cfg.hub_dataset:
        raise UserError("task.source=hub needs task.hub_dataset (a Hub id or a local dataset folder)")
    from datasets import load_dataset

    errors = []
    for candidate in HUB_SPLIT_ALIASES.get(split, (split,)):
        try:
            rows = load_dataset(cfg.hub_dataset, cfg.hub_config, split=candidate)
        except ValueError as exc:  # unknown split: try the next name
            errors.append(str(exc).splitlines()[0])
            continue
        except Exception as exc:
            message = f"task.hub_dataset={cfg.hub_dataset}: {type(exc).__name__}: {exc}"
            raise UserError(message.splitlines()[0]) from None
        return list(rows), f"{cfg.hub_dataset}[{candidate}]"
    raise UserError(f"hub dataset {cfg.hub_dataset} has no split '{split}' ({'; '.join(errors)})")


def read_rows(cfg: TaskConfig, split: str) -> tuple[list[Any], str]:
    """The raw rows of a split and where they came from (for error messages)."""
    if cfg.source == "hub":
        return _hub_rows(cfg, split)
    if cfg.source != "local":
        raise UserError(f"task=custom reads rows from files or the Hub: set task.source=local or hub, not {cfg.source}")
    path = _local_path(cfg, split)
    if path.suffix == ".csv":
        return _read_csv(path), str(path)
    if path.suffix == ".jsonl":
        return read_jsonl_strict(path), str(path)
    raise UserError(f"{path}: rows must be a .jsonl or .csv file")


def _check_prompt(prompt: Any, where: str) -> None:
    if isinstance(prompt, str):
        return
    ok = (
        isinstance(prompt, list)
        and prompt
        and all(
            isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str) for m in prompt
        )
    )
    if not ok:
        raise UserError(f"{where}: 'prompt' must be a string or a list of {{role, content}} messages")


def to_examples(rows: list[Any], split: str, id_field: str, source: str) -> list[Example]:
    """Examples holding each row as is; ids from `id_field`, else `<split>-<index>`; duplicates refused."""
    examples, seen = [], set()
    for index, row in enumerate(rows):
        where = f"{source} row {index + 1}"
        if not isinstance(row, dict):
            raise UserError(f"{where}: a row must be an object of fields, not {type(row).__name__}")
        if "prompt" in row:
            _check_prompt(row["prompt"], where)
        example_id = str(row[id_field]) if row.get(id_field) not in (None, "") else f"{split}-{index}"
        if example_id in seen:
            raise UserError(f"{where}: duplicate id '{example_id}' ({id_field})")
        seen.add(example_id)
        examples.append(Example(example_id, dict(row)))
    return examples


def prompt_messages(row: dict[str, Any]) -> list[dict[str, Any]]:
    """The row's prompt as chat messages (a string is one user message; no prompt: an empty one, as TRL)."""
    prompt = row.get("prompt")
    if prompt is None:
        return [{"role": "user", "content": ""}]
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    return [dict(m) for m in prompt]
