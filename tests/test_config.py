"""Recipe composition, overrides and validation errors."""

import pytest

from rlagent.config.compose import compose_recipe, group_options, recipe_names, to_yaml
from rlagent.config.describe import describe_keys
from rlagent.errors import UserError

EXPECTED_RECIPES = {
    "appworld_7b",
    "appworld_32b",
    "nq_3b",
    "nq_7b",
    "musique_7b",
    "smoke_search",
    "smoke_appsim",
    "quickstart",
    "appsim_smollm2",
}


def test_every_required_recipe_composes():
    assert set(recipe_names()) >= EXPECTED_RECIPES
    for name in recipe_names():
        cfg, _ = compose_recipe([f"recipe={name}"])
        assert cfg.name == name and cfg.description


def test_recipes_pick_their_models_and_suites():
    cfg, _ = compose_recipe(["recipe=appworld_7b"])
    assert cfg.model.name_or_path == "Qwen/Qwen2.5-7B-Instruct" and cfg.task.suite == "appworld"
    assert cfg.algorithm.advantage_estimator == "leave_one_out" and cfg.algorithm.beta == 0.0
    assert cfg.algorithm.epsilon == 0.1 and cfg.algorithm.num_generations == 6 and cfg.algorithm.num_iterations == 2
    assert cfg.task.appworld.difficulties == [1, 2] and cfg.model.lora.r == 16 and cfg.model.lora.dropout == 0.0
    cfg, _ = compose_recipe(["recipe=appworld_32b"])
    assert cfg.model.name_or_path == "Qwen/Qwen2.5-32B-Instruct" and cfg.model.lora.enabled
    assert cfg.trainer.prompts_per_step == 40 and cfg.task.max_turns == 40
    cfg, _ = compose_recipe(["recipe=smoke_appsim"])
    assert cfg.task.suite == "appsim" and cfg.task.appworld.world == "inprocess"
    cfg, _ = compose_recipe(["recipe=quickstart"])
    assert cfg.model.name_or_path == "smollm2-135m" and cfg.rollout.engine == "vllm"
    cfg, _ = compose_recipe(["recipe=smoke_search"])
    assert cfg.model.name_or_path == "tiny" and cfg.task.dataset == "synthetic_kb"


def test_overrides_values_groups_and_mappings():
    cfg, _ = compose_recipe(
        [
            "recipe=nq_3b",
            "algorithm.learning_rate=1e-6",
            "trainer.max_steps=50",
            "model=smollm2-135m",
            "algorithm=dapo",
            "task.files.dev=/data/dev.jsonl",
        ]
    )
    assert cfg.algorithm.learning_rate == 1e-6 and cfg.trainer.max_steps == 50
    assert cfg.model.name_or_path == "smollm2-135m"  # command line beats the recipe's choice
    assert cfg.algorithm.name == "dapo" and cfg.algorithm.filter_zero_variance_groups
    assert cfg.task.files == {"dev": "/data/dev.jsonl"}
    assert cfg.trainer.prompts_per_step == 32  # untouched recipe values stay


def test_data_dir_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("RLAGENT_DATA_DIR", "/somewhere/data")
    cfg, _ = compose_recipe(["recipe=nq_3b"])
    assert cfg.task.data_dir == "/somewhere/data"
    monkeypatch.delenv("RLAGENT_DATA_DIR")
    assert compose_recipe(["recipe=nq_3b"])[0].task.data_dir is None


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ([], "recipe=NAME is required; available recipes: appsim_qwen05b, appsim_smollm2, appworld_32b"),
        (["recipe=nope"], "recipe=nope is not a known recipe"),
        (
            ["recipe=nq_3b", "trainer.max_stepz=3"],
            "unknown key 'trainer.max_stepz' (did you mean max_steps?); trainer takes:",
        ),
        (["recipe=nq_3b", "bogus=1"], "unknown key 'bogus'"),
        (["recipe=nq_3b", "trainer.max_steps=abc"], "trainer.max_steps: Value 'abc'"),
        (["recipe=nq_3b", "task.limit=many"], "task.limit: Value 'many'"),
        (
            ["recipe=nq_3b", "algorithm.loss_type=ppo"],
            "algorithm.loss_type=ppo is not allowed; choose one of: grpo, bnpo",
        ),
        (["recipe=nq_3b", "model=gpt5"], "model=gpt5 is not a known model; choose one of:"),
        (["recipe=nq_3b", "trainer.max_steps.x=1"], "'trainer.max_steps' is a value, not a section"),
        (["recipe=nq_3b", "trainer.max_steps=0"], "trainer.max_steps=0 must be at least 1"),
        (["recipe=nq_3b", "trainer.micro_batch_size=7"], "must be a multiple of trainer.micro_batch_size=7"),
        (["recipe=nq_3b", "trainer.report_to=[tensorboard,slack]"], "trainer.report_to=slack is not allowed"),
        (["recipe=nq_3b", "eval.num_samples=4", "eval.temperature=0"], "eval.num_samples > 1 needs"),
        (["recipe=nq_3b", "trainer.max_steps=[1,"], "cannot parse override"),
        (["recipe=nq_3b", "trainer.max_steps="], "trainer.max_steps: Value ''"),
    ],
)
def test_bad_input_gives_one_line_errors(overrides, message):
    with pytest.raises(UserError) as info:
        compose_recipe(overrides)
    text = str(info.value)
    assert message in text, text
    assert "\n" not in text


def test_groups_and_keys_are_documented():
    assert {"tiny", "smollm2-135m", "qwen2.5-7b-instruct"} <= set(group_options("model"))
    assert {"grpo", "dr_grpo", "dapo", "gspo", "loop"} <= set(group_options("algorithm"))
    rows = describe_keys()
    assert all(help_text for _, _, _, help_text in rows)
    assert any(key == "algorithm.loss_type" and "One of: grpo" in h for key, _, _, h in rows)
    assert [r[0] for r in describe_keys("trainer")] == [r[0] for r in rows if r[0].startswith("trainer.")]


def test_yaml_round_trip(tmp_path):
    from rlagent.config.compose import load_saved

    cfg, _ = compose_recipe(["recipe=musique_7b", "trainer.max_steps=7"])
    path = tmp_path / "config.yaml"
    path.write_text(to_yaml(cfg))
    assert load_saved(path) == cfg


def test_importing_rlagent_keeps_jax_from_preallocating_the_gpu():
    """bm25s runs a JAX op at import when JAX is installed; JAX would then take 75% of each GPU (seen on an H200)."""
    import os
    import subprocess
    import sys

    probe = "import os, rlagent; print(os.environ['XLA_PYTHON_CLIENT_PREALLOCATE'])"
    env = {k: v for k, v in os.environ.items() if k != "XLA_PYTHON_CLIENT_PREALLOCATE"}
    default = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)
    assert default.stdout.strip() == "false"
    mine = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        env={**env, "XLA_PYTHON_CLIENT_PREALLOCATE": "true"},
        check=True,
    )
    assert mine.stdout.strip() == "true"  # a user's own setting wins
