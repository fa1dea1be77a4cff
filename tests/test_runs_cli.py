"""`rlagent runs list`, `rlagent runs show` and `--dry-run` on run directories written by the project's own
writers: open_run_dir, MetricsLog rows as training logs them, and run_eval's evaluation files (scripted policies
through the real agent loop, retriever and verifier)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rlagent.config.compose import compose_recipe
from rlagent.evaluate.runner import run_eval
from rlagent.rollout.engines.base import Generation
from rlagent.rollout.loop import AgentLoop, LoopSettings, score_episodes
from rlagent.runs.files import write_jsonl_atomic
from rlagent.runs.listing import find_run_dirs
from rlagent.runs.liveness import DIED
from rlagent.runs.load import read_run
from rlagent.runs.progress import status_label
from rlagent.runs.rundir import RunDir, open_run_dir
from rlagent.runs.sparkline import sparkline
from rlagent.tasks.search.suite import SearchSuite

from .policies import OraclePolicy, _split

EVAL_LIMIT = 8


def rlagent(*args: str, cwd: Path | None = None, columns: int = 80) -> subprocess.CompletedProcess:
    """The CLI with stdout piped, in a narrow terminal's environment."""
    env = {**os.environ, "COLUMNS": str(columns)}
    return subprocess.run([sys.executable, "-m", "rlagent", *args], capture_output=True, text=True, env=env, cwd=cwd)


class PartialOracle(OraclePolicy):
    """The oracle on the first `solved` examples; a wrong answer on the others."""

    def __init__(self, examples, solved: int):
        super().__init__(examples)
        self.solved = {ex.id for ex in examples[:solved]}

    def chat(self, conversations, sampling, tools=None):
        out = super().chat(conversations, sampling, tools)
        for i, conversation in enumerate(conversations):
            example = self.by_question[_split(conversation)[0]]
            if example.id not in self.solved and "<answer>" in out[i].text:
                out[i] = Generation([], [], "<answer> nobody </answer>", "stop")
        return out


def evaluate(cfg, run: RunDir, suite, step: int, solved: int) -> dict:
    """What training's periodic evaluation writes: eval/dev-step-N.json and the eval row of metrics.jsonl."""
    policy = PartialOracle(suite.examples("dev")[:EVAL_LIMIT], solved)
    result = run_eval(
        cfg, run, suite, engine=policy, split="dev", limit=EVAL_LIMIT, tag=f"step-{step}", step=step,
        show_progress=False,
    )  # fmt: skip
    run.metrics.append(step, {f"eval/dev/{k}": v for k, v in result.metrics.items()})
    return result.metrics


def save_rollouts(cfg, run: RunDir, suite, step: int) -> None:
    """What training stores for a step: its episodes (two samples of one example) in rollouts/step-NNNNNN.jsonl."""
    example = suite.examples("train")[step - 1]
    episodes = AgentLoop(OraclePolicy([example]), suite, LoopSettings.from_config(cfg)).run(
        [(example, 0), (example, 1)]
    )
    score_episodes(suite, episodes)
    write_jsonl_atomic(run.rollouts / f"step-{step:06d}.jsonl", (ep.to_record() for ep in episodes))


def make_training_run(root: Path, name: str, steps: int, evals: dict[int, int], fail: str | None = None):
    # five turns: the oracle's three searches and its answer fit
    cfg, _ = compose_recipe(["recipe=smoke_search", "task.max_turns=5", f"run.root={root}", f"run.dir={root / name}"])
    suite = SearchSuite(cfg.task)
    run = open_run_dir(cfg, "train")
    metrics = {}
    for step in range(steps + 1):
        if step:
            run.metrics.append(step, {"train/reward": 0.25 * step, "rollout/success": 0.2 * step, "train/loss": 0.1})
            save_rollouts(cfg, run, suite, step)
        if step in evals:
            metrics[step] = evaluate(cfg, run, suite, step, evals[step])
    if fail:
        run.fail(fail)
    else:
        run.finish(steps=steps, final_checkpoint=str(run.checkpoints / f"step-{steps}"))
    return run.path, metrics


