"""Shared fixtures: the evaluation data folder, prepared models, engines; and the CI skip gate."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]  # tests/test_ci_skips.py runs the skip gate in sessions of its own

REPO = Path(__file__).resolve().parents[1]
STRICT_TOOLS_TEMPLATE = REPO / "tests" / "fixtures" / "chatml_tools_strict.jinja"
EXPECTED_SKIPS = "tests/expected_skips.txt"
"""Skips CI accepts, relative to the rootdir: one `PATTERN REASON` a line (see read_expected_skips)."""


# --- CI: a skip is a failure unless tests/expected_skips.txt lists it ----------------------------------------------


def in_ci() -> bool:
    """CI=true (or 1/yes), as .ci/run and CI services set it."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


@dataclass(frozen=True)
class ExpectedSkip:
    pattern: str
    reason: str

    def matches(self, nodeid: str) -> bool:
        # `*` is the only wildcard: node ids carry [brackets] (parameters) that fnmatch would read as sets
        return re.fullmatch(".*".join(re.escape(part) for part in self.pattern.split("*")), nodeid) is not None


def read_expected_skips(path: Path) -> list[ExpectedSkip]:
    """Each line `PATTERN REASON`: a test node id as pytest prints it (`*` matches any text, so also a space in a
    parameter id), whitespace, then why the test may skip in CI; blank lines and lines starting with # are ignored.
    A missing reason is a UsageError."""
    if not path.is_file():
        raise pytest.UsageError(f"CI=true: the expected-skips file {path} does not exist")
    expected = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        pattern, reason = [*line.split(None, 1), ""][:2]
        if not reason.strip():
            raise pytest.UsageError(f"{path}:{number}: '{pattern}' has no reason (a line is: PATTERN REASON)")
        expected.append(ExpectedSkip(pattern, reason.strip()))
    return expected


@dataclass
class Skip:
    nodeid: str
    reason: str
    expected: ExpectedSkip | None


@dataclass(eq=False)  # a plugin: hashed by identity
class SkipGate:
    """Under CI, records every skip (test or collection), prints them all at the end with their reasons, and fails
    the session when one is not in the expected list; registered by pytest_configure, one per session."""

    expected: list[ExpectedSkip]
    source: Path
    skips: list[Skip] = field(default_factory=list)

    def record(self, report: pytest.TestReport | pytest.CollectReport) -> None:
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        reason = reason.removeprefix("Skipped: ")
        match = next((e for e in self.expected if e.matches(report.nodeid)), None)
        self.skips.append(Skip(report.nodeid, reason, match))

    @property
    def shown(self) -> str:
        return os.path.relpath(self.source)

    @property
    def unexpected(self) -> list[Skip]:
        return [s for s in self.skips if s.expected is None]

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.skipped and not hasattr(report, "wasxfail"):  # an xfail is reported as skipped: not a skip
            self.record(report)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.skipped:  # pytest.skip(allow_module_level=True), or a skip raised while collecting
            self.record(report)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.unexpected and session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter) -> None:
        tr = terminalreporter
        tr.section(f"skips (CI=true: expected ones are listed in {self.shown})")
        if not self.skips:
            tr.line("none")
        for s in self.skips:
            if s.expected is None:
                tr.line(f"UNEXPECTED {s.nodeid}: {s.reason}", red=True, bold=True)
            else:
                tr.line(f"expected   {s.nodeid}: {s.reason} (listed: {s.expected.reason})")
        if self.unexpected:
            tr.line(
                f"{len(self.unexpected)} unexpected skip(s) fail this session: give CI what the test needs "
                f"(.ci/run), or list it in {self.shown} with the reason it may skip",
                red=True,
                bold=True,
            )


def pytest_configure(config: pytest.Config) -> None:
    if in_ci():
        source = Path(config.rootpath) / EXPECTED_SKIPS
        config.pluginmanager.register(SkipGate(read_expected_skips(source), source), "rlagent-skip-gate")


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
