"""The CPU step: where a quickstart training step goes, and what the update would gain from bf16 autocast.

Part 1 runs the real quickstart recipe (`rlagent train recipe=quickstart`: SmolLM2-135M, warm start on 32
oracle demonstrations, then GRPO steps of 2 questions x 4 episodes) in a temporary run directory and reads
the `timing/*` keys of its metrics: rollout, weight sync, scoring, update, mismatch check, whole step.

Part 2 takes the policy that run ended with, samples one step's batch (8 episodes) through the agent loop on
vLLM-CPU, and times the update's work on those exact token sequences, micro-batch by micro-batch, as the
trainer pads them: a forward pass without gradients (what the logprob-mismatch check cost before it read the
loss pass's own logprobs), forward + backward in fp32 (the update today), and forward + backward under
`torch.autocast("cpu", torch.bfloat16)`, with the bf16 logprobs' distance from the sampler's. Achieved FLOP/s
count 6 x parameters x padded tokens per forward + backward (2x for a forward; attention not counted) against
this CPU's own 2048x2048 matmul rate, measured in the same run.

    .venv/bin/python scripts/bench/bench_cpu_step.py [STEPS]   (default 4 GRPO steps)
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import kb_suite, vllm

ROOT = Path(__file__).resolve().parents[2]
TEMPERATURE = 0.7  # the quickstart's sampling temperature; the trainer scales logits by it, as the sampler did
PARTS = [
    ("rollout (vLLM, up to 5 turns)", "timing/rollout_s"),
    ("weight sync into vLLM", "timing/weight_sync_s"),
    ("reward scoring", "timing/scoring_s"),
    ("logprob-mismatch check (reads the loss pass)", "timing/mismatch_check_s"),
    ("policy update (TRL forward + backward)", "timing/update_s"),
    ("whole step", "timing/step_s"),
]


def train(run_dir: Path, steps: int) -> list[dict]:
    command = [
        str(ROOT / ".venv/bin/rlagent"),
        "train",
        "recipe=quickstart",
        f"run.dir={run_dir}",
        f"trainer.max_steps={steps}",
        "trainer.eval_steps=0",
        f"trainer.save_steps={steps}",
    ]
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True)
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return [r for r in rows if "timing/step_s" in r]


def step_table(rows: list[dict]) -> None:
    whole = statistics.median(r["timing/step_s"] for r in rows)
    print(f"| quickstart GRPO step, {len(rows)} steps | min s | median s | max s | share of median step |")
    print("|---|---:|---:|---:|---:|")
    for label, key in PARTS:
        values = [r[key] for r in rows if key in r]
        if values:
            mid = statistics.median(values)
            print(f"| {label} | {min(values):.2f} | {mid:.2f} | {max(values):.2f} | {100 * mid / whole:.0f}% |")
    skipped = statistics.mean(r.get("update/skipped_share", 0.0) for r in rows)
    print(f"| micro-batches skipped (no advantage), mean share | | {skipped:.2f} | | |")


def matmul_gflops(dtype) -> float:
    import torch

    a, b = torch.randn(2048, 2048, dtype=dtype), torch.randn(2048, 2048, dtype=dtype)
    torch.mm(a, b)
    started, n = time.perf_counter(), 10
    for _ in range(n):
        torch.mm(a, b)
    return 2 * 2048**3 * n / (time.perf_counter() - started) / 1e9


def sample_batch(policy: str) -> list:
    from rlagent.rollout.loop import AgentLoop, LoopSettings

    suite = kb_suite(questions=8)
    items = [(ex, s) for ex in suite.examples("train")[:2] for s in range(4)]
    engine = vllm(policy)
    try:
        settings = LoopSettings(max_turns=5, max_new_tokens=48, max_episode_tokens=512, temperature=TEMPERATURE)
        return AgentLoop(engine, suite, settings).run(items)
    finally:
        engine.close()


def micro_batches(episodes: list, size: int):
    """Right-padded tensors per micro-batch, as the trainer builds them: ids, attention, loss mask, engine logps."""
    import torch

    for i in range(0, len(episodes), size):
        chunk = episodes[i : i + size]
        width = max(len(e.prompt_ids) + len(e.completion_ids) for e in chunk)
        ids = torch.zeros(len(chunk), width, dtype=torch.long)
        attention = torch.zeros(len(chunk), width, dtype=torch.long)
        mask = torch.zeros(len(chunk), width)
        engine_logps = torch.zeros(len(chunk), width)
        for row, ep in enumerate(chunk):
            seq = ep.prompt_ids + ep.completion_ids
            ids[row, : len(seq)] = torch.tensor(seq)
            attention[row, : len(seq)] = 1
            start = len(ep.prompt_ids)
            mask[row, start : len(seq)] = torch.tensor(ep.mask, dtype=torch.float)
            engine_logps[row, start : len(seq)] = torch.tensor(ep.logprobs)
        yield ids, attention, mask, engine_logps


def token_logps(model, ids, attention):
    import torch

    logits = model(input_ids=ids, attention_mask=attention).logits[:, :-1].float() / TEMPERATURE
    logps = torch.log_softmax(logits, dim=-1).gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)
    return torch.nn.functional.pad(logps, (1, 0))  # logps[:, t] is the logprob of ids[:, t]


def time_update(model, batches, mode: str) -> tuple[float, list]:
    """Seconds for the whole batch (best of 2 passes) and the last pass's per-micro-batch logprobs."""
    import torch

    times, logps = [], []
    for _ in range(2):
        started, logps = time.perf_counter(), []
        for ids, attention, mask, _ in batches:
            if mode == "forward":
                with torch.no_grad():
                    logps.append(token_logps(model, ids, attention))
                continue
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=mode == "bf16"):
                out = token_logps(model, ids, attention)
            loss = -(out * mask).sum() / mask.sum().clamp(min=1)
            loss.backward()
            model.zero_grad(set_to_none=True)
            logps.append(out.detach())
        times.append(time.perf_counter() - started)
    return min(times), logps


