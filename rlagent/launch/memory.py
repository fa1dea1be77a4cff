"""Memory per GPU of a recipe under a launcher layout: the arithmetic `rlagent train ... --dry-run` prints.

Training GPU, per strategy (N = training processes over all machines, P = parameters, T = trainable ones):

- weights: P x the model.dtype's bytes; divided by N under zero3 and fsdp2.
- gradients: T x their bytes; divided by N under zero2, zero3 and fsdp2.
- optimizer state: AdamW's two fp32 moments (8 B per trainable parameter), plus an fp32 master copy (4 B) when
  the trainable weights are 16-bit: mixed precision's 2 + 2 + 12 bytes per parameter (ZeRO, Rajbhandari et al.
  2020); divided by N under zero2, zero3 and fsdp2. With LoRA only the adapters train, and peft keeps them in fp32
  (4 B weights, 4 B gradients, 8 B moments, no master copy); under zero3 TRL keeps them in the model's dtype
  (GRPOTrainer passes autocast_adapter_dtype=False: DeepSpeed cannot gather mixed dtypes), so they cost 2 + 2 + 12.
- ddp buckets: DDP copies the gradients into its all-reduce buckets (gradient_as_bucket_view=False, PyTorch's
  default): the gradients again. zero3/fsdp2 instead gather whole units while computing: two decoder layers and
  the largest embedding matrix in the compute dtype.
- activations, per micro-batch of trainer.micro_batch_size sequences of rollout.max_episode_tokens: without
  gradient checkpointing every layer keeps `Architecture.activation_values_per_token_layer()` values per token;
  with it, each layer keeps only its input (hidden values per token) and one layer at a time is recomputed.
- LM head: TRL 1.16 projects onto the vocabulary in tiles (trl/kernels/chunked_logprob.py: 4,096 tokens x 32,768
  vocabulary entries at a time), so the tokens x vocab logits never exist; what remains is one tile, the fp32
  gradient of the final hidden states and, when the head trains, its fp32 gradient accumulator.
- colocated vLLM (launcher.vllm_gpus=0): its weights (P x dtype bytes / tensor_parallel_size) and a KV cache of
  rollout.vllm.kv_cache_memory_gb, or else gpu_memory_utilization x the GPU's memory minus those weights.

A GPU given to vLLM alone holds the weights / tensor_parallel_size and the KV cache.

- hf engine (rollout.engine=hf): its own copy of the weights in model.dtype, and while generating a KV cache of
  rollout.hf_batch_size x rollout.max_episode_tokens tokens plus transformers' fp32 scores of every new token
  (hf_batch_size x max_new_tokens x vocab x 4 B).

Left out: the CUDA context, NCCL buffers and allocator fragmentation (keep a few GiB free), vLLM's own activation
peak and CUDA graphs, and the eager attention kernel's score matrix (layers x heads x sequence² per sequence).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from rlagent.config.schema import RecipeConfig
from rlagent.launch.architecture import Architecture

GIB = 1024**3
DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
# TRL 1.16's fused LM head (trl/kernels/chunked_logprob.py): TOKEN_CHUNK_SIZE and _CHUNKED_LOGPROB_CHUNK_SIZE.
LM_HEAD_TILE_TOKENS = 4096
LM_HEAD_TILE_VOCAB = 32768
# Decoder layers FSDP2 / ZeRO-3 hold gathered at once: the one computing and the one prefetched.
GATHERED_LAYERS = 2
SHARDS_WEIGHTS = ("zero3", "fsdp2")
SHARDS_OPTIMIZER = ("zero2", "zero3", "fsdp2")


def count(n: float) -> str:
    """7615616512 -> '7.62B', 134515008 -> '134.5M', 40370176 -> '40.4M'."""
    if n >= 1e9:
        return f"{n / 1e9:.2f}B"
    if n >= 1e6:
        return f"{n / 1e6:.1f}M"
    if n >= 1e3:
        return f"{n / 1e3:.1f}K"
    return f"{n:.0f}"


def gib(n: float) -> str:
    return f"{n / GIB:.2f}"


@dataclass(frozen=True)
class Item:
    """One component of a GPU's memory and the arithmetic behind it."""

    name: str
    bytes: float
    how: str


