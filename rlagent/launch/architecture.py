"""The shape of a decoder-only model, read from its config.json (no weights, no torch), and what follows from it:
parameter counts, LoRA adapter sizes, activation and KV-cache sizes per token.

Counts follow the Hugging Face modelling code of Llama-family decoders (llama, mistral, qwen2, qwen3): token
embeddings, per layer q/k/v/o projections (Qwen2 with q/k/v biases), a SwiGLU MLP (gate, up, down) and two
RMSNorms (Qwen3 adds q/k RMSNorms), a final RMSNorm, and an LM head unless it is tied to the embeddings.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlagent.models.registry import MODELS, is_prepared, prepared_dir

MODEL_TYPES = ("llama", "mistral", "qwen2", "qwen3")


@dataclass(frozen=True)
class Architecture:
    """The numbers of a decoder-only transformer that decide its memory."""

    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    vocab: int
    tied_embeddings: bool
    qkv_bias: bool = False
    mlp_bias: bool = False
    qk_norm: bool = False
    layer_class: str | None = None
    source: str = ""

    @property
    def q_dim(self) -> int:
        return self.heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        return self.kv_heads * self.head_dim

    def module_shapes(self) -> dict[str, tuple[int, int]]:
        """(in, out) features of each linear module a LoRA adapter can target."""
        h, q, kv, i, v = self.hidden, self.q_dim, self.kv_dim, self.intermediate, self.vocab
        return {
            "q_proj": (h, q),
            "k_proj": (h, kv),
            "v_proj": (h, kv),
            "o_proj": (q, h),
            "gate_proj": (h, i),
            "up_proj": (h, i),
            "down_proj": (i, h),
            "embed_tokens": (v, h),
            "lm_head": (h, v),
        }

    def layer_parameters(self) -> int:
        """One decoder layer: attention, MLP, norms (and biases where the architecture has them)."""
        h, q, kv, i = self.hidden, self.q_dim, self.kv_dim, self.intermediate
        attention = h * q + 2 * h * kv + q * h + ((q + 2 * kv) if self.qkv_bias else 0)
        mlp = 3 * h * i + ((2 * i + h) if self.mlp_bias else 0)
        norms = 2 * h + (2 * self.head_dim if self.qk_norm else 0)
        return attention + mlp + norms

    def embedding_parameters(self) -> int:
        return self.vocab * self.hidden

    def parameters(self) -> int:
        """Every parameter, a tied LM head counted once (as `sum(p.numel() for p in model.parameters())`)."""
        head = 0 if self.tied_embeddings else self.embedding_parameters()
        return self.embedding_parameters() + self.layers * self.layer_parameters() + self.hidden + head

    def matmul_parameters(self) -> int:
        """Parameters a token's forward pass multiplies by: every linear layer and the LM head (tied or not);
        the embedding lookup is not a matmul."""
        h, q, kv, i = self.hidden, self.q_dim, self.kv_dim, self.intermediate
        per_layer = h * q + 2 * h * kv + q * h + 3 * h * i
        return self.layers * per_layer + self.embedding_parameters()

    def lora_parameters(self, r: int, targets: list[str]) -> tuple[int, list[str]]:
        """Adapter parameters (A: r x in, B: out x r) on every target module; and the targets not modelled."""
        shapes = self.module_shapes()
        total, unknown = 0, []
        for name in targets:
            if name not in shapes:
                unknown.append(name)
                continue
            fan_in, fan_out = shapes[name]
            count = 1 if name in ("embed_tokens", "lm_head") else self.layers
            total += count * r * (fan_in + fan_out)
        return total, unknown

    def activation_values_per_token_layer(self) -> int:
        """Values one decoder layer keeps for its backward pass, per token, with an attention kernel that does
        not store the score matrix (SDPA flash / memory-efficient, flash-attention-2): the two RMSNorms' inputs
        and outputs (4h), q and k before and after RoPE plus v (2q + 3kv), the attention output (q), and the
        SwiGLU MLP's gate, up, SiLU(gate) and product (4i). HF's fp32 RMSNorm upcast and LoRA's rank-r
        intermediates are left out (a few percent)."""
        return 4 * self.hidden + 3 * self.q_dim + 3 * self.kv_dim + 4 * self.intermediate

    def kv_bytes_per_token(self, dtype_bytes: int, tensor_parallel: int = 1) -> int:
        """KV-cache bytes one token takes on one GPU of a tensor-parallel engine: K and V of every layer, the
        KV heads split over the GPUs (replicated when there are fewer heads than GPUs, as vLLM does)."""
        heads_per_gpu = max(1, self.kv_heads // tensor_parallel)
        return 2 * self.layers * heads_per_gpu * self.head_dim * dtype_bytes


def _qwen2(hidden: int, layers: int, heads: int, kv_heads: int, inter: int, vocab: int, tied: bool, hub: str):
    return Architecture(
        hidden=hidden,
        layers=layers,
        heads=heads,
        kv_heads=kv_heads,
        head_dim=hidden // heads,
        intermediate=inter,
        vocab=vocab,
        tied_embeddings=tied,
        qkv_bias=True,
        layer_class="Qwen2DecoderLayer",
        source=f"published config of {hub}",
    )


# The config.json of each recipe model as published on the Hugging Face Hub (hidden_size, num_hidden_layers,
# num_attention_heads, num_key_value_heads, intermediate_size, vocab_size, tie_word_embeddings). Used when no
# local config.json exists, so that a dry run never downloads anything. tests/test_launch.py checks each entry
# against transformers' own parameter count and the local copies under $RLAGENT_HOME/models.
PUBLISHED: dict[str, Architecture] = {
    "Qwen/Qwen2.5-32B-Instruct": _qwen2(5120, 64, 40, 8, 27648, 152064, False, "Qwen/Qwen2.5-32B-Instruct"),
    "Qwen/Qwen2.5-7B-Instruct": _qwen2(3584, 28, 28, 4, 18944, 152064, False, "Qwen/Qwen2.5-7B-Instruct"),
    "Qwen/Qwen2.5-3B-Instruct": _qwen2(2048, 36, 16, 2, 11008, 151936, True, "Qwen/Qwen2.5-3B-Instruct"),
    "Qwen/Qwen2.5-Coder-1.5B-Instruct": _qwen2(1536, 28, 12, 2, 8960, 151936, True, "Qwen/Qwen2.5-Coder-1.5B-Instruct"),
    "Qwen/Qwen2.5-Coder-0.5B-Instruct": _qwen2(896, 24, 14, 2, 4864, 151936, True, "Qwen/Qwen2.5-Coder-0.5B-Instruct"),
    "HuggingFaceTB/SmolLM2-135M-Instruct": Architecture(
        hidden=576,
        layers=30,
        heads=9,
        kv_heads=3,
        head_dim=64,
        intermediate=1536,
        vocab=49152,
        tied_embeddings=True,
        layer_class="LlamaDecoderLayer",
        source="published config of HuggingFaceTB/SmolLM2-135M-Instruct",
    ),
}


class UnknownArchitecture(Exception):
    """The model's shape cannot be found or is not a modelled decoder; the message says why."""


