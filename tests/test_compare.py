"""compare-runs on generated run directories (exact numbers) and on real smoke runs (HTML in Chromium)."""

import html
import json
import os
import re
import shlex
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
import yaml

from rlagent.evaluate.metrics import wilson_interval
from rlagent.runs.compare import compare_pairs, differing_keys, fmt, summary_rows, within_run_changes
from rlagent.runs.load import load_run
from rlagent.runs.stats import mcnemar_exact, paired_difference, unpaired_difference, unpaired_task_difference


def make_run(
    root: Path,
    name: str,
    outcomes: dict[str, list[bool]],
    lr: float = 1e-6,
    status: str = "completed",
    steps: int = 2,
    split: str = "dev",
) -> Path:
    path = root / name
    (path / "eval").mkdir(parents=True)
    config = {
        "name": "smoke_search",
        "model": {"name_or_path": "tiny"},
        "algorithm": {"learning_rate": lr},
        "run": {"dir": str(path)},
        "task": {"dataset": "synthetic_kb"},
    }
    (path / "config.yaml").write_text(yaml.safe_dump(config))
    (path / "run.json").write_text(
        json.dumps({"status": status, "started_unix": 0, "finished": "1970-01-01T00:01:40+00:00"})
    )
    rows = [
        {
            "step": s,
            "train/reward": 0.1 * s,
            "rollout/success": 0.05 * s,
            "logprob_mismatch/max": 1e-5,
            "rollout/tokens_per_s": 100.0 + s,
        }
        for s in range(1, steps + 1)
    ]
    for step in (0, steps):
        successes = [v[0] for v in outcomes.values()] if step == steps else [False] * len(outcomes)
        share = sum(successes) / len(successes)
        low, high = wilson_interval(sum(successes), len(successes))
        per_example = outcomes if step == steps else {k: [False] * len(v) for k, v in outcomes.items()}
        rows.append({"step": step, f"eval/{split}/success": share})
        episodes = sum(len(v) for v in per_example.values())
        metrics = {
            "success": sum(sum(v) for v in per_example.values()) / episodes,
            "success_first": share,
            "success_ci_low": low,
            "success_ci_high": high,
            "examples": float(len(outcomes)),
            "episodes": float(episodes),
            "em": share,
            "f1": share,
            "turns": 2.0,
            "tokens_per_s": 50.0,
            "pass@1": share,
        }
        (path / "eval" / f"{split}-step-{step}.json").write_text(
            json.dumps({"split": split, "step": step, "metrics": metrics, "per_example": per_example, "engine": "vllm"})
        )
        with (path / "eval" / f"{split}-step-{step}.rollouts.jsonl").open("w") as handle:
            for task, results in per_example.items():
                handle.write(
                    json.dumps(
                        {
                            "example_id": task,
                            "sample": 0,
                            "question": f"Q {task}?",
                            "gold": ["A"],
                            "reward": float(results[0]),
                            "turns": [{"action": f"<answer> {task} </answer>", "observation": None}],
                        }
                    )
                    + "\n"
                )
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


TASKS = [f"t{i}" for i in range(20)]


@pytest.fixture
def two_runs(tmp_path):
    a = make_run(tmp_path, "base", {t: [i < 6] for i, t in enumerate(TASKS)})  # 6/20 solved
    b = make_run(tmp_path, "trained", {t: [i < 4 or 10 <= i < 18] for i, t in enumerate(TASKS)}, lr=1e-5)  # 12/20
    return a, b


def test_summary_numbers_intervals_and_config_diff(two_runs):
    runs = [load_run(p) for p in two_runs]
    rows = summary_rows(runs, None)
    assert [(r.run, r.split, r.final.step) for r in rows] == [("base", "dev", 2), ("trained", "dev", 2)]
    assert rows[0].metric("success") == 0.3 and rows[1].metric("success") == 0.6
    assert rows[1].interval == pytest.approx(wilson_interval(12, 20))
    assert rows[1].best.step == 2 and rows[0].wall_s == 100.0 and rows[0].steps == 2
    assert differing_keys(runs) == [("algorithm.learning_rate", [1e-6, 1e-5])]  # run.dir is ignored


