"""Shared fixtures: the evaluation data folder, prepared models, engines."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
STRICT_TOOLS_TEMPLATE = REPO / "tests" / "fixtures" / "chatml_tools_strict.jinja"


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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def vllm_server(smollm2_path, tmp_path_factory):
    """`vllm serve` of SmolLM2-135M on 127.0.0.1 as `smollm2`; its URL up to /v1.

    Served with a chat template that renders tools and tool calls and refuses transcripts that break OpenAI's
    rule on tool messages (tests/fixtures/chatml_tools_strict.jinja; conversations without tools render as
    SmolLM2's own template does), and with the Hermes tool-call parser."""
    port = free_port()
    env = {**os.environ, "VLLM_LOGGING_LEVEL": "WARNING"}
    cmd = [
        sys.executable,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        smollm2_path,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--served-model-name",
        "smollm2",
        "--max-model-len",
        "1024",
        "--kv-cache-memory-bytes",
        str(256 * 2**20),
        "--enforce-eager",
        "--chat-template",
        str(STRICT_TOOLS_TEMPLATE),
        "--enable-auto-tool-choice",
        "--tool-call-parser",
        "hermes",
    ]
    log = tmp_path_factory.mktemp("vllm_server") / "server.log"
    with open(log, "w") as sink:  # a file, not a pipe: a full pipe would stall the server
        server = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        for _ in range(300):
            if server.poll() is not None:
                pytest.fail(f"vllm server exited: {log.read_text()[-2000:]}")
            try:
                urllib.request.urlopen(f"{url}/models", timeout=1)
                break
            except OSError:
                time.sleep(1)
        else:
            pytest.fail("vllm server did not start in 300 s")
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=30)
