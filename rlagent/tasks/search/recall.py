"""Retrieval recall@k of supporting passages: one search with the question, or one per gold hop."""

from __future__ import annotations

from rlagent.tasks.base import Example
from rlagent.tasks.search.retriever import Retriever


def hop_queries(example: Example) -> list[str]:
    """The gold decomposition's sub-questions with #k replaced by earlier answers (MuSiQue style)."""
    steps = example.data.get("decomposition") or []
    queries = []
    for step in steps:
        query = step["question"]
        for k, earlier in enumerate(steps, 1):
            query = query.replace(f"#{k}", earlier["answer"])
        queries.append(query.replace(">>", " "))
    return queries or [example.data["question"]]


def recall_at_k(retriever: Retriever, examples: list[Example], k: int, per_hop: bool = False) -> dict[str, float]:
    """Fraction of questions with any / all supporting passages among the retrieved ones."""
    any_hit = all_hit = counted = 0
    queries = [hop_queries(ex) if per_hop else [ex.data["question"]] for ex in examples]
    flat = [q for qs in queries for q in qs]
    results = iter(retriever.search_many(flat, k))
    for example, qs in zip(examples, queries, strict=True):
        shown = {p.id for _ in qs for p in next(results)}
        support = set(example.data.get("supporting_ids") or [])
        if not support:
            continue
        counted += 1
        any_hit += bool(support & shown)
        all_hit += support <= shown
    return {"questions": counted, "any_support": any_hit / max(counted, 1), "all_support": all_hit / max(counted, 1)}