def test_change_within_a_run_from_its_first_and_its_warm_started_evaluation(two_runs):
    _, trained = two_runs
    (change,) = within_run_changes([load_run(trained)], None)
    assert (change.start, change.end) == ("step 0", "step 2")  # step 0 solved nothing, step 2 solved 12/20
    assert change.difference.delta == pytest.approx(0.6) and change.difference.low > 0
    # a warm-started run: the base policy (step -1) solved nothing, step 0 solved what step 2 did
    step0 = json.loads((trained / "eval" / "dev-step-2.json").read_text())
    (trained / "eval" / "dev-step-0.json").write_text(json.dumps({**step0, "step": 0}))
    (trained / "eval" / "dev-base.json").write_text(
        json.dumps({**step0, "step": -1, "per_example": {t: [False] for t in TASKS}})
    )
    changes = within_run_changes([load_run(trained)], "dev")
    assert [(c.start, c.end) for c in changes] == [("base (before warm start)", "step 2"), ("step 0", "step 2")]
    assert changes[0].difference.delta == pytest.approx(0.6)
    assert changes[1].difference.delta == 0 and changes[1].difference.verdict == "within noise"


def test_flips_and_paired_difference(two_runs):
    runs = [load_run(p) for p in two_runs]
    (pair,) = compare_pairs(runs, "dev")
    assert [f.task for f in pair.gained] == [f"t{i}" for i in range(10, 18)]
    assert [f.task for f in pair.lost] == ["t4", "t5"]
    assert pair.gained[0].transcript_b["question"] == "Q t10?"
    assert pair.difference.delta == pytest.approx(0.3) and pair.difference.paired
    assert pair.difference.p_value == pytest.approx(mcnemar_exact(8, 2))
    assert pair.difference.low > 0 and pair.difference.verdict == "better"


