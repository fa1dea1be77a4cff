"""Agent-loop overhead: the wall time of N multi-turn episodes through rlagent's AgentLoop against the time
the bare engine needs to generate the same token sequences (every generate call the loop made, replayed in
the same order and batches, greedy so the tokens are identical). What is left is the loop's own work: chat
templating, tokenising observations, the environment (BM25 search), bookkeeping. Prints a markdown table.

    .venv/bin/python scripts/bench/bench_loop_overhead.py [EPISODES]   (default 32)
"""

from __future__ import annotations

import resource
import sys
import time

from common import kb_suite, vllm

from rlagent.models.prepare import prepare
from rlagent.rollout.loop import AgentLoop, LoopSettings


class Recorder:
    """Passes generate calls through to the engine and keeps them (prompts, sampling, outputs)."""

    def __init__(self, engine):
        self.engine, self.name, self.tokenizer = engine, engine.name, engine.tokenizer
        self.eos_ids = getattr(engine, "eos_ids", None)
        self.calls: list[tuple[list, list, list]] = []

    def generate(self, prompts, sampling):
        out = self.engine.generate(prompts, sampling)
        self.calls.append((prompts, sampling, out))
        return out

    def __getattr__(self, name):
        return getattr(self.engine, name)


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 32
    path = str(prepare("smollm2-135m"))
    suite = kb_suite(questions=count)
    items = [(ex, 0) for ex in suite.examples("dev")[:count]]
    engine = vllm(path)
    settings = LoopSettings(max_turns=3, max_new_tokens=48, max_episode_tokens=256, temperature=0.0)
    rows = []
    try:
        AgentLoop(engine, suite, settings).run(items[:4])  # warm-up (first-call allocations)
        for _repeat in range(3):
            recorder = Recorder(engine)
            loop = AgentLoop(recorder, suite, settings)
            engine.llm.reset_prefix_cache()
            started = time.perf_counter()
            episodes = loop.run(items)
            loop_s = time.perf_counter() - started
            engine.llm.reset_prefix_cache()
            started = time.perf_counter()
            same = True
            for prompts, sampling, out in recorder.calls:
                again = engine.generate(prompts, sampling)
                same &= all(a.token_ids == b.token_ids for a, b in zip(again, out, strict=True))
            raw_s = time.perf_counter() - started
            tokens = sum(ep.model_tokens for ep in episodes)
            rows.append((loop_s, raw_s, loop.stats.generation_s, loop.stats.env_s, tokens, len(recorder.calls), same))
    finally:
        engine.close()
    print(f"| {count} episodes, SmolLM2-135M, KB 1-2 hops, 3 turns x 48 tokens, greedy | run 1 | run 2 | run 3 |")
    print("|---|---:|---:|---:|")
    fields = [
        ("AgentLoop wall s", lambda r: f"{r[0]:.2f}"),
        ("bare engine, same generate calls s", lambda r: f"{r[1]:.2f}"),
        ("**ratio loop / bare engine**", lambda r: f"**{r[0] / r[1]:.3f}x**"),
        ("engine time inside the loop s", lambda r: f"{r[2]:.2f}"),
        ("**ratio loop wall / its engine time**", lambda r: f"**{r[0] / r[2]:.4f}x**"),
        ("environment steps s", lambda r: f"{r[3]:.3f}"),
        ("loop's own work s (wall - engine - env)", lambda r: f"{r[0] - r[2] - r[3]:.3f}"),
        ("generate calls / model tokens", lambda r: f"{r[5]} / {r[4]}"),
        ("replay produced the same tokens", lambda r: "yes" if r[6] else "no"),
    ]
    for label, cell in fields:
        print(f"| {label} | " + " | ".join(cell(r) for r in rows) + " |")
    print(f"\npeak resident memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.1f} GiB")


if __name__ == "__main__":
    main()
