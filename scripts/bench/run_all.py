"""Run every benchmark in one process order, each in its own interpreter; print their markdown tables."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = [
    "bench_weight_sync.py",
    "bench_engines.py",
    "retokenization_drift.py",
    "bench_sandbox.py",
    "bench_appsim.py",
    "bench_vs_trl.py",
    "bench_loop_overhead.py",
    "bench_lora_sync.py",
    "bench_retrieval.py",
    "bench_cpu_step.py",
    "bench_async.py",
]


def main() -> None:
    for name in BENCHMARKS:
        print(f"\n### {name}\n", flush=True)
        result = subprocess.run([sys.executable, str(HERE / name)], cwd=HERE, capture_output=True, text=True)
        print(result.stdout if result.returncode == 0 else f"failed:\n{result.stderr[-2000:]}", flush=True)


if __name__ == "__main__":
    main()
