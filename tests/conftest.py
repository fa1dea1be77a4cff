"""Shared fixtures: the evaluation data folder, prepared models, engines."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def find_data_dir() -> Path | None:
    """$RLAGENT_DATA_DIR, else the shared data folder next to the checkout."""
    candidates = [os.environ.get("RLAGENT_DATA_DIR"), REPO.parent / "shared" / "data"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "nq" / "dev.jsonl").is_file():
            return Path(candidate)
    return None


@pytest.fixture(scope="session")
def data_dir() -> Path:
    found = find_data_dir()
    if found is None:
        pytest.skip("shared evaluation data not found: set RLAGENT_DATA_DIR to the folder holding nq/ and musique/")
    return found


@pytest.fixture(scope="session")
def tiny_path() -> str:
    from rlagent.models.prepare import prepare

    return str(prepare("tiny"))


@pytest.fixture(scope="session")
def smollm2_path() -> str:
    from rlagent.models.prepare import prepare

    return str(prepare("smollm2-135m"))


@pytest.fixture(scope="session")
def smol_tokenizer(smollm2_path: str):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(smollm2_path)
