"""Retrieval scaling: BM25 (bm25s, as rlagent's search suite uses it) over generated corpora of growing size —
index build seconds, reload from the on-disk cache, query latency p50/p99 and peak memory. Each size runs in a
fresh interpreter so its peak memory is its own. Prints a markdown table.

    .venv/bin/python scripts/bench/bench_retrieval.py [SIZE ...]   (default: 10000 100000 1000000)

Passages are 64 words drawn from a Zipf(1.1) vocabulary of 50,000 made-up words (seeded), roughly the length
of a DPR Wikipedia chunk; queries are 6 words drawn the same way.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORDS, VOCAB, QUERIES, QUERY_WORDS = 64, 50_000, 200, 6


def vocabulary():
    import numpy as np

    rng = np.random.default_rng(0)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    words = ["".join(rng.choice(letters, size=int(rng.integers(3, 10)))) for _ in range(VOCAB)]
    weights = 1.0 / np.arange(1, VOCAB + 1) ** 1.1
    return words, weights / weights.sum()


def one_size(size: int) -> dict[str, float]:
    import numpy as np

    from rlagent.tasks.search.records import Passage
    from rlagent.tasks.search.retriever import BM25Retriever

    words, probs = vocabulary()
    rng = np.random.default_rng(size)
    started = time.perf_counter()
    passages = []
    for start in range(0, size, 10_000):
        count = min(10_000, size - start)
        draws = rng.choice(VOCAB, size=(count, WORDS), p=probs)
        passages += [
            Passage(id=f"p{start + i}", title=words[row[0]], text=" ".join(words[w] for w in row))
            for i, row in enumerate(draws)
        ]
    generate_s = time.perf_counter() - started
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with tempfile.TemporaryDirectory() as cache:
        started = time.perf_counter()
        retriever = BM25Retriever(passages, cache_dir=Path(cache))
        build_s = time.perf_counter() - started
        started = time.perf_counter()
        BM25Retriever(passages, cache_dir=Path(cache))
        load_s = time.perf_counter() - started
        queries = [" ".join(words[w] for w in rng.choice(VOCAB, size=QUERY_WORDS, p=probs)) for _ in range(QUERIES)]
        latencies = []
        for query in queries:
            started = time.perf_counter()
            retriever.search(query, 3)
            latencies.append(time.perf_counter() - started)
        index_mb = sum(f.stat().st_size for f in Path(cache).rglob("*") if f.is_file()) / 2**20
    latencies.sort()
    return {
        "generate_s": generate_s,
        "build_s": build_s,
        "load_s": load_s,
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[int(len(latencies) * 0.99) - 1],
        "index_mb": index_mb,
        "corpus_peak_gb": rss_before / 2**20,
        "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
    }


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--one":
        print(json.dumps(one_size(int(sys.argv[2]))))
        return
    sizes = [int(s) for s in sys.argv[1:]] or [10_000, 100_000, 1_000_000]
    print(
        "| passages | build s | load from cache s | query p50 ms | query p99 ms | index on disk MiB | peak GiB "
        "(corpus in memory) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for size in sizes:
        done = subprocess.run([sys.executable, __file__, "--one", str(size)], capture_output=True, text=True)
        if done.returncode != 0:
            print(f"| {size:,} | failed: {done.stderr.strip().splitlines()[-1][:80]} |||||", flush=True)
            continue
        r = json.loads(done.stdout.strip().splitlines()[-1])
        print(
            f"| {size:,} | {r['build_s']:.1f} | {r['load_s']:.2f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | "
            f"{r['index_mb']:.0f} | {r['peak_gb']:.2f} ({r['corpus_peak_gb']:.2f}) |",
            flush=True,
        )


if __name__ == "__main__":
    main()