def from_config(config: dict[str, Any], source: str) -> Architecture:
    """An Architecture from a Hugging Face config.json's contents."""
    config = config.get("text_config") or config
    model_type = config.get("model_type")
    if model_type not in MODEL_TYPES:
        raise UnknownArchitecture(f"model_type {model_type!r} is not modelled (only {', '.join(MODEL_TYPES)} decoders)")
    heads = int(config["num_attention_heads"])
    hidden = int(config["hidden_size"])
    architectures = config.get("architectures") or []
    layer_class = architectures[0].replace("ForCausalLM", "DecoderLayer") if architectures else None
    return Architecture(
        hidden=hidden,
        layers=int(config["num_hidden_layers"]),
        heads=heads,
        kv_heads=int(config.get("num_key_value_heads") or heads),
        head_dim=int(config.get("head_dim") or hidden // heads),
        intermediate=int(config["intermediate_size"]),
        vocab=int(config["vocab_size"]),
        tied_embeddings=bool(config.get("tie_word_embeddings", False)),
        qkv_bias=model_type == "qwen2" or bool(config.get("attention_bias", False)),
        mlp_bias=bool(config.get("mlp_bias", False)),
        qk_norm=model_type == "qwen3",
        layer_class=layer_class,
        source=source,
    )


def read_config(path: Path) -> Architecture:
    try:
        return from_config(json.loads(path.read_text()), f"{path}")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UnknownArchitecture(f"{path} cannot be read as a model config ({exc})") from None


def _hub_cache_config(repo_id: str, revision: str | None) -> Path | None:
    """config.json of a Hub model already in the local Hugging Face cache (never downloads)."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - huggingface_hub comes with transformers
        return None
    try:
        found = try_to_load_from_cache(repo_id, "config.json", revision=revision)
    except Exception:  # an id the Hub would reject: no cached config
        return None
    return Path(found) if isinstance(found, str) else None


def find_architecture(name_or_path: str, revision: str | None = None) -> Architecture:
    """The model's architecture without loading it: a local folder's config.json, a prepared model's, the Hub
    cache's, else the embedded published config (a prepared name maps to its Hub original)."""
    path = Path(name_or_path).expanduser()
    if (path / "config.json").is_file():
        return read_config(path / "config.json")
    hub_id = name_or_path
    if name_or_path in MODELS:
        spec = MODELS[name_or_path]
        if (
            spec.source != "hub"
            and is_prepared(name_or_path)
            and (prepared_dir(name_or_path) / "config.json").is_file()
        ):
            return read_config(prepared_dir(name_or_path) / "config.json")
        hub_id = spec.hub_id or spec.reference
    if hub_id.count("/") == 1:
        cached = _hub_cache_config(hub_id, revision)
        if cached is not None:
            return read_config(cached)
    if hub_id in PUBLISHED:
        return PUBLISHED[hub_id]
    raise UnknownArchitecture(
        f"no config.json for '{name_or_path}' here (not a local folder, not prepared, not in the Hugging Face "
        f"cache) and it is not one of the embedded published configs ({', '.join(PUBLISHED)})"
    )
