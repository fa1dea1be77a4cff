"""Search-agent suite: NQ, MuSiQue and the embedded knowledge base, BM25 retrieval, EM/F1."""
