"""appsim through the code sandbox: `execute` latency (p50/p99) of real agent steps, and episode throughput
as concurrent environments grow, bubblewrap vs. plain rlimits side by side in one run.

An episode here is the oracle's: initialise the task (world + sandbox), a docs lookup, the task's reference
solution (logins, paginated reads, writes), evaluate, close. Run: .venv/bin/python scripts/bench/bench_appsim.py
"""

from __future__ import annotations

import resource
import time
from concurrent.futures import ThreadPoolExecutor

from rlagent.sandbox.config import SandboxConfig
from rlagent.worlds.appsim.service import AppsimService
from rlagent.worlds.appsim.tasks.catalog import instance, task_ids

STEPS = {
    "print": "print('hello')",
    "docs lookup": "print(apis.api_docs.show_api_descriptions(app_name='venmo'))",
    "login + 1 call": (
        "pw = {p['account_name']: p['password'] for p in apis.supervisor.show_account_passwords()}\n"
        "tok = apis.venmo.login(username=apis.supervisor.show_profile()['email'], password=pw['venmo'])\n"
        "print(apis.venmo.show_balance(access_token=tok['access_token']))"
    ),
}
REPEATS = 200
CONCURRENCY = (1, 2, 4, 8, 16)


def pct(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return ordered[len(ordered) // 2] * 1e3, ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1e3


def latency(mode: str) -> dict[str, tuple[float, float]]:
    service = AppsimService(SandboxConfig(mode=mode))
    task_id = task_ids("dev")[0]
    service.initialize(task_id)
    out = {}
    for name, code in STEPS.items():
        times = []
        for _ in range(REPEATS):
            started = time.perf_counter()
            service.execute(task_id, code)
            times.append(time.perf_counter() - started)
        out[name] = pct(times)
    service.close_all()
    return out


def episode(mode: str, task_id: str) -> bool:
    service = AppsimService(SandboxConfig(mode=mode))
    service.initialize(task_id)
    service.execute(task_id, STEPS["docs lookup"])
    service.execute(task_id, instance(task_id)[1].oracle)
    ok = service.evaluate(task_id)["success"]
    service.close_all()
    return ok


def throughput(mode: str, workers: int, tasks: list[str]) -> float:
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(lambda t: episode(mode, t), tasks))
    assert all(results)
    return len(tasks) / (time.perf_counter() - started)


def main() -> None:
    tasks = task_ids("dev")[:48]
    print(f"| execute step ({REPEATS}x) | bwrap p50 ms | bwrap p99 ms | rlimits p50 ms | rlimits p99 ms |")
    print("|---|---:|---:|---:|---:|")
    lat = {mode: latency(mode) for mode in ("bwrap", "rlimits")}
    for name in STEPS:
        b, r = lat["bwrap"][name], lat["rlimits"][name]
        print(f"| {name} | {b[0]:.2f} | {b[1]:.2f} | {r[0]:.2f} | {r[1]:.2f} |")
    print(f"\n| concurrent environments | bwrap episodes/s | rlimits episodes/s | ({len(tasks)} oracle episodes) |")
    print("|---:|---:|---:|---|")
    for workers in CONCURRENCY:
        b, r = throughput("bwrap", workers, tasks), throughput("rlimits", workers, tasks)
        print(f"| {workers} | {b:.1f} | {r:.1f} | |")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak resident memory of the benchmark process: {peak:.0f} MiB")


if __name__ == "__main__":
    main()