@pytest.fixture(scope="module")
def runs_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    failed = make_training_run(root, "sweep/beta", steps=1, evals={0: 2}, fail="RuntimeError: out of memory")
    time.sleep(1.1)  # start times are recorded to the second: beta started first
    done = make_training_run(root, "alpha", steps=3, evals={0: 2, 3: 6})
    return root, done, failed


def _line_with(text: str, needle: str) -> str:
    (line,) = [line for line in text.splitlines() if needle in line]
    return line


def test_runs_list_shows_each_run_with_status_steps_and_best_eval(runs_root):
    root, (_, alpha), (_, beta) = runs_root
    assert (alpha[0]["success"], alpha[3]["success"], beta[0]["success"]) == (0.25, 0.75, 0.25)
    result = rlagent("runs", "list", str(root))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    # piped into an 80-column environment: the table keeps one line per run instead of squeezing cells
    row_alpha, row_beta = _line_with(out, " alpha "), _line_with(out, "sweep/beta")
    assert "smoke_search" in row_alpha and "completed" in row_alpha and "3/3" in row_alpha
    assert "0.750 (dev, step 3)" in row_alpha  # best and last: 6 of 8 at step 3
    assert "failed" in row_beta and "1/3" in row_beta and "0.250 (dev, step 0)" in row_beta
    assert max(len(line) for line in out.splitlines()) > 80
    assert out.index("sweep/beta") < out.index(" alpha ")  # by start time, not by name


def test_runs_list_default_folder_empty_and_missing(tmp_path, runs_root):
    root, _, _ = runs_root
    (tmp_path / "runs").symlink_to(root)
    default = rlagent("runs", "list", cwd=tmp_path)  # run.root's default, runs/
    assert default.returncode == 0 and "alpha" in default.stdout
    (tmp_path / "empty").mkdir()
    empty = rlagent("runs", "list", str(tmp_path / "empty"))
    assert empty.returncode == 0 and empty.stdout.strip() == f"no run directories under {tmp_path / 'empty'}"
    missing = rlagent("runs", "list", str(tmp_path / "nope"))
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1 and "Traceback" not in missing.stderr


def test_runs_show_prints_config_summary_evaluations_and_curves(runs_root):
    _, (alpha, metrics), _ = runs_root
    result = rlagent("runs", "show", str(alpha))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for key, value in (
        ("recipe", "smoke_search"),
        ("status", "completed"),
        ("steps", "3/3"),
        ("model.name_or_path", "tiny"),
        ("task.dataset", "synthetic_kb"),
        ("algorithm.num_generations", "4"),
        ("trainer.max_steps", "3"),
    ):
        assert value in _line_with(out, f"│ {key} "), key
    for step, m in metrics.items():
        row = _line_with(out, f"dev-step-{step}.json")
        assert f"{m['success']:.3f}" in row
        assert f"{m['success_ci_low']:.3f}–{m['success_ci_high']:.3f}" in row  # the interval the eval recorded
    reward = _line_with(out, "train/reward")
    assert "1..3 (3)" in reward and sparkline([0.25, 0.5, 0.75]) in reward
    assert "0..3 (2)" in _line_with(out, "eval/dev/success")


def test_runs_show_episode_renders_a_stored_episode_turn_by_turn(runs_root):
    _, (alpha, _), _ = runs_root
    suite = SearchSuite(compose_recipe(["recipe=smoke_search"])[0].task)
    solved, missed = suite.examples("dev")[0], suite.examples("dev")[EVAL_LIMIT - 1]  # step 3 solved the first 6

    shown = rlagent("runs", "show", str(alpha), "--episode", f"dev-step-3:{solved.id}", columns=60)
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    assert f"episode dev-step-3:{solved.id}#0 of run alpha" in out
    assert f"question: {solved.data['question']}" in out and solved.data["answers"][0] in _line_with(out, "gold:")
    assert "reward 1   success yes" in out and "em 1" in out
    assert "── turn 1 · model (1 tool call) ──" in out and "── turn 1 · environment (user) ──" in out
    assert "<information>" in out and "── end: the episode finished ──" in out
    searches = len(solved.data["decomposition"])
    assert f"── turn {searches + 1} · model ──" in out  # the answer, after one search per hop
    assert f"<answer> {solved.data['answers'][0]} </answer>" in out
    assert max(len(line) for line in out.splitlines()) > 60  # piped: long lines are not cut to the terminal

    wrong = rlagent("runs", "show", str(alpha), "--episode", f"dev-step-3:{missed.id}#0").stdout
    assert "<answer> nobody </answer>" in wrong and "success no" in wrong

    trained = rlagent("runs", "show", str(alpha), "--episode", "step-2")  # a source alone lists its episodes
    train_example = suite.examples("train")[1]
    assert trained.returncode == 0, trained.stderr
    assert f"step-2:{train_example.id}#0" in trained.stdout and f"step-2:{train_example.id}#1" in trained.stdout
    sample = rlagent("runs", "show", str(alpha), "--episode", f"{train_example.id}#1")
    assert sample.returncode == 0 and f"episode step-2:{train_example.id}#1" in sample.stdout


