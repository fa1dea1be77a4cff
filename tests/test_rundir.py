"""Run directories: layout, no overwrite, resume, abandonment, metric truncation."""

import json

import pytest

from rlagent.config.compose import compose_recipe, load_saved
from rlagent.errors import UserError
from rlagent.runs.rundir import RunDir, open_for_eval, open_run_dir


def recipe(tmp_path, *overrides):
    cfg, _ = compose_recipe(["recipe=smoke_search", f"run.root={tmp_path}", *overrides])
    return cfg


def test_default_run_dir_layout(tmp_path):
    cfg = recipe(tmp_path)
    run = open_run_dir(cfg, "train")
    assert run.path.parent == tmp_path and run.path.name.startswith("smoke_search-")
    for name in ("config.yaml", "run.json", "rollouts", "checkpoints", "eval"):
        assert (run.path / name).exists()
    assert load_saved(run.config_path) == cfg
    assert run.status()["status"] == "running"
    run.finish(steps=3)
    assert run.status()["status"] == "completed" and run.status()["steps"] == 3


def test_existing_run_dir_is_never_overwritten(tmp_path):
    cfg = recipe(tmp_path, f"run.dir={tmp_path}/r1")
    run = open_run_dir(cfg, "train")
    run.metrics.append(1, {"train/reward": 0.5})
    with pytest.raises(UserError, match="already exists; pass resume=true"):
        open_run_dir(cfg, "train")
    assert run.metrics.rows() == [{"step": 1, "train/reward": 0.5}]


def test_resume_needs_an_existing_run(tmp_path):
    with pytest.raises(UserError, match="resume=true needs an existing run directory"):
        open_run_dir(recipe(tmp_path, f"run.dir={tmp_path}/missing", "resume=true"), "train")
    first = open_run_dir(recipe(tmp_path, f"run.dir={tmp_path}/r2"), "train")
    again = open_run_dir(recipe(tmp_path, f"run.dir={tmp_path}/r2", "resume=true", "trainer.max_steps=9"), "train")
    assert again.path == first.path and not again.created
    assert load_saved(again.config_path).trainer.max_steps == 9
    assert len(again.status()["invocations"]) == 2


def test_abandon_removes_only_fresh_empty_runs(tmp_path):
    run = open_run_dir(recipe(tmp_path, f"run.dir={tmp_path}/r3"), "train")
    run.abandon("bad input")
    assert not run.path.exists()
    run = open_run_dir(recipe(tmp_path, f"run.dir={tmp_path}/r4"), "train")
    (run.checkpoints / "step-2").mkdir()
    run.abandon("bad input later")
    assert run.status()["status"] == "failed" and run.status()["error"] == "bad input later"


def test_eval_writes_into_an_existing_run_without_touching_its_status(tmp_path):
    train = open_run_dir(recipe(tmp_path, f"run.dir={tmp_path}/r5"), "train")
    train.finish()
    run = open_for_eval(recipe(tmp_path, f"run.dir={tmp_path}/r5"))
    assert run.path == train.path and not run.created
    assert run.status()["status"] == "completed"
    fresh = open_for_eval(recipe(tmp_path))
    assert fresh.created and fresh.path.name.startswith("smoke_search-eval-")


def test_metrics_truncate_after_resume_point(tmp_path):
    log = RunDir(tmp_path).metrics
    for step in (1, 2, 3):
        log.append(step, {"x": float(step)})
    with log.path.open("a") as handle:
        handle.write('{"step": 4, "x": ')  # torn line from a crash
    assert [r["step"] for r in log.rows()] == [1, 2, 3]
    assert log.truncate_after(2) == 1
    assert [r["step"] for r in log.rows()] == [1, 2]
    assert json.loads(log.path.read_text().splitlines()[-1]) == {"step": 2, "x": 2.0}


def test_rewind_forgets_everything_after_the_resume_step(tmp_path):
    run = RunDir(tmp_path)
    for sub in (run.eval, run.rollouts):
        sub.mkdir()
    for step in (1, 2, 3):
        run.metrics.append(step, {"x": 1.0})
        (run.rollouts / f"step-{step:06d}.jsonl").write_text("{}\n")
        for suffix in (".json", ".rollouts.jsonl"):
            (run.eval / f"dev-step-{step}{suffix}").write_text("{}")
    (run.eval / "dev.json").write_text("{}")  # an untagged evaluation is kept
    assert run.rewind(1) == 2
    assert sorted(p.name for p in run.eval.iterdir()) == ["dev-step-1.json", "dev-step-1.rollouts.jsonl", "dev.json"]
    assert [p.name for p in run.rollouts.iterdir()] == ["step-000001.jsonl"]
