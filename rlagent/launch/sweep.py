"""`rlagent train -m ...`: a sweep over Hydra's sweep syntax, one run directory per job.

`seed=0,1 trainer.prompts_per_step=2,4` (choices) and `range(a,b[,step])` expand into the Cartesian product of
their values, as Hydra's basic sweeper does. Every job is composed and validated before the first one starts. Jobs
run one after another on this machine (`--launcher local`), or go to Slurm as one job array (`--launcher slurm`:
WORK/sweep.sbatch runs line N of WORK/jobs.txt as array task N). Each job's run directory is WORK/NN-KEY_VALUE...;
WORK/sweep.json records the jobs and how each ended, and `rlagent compare-runs WORK` compares them all.
"""

from __future__ import annotations

import itertools
import json
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Glob
from hydra.errors import HydraException
from omegaconf.errors import OmegaConfBaseException

from rlagent.config.schema import RecipeConfig
from rlagent.errors import UserError
from rlagent.runs.files import write_json_atomic
from rlagent.runs.rundir import default_run_path

LAUNCHERS = ("local", "slurm")
SWEEP_FILE = "sweep.json"


@dataclass
class Job:
    """One point of the sweep: its overrides (run.dir included) and the values that differ between jobs."""

    index: int
    overrides: list[str]
    swept: dict[str, str]
    run_dir: str
    status: str = "pending"
    exit_code: int | None = None
    seconds: float | None = None

    @property
    def label(self) -> str:
        return " ".join(f"{k}={v}" for k, v in self.swept.items()) or "(no swept values)"


def expand(overrides: list[str]) -> tuple[list[str], list[list[tuple[str, str]]]]:
    """The fixed overrides, and for each job the (key, value) pairs of the swept ones."""
    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except (HydraException, OmegaConfBaseException) as exc:
        raise UserError(f"cannot parse the sweep: {str(exc).splitlines()[0]}") from None
    fixed: list[str] = []
    axes: list[list[tuple[str, str]]] = []
    for override in parsed:
        if not override.is_sweep_override():
            fixed.append(override.input_line)
            continue
        key = override.get_key_element()
        if isinstance(override.value(), Glob):
            raise UserError(f"{override.input_line}: glob() sweeps are not supported; list the values (a,b,c)")
        values = list(override.sweep_string_iterator())
        if not values:
            raise UserError(f"{override.input_line}: the sweep has no values")
        axes.append([(key, value) for value in values])
    return fixed, [list(point) for point in itertools.product(*axes)]


def _slug(pairs: list[tuple[str, str]]) -> str:
    text = "-".join(f"{key.lstrip('+~').rsplit('.', 1)[-1]}_{value}" for key, value in pairs)
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", text)[:80] or "job"


def plan_jobs(overrides: list[str], sweep_dir: Path) -> list[Job]:
    """Expand the sweep into jobs with their run directories; refuse run.dir (the sweep sets it)."""
    fixed, points = expand(overrides)
    if any(o.split("=", 1)[0].lstrip("+") == "run.dir" for o in fixed) or any(
        key.lstrip("+") == "run.dir" for point in points for key, _ in point
    ):
        raise UserError("run.dir cannot be set in a sweep: each job gets SWEEP_DIR/NN-...; use --sweep-dir")
    width = max(2, len(str(len(points) - 1)))
    jobs = []
    for index, point in enumerate(points):
        run_dir = sweep_dir / f"{index:0{width}d}-{_slug(point)}"
        job_overrides = [*fixed, *(f"{key}={value}" for key, value in point), f"run.dir={run_dir}"]
        jobs.append(Job(index, job_overrides, dict(point), str(run_dir)))
    return jobs


def validate(jobs: list[Job]) -> RecipeConfig:
    """Compose every job's recipe before anything starts; the first bad one stops the sweep (UserError). Returns
    the first job's configuration."""
    from rlagent.config.compose import compose_recipe

    configs = []
    for job in jobs:
        try:
            configs.append(compose_recipe(job.overrides)[0])
        except UserError as exc:
            raise UserError(f"sweep job {job.index} ({job.label}): {exc}") from None
    return configs[0]


def train_argv(job: Job, python: str = sys.executable) -> list[str]:
    return [python, "-m", "rlagent", "train", *job.overrides]


def _save(sweep_dir: Path, overrides: list[str], launcher: str, jobs: list[Job]) -> None:
    write_json_atomic(
        sweep_dir / SWEEP_FILE,
        {"overrides": overrides, "launcher": launcher, "jobs": [asdict(job) for job in jobs]},
    )


