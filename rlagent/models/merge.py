"""Turn a LoRA checkpoint (adapter only) into a full checkpoint that vLLM and transformers load."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from rlagent.errors import UserError

MERGED = "merged"


def is_adapter(path: Path) -> bool:
    return (path / "adapter_config.json").is_file()


def merged_checkpoint(adapter_dir: Path, base_model: str | None = None) -> Path:
    """`<adapter_dir>/merged`: the base model with the adapter folded in (built once, atomically)."""
    final = adapter_dir / MERGED
    if (final / "config.json").is_file():
        return final
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from rlagent.models.registry import resolve_model

    config = json.loads((adapter_dir / "adapter_config.json").read_text())
    base = base_model or config.get("base_model_name_or_path")
    if not base:
        raise UserError(f"{adapter_dir}: adapter_config.json names no base model")
    base_path = resolve_model(base)
    model = AutoModelForCausalLM.from_pretrained(base_path, dtype=torch.float32)
    merged = PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
    staging = Path(tempfile.mkdtemp(prefix=".merged-", dir=adapter_dir))
    try:
        merged.save_pretrained(staging)
        tokenizer_source = adapter_dir if (adapter_dir / "tokenizer_config.json").is_file() else base_path
        AutoTokenizer.from_pretrained(tokenizer_source).save_pretrained(staging)
        staging.rename(final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final
