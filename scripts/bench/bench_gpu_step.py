"""Benchmark: one GRPO step of `rlagent train` on a CUDA GPU (hf engine, trainer=gpu: bf16 autocast), split into
rollout and update, with the GPU's peak memory, for models of real shapes.

Weights are random (the real ones may not reach the GPU machine: only the shapes travel, as config.json and
tokenizer files), so a policy never stops early and every turn runs to rollout.max_new_tokens: generation is
timed at full length, and the reward is 0 (a small KL term keeps the update running). What it measures is the
cost of a step, not learning.

    python scripts/bench/bench_gpu_step.py --shapes DIR [DIR ...] [--steps 3] [--out runs/bench-gpu]

Each DIR holds a model's config.json and tokenizer files (e.g. $RLAGENT_HOME/models/qwen2.5-coder-0.5b without
its weights).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

KEEP = ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "chat_template.jinja")


def random_model(shapes: Path, out: Path) -> Path:
    """A model folder with `shapes`' config and tokenizer and random weights (fp32)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    out.mkdir(parents=True, exist_ok=True)
    for name in KEEP:
        if (shapes / name).is_file():
            shutil.copy(shapes / name, out / name)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(shapes), dtype=torch.float32)
    model.save_pretrained(out)
    return out


def recipe(model: Path, run_dir: Path, steps: int, overrides: list[str]) -> list[str]:
    """The `rlagent train` overrides of one benchmark run."""
    return [
        "recipe=smoke_search",
        "rollout=hf",
        "trainer=gpu",
        f"model.name_or_path={model}",
        "model.dtype=float32",
        f"run.dir={run_dir}",
        f"trainer.max_steps={steps}",
        "trainer.prompts_per_step=8",
        "algorithm.num_generations=4",
        "trainer.micro_batch_size=8",
        "trainer.eval_steps=0",
        "trainer.save_steps=0",
        "trainer.report_to=[]",
        "rollout.hf_batch_size=32",
        "rollout.max_new_tokens=64",
        "rollout.max_episode_tokens=256",
        "algorithm.beta=0.001",
        *overrides,
    ]


def estimate_gib(args: list[str]) -> float:
    """What `rlagent train ... --dry-run` estimates for the training GPU."""
    from rlagent.config.compose import compose_recipe
    from rlagent.launch.memory import plan_memory
    from rlagent.launch.report import architecture_of

    cfg, _ = compose_recipe(args)
    arch, _ = architecture_of(cfg)
    return plan_memory(cfg, arch).devices[0].total / 2**30 if arch else float("nan")


def run_steps(args: list[str], run_dir: Path) -> tuple[list[dict], float]:
    cmd = [sys.executable, "-m", "rlagent", "train", *args]
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"{run_dir.name}: rlagent train failed:\n{done.stderr[-3000:]}")
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [r for r in rows if "timing/step_s" in r], wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", nargs="+", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("runs/bench-gpu"))
    parser.add_argument("overrides", nargs="*", help="extra recipe overrides")
    args = parser.parse_args()
    import torch
    from safetensors import safe_open

    if not torch.cuda.is_available():
        raise SystemExit("bench_gpu_step.py needs a CUDA GPU")
    print(f"device: {torch.cuda.get_device_name(0)}; torch {torch.__version__}")
    print("| model | params | step s | rollout s | update s | tokens/s | GPU peak GiB alloc / reserved | dry-run GiB |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for shapes in args.shapes:
        model = random_model(shapes, args.out / "models" / shapes.name)
        with safe_open(str(model / "model.safetensors"), "pt") as f:
            params = sum(_numel(f.get_slice(k).get_shape()) for k in f.keys())  # noqa: SIM118
        run_dir = args.out / f"run-{shapes.name}"
        train_args = recipe(model, run_dir, args.steps, args.overrides)
        estimated = estimate_gib(train_args)
        rows, wall = run_steps(train_args, run_dir)
        later = rows[1:] or rows  # the first step includes CUDA warm-up
        med = {k: statistics.median(r.get(k, 0.0) for r in later) for k in later[0]}
        peak_a = max(r.get("memory/gpu_peak_allocated_gib", 0.0) for r in rows)
        peak_r = max(r.get("memory/gpu_peak_reserved_gib", 0.0) for r in rows)
        cells = (
            f"{params / 1e6:.0f}M",
            f"{med['timing/step_s']:.2f}",
            f"{med.get('timing/rollout_s', 0):.2f}",
            f"{med['timing/update_s']:.2f}",
            f"{med.get('rollout/tokens_per_s', 0):.0f}",
            f"{peak_a:.1f} / {peak_r:.1f}",
            f"{estimated:.1f}",
        )
        print(f"| {shapes.name} | {' | '.join(cells)} |", flush=True)
        print(f"  ({len(rows)} steps, medians over steps 2..{len(rows)}; whole command {wall:.0f} s)", flush=True)


def _numel(shape: list[int]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


if __name__ == "__main__":
    main()
