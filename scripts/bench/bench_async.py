"""Synchronous vs asynchronous rollouts (trainer.async_rollouts): training steps per second when the environment's
steps take real time, side by side in one run on one engine.

Work: SmolLM2-135M-Instruct (fp32, full fine-tuning) on the embedded knowledge base's search environment, with
--latency seconds added to every environment step (a remote tool or an app server answering); 2 prompts x 4
episodes per step, up to 3 turns. The reward is the share of the letter 'e' in the model's turns, so every group has
reward variance and every step runs a full update (the task's own reward is 0 for every episode of the base model,
and rlagent skips the update of a batch without variance). Each (mode, latency) trains --steps steps from the same
initial weights; the engine is shared (pushed back to the initial weights before each run).

Reported: the median step time over steps 2..N (step 1 is synchronous in both modes: the first batch has nothing to
overlap with), the rollout and update phases, how long an async step waited for its batch, and the speedup.

    .venv/bin/python scripts/bench/bench_async.py [--engine vllm_server|hf] [--latency 0 1.0] [--steps 6]
                                                  [--split-cores]

--split-cores gives the engine and the trainer a core each (the vLLM server's processes on CPU 1, this process and
its threads on CPU 0, one torch thread), as a GPU layout gives each side devices of its own; without it both
share both cores, so in async mode they contend (and the OpenMP thread pools oversubscribe the cores).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from rlagent.config.compose import compose_recipe
from rlagent.models.prepare import prepare
from rlagent.runs.rundir import open_run_dir
from rlagent.tasks.base import Score
from rlagent.tasks.registry import build_suite
from rlagent.train.run import train


class LetterShare:
    """Reward: the share of 'e' in the model's turns (varies in every group: every step updates)."""

    def score(self, episode: Any) -> Score:
        text = " ".join(m["content"] for m in episode.messages if m["role"] == "assistant")
        share = text.count("e") / max(1, len(text))
        return Score(reward=share, success=share > 0.05, metrics={})


class SlowEnv:
    """The search environment, each step `latency` seconds slower (the time a remote tool takes to answer)."""

    def __init__(self, env: Any, latency: float):
        self._env, self._latency = env, latency

    def step(self, action: str) -> Any:
        time.sleep(self._latency)
        return self._env.step(action)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._env, name)


def run_once(engine: Any, initial: Any, model_path: str, folder: Path, mode: str, latency: float, args: Any) -> dict:
    overrides = [
        "recipe=quickstart",
        f"rollout={args.engine}",
        "rollout.vllm.kv_cache_memory_gb=1",
        "rollout.max_new_tokens=48",
        "rollout.max_episode_tokens=320",
        "task.max_turns=3",
        "trainer.warm_start.demos=0",
        "trainer.eval_steps=0",
        "trainer.save_steps=0",
        f"trainer.max_steps={args.steps}",
        "trainer.live_view=false",
        f"trainer.async_rollouts={'true' if mode == 'async' else 'false'}",
        f"run.dir={folder / f'{mode}-{latency:g}'}",
        "seed=0",
    ]
    cfg, _ = compose_recipe(overrides)
    suite = build_suite(cfg.task)
    suite.verifier = LetterShare()
    make_env = suite.make_env
    suite.make_env = lambda example: SlowEnv(make_env(example), latency)  # type: ignore[method-assign]
    engine.load_weights(initial)  # every run starts from the same policy
    run = open_run_dir(cfg, "train")
    started = time.perf_counter()
    train(cfg, run, suite, suite.examples("train"), model_path, engine=engine)
    wall = time.perf_counter() - started
    rows = [r for r in run.metrics.rows() if "train/loss" in r][1:]  # steps 2..N

    def median(key: str) -> float:
        values = [r[key] for r in rows if key in r]
        return statistics.median(values) if values else float("nan")

    return {
        "mode": mode,
        "latency_s": latency,
        "step_s": median("timing/step_s"),
        "rollout_s": median("timing/rollout_s"),
        "env_s": median("timing/rollout_env_s"),
        "update_s": median("timing/update_s"),
        "waited_s": median("timing/rollout_wait_s"),
        "staleness_max": max((r.get("async/staleness_max", 0.0) for r in rows), default=0.0),
        "wall_s": wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", choices=("vllm_server", "hf"), default="vllm_server")
    parser.add_argument("--latency", type=float, nargs="+", default=[0.0, 1.0])
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--json", type=Path, help="also write the rows here")
    parser.add_argument("--split-cores", action="store_true", help="engine on CPU 1, trainer on CPU 0")
    args = parser.parse_args()
    if args.split_cores:
        if args.engine != "vllm_server" or (os.cpu_count() or 1) < 2:
            parser.error("--split-cores needs --engine vllm_server and two CPUs")
        os.environ["VLLM_CPU_OMP_THREADS_BIND"] = "1"  # the server this process starts
        os.sched_setaffinity(0, {1})  # its processes (API server, engine core, worker) inherit CPU 1

    import torch
    from transformers import AutoModelForCausalLM

    from rlagent.rollout.engines.factory import build_engine

    model_path = str(prepare("smollm2-135m"))
    initial = list(AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32).state_dict().items())
    cfg, _ = compose_recipe(["recipe=quickstart", f"rollout={args.engine}", "rollout.vllm.kv_cache_memory_gb=1"])
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-async-") as tmp:
        engine = build_engine(cfg, model_path, training=True, log_dir=Path(tmp) / "server-logs")
        if args.split_cores:  # every thread of this process (and those it starts later) on CPU 0
            torch.set_num_threads(1)
            for task in os.listdir("/proc/self/task"):
                os.sched_setaffinity(int(task), {0})
        try:
            for latency in args.latency:
                for mode in ("sync", "async"):
                    results.append(run_once(engine, initial, model_path, Path(tmp), mode, latency, args))
                    print(json.dumps(results[-1]), flush=True)
        finally:
            engine.close()
    cores = "engine on CPU 1, trainer on CPU 0" if args.split_cores else "engine and trainer share both CPUs"
    print(f"\nengine {args.engine} ({cores}), {args.steps} steps per run, medians of steps 2..{args.steps}\n")
    print(
        "| env latency per step | mode | step (s) | rollout (s) | of it env (s) | update (s) | waited (s) | speedup |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for row in results:
        sync = next(r for r in results if r["mode"] == "sync" and r["latency_s"] == row["latency_s"])
        speedup = sync["step_s"] / row["step_s"]
        print(
            f"| {row['latency_s']:g} s | {row['mode']} | {row['step_s']:.2f} | {row['rollout_s']:.2f} | "
            f"{row['env_s']:.2f} | {row['update_s']:.2f} | {row['waited_s']:.2f} | {speedup:.2f}x |"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