def run_local(overrides: list[str], sweep_dir: Path, jobs: list[Job], say) -> int:
    """Run the jobs one after another; a failed job does not stop the others. Returns the exit code."""
    sweep_dir.mkdir(parents=True, exist_ok=True)
    _save(sweep_dir, overrides, "local", jobs)
    for job in jobs:
        swept = job.label
        if _resuming(job):
            if _finished(job):  # resume=true: a job that completed earlier is not run again
                job.status = "completed"
                say(f"sweep job {job.index + 1}/{len(jobs)}: {swept} completed earlier")
                continue
            if not (Path(job.run_dir) / "config.yaml").exists():  # never started: it starts afresh
                job.overrides = [o for o in job.overrides if o != "resume=true"]
        say(f"sweep job {job.index + 1}/{len(jobs)}: {swept} -> {job.run_dir}")
        started = time.perf_counter()
        job.status = "running"
        _save(sweep_dir, overrides, "local", jobs)
        code = subprocess.call(train_argv(job))
        job.exit_code, job.seconds = code, round(time.perf_counter() - started, 1)
        job.status = "completed" if code == 0 else ("interrupted" if code in (130, -signal.SIGINT) else "failed")
        _save(sweep_dir, overrides, "local", jobs)
        if job.status == "interrupted":  # Ctrl-C reached the job too: stop the sweep
            for later in jobs[job.index + 1 :]:
                later.status = "not started"
            _save(sweep_dir, overrides, "local", jobs)
            say(f"sweep interrupted at job {job.index + 1}/{len(jobs)}; rerun with --sweep-dir {sweep_dir} resume=true")
            return 130
    failed = [job for job in jobs if job.status != "completed"]
    say(
        f"sweep finished: {len(jobs) - len(failed)}/{len(jobs)} jobs completed"
        + (f", failed: {', '.join(str(j.index) for j in failed)}" if failed else "")
        + f"; compare them with: rlagent compare-runs {sweep_dir}"
    )
    return 1 if failed else 0


def _resuming(job: Job) -> bool:
    return "resume=true" in job.overrides


def _finished(job: Job) -> bool:
    status = Path(job.run_dir) / "run.json"
    try:
        return json.loads(status.read_text()).get("status") == "completed"
    except (OSError, ValueError):
        return False


def write_slurm(
    overrides: list[str], sweep_dir: Path, jobs: list[Job], options: list[str], python: str = sys.executable
) -> Path:
    """WORK/jobs.txt (one job's `rlagent train` arguments per line) and WORK/sweep.sbatch (a job array over it)."""
    sweep_dir.mkdir(parents=True, exist_ok=True)
    (sweep_dir / "jobs.txt").write_text("".join(shlex.join(job.overrides) + "\n" for job in jobs))
    lines = [
        "#!/bin/bash",
        f"#SBATCH --job-name=rlagent-sweep-{sweep_dir.name}"[:60],
        f"#SBATCH --array=0-{len(jobs) - 1}",
        f"#SBATCH --output={sweep_dir.resolve()}/slurm-%A_%a.out",
        *(f"#SBATCH {option}" for option in options),
        "set -euo pipefail",
        f"cd {shlex.quote(str(Path.cwd()))}",
        f'line=$(sed -n "$((SLURM_ARRAY_TASK_ID + 1))p" {shlex.quote(str(sweep_dir.resolve() / "jobs.txt"))})',
        f'eval "exec {shlex.quote(python)} -m rlagent train $line"',
    ]
    script = sweep_dir / "sweep.sbatch"
    script.write_text("\n".join(lines) + "\n")
    script.chmod(0o755)
    for job in jobs:
        job.status = "written"
    _save(sweep_dir, overrides, "slurm", jobs)
    return script


def submit_slurm(script: Path, say) -> int:
    """`sbatch SCRIPT` when Slurm is installed here; else say how to submit it."""
    sbatch = shutil.which("sbatch")
    if sbatch is None:
        say(f"sbatch not found on this machine: submit the array from a Slurm login node with: sbatch {script}")
        return 0
    done = subprocess.run([sbatch, str(script)], capture_output=True, text=True)
    say((done.stdout or done.stderr).strip())
    return done.returncode


def sweep_command(
    overrides: list[str],
    sweep_dir: Path | None,
    launcher: str,
    slurm_options: list[str],
    dry_run: bool,
    say,
) -> int:
    """Plan, validate and run (or print, or write for Slurm) a sweep; returns the exit code."""
    if launcher not in LAUNCHERS:
        raise UserError(f"--sweep-launcher={launcher} is not allowed; choose one of: {', '.join(LAUNCHERS)}")
    if slurm_options and launcher != "slurm":
        raise UserError("--slurm-option needs --sweep-launcher=slurm")
    first = validate(plan_jobs(overrides, sweep_dir or Path(".")))  # run.dir plays no part in the checks
    sweep_dir = sweep_dir or default_run_path(first, "sweep")  # run.root/NAME-sweep-TIME, as runs are named
    if (sweep_dir / SWEEP_FILE).exists() and not any(o == "resume=true" for o in overrides) and not dry_run:
        raise UserError(f"sweep folder '{sweep_dir}' already holds a sweep; add resume=true to go on with it")
    jobs = plan_jobs(overrides, sweep_dir)
    if dry_run:
        say(f"sweep of {len(jobs)} jobs into {sweep_dir} ({launcher}); nothing created")
        for job in jobs:
            say(shlex.join(["rlagent", "train", *job.overrides]))
        return 0
    if launcher == "slurm":
        script = write_slurm(overrides, sweep_dir, jobs, slurm_options)
        say(f"wrote {script} (a job array of {len(jobs)}) and {sweep_dir / 'jobs.txt'}")
        return submit_slurm(script, say)
    return run_local(overrides, sweep_dir, jobs, say)


def is_sweep(overrides: list[str]) -> bool:
    """Whether any override sweeps (a,b / range(...) / glob(...)); unparsable input is left to compose."""
    try:
        return any(o.is_sweep_override() for o in OverridesParser.create().parse_overrides(overrides))
    except (HydraException, OmegaConfBaseException):
        return False