@dataclass(frozen=True)
class Device:
    """One kind of GPU in the layout: its role, how many of them each machine has, what it holds."""

    role: str
    per_machine: int
    items: tuple[Item, ...]

    @property
    def total(self) -> float:
        return sum(item.bytes for item in self.items)


@dataclass
class MemoryPlan:
    """The estimate for every kind of GPU in the layout, plus the facts around it."""

    arch: Architecture
    parameters: int
    trainable: int
    training_processes: int
    gpu_memory_gib: float
    devices: list[Device]
    notes: list[str] = field(default_factory=list)

    def fits(self, device: Device) -> bool:
        return device.total <= self.gpu_memory_gib * GIB

    def verdict(self, device: Device) -> str:
        left = self.gpu_memory_gib * GIB - device.total
        if left >= 0:
            return f"fits: {gib(left)} GiB of {self.gpu_memory_gib:g} GiB left"
        return f"does NOT fit: {gib(-left)} GiB over {self.gpu_memory_gib:g} GiB"


def training_processes(cfg: RecipeConfig) -> int:
    launcher = cfg.launcher
    return 1 if launcher.kind == "local" else launcher.num_processes * launcher.num_machines


def vllm_engines(cfg: RecipeConfig) -> int:
    """How many vLLM engines generate a step's episodes."""
    launcher, tp = cfg.launcher, cfg.rollout.vllm.tensor_parallel_size
    if launcher.vllm_gpus:
        return max(1, launcher.vllm_gpus // tp) * launcher.num_machines
    return max(1, training_processes(cfg) // tp)


def _vllm_items(cfg: RecipeConfig, arch: Architecture, params: int, weight_bytes: int) -> tuple[list[Item], float]:
    """vLLM's weights and KV cache on one of its GPUs; and the KV bytes."""
    v, tp = cfg.rollout.vllm, cfg.rollout.vllm.tensor_parallel_size
    weights = params * weight_bytes / tp
    items = [
        Item(
            "vLLM weights",
            weights,
            f"{count(params)} × {weight_bytes} B ({cfg.model.dtype}) ÷ tensor_parallel_size {tp}",
        )
    ]
    if v.kv_cache_memory_gb is not None:
        kv = v.kv_cache_memory_gb * GIB
        how = f"rollout.vllm.kv_cache_memory_gb = {v.kv_cache_memory_gb:g} GiB"
    else:
        budget = v.gpu_memory_utilization * cfg.launcher.gpu_memory_gib * GIB
        kv = max(0.0, budget - weights)
        how = (
            f"gpu_memory_utilization {v.gpu_memory_utilization:g} × {cfg.launcher.gpu_memory_gib:g} GiB "
            f"− vLLM weights {gib(weights)} GiB"
        )
    items.append(Item("vLLM KV cache", kv, how))
    return items, kv


def _kv_note(cfg: RecipeConfig, arch: Architecture, kv_bytes: float, weight_bytes: int) -> str:
    v, tp = cfg.rollout.vllm, cfg.rollout.vllm.tensor_parallel_size
    per_token = arch.kv_bytes_per_token(weight_bytes, tp)
    heads = max(1, arch.kv_heads // tp)
    tokens = int(kv_bytes // per_token) if per_token else 0
    full = tokens // v.max_model_len
    engines = vllm_engines(cfg)
    episodes = cfg.trainer.prompts_per_step * cfg.algorithm.num_generations
    per_engine = math.ceil(episodes / engines)
    text = (
        f"KV cache: {per_token:,} B per token per GPU (2 × {arch.layers} layers × {heads} KV heads × "
        f"{arch.head_dim} × {weight_bytes} B) → {tokens:,} tokens per engine, {full} "
        f"sequence{'s' if full != 1 else ''} of rollout.vllm.max_model_len {v.max_model_len:,} at once; "
        f"a step's {episodes} episodes over {engines} engine{'s' if engines > 1 else ''} = {per_engine} per engine"
    )
    if full == 0:
        return text + " — not even one full-length sequence fits: vLLM refuses to start"
    if per_engine > full:
        text += f" (at full length they run in {math.ceil(per_engine / full)} waves; shorter ones share the cache)"
    return text


def _hf_items(cfg: RecipeConfig, arch: Architecture, params: int, weight_bytes: int) -> list[Item]:
    """The hf engine on the training GPU: its own copy of the weights (push_weights loads into it), and while it
    generates, a KV cache for rollout.hf_batch_size sequences and transformers' fp32 scores of every new token."""
    r = cfg.rollout
    batch = r.hf_batch_size
    kv = batch * r.max_episode_tokens * arch.kv_bytes_per_token(weight_bytes)
    scores = batch * r.max_new_tokens * arch.vocab * 4
    return [
        Item("hf engine weights", params * weight_bytes, f"its own copy: {count(params)} × {weight_bytes} B"),
        Item(
            "hf engine generation",
            kv + scores,
            f"KV cache {batch} sequences × {r.max_episode_tokens:,} tokens × "
            f"{arch.kv_bytes_per_token(weight_bytes):,} B + scores {batch} × {r.max_new_tokens} new tokens × "
            f"{arch.vocab:,} × 4 B",
        ),
    ]


def plan_memory(cfg: RecipeConfig, arch: Architecture) -> MemoryPlan:
    """The per-GPU memory of cfg's layout (see the module's docstring for every formula)."""
    launcher, t = cfg.launcher, cfg.trainer
    n = training_processes(cfg)
    strategy = launcher.strategy if launcher.kind == "accelerate" else "ddp"
    shard_w = n if strategy in SHARDS_WEIGHTS else 1
    shard_o = n if strategy in SHARDS_OPTIMIZER else 1
    where = f" ÷ {n} processes ({strategy})"
    wb = DTYPE_BYTES[cfg.model.dtype]
    compute = 2 if (t.bf16 or wb == 2) else 4
    params = arch.parameters()
    lora = cfg.model.lora
    items: list[Item] = []
    notes: list[str] = []

    if lora.enabled:
        trainable, unknown = arch.lora_parameters(lora.r, list(lora.target_modules))
        if unknown:
            notes.append(f"LoRA targets not modelled (not counted): {', '.join(unknown)}")
        items.append(
            Item(
                "weights (frozen base)",
                params * wb / shard_w,
                f"{count(params)} × {wb} B ({cfg.model.dtype})" + (where if shard_w > 1 else ""),
            )
        )
        # peft upcasts 16-bit adapters to fp32, except under ZeRO-3, where TRL turns that off (its trainer's
        # autocast_adapter_dtype=False: DeepSpeed cannot gather mixed dtypes, trl#6089)
        adapter_bytes = wb if strategy == "zero3" else 4
        items.append(
            Item(
                "LoRA adapters",
                trainable * adapter_bytes / shard_w,
                f"{count(trainable)} (r {lora.r} on {len(lora.target_modules)} modules × {arch.layers} layers) × "
                f"{adapter_bytes} B"
                + (" (fp32, peft)" if adapter_bytes == 4 else " (model dtype: TRL under ZeRO-3)")
                + (where if shard_w > 1 else ""),
            )
        )
        grad_bytes, master = adapter_bytes, (4 if adapter_bytes < 4 else 0)
    else:
        trainable = params
        items.append(
            Item(
                "weights",
                params * wb / shard_w,
                f"{count(params)} × {wb} B ({cfg.model.dtype})" + (where if shard_w > 1 else ""),
            )
        )
        grad_bytes, master = wb, (4 if wb < 4 else 0)
    optim_bytes = 8 + master
    items.append(
        Item(
            "gradients",
            trainable * grad_bytes / shard_o,
            f"{count(trainable)} trainable × {grad_bytes} B" + (where if shard_o > 1 else ""),
        )
    )
    items.append(
        Item(
            "optimizer state",
            trainable * optim_bytes / shard_o,
            f"{count(trainable)} × ({'fp32 master 4 B + ' if master else ''}AdamW moments 2 × 4 B)"
            + (where if shard_o > 1 else ""),
        )
    )
    if strategy == "ddp" and n > 1:
        items.append(
            Item(
                "DDP gradient buckets",
                trainable * grad_bytes,
                "the gradients once more (gradient_as_bucket_view=False)",
            )
        )
    if strategy in SHARDS_WEIGHTS and n > 1:
        unit = GATHERED_LAYERS * arch.layer_parameters() + arch.embedding_parameters()
        items.append(
            Item(
                "gathered shards",
                unit * compute,
                f"({GATHERED_LAYERS} layers × {count(arch.layer_parameters())} + embedding "
                f"{count(arch.embedding_parameters())}) × {compute} B",
            )
        )
    if cfg.algorithm.beta > 0 and not lora.enabled:
        items.append(
            Item(
                "reference model",
                params * wb / shard_w,
                f"algorithm.beta > 0: {count(params)} × {wb} B" + (where if shard_w > 1 else ""),
            )
        )

    seq = cfg.rollout.max_episode_tokens
    tokens = t.micro_batch_size * seq
    per_layer = arch.activation_values_per_token_layer()
    if cfg.model.gradient_checkpointing:
        activations = tokens * (arch.layers * arch.hidden + per_layer) * compute
        how = (
            f"{tokens:,} tokens (micro_batch_size {t.micro_batch_size} × max_episode_tokens {seq:,}) × "
            f"({arch.layers} layer inputs × {arch.hidden} + one layer recomputed {per_layer:,}) × {compute} B"
        )
    else:
        activations = tokens * arch.layers * per_layer * compute
        how = (
            f"{tokens:,} tokens (micro_batch_size {t.micro_batch_size} × max_episode_tokens {seq:,}) × "
            f"{arch.layers} layers × {per_layer:,} values × {compute} B (no gradient checkpointing)"
        )
    items.append(Item("activations", activations, how))
    tile = min(tokens, LM_HEAD_TILE_TOKENS) * min(arch.vocab, LM_HEAD_TILE_VOCAB) * compute
    hidden_grad = tokens * arch.hidden * 4
    head_grad = 0 if lora.enabled else arch.embedding_parameters() * 4
    items.append(
        Item(
            "LM head (fused)",
            tile + hidden_grad + head_grad,
            f"tile {min(tokens, LM_HEAD_TILE_TOKENS):,} × {min(arch.vocab, LM_HEAD_TILE_VOCAB):,} × {compute} B "
            f"+ fp32 hidden gradient {tokens:,} × {arch.hidden} × 4 B"
            + (f" + fp32 head gradient {count(arch.embedding_parameters())} × 4 B" if head_grad else ""),
        )
    )
    notes.append(
        f"activations count {seq:,} episode tokens per sequence (rollout.max_episode_tokens); the prompt adds its "
        f"own length (at most rollout.vllm.max_model_len {cfg.rollout.vllm.max_model_len:,} in all). Materialized "
        f"logits would have taken {gib(tokens * arch.vocab * compute)} GiB ({tokens:,} × {arch.vocab:,} × "
        f"{compute} B); TRL's fused head never builds them"
    )

    devices: list[Device] = []
    per_machine = 1 if launcher.kind == "local" else launcher.num_processes
    if cfg.rollout.engine == "vllm":
        vllm_items, kv = _vllm_items(cfg, arch, params, wb)
        if launcher.vllm_gpus:
            devices.append(Device("training GPU", per_machine, tuple(items)))
            devices.append(Device("vLLM GPU", launcher.vllm_gpus, tuple(vllm_items)))
        else:
            devices.append(Device("training GPU + colocated vLLM", per_machine, tuple(items + vllm_items)))
        notes.append(_kv_note(cfg, arch, kv, wb))
    else:
        if cfg.rollout.engine == "hf":
            items.extend(_hf_items(cfg, arch, params, wb))
            notes.append(
                "rollout.engine=hf: measured peaks on an H200 were 1.15-1.29x this plan (docs/GPU.md; prompt tokens "
                "and autocast/optimizer temporaries are not counted): keep 30% free"
            )
        devices.append(Device("training GPU", per_machine, tuple(items)))
    return MemoryPlan(
        arch=arch,
        parameters=params,
        trainable=trainable,
        training_processes=n,
        gpu_memory_gib=launcher.gpu_memory_gib,
        devices=devices,
        notes=notes,
    )
