"""The search suite: questions by split, one SearchEnvironment per episode, the EM/F1 verifier."""

from __future__ import annotations

import json
from functools import cached_property

from rlagent.config.schema import TaskConfig
from rlagent.errors import UserError
from rlagent.tasks.base import Example
from rlagent.tasks.search.answers import normalize_answer
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

    @cached_property
    def _titles(self) -> dict[str, str]:
        return {p.id: p.title for p in self.source.passages()}

    def examples(self, split: str) -> list[Example]:
        examples = self.source.examples(split)
        if not examples:
            raise UserError(f"split '{split}' of task.dataset={self.cfg.dataset} has no examples")
        return examples[: self.cfg.limit] if self.cfg.limit else examples

    def make_env(self, example: Example) -> SearchEnvironment:
        return SearchEnvironment(example, self.retriever, self.cfg)

    def demonstration(self, example: Example) -> list[str] | None:
        """The oracle's turns. Questions that carry their decomposition (the embedded knowledge base): search
        each hop's entity by name, then answer. Real datasets (NQ, MuSiQue): a retrieval-grounded oracle that
        searches the question as written and answers with the first gold answer the shown passages contain
        (None when they contain none), so a demonstration never answers what its search did not find."""
        if self.cfg.source == "synthetic":
            return self._hop_demonstration(example)
        return self._grounded_demonstration(example)

    def _hop_demonstration(self, example: Example) -> list[str] | None:
        if not example.data.get("supporting_ids"):
            return None
        entities = [self._titles.get(pid) for pid in example.data["supporting_ids"]]
        if any(name is None for name in entities):
            return None
        actions = [self._action("search", "query", name) for name in entities]
        return [*actions, self._action("answer", "answer", example.data["answers"][0])]

    def _grounded_demonstration(self, example: Example) -> list[str] | None:
        question = example.data["question"]
        shown = " ".join(
            normalize_answer(p.render(self.cfg.search.passage_chars))
            for p in self.retriever.search(question, self.cfg.search.top_k)
        )
        for answer in example.data["answers"]:
            wanted = normalize_answer(answer)
            if wanted and f" {wanted} " in f" {shown} ":
                return [self._action("search", "query", question), self._action("answer", "answer", answer)]
        return None

    def _action(self, tool: str, argument: str, value: str) -> str:
        if self.cfg.search.protocol == "tools":
            call = json.dumps({"name": tool, "arguments": {argument: value}})
            return f"<tool_call>\n{call}\n</tool_call>"
        return f"<{tool}> {value} </{tool}>"
