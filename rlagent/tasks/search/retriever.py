"""Passage retrieval: BM25 (bm25s) with an on-disk index cached by corpus content hash."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Protocol

import numpy as np

from rlagent.models.registry import rlagent_home
from rlagent.tasks.search.records import Passage


class Retriever(Protocol):
    """Top-k passages for a query (BM25Retriever, DenseRetriever)."""

    def search(self, query: str, k: int) -> list[Passage]: ...

    def search_many(self, queries: list[str], k: int) -> list[list[Passage]]: ...


def corpus_hash(passages: list[Passage], *params: object) -> str:
    """Content hash of the corpus (ids, titles, texts) and the index parameters."""
    digest = hashlib.sha256(repr(params).encode())
    for p in passages:
        for part in (p.id, p.title, p.text):
            digest.update(part.encode("utf-8"))
            digest.update(b"\x00")
    return digest.hexdigest()[:20]


def _tokenize(texts: list[str]) -> list[list[str]]:
    import bm25s

    return bm25s.tokenize(texts, stopwords="en", return_ids=False, show_progress=False)


class BM25Retriever:
    """BM25 over `title + text`; the index is built once per corpus and reused from the cache."""

    def __init__(self, passages: list[Passage], k1: float = 0.9, b: float = 0.4, cache_dir: Path | None = None):
        import bm25s

        if not passages:
            raise ValueError("the passage corpus is empty")
        self.passages = passages
        key = corpus_hash(passages, "bm25s", bm25s.__version__, k1, b)
        self.index_dir = (cache_dir or rlagent_home() / "indexes") / f"bm25-{key}"
        self.built_now = False
        self._lock = threading.Lock()
        if (self.index_dir / "params.index.json").is_file():
            self.model = bm25s.BM25.load(str(self.index_dir), show_progress=False, verbosity=0)
        else:
            self.model = bm25s.BM25(k1=k1, b=b)
            self.model.index(_tokenize([f"{p.title} {p.text}" for p in passages]), show_progress=False)
            self._save()
            self.built_now = True

    def _save(self) -> None:
        self.index_dir.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".bm25-", dir=self.index_dir.parent))
        try:
            self.model.save(str(staging), show_progress=False)
            staging.rename(self.index_dir)
        except OSError:
            if not self.index_dir.exists():  # another process may have won the race
                raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def search_many(self, queries: list[str], k: int) -> list[list[Passage]]:
        """Top-k passages per query (fewer when the query has no indexed term)."""
        k = min(k, len(self.passages))
        tokens = _tokenize(queries)
        results: list[list[Passage]] = [[] for _ in queries]
        live = [i for i, t in enumerate(tokens) if any(tok in self.model.vocab_dict for tok in t)]
        if not live:
            return results
        with self._lock:
            docs, scores = self.model.retrieve(
                [[tok for tok in tokens[i] if tok in self.model.vocab_dict] for i in live],
                k=k,
                show_progress=False,
                n_threads=1,
                backend_selection="numpy",  # not JAX, which bm25s picks when installed (see rlagent/__init__.py)
            )
        for row, i in enumerate(live):
            hits = zip(docs[row], scores[row], strict=True)
            results[i] = [self.passages[int(d)] for d, score in hits if np.isfinite(score) and score > 0]
        return results

    def search(self, query: str, k: int) -> list[Passage]:
        return self.search_many([query], k)[0]