def test_report_gives_each_flipped_episode_its_runs_show_command(two_runs, tmp_path):
    base, trained = two_runs
    status = json.loads((trained / "run.json").read_text())  # started at 0: a wall time of 4012 s
    (trained / "run.json").write_text(json.dumps({**status, "finished": "1970-01-01T01:06:52+00:00"}))
    report = tmp_path / "report.html"
    result = subprocess.run(
        [sys.executable, "-m", "rlagent", "compare-runs", str(base), str(trained), "-o", str(report)],
        capture_output=True, text=True, env={**os.environ, "COLUMNS": "250"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "1:06:52" in result.stdout and "0:01:40" in result.stdout and "e+0" not in result.stdout
    assert fmt(4012.3, 1) == "4,012" and fmt(1e-6) == "1e-06"

    text = report.read_text()
    shown = [html.unescape(c) for c in re.findall(r'<p class="show"><code>(.*?)</code></p>', text)]
    flipped = [f"t{i}" for i in range(10, 18)] + ["t4", "t5"]  # solved only by trained, only by base
    assert sorted(shown) == sorted(
        shlex.join(["rlagent", "runs", "show", str(run), "--episode", f"dev-step-2:{task}#0"])
        for task in flipped
        for run in (base, trained)
    )
    # the command as the report gives it shows that episode
    command = next(c for c in shown if str(trained) in c and "dev-step-2:t10#0" in c)
    episode = subprocess.run(
        [sys.executable, "-m", *shlex.split(command)],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert episode.returncode == 0, episode.stderr
    assert "episode dev-step-2:t10#0 of run trained" in episode.stdout and "Q t10?" in episode.stdout


def test_noise_is_called_noise():
    same = {f"t{i}": [i % 2 == 0] for i in range(30)}
    shifted = {f"t{i}": [i % 2 == 0 or i == 1] for i in range(30)}
    diff = paired_difference(same, shifted)
    assert diff.delta == pytest.approx(1 / 30) and diff.within_noise and diff.verdict == "within noise"
    assert mcnemar_exact(1, 0) == 1.0 and mcnemar_exact(10, 0) == pytest.approx(2 / 1024)
    assert unpaired_difference(0.30, 20, 0.35, 20).within_noise
    assert not unpaired_difference(0.10, 400, 0.30, 400).within_noise


def test_unpaired_interval_counts_tasks_not_samples(tmp_path):
    """Issue 24: runs without shared tasks were compared as if each of k samples of a task were an independent
    trial (n = episodes), an interval too narrow by about sqrt(k) when a task's samples agree. The task is the unit."""
    k = 5
    a = make_run(tmp_path, "a", {f"a{i}": [i < 6] * k for i in range(20)})  # 6/20 tasks, every sample alike
    b = make_run(tmp_path, "b", {f"b{i}": [i < 12] * k for i in range(20)})  # 12/20
    (pair,) = compare_pairs([load_run(a), load_run(b)], "dev")
    d, per_task = pair.difference, unpaired_difference(0.3, 20, 0.6, 20)  # 20 tasks a side, not 100 episodes
    assert not d.paired and d.tasks == 20 and d.delta == pytest.approx(0.3)
    assert (d.low, d.high, d.p_value) == pytest.approx((per_task.low, per_task.high, per_task.p_value))
    by_episode = unpaired_difference(0.3, 100, 0.6, 100)
    assert d.high - d.low > 2 * (by_episode.high - by_episode.low)
    # samples that differ within a task: each task is one observation, its mean success
    mixed = {"x1": [True, False], "x2": [True, True], "x3": [False, False], "x4": [False, True]}
    other = {"y1": [True, True], "y2": [True, True], "y3": [False, True]}
    diff = unpaired_task_difference(mixed, other)
    means_a, means_b = [0.5, 1.0, 0.0, 0.5], [1.0, 1.0, 0.5]
    var_a = sum((x - 0.5) ** 2 for x in means_a) / 4
    var_b = sum((x - 2.5 / 3) ** 2 for x in means_b) / 3
    se = (var_a / 4 + var_b / 3) ** 0.5
    assert diff.delta == pytest.approx(2.5 / 3 - 0.5) and diff.tasks == 3
    assert (diff.low, diff.high) == pytest.approx((diff.delta - 1.96 * se, diff.delta + 1.96 * se))


def test_the_interval_shown_next_to_success_is_the_interval_of_success(tmp_path):
    """Issue 24: with eval.num_samples > 1, `success` (the mean over every sample) was shown next to the interval of
    `success_first`. Evaluation files written before the fix stored the first sample's interval as success_ci_*: it
    is recomputed for `success` (tasks as the unit) unless one sample per task makes it the same number."""
    outcomes = {t: [i < 6, True, True] for i, t in enumerate(TASKS)}  # first samples 6/20, all samples 46/60
    (row,) = summary_rows([load_run(make_run(tmp_path, "k3", outcomes))], "dev")
    assert row.metric("success") == pytest.approx(46 / 60) and row.final.metrics["success_first"] == 0.3
    assert row.interval == pytest.approx(wilson_interval(46 / 60 * 20, 20))
    assert row.final.interval[0] > 0.5  # not the first sample's (0.3) interval
    one_sample = summary_rows([load_run(make_run(tmp_path, "k1", {t: [i < 6] for i, t in enumerate(TASKS)}))], "dev")
    assert one_sample[0].interval == pytest.approx(wilson_interval(6, 20))  # as recorded


def test_missing_and_partial_runs_are_skipped_with_a_warning(two_runs, tmp_path):
    partial = make_run(tmp_path, "crashed", {t: [True] for t in TASKS}, status="running")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "rlagent",
            "compare-runs",
            str(two_runs[0]),
            str(partial),
            str(tmp_path / "missing"),
            str(two_runs[1]),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert result.returncode == 0, result.stderr
    assert "skipping" in result.stderr and "partial run (status: running)" in result.stderr
    assert "missing: not a directory" in result.stderr
    assert "trained" in result.stdout and "better" in result.stdout and "crashed" not in result.stdout
    nothing = subprocess.run(
        [sys.executable, "-m", "rlagent", "compare-runs", str(partial)], capture_output=True, text=True
    )
    assert nothing.returncode == 2 and "no usable run directory" in nothing.stderr


def png_pixels(path: Path) -> tuple[int, int, bytes]:
    """Decode an 8-bit RGB/RGBA PNG (what Chromium writes) into raw rows."""
    data = path.read_bytes()
    width, height, depth, color = struct.unpack(">IIBB", data[16:26])
    assert depth == 8 and color in (2, 6)
    chunks, pos = [], 8
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if kind == b"IDAT":
            chunks.append(data[pos + 8 : pos + 8 + length])
        pos += 12 + length
    raw, channels = zlib.decompress(b"".join(chunks)), 3 if color == 2 else 4
    stride, out, prev = width * channels, bytearray(), bytearray(width * channels)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - channels] if x >= channels else 0
            b, c = prev[x], prev[x - channels] if x >= channels else 0
            if kind == 1:
                line[x] = (line[x] + a) & 255
            elif kind == 2:
                line[x] = (line[x] + b) & 255
            elif kind == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        out += bytes(px for i in range(0, stride, channels) for px in line[i : i + 3])
        prev = line
    return width, height, bytes(out)


def count_color(pixels: bytes, rgb: tuple[int, int, int], tolerance: int = 8) -> int:
    return sum(1 for i in range(0, len(pixels), 3) if all(abs(pixels[i + k] - rgb[k]) <= tolerance for k in range(3)))


CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.mark.slow
def test_html_report_of_real_smoke_runs_renders_in_chromium(tmp_path, tiny_path):
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("Debian's chromium is required for this test (.ci/run installs it)")
    cli = [sys.executable, "-m", "rlagent"]
    train = subprocess.run(
        [
            *cli,
            "train",
            "recipe=smoke_search",
            f"run.dir={tmp_path}/trained",
            "trainer.max_steps=2",
            "trainer.eval_steps=1",
            "trainer.eval_limit=4",
        ],
        capture_output=True,
        text=True,
    )
    assert train.returncode == 0, train.stderr[-3000:]
    base = subprocess.run(
        [*cli, "eval", "recipe=smoke_search", f"run.dir={tmp_path}/base", "task.limit=4"],
        capture_output=True,
        text=True,
    )
    assert base.returncode == 0, base.stderr[-3000:]
    report = tmp_path / "report.html"
    compare = subprocess.run(
        [*cli, "compare-runs", f"{tmp_path}/base", f"{tmp_path}/trained", "-o", str(report)],
        capture_output=True,
        text=True,
    )
    assert compare.returncode == 0, compare.stderr[-3000:]
    html = report.read_text()
    assert html.count("data:image/png;base64,") >= 4 and "Per-task results: dev" in html
    profile = ["--user-data-dir=" + str(tmp_path / "profile")]
    dom = subprocess.run(
        [chromium, *CHROMIUM_FLAGS, *profile, "--virtual-time-budget=5000", "--dump-dom", report.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    loaded = dom.stdout.split('data-images-loaded="', 1)[1].split('"', 1)[0]
    shown, total = map(int, loaded.split("/"))
    assert shown == total >= 4  # every plot decoded
    shot = tmp_path / "report.png"
    subprocess.run(
        [chromium, *CHROMIUM_FLAGS, *profile, "--window-size=1280,2600", f"--screenshot={shot}", report.as_uri()],
        capture_output=True,
        timeout=120,
        check=True,
    )
    width, height, pixels = png_pixels(shot)
    assert (width, height) == (1280, 2600)
    assert count_color(pixels, (0xEE, 0xF1, 0xF5), 2) > 2000  # table header cells
    assert count_color(pixels, (0x1F, 0x77, 0xB4)) > 300  # matplotlib's first line colour: the curves
