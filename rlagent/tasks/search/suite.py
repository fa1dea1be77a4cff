"""The search suite: questions by split, one SearchEnvironment per episode, the EM/F1 verifier."""

from __future__ import annotations

from functools import cached_property

from rlagent.config.schema import TaskConfig
from rlagent.errors import UserError
from rlagent.tasks.base import Example
from rlagent.tasks.search.data import make_source
from rlagent.tasks.search.env import SearchEnvironment
from rlagent.tasks.search.retriever import BM25Retriever, Retriever
from rlagent.tasks.search.verifier import SearchVerifier


class SearchSuite:
    name = "search"

    def __init__(self, cfg: TaskConfig):
        self.cfg = cfg
        self.source = make_source(cfg)
        self.verifier = SearchVerifier(cfg.search)

    @cached_property
    def retriever(self) -> Retriever:
        passages = self.source.passages()
        if self.cfg.search.retriever == "dense":
            from rlagent.tasks.search.dense import DenseRetriever

            return DenseRetriever(passages, self.cfg.search.dense_model)
        return BM25Retriever(passages, k1=self.cfg.search.bm25_k1, b=self.cfg.search.bm25_b)

    def examples(self, split: str) -> list[Example]:
        examples = self.source.examples(split)
        if not examples:
            raise UserError(f"split '{split}' of task.dataset={self.cfg.dataset} has no examples")
        return examples[: self.cfg.limit] if self.cfg.limit else examples

    def make_env(self, example: Example) -> SearchEnvironment:
        return SearchEnvironment(example, self.retriever, self.cfg)
