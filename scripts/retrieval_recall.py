"""Retrieval recall@k on the NQ and MuSiQue slices: one search with the question vs. one search per gold
hop. Usage: RLAGENT_DATA_DIR=../shared/data python scripts/retrieval_recall.py [bm25|dense]"""

from __future__ import annotations

import os
import sys

from rlagent.config.schema import TaskConfig
from rlagent.tasks.search.data import LocalSource
from rlagent.tasks.search.recall import recall_at_k
from rlagent.tasks.search.retriever import BM25Retriever, Retriever


def build(kind: str, source: LocalSource) -> Retriever:
    if kind == "dense":
        from rlagent.tasks.search.dense import DenseRetriever

        return DenseRetriever(source.passages(), "sentence-transformers/all-MiniLM-L6-v2")
    return BM25Retriever(source.passages(), k1=0.9, b=0.4)


def main() -> None:
    kind = sys.argv[1] if len(sys.argv) > 1 else "bm25"
    if kind not in ("bm25", "dense"):
        sys.exit("usage: retrieval_recall.py [bm25|dense]")
    data_dir = os.environ.get("RLAGENT_DATA_DIR")
    if not data_dir:
        sys.exit("set RLAGENT_DATA_DIR to the folder holding nq/ and musique/")
    print(f"| {kind}: dataset (split, questions) | searches | k | any supporting passage | all supporting passages |")
    print("|---|---|---:|---:|---:|")
    for dataset in ("nq", "musique"):
        source = LocalSource(TaskConfig(dataset=dataset, source="local", data_dir=data_dir))
        retriever = build(kind, source)
        # MuSiQue's slice is small: use both of its splits.
        examples = source.examples("dev") + (source.examples("train") if dataset == "musique" else [])
        split = "train+dev" if dataset == "musique" else "dev"
        modes = [False, True] if dataset == "musique" else [False]
        for per_hop in modes:
            for k in (1, 3, 5, 10):
                r = recall_at_k(retriever, examples, k=k, per_hop=per_hop)
                how = "one per gold hop" if per_hop else "one (the question)"
                print(
                    f"| {dataset} ({split}, {r['questions']}) | {how} | {k} | {r['any_support']:.3f} | "
                    f"{r['all_support']:.3f} |"
                )


if __name__ == "__main__":
    main()