def distance(logps: list, batches: list) -> tuple[float, float]:
    deltas = [((lp - b[3]).abs() * b[2])[b[2] > 0] for lp, b in zip(logps, batches, strict=True)]
    import torch

    flat = torch.cat(deltas)
    return float(flat.mean()), float(flat.max())


def update_table(policy: str, micro: int) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    episodes = sample_batch(policy)
    model = AutoModelForCausalLM.from_pretrained(policy, dtype=torch.float32)
    model.train()
    params = sum(p.numel() for p in model.parameters())
    batches = list(micro_batches(episodes, micro))
    padded = sum(b[0].numel() for b in batches)
    real = sum(int(b[1].sum()) for b in batches)
    model_tokens = sum(int(b[2].sum()) for b in batches)
    peak32, peak16 = matmul_gflops(torch.float32), matmul_gflops(torch.bfloat16)
    print(
        f"\n8 episodes, {len(batches)} micro-batches of {micro}: {padded} padded tokens, {real} real "
        f"({100 * real / padded:.0f}%), {model_tokens} sampled by the model ({100 * model_tokens / padded:.1f}%); "
        f"{params / 1e6:.0f}M parameters; this CPU's 2048x2048 matmul: {peak32:.0f} GFLOP/s fp32, "
        f"{peak16:.0f} GFLOP/s bf16\n"
    )
    print("| the update's work on one step's batch | s (best of 2) | achieved GFLOP/s | share of matmul peak | "
          "logprob distance to the sampler, mean / max |")  # fmt: skip
    print("|---|---:|---:|---:|---:|")
    rows = [
        ("forward, no grad (the old mismatch check's extra pass)", "forward", 2, peak32),
        ("forward + backward, fp32 (the update today)", "fp32", 6, peak32),
        ("forward + backward, bf16 autocast", "bf16", 6, peak16),
    ]
    for label, mode, flops_per_token, peak in rows:
        seconds, logps = time_update(model, batches, mode)
        achieved = flops_per_token * params * padded / seconds / 1e9
        mean, worst = distance(logps, batches)
        print(f"| {label} | {seconds:.2f} | {achieved:.0f} | {100 * achieved / peak:.0f}% | {mean:.1e} / {worst:.1e} |")


def main() -> None:
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 4
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "quickstart"
        rows = train(run_dir, steps)
        step_table(rows)
        update_table(str(run_dir / "checkpoints" / f"step-{steps}"), micro=4)
    peak_gib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
    print(f"\npeak resident memory: training run {peak_gib:.1f} GiB; "
          f"this process {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.1f} GiB")  # fmt: skip


if __name__ == "__main__":
    main()
