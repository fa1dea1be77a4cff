"""`rlagent train -m`: Hydra sweep syntax expands into one validated job per combination, run one after another
(or written as a Slurm job array), each into its own run directory; compare-runs takes the sweep's folder."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rlagent.errors import UserError
from rlagent.launch.sweep import plan_jobs, sweep_command


def rlagent(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rlagent", *args], capture_output=True, text=True, env=env)


def test_the_sweep_is_the_product_of_its_values(tmp_path):
    jobs = plan_jobs(["recipe=smoke_search", "seed=0,1", "trainer.max_steps=range(1,4,2)", "+x=y"], tmp_path)
    assert [job.swept for job in jobs] == [
        {"seed": "0", "trainer.max_steps": "1"},
        {"seed": "0", "trainer.max_steps": "3"},
        {"seed": "1", "trainer.max_steps": "1"},
        {"seed": "1", "trainer.max_steps": "3"},
    ]
    assert jobs[3].overrides == [
        "recipe=smoke_search",
        "+x=y",
        "seed=1",
        "trainer.max_steps=3",
        f"run.dir={tmp_path}/03-seed_1-max_steps_3",
    ]
    assert len({job.run_dir for job in jobs}) == 4


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["recipe=smoke_search", "seed=0,1", "run.dir=x"], "run.dir cannot be set in a sweep"),
        (["recipe=smoke_search", "model=glob(*)"], "glob() sweeps are not supported"),
        (["recipe=smoke_search", "seed=0,1", "trainer.max_steps=1,0"], "sweep job 1 (seed=0 trainer.max_steps=0)"),
    ],
)
def test_bad_sweeps_are_refused_before_anything_starts(tmp_path, overrides, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        sweep_command(overrides, tmp_path / "sweep", "local", [], dry_run=False, say=print)
    assert not (tmp_path / "sweep").exists()


def test_cli_dry_run_lists_the_jobs_and_a_sweep_needs_m(tmp_path):
    sweep = tmp_path / "sweep"
    dry = rlagent("train", "-m", "recipe=smoke_search", "seed=0,1", "--sweep-dir", str(sweep), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stderr.count("rlagent train recipe=smoke_search seed=") == 2
    assert not sweep.exists()
    plain = rlagent("train", "recipe=smoke_search", "seed=0,1")
    assert plain.returncode == 2 and "add -m (--multirun)" in plain.stderr and "Traceback" not in plain.stderr
    launcher = rlagent("train", "-m", "recipe=smoke_search", "seed=0,1", "--sweep-launcher", "k8s")
    assert launcher.returncode == 2 and "choose one of: local, slurm" in launcher.stderr


FAST = ("recipe=smoke_search", "rollout=hf", "trainer.max_steps=1", "trainer.eval_steps=0", "rollout.max_new_tokens=16")


@pytest.mark.slow
def test_local_sweep_runs_every_job_and_compare_runs_takes_the_folder(tmp_path):
    sweep = tmp_path / "sweep"
    done = rlagent("train", "-m", *FAST, "seed=0,1", "--sweep-dir", str(sweep))
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads((sweep / "sweep.json").read_text())
    assert [job["status"] for job in record["jobs"]] == ["completed", "completed"]
    for job in record["jobs"]:
        assert json.loads((Path(job["run_dir"]) / "run.json").read_text())["status"] == "completed"
    assert "2/2 jobs completed" in done.stderr
    compared = rlagent("compare-runs", str(sweep))
    assert compared.returncode == 0, compared.stderr[-2000:]
    assert "00-seed_0" in compared.stdout and "01-seed_1" in compared.stdout
    again = rlagent("train", "-m", *FAST, "seed=0,1", "--sweep-dir", str(sweep))
    assert again.returncode == 2 and "already holds a sweep" in again.stderr
    # resume=true goes on with the sweep: completed jobs are not run again, a job never started starts afresh
    more = rlagent("train", "-m", *FAST, "seed=0,1,2", "--sweep-dir", str(sweep), "resume=true")
    assert more.returncode == 0, more.stderr[-3000:]
    assert more.stderr.count("completed earlier") == 2 and "3/3 jobs completed" in more.stderr


@pytest.mark.slow
def test_slurm_array_task_runs_its_line(tmp_path):
    sweep = tmp_path / "sweep"
    env = {**os.environ, "PATH": "/usr/bin:/bin"}  # no sbatch: the script is written, not submitted
    written = rlagent(
        "train", "-m", *FAST, "seed=0,1", "--sweep-dir", str(sweep), "--sweep-launcher", "slurm",
        "--slurm-option", "--gres=gpu:1", env=env,
    )  # fmt: skip
    assert written.returncode == 0, written.stderr[-2000:]
    assert "sbatch not found" in written.stderr
    script = (sweep / "sweep.sbatch").read_text()
    assert "#SBATCH --array=0-1" in script and "#SBATCH --gres=gpu:1" in script
    assert len((sweep / "jobs.txt").read_text().splitlines()) == 2
    # what Slurm does for array task 1, without Slurm: run the script with the task id set
    task = subprocess.run(
        ["bash", str(sweep / "sweep.sbatch")],
        capture_output=True,
        text=True,
        env={**os.environ, "SLURM_ARRAY_TASK_ID": "1"},
    )
    assert task.returncode == 0, task.stderr[-3000:]
    runs = sorted(p.name for p in sweep.iterdir() if (p / "run.json").exists())
    assert runs == ["01-seed_1"]
    assert json.loads((sweep / "01-seed_1" / "run.json").read_text())["status"] == "completed"
