"""Latency of one `CodeSandbox.execute`: a trivial code and a code making one API call, bubblewrap vs. plain
rlimits, side by side; also the cost of starting a sandbox (one per episode)."""

from __future__ import annotations

import time

from rlagent.sandbox import CodeSandbox, SandboxConfig
from rlagent.sandbox.bwrap import problem

EXECUTES = 200
STARTS = 20
CODES = {"trivial (x = 1)": "x = 1", "one API call": "r = apis.spotify.show_song(song_id=7)\nprint(r['title'])"}


def handler(app: str, api: str, kwargs: dict) -> dict:
    return {"song_id": kwargs["song_id"], "title": "Song"}


def percentiles(seconds: list[float]) -> tuple[float, float]:
    ordered = sorted(seconds)
    return ordered[len(ordered) // 2] * 1e3, ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1e3


def measure(mode: str) -> list[tuple[str, float, float]]:
    rows = []
    starts = []
    for _ in range(STARTS):
        started = time.perf_counter()
        CodeSandbox(handler, SandboxConfig(mode=mode)).close()
        starts.append(time.perf_counter() - started)
    rows.append(("start + close", *percentiles(starts)))
    with CodeSandbox(handler, SandboxConfig(mode=mode), app_names=["spotify"]) as box:
        for name, code in CODES.items():
            box.execute(code)  # warm
            times = []
            for _ in range(EXECUTES):
                started = time.perf_counter()
                result = box.execute(code)
                times.append(time.perf_counter() - started)
                assert not result.failed, result.output
            rows.append((name, *percentiles(times)))
    return rows


def main() -> None:
    modes = ["rlimits"] if problem("bwrap") else ["bwrap", "rlimits"]
    results = {mode: measure(mode) for mode in modes}
    print(f"| {EXECUTES} executes ({STARTS} starts) | " + " | ".join(f"{m} p50 ms | {m} p99 ms" for m in modes) + " |")
    print("|---|" + "---:|" * (2 * len(modes)))
    for i, (name, *_) in enumerate(results[modes[0]]):
        cells = " | ".join(f"{results[m][i][1]:.2f} | {results[m][i][2]:.2f}" for m in modes)
        print(f"| {name} | {cells} |")


if __name__ == "__main__":
    main()