@pytest.mark.parametrize(
    ("wanted", "expected"),
    [
        ("no-such-episode", "no episode 'no-such-episode'"),
        ("dev-step-9:whatever", "no episode"),
        ("AMBIGUOUS", "is ambiguous"),
    ],
)
def test_runs_show_episode_bad_ids_list_the_ids_in_one_line(runs_root, wanted, expected):
    _, (alpha, _), _ = runs_root
    dev = SearchSuite(compose_recipe(["recipe=smoke_search"])[0].task).examples("dev")[0]
    wanted = wanted.replace("AMBIGUOUS", dev.id)  # evaluated at step 0 and at step 3
    result = rlagent("runs", "show", str(alpha), "--episode", wanted)
    assert result.returncode == 2 and expected in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    if expected == "is ambiguous":
        assert f"dev-step-0:{dev.id}#0" in result.stderr and f"dev-step-3:{dev.id}#0" in result.stderr
    else:
        assert f"dev-step-0:{dev.id}#0" in result.stderr and "step-1:" in result.stderr


def test_runs_show_refuses_a_folder_that_is_not_a_run(tmp_path):
    result = rlagent("runs", "show", str(tmp_path))
    assert result.returncode == 2 and "is not a run directory" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_running_run_and_one_whose_process_died(tmp_path):
    """A run recorded as running whose process was killed with SIGKILL (as by the OOM killer) shows as died in
    `runs list`, `runs show` and compare-runs' skip warning, with how to continue it; run.json is left as it is."""
    live = tmp_path / "live"
    script = (
        "import time\n"
        "from rlagent.config.compose import compose_recipe\n"
        "from rlagent.runs.rundir import open_run_dir\n"
        f"cfg, _ = compose_recipe(['recipe=smoke_search', 'run.dir={live}'])\n"
        "open_run_dir(cfg, 'train')\n"
        "print('open', flush=True)\n"
        "time.sleep(600)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "open"
        info = json.loads((live / "run.json").read_text())
        assert info["status"] == "running" and info["pid"] == proc.pid
        line = _line_with(rlagent("runs", "list", str(tmp_path)).stdout, " live ")
        assert "running" in line and "0/3" in line
    finally:
        proc.kill()  # SIGKILL: the process cannot record how it ended
        proc.wait()
        proc.stdout.close()
    recorded = (live / "run.json").read_bytes()

    line = _line_with(rlagent("runs", "list", str(tmp_path)).stdout, " live ")
    assert "died" in line and "running" not in line and "0/3" in line
    shown = rlagent("runs", "show", str(live), columns=400).stdout
    status = _line_with(shown, " status ")
    assert "died" in status and f"process {proc.pid}" in status
    assert "continue it with: rlagent train recipe=smoke_search resume=true run.dir=" in status
    compared = rlagent("compare-runs", str(live), columns=400)
    assert "status: running in run.json, but died: process" in compared.stderr
    assert f"rlagent train recipe=smoke_search resume=true run.dir={live} (and its other overrides)" in compared.stderr
    assert (live / "run.json").read_bytes() == recorded  # shown as died, never rewritten

    record = read_run(live)
    assert status_label(record) == DIED
    record.info["host"] = "another-machine"  # whether a process on another host lives cannot be told from here
    assert status_label(record) == "running"


def test_a_live_pid_that_is_not_the_runs_process_is_died(tmp_path):
    """The recorded pid belongs to a live process that started after the run did: the pid was reused."""
    cfg, _ = compose_recipe(["recipe=smoke_search", f"run.dir={tmp_path / 'live'}"])
    run = open_run_dir(cfg, "train")
    record = read_run(run.path)
    assert record.info["pid"] == os.getpid() and status_label(record) == "running"  # this process, alive
    record.info["started_unix"] = time.time() - 30 * 86400  # the run began long before this process did
    assert status_label(record) == DIED
    record.status = record.info["status"] = "completed"
    assert status_label(record) == "completed"


def test_run_dirs_are_found_without_searching_inside_them(runs_root):
    root, (alpha, _), (beta, _) = runs_root
    assert sorted(find_run_dirs(root)) == sorted([alpha, beta])
    assert find_run_dirs(alpha) == [alpha]


def test_sparkline_scales_and_buckets():
    assert sparkline([0, 1]) == "▁█" and sparkline([2, 2, 2]) == "▄▄▄" and sparkline([]) == ""
    assert len(sparkline(list(range(100)), width=10)) == 10


def test_train_dry_run_validates_prints_and_creates_nothing(tmp_path):
    root = tmp_path / "runs"
    root.mkdir()
    result = rlagent("train", "recipe=smoke_search", "--dry-run", f"run.root={root}", "trainer.max_steps=5")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "name: smoke_search" in out and "max_steps: 5" in out  # the resolved recipe
    assert "64 in train" in _line_with(out, "train examples")
    assert "not used" in _line_with(out, "eval examples")
    assert "≤ 2,048" in _line_with(out, "tokens per step")  # 2 prompts × 4 generations × 256 tokens
    assert "/models/tiny" in _line_with(out, "policy weights") or "prepared on first use" in out
    assert "no run directory created" in result.stderr
    assert list(root.iterdir()) == []


def test_eval_dry_run_counts_episodes(tmp_path):
    root = tmp_path / "runs"
    root.mkdir()
    result = rlagent("eval", "--dry-run", "recipe=smoke_search", f"run.root={root}", "eval.num_samples=2")
    assert result.returncode == 0, result.stderr
    assert "16 in dev" in result.stdout and "32 (examples × eval.num_samples 2)" in result.stdout
    assert list(root.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("train", "recipe=smoke_search", "--dry-run", "trainer.max_stepz=3"), "unknown key 'trainer.max_stepz'"),
        (("train", "--dry-run", "recipe=smoke_search", "checkpoint=/nope"), "model directory '/nope' does not exist"),
        (("eval", "recipe=smoke_search", "task.split=nope", "--dry-run"), "not 'nope'"),
    ],
)
def test_dry_run_errors_are_one_line_with_exit_code_2(tmp_path, args, message):
    root = tmp_path / "runs"
    root.mkdir()
    result = rlagent(*args, f"run.root={root}")
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stdout == "" and list(root.iterdir()) == []


def test_dry_run_refuses_an_existing_run_directory_as_train_would(runs_root):
    _, (alpha, _), _ = runs_root
    result = rlagent("train", "recipe=smoke_search", f"run.dir={alpha}", "--dry-run")
    assert result.returncode == 2 and "already exists; pass resume=true" in result.stderr
    resumed = rlagent("train", "recipe=smoke_search", f"run.dir={alpha}", "resume=true", "--dry-run")
    assert resumed.returncode == 0 and "(resumed)" in _line_with(resumed.stdout, "run directory")


def test_dry_run_loads_no_model_library(tmp_path):
    code = (
        "import sys; from rlagent.train.run import train_command; "
        f"train_command(['recipe=smoke_search', 'run.root={tmp_path}'], dry_run=True); "
        "heavy = ('torch', 'vllm', 'transformers', 'trl', 'peft'); "
        "print(sorted(m for m in heavy if m in sys.modules), file=sys.stderr)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0 and result.stderr.strip().endswith("[]"), result.stderr
    assert list(tmp_path.iterdir()) == []
