"""Rollout throughput of the agent loop: vLLM (CPU) vs. transformers `generate`, same episodes, same
model, side by side. Also vLLM with and without prefix caching (multi-turn prompts share prefixes)."""

from __future__ import annotations

from common import kb_suite, timed, vllm

from rlagent.models.prepare import prepare
from rlagent.rollout.engines.hf import HFEngine
from rlagent.rollout.loop import AgentLoop, LoopSettings


def rollout_rate(engine, suite, items) -> tuple[float, float]:
    loop = AgentLoop(
        engine, suite, LoopSettings(max_turns=3, max_new_tokens=48, max_episode_tokens=256, temperature=1.0)
    )
    seconds, episodes = timed(lambda: loop.run(items, seed=0), repeats=3)
    tokens = sum(ep.model_tokens for ep in episodes)
    return seconds, tokens / seconds


def main() -> None:
    path = str(prepare("smollm2-135m"))
    suite = kb_suite()
    items = [(ex, 0) for ex in suite.examples("dev")[:16]]
    rows = []
    engine = vllm(path)
    rows.append(("vLLM-CPU, prefix caching", *rollout_rate(engine, suite, items)))
    engine.close()
    engine = vllm(path, prefix_caching=False)
    rows.append(("vLLM-CPU, no prefix caching", *rollout_rate(engine, suite, items)))
    engine.close()
    rows.append(("transformers generate (hf engine)", *rollout_rate(HFEngine(path, batch_size=16), suite, items)))
    base = rows[0][2]
    print("| 16 episodes, SmolLM2-135M, 3 turns x 48 tokens | seconds | generated tokens/s | ratio to vLLM |")
    print("|---|---:|---:|---:|")
    for name, seconds, rate in rows:
        print(f"| {name} | {seconds:.1f} | {rate:.0f} | {rate / base:.2f} |")


if __name__ == "__main__":
    main()
