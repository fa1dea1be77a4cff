"""Why token-in/token-out: how often decoding an episode and encoding it again gives other token ids than
the ones the model sampled (which a text-in/text-out loop would then train on)."""

from __future__ import annotations

from common import kb_suite, vllm

from rlagent.models.prepare import prepare
from rlagent.rollout.loop import AgentLoop, LoopSettings


def main() -> None:
    path = str(prepare("smollm2-135m"))
    suite = kb_suite(questions=64)
    engine = vllm(path)
    loop = AgentLoop(
        engine, suite, LoopSettings(max_turns=3, max_new_tokens=48, max_episode_tokens=256, temperature=1.0)
    )
    episodes = loop.run([(ex, s) for ex in suite.examples("dev") for s in range(2)], seed=0)
    tok = engine.tokenizer
    drifted_episodes = drifted_turns = turns = 0
    for ep in episodes:
        text = tok.decode(ep.prompt_ids + ep.completion_ids)
        if tok.encode(text, add_special_tokens=False) != ep.prompt_ids + ep.completion_ids:
            drifted_episodes += 1
        start = 0
        for i, m in enumerate([*ep.mask, 0]):  # each maximal run of model tokens is one turn
            if m == 0:
                run = ep.completion_ids[start:i]
                if run:
                    turns += 1
                    drifted_turns += tok.encode(tok.decode(run), add_special_tokens=False) != run
                start = i + 1
    engine.close()
    print("| SmolLM2-135M rollouts at temperature 1 | count | drifted | share |")
    print("|---|---:|---:|---:|")
    print(
        f"| episodes (whole transcript re-encoded) | {len(episodes)} | {drifted_episodes} | "
        f"{drifted_episodes / len(episodes):.1%} |"
    )
    print(f"| model turns (each turn re-encoded alone) | {turns} | {drifted_turns} | {drifted_turns / turns:.1%} |")


if __name__ == "__main__":
    main()
