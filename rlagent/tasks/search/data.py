"""Load questions and passages: local JSONL, Hugging Face Hub datasets, or the embedded knowledge base."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rlagent.config.schema import TaskConfig
from rlagent.errors import UserError
from rlagent.tasks.base import Example
from rlagent.tasks.datafiles import HUB_SPLIT_ALIASES, read_jsonl_strict
from rlagent.tasks.search.records import (
    Passage,
    example_from_record,
    passage_from_record,
    passages_from_paragraphs,
)


def _unique(examples: Iterable[Example], where: str) -> list[Example]:
    seen: set[str] = set()
    out = []
    for example in examples:
        if example.id in seen:
            raise UserError(f"{where}: duplicate question id '{example.id}'")
        seen.add(example.id)
        out.append(example)
    return out


class LocalSource:
    """JSONL files: task.files.<split> / task.files.corpus, else <data_dir>/<dataset>/<split>.jsonl."""

    def __init__(self, cfg: TaskConfig):
        self.cfg = cfg

    def path(self, name: str) -> Path:
        if name in self.cfg.files:
            path = Path(self.cfg.files[name]).expanduser()
        elif self.cfg.data_dir:
            path = Path(self.cfg.data_dir).expanduser() / self.cfg.dataset / f"{name}.jsonl"
        else:
            raise UserError(
                f"task.dataset={self.cfg.dataset} reads local JSONL: set RLAGENT_DATA_DIR or task.data_dir to "
                f"the folder holding {self.cfg.dataset}/{{train,dev,corpus}}.jsonl, or task.files.{name}=PATH"
            )
        if not path.is_file():
            raise UserError(f"{name} file '{path}' does not exist (task.dataset={self.cfg.dataset})")
        return path

    def examples(self, split: str) -> list[Example]:
        path = self.path(split)
        rows = read_jsonl_strict(path)
        try:
            return _unique((example_from_record(r, f"{split}-{i}") for i, r in enumerate(rows)), str(path))
        except (KeyError, ValueError, TypeError) as exc:
            raise UserError(f"{path}: bad question record ({exc})") from None

    def passages(self) -> list[Passage]:
        path = self.path("corpus")
        try:
            return [passage_from_record(r, f"p{i}") for i, r in enumerate(read_jsonl_strict(path))]
        except (KeyError, ValueError, TypeError) as exc:
            raise UserError(f"{path}: bad passage record ({exc})") from None


class HubSource:
    """Hugging Face Hub datasets (datasets.load_dataset); `load` is swappable for local files in tests."""

    def __init__(self, cfg: TaskConfig, load: Any = None):
        if not cfg.hub_dataset:
            raise UserError(f"task.source=hub needs task.hub_dataset (task.dataset={cfg.dataset})")
        self.cfg = cfg
        if load is None:
            from datasets import load_dataset

            load = load_dataset
        self.load = load

    def _split(self, name: str, split: str) -> list[dict[str, Any]]:
        errors = []
        for candidate in HUB_SPLIT_ALIASES.get(split, (split,)):
            try:
                return list(self.load(name, self.cfg.hub_config, split=candidate))
            except ValueError as exc:  # unknown split name: try the next alias
                errors.append(str(exc).splitlines()[0])
        raise UserError(f"hub dataset {name} has no split '{split}' ({'; '.join(errors)})")

    def examples(self, split: str) -> list[Example]:
        rows = self._split(self.cfg.hub_dataset, split)  # type: ignore[arg-type]
        return _unique((example_from_record(r, f"{split}-{i}") for i, r in enumerate(rows)), self.cfg.hub_dataset)

    def passages(self) -> list[Passage]:
        if self.cfg.hub_corpus:
            rows = self._split(self.cfg.hub_corpus, "train")
            return [passage_from_record(r, f"p{i}") for i, r in enumerate(rows)]
        # MuSiQue-style datasets carry their paragraphs: the corpus is every split's paragraphs.
        passages: dict[str, Passage] = {}
        for split in ("train", "dev"):
            for i, row in enumerate(self._split(self.cfg.hub_dataset, split)):  # type: ignore[arg-type]
                for passage in passages_from_paragraphs(row, f"{split}-{i}"):
                    passages.setdefault(passage.id, passage)
        if not passages:
            raise UserError(f"task.hub_corpus is not set and {self.cfg.hub_dataset} carries no paragraphs")
        return list(passages.values())


def make_source(cfg: TaskConfig) -> Any:
    if cfg.source == "local":
        return LocalSource(cfg)
    if cfg.source == "hub":
        return HubSource(cfg)
    from rlagent.tasks.search.synthetic_kb import SyntheticKB

    return SyntheticKB(cfg.synthetic)
