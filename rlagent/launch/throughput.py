"""Throughput bounds from arithmetic: the compute of a policy update and the memory traffic of a vLLM decode step.

These are floors on time (ceilings on speed) from a GPU's datasheet figures, not measurements; docs/SCALING.md
says which assumptions turn them into a plan.
"""

from __future__ import annotations

from dataclasses import dataclass

from rlagent.config.schema import RecipeConfig
from rlagent.launch.architecture import Architecture


@dataclass(frozen=True)
class GpuSpec:
    name: str
    bf16_flops: float  # dense bf16 tensor-core FLOP/s
    hbm_bytes_per_s: float


# NVIDIA H100 Tensor Core GPU datasheet, SXM5 80GB: 989 TFLOPS dense BF16 (1,979 with sparsity), 3.35 TB/s HBM3.
H100_SXM = GpuSpec("H100 SXM 80GB", 989e12, 3.35e12)


def update_flops_per_token(arch: Architecture, seq: int, *, lora: bool, gradient_checkpointing: bool) -> float:
    """FLOPs of one token of a policy update at sequence length `seq` (causal: attention over seq/2 on average).

    Forward: 2 per matmul parameter, plus attention's QK^T and AV (2 x 2 x q_dim x seq/2 per layer). Backward:
    the gradient of every activation (as much as the forward) and, for weights that train, of every weight (as
    much again; LoRA's frozen weights get none, its adapters are negligible); attention's backward is twice its
    forward. Gradient checkpointing runs the forward once more.
    """
    linear = 2.0 * arch.matmul_parameters()
    attention = 2.0 * arch.layers * arch.q_dim * seq
    forward = linear + attention
    backward = linear + (0.0 if lora else linear) + 2 * attention
    return forward + backward + (forward if gradient_checkpointing else 0.0)


def update_seconds(flops: float, gpus: int, utilization: float, gpu: GpuSpec = H100_SXM) -> float:
    """Seconds for `flops` on `gpus` GPUs running at `utilization` of their dense bf16 peak."""
    return flops / (gpus * gpu.bf16_flops * utilization)


def decode_step_seconds(
    arch: Architecture,
    weight_bytes: int,
    tensor_parallel: int,
    running: int,
    context: int,
    gpu: GpuSpec = H100_SXM,
) -> float:
    """Lower bound on one decode step of an engine: every GPU reads its share of the weights once and the KV cache
    of every running sequence (`running` sequences of `context` tokens each), at HBM bandwidth."""
    weights = arch.matmul_parameters() * weight_bytes / tensor_parallel
    kv = running * context * arch.kv_bytes_per_token(weight_bytes, tensor_parallel)
    return (weights + kv) / gpu.hbm_bytes_per_s


def throughput_lines(cfg: RecipeConfig, arch: Architecture, utilizations: tuple[float, ...] = (0.4, 0.2)) -> list[str]:
    """A step's compute bound and the rollout engines' decode bound for cfg's layout, on H100s, as sentences."""
    from rlagent.launch.memory import DTYPE_BYTES, GIB, training_processes, vllm_engines

    t, a, r = cfg.trainer, cfg.algorithm, cfg.rollout
    episodes = t.prompts_per_step * a.num_generations
    seq = r.max_episode_tokens
    tokens = episodes * seq * a.num_iterations
    per_token = update_flops_per_token(
        arch, seq, lora=cfg.model.lora.enabled, gradient_checkpointing=cfg.model.gradient_checkpointing
    )
    gpus = training_processes(cfg)
    times = ", ".join(f"{update_seconds(tokens * per_token, gpus, u) / 60:.1f} min at {u:.0%}" for u in utilizations)
    lines = [
        f"policy update, at the token bound: {episodes} episodes × {seq:,} tokens × num_iterations "
        f"{a.num_iterations} = {tokens:,} tokens × {per_token / 1e9:.1f} GFLOP/token = {tokens * per_token:.3g} "
        f"FLOP; on {gpus} × {H100_SXM.name} ({H100_SXM.bf16_flops / 1e12:.0f} TFLOP/s dense bf16): {times} of peak"
    ]
    if r.engine != "vllm":
        return lines
    wb = DTYPE_BYTES[cfg.model.dtype]
    tp = r.vllm.tensor_parallel_size
    weights = arch.parameters() * wb / tp
    if r.vllm.kv_cache_memory_gb is not None:
        kv = r.vllm.kv_cache_memory_gb * GIB
    else:
        kv = max(0.0, r.vllm.gpu_memory_utilization * cfg.launcher.gpu_memory_gib * GIB - weights)
    context = r.vllm.max_model_len // 2
    engines = vllm_engines(cfg)
    per_token = arch.kv_bytes_per_token(wb, tp)
    capacity = int(kv // per_token)
    running = min(r.vllm.max_num_seqs, -(-episodes // engines), capacity // context)
    if running < 1:
        return [*lines, "decode: the KV cache cannot hold one sequence of half max_model_len"]
    step = decode_step_seconds(arch, wb, tp, running, context)
    lines.append(
        f"decode, bandwidth bound: {engines} engine{'s' if engines > 1 else ''} × {running} sequences running at "
        f"{context:,} tokens of context (half of max_model_len; min of max_num_seqs {r.vllm.max_num_seqs}, episodes "
        f"per engine, KV capacity {capacity:,} tokens) → ≥ {step * 1e3:.1f} ms per decode step (weights "
        f"{arch.matmul_parameters() * wb / tp / GIB:.1f} GiB + KV {running * context * per_token / GIB:.1f} GiB "
        f"per GPU at {H100_SXM.hbm_bytes_per_s / 1e12:.2f} TB/s) → ≤ {engines * running / step:,.0f} generated "
        "tokens/s in all"
    )
    return lines
