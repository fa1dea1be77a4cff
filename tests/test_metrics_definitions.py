"""Every evaluation metric, computed by hand on fixed episodes and compared with what `run_eval` writes; every
reported metric has its row in docs/METRICS.md.

The episodes mix difficulties, errored episodes (the world's fault, the engine's, a verifier that raises),
truncated ones and two samples per task. The agent loop is replaced by one that hands `run_eval` these episodes
as played (turns, token counts, environment state): scoring, aggregation and the eval file are rlagent's own."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from rlagent.config.schema import AppWorldConfig, RecipeConfig, SearchConfig
from rlagent.evaluate import runner
from rlagent.evaluate.metrics import aggregate, metric_counts, metric_means
from rlagent.rollout.episode import Episode, Turn
from rlagent.runs.rundir import RunDir
from rlagent.tasks.appworld.verifier import AppWorldVerifier
from rlagent.tasks.base import Example
from rlagent.tasks.custom.verifier import CustomVerifier
from rlagent.tasks.search.verifier import SearchVerifier

METRICS_MD = Path(__file__).resolve().parents[1] / "docs" / "METRICS.md"
GENERATION_S = 4.0
# numbers a custom reward returned beside `reward` (the table's `<name>` row)
USER_METRICS = {"steps_used"}


def wilson(successes: float, n: int) -> tuple[float, float]:
    """Wilson's 95% score interval, written out again here (not rlagent's function)."""
    z = 1.96
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


class FixedSuite:
    def __init__(self, name: str, verifier, examples: list[Example]):
        self.name, self.verifier, self._examples = name, verifier, examples

    def examples(self, split: str) -> list[Example]:
        return self._examples

    def make_env(self, example: Example):
        raise AssertionError("the fixed loop plays no environment")


class RaisingVerifier:
    """The search verifier, except that it raises on one example (a verifier bug: the episode errors)."""

    def __init__(self, inner, bad_id: str):
        self.inner, self.bad_id = inner, bad_id

    def score(self, episode: Episode):
        if episode.example.id == self.bad_id:
            raise RuntimeError("verifier bug")
        return self.inner.score(episode)


class TextEngine:
    name = "fixed"
    tokenizer = None


def played(spec: dict) -> Episode:
    """An episode as the loop leaves it: turns (malformed, tool calls), tokens, truncation, errors, env state."""
    ep = Episode(example=spec["example"], sample=spec["sample"])
    ep.turns = [Turn("...", "...", malformed=m, tool_calls=c) for m, c in spec["turns"]]
    ep.text_tokens = spec["tokens"]
    ep.truncated = spec.get("truncated", False)
    ep.finish_reason = "max_tokens" if ep.truncated else "done"
    ep.env_state = spec["state"]
    if spec.get("loop_error"):
        ep.fail(spec["loop_error"])
        ep.finish_reason = "error"
    return ep


def evaluate(tmp_path: Path, monkeypatch, suite: FixedSuite, specs: list[dict], k: int) -> dict:
    """run_eval over the fixed episodes; the eval file it wrote."""
    by_item = {(s["example"].id, s["sample"]): s for s in specs}

    def fixed_run(self, items, seed=0, on_done=None, first_index=0):
        assert sorted((ex.id, sample) for ex, sample in items) == sorted(by_item)
        episodes = [played(by_item[(ex.id, sample)]) for ex, sample in items]
        self.stats.generation_s = GENERATION_S
        self.stats.model_tokens = sum(ep.model_tokens for ep in episodes)
        return episodes

    monkeypatch.setattr(runner.AgentLoop, "run", fixed_run)
    cfg = RecipeConfig(name="metrics")
    cfg.eval.num_samples = k
    run = RunDir(tmp_path / suite.name)
    run.eval.mkdir(parents=True)
    result = runner.run_eval(cfg, run, suite, engine=TextEngine(), show_progress=False)
    data = json.loads(result.path.read_text())
    assert data["metrics"] == result.metrics
    return data


def appworld_case():
    """5 tasks x 2 samples: difficulties 1, 2, 3; scenario s3 cut short (one task of two)."""
    layout = [("a1", "s1", 1), ("b1", "s1", 1), ("c3", "s2", 3), ("d3", "s2", 3), ("e2", "s3", 2)]
    tasks = {
        name: Example(name, {"task_id": name, "scenario_id": scenario, "difficulty": difficulty})
        for name, scenario, difficulty in layout
    }

    def state(passed, tests, executions, failed, docs, api, completed=False, errored=False):
        evaluation = {} if errored else {"passes": [0] * passed, "num_tests": tests, "success": passed == tests}
        return {
            "evaluation": evaluation,
            "executions": executions,
            "failed_executions": failed,
            "doc_lookups": docs,
            "api_calls": api,
            "completed": completed,
            "errored": errored,
        }

    ok, bad = (False, 1), (True, 0)  # (malformed, tool calls) of a turn
    cut = {"truncated": True}  # the episode's token budget ran out
    specs = [
        dict(example=tasks["a1"], sample=0, turns=[ok, ok], tokens=100, state=state(3, 3, 2, 1, 1, 4, True)),
        dict(example=tasks["a1"], sample=1, turns=[ok, bad], tokens=80, state=state(1, 3, 1, 1, 0, 1)),
        dict(example=tasks["b1"], sample=0, turns=[ok], tokens=50, state=state(2, 2, 1, 0, 2, 3, True)),
        dict(example=tasks["b1"], sample=1, turns=[bad, bad], tokens=200, **cut, state=state(0, 2, 0, 0, 0, 0)),
        dict(example=tasks["c3"], sample=0, turns=[ok] * 3, tokens=256, **cut, state=state(2, 4, 3, 3, 0, 5)),
        # the world server died: no evaluation, no API count
        dict(example=tasks["c3"], sample=1, turns=[ok], tokens=40, state=state(0, 0, 1, 0, 0, None, errored=True)),
        dict(example=tasks["d3"], sample=0, turns=[ok], tokens=60, state=state(1, 4, 1, 0, 0, 2, True)),
        dict(example=tasks["d3"], sample=1, turns=[ok, ok], tokens=90, state=state(4, 4, 2, 0, 1, 6, True)),
        dict(example=tasks["e2"], sample=0, turns=[ok], tokens=30, state=state(1, 1, 1, 0, 0, 2, True)),
        # the engine broke its contract on the first turn: the loop errored it; the world's evaluation passed
        # (a no-op-pass task), which must not count
        dict(example=tasks["e2"], sample=1, turns=[], tokens=0, state=state(1, 1, 0, 0, 0, 0), loop_error="engine"),
    ]  # fmt: skip
    return FixedSuite("appsim", AppWorldVerifier(AppWorldConfig(reward="partial")), list(tasks.values())), specs


def appworld_metrics(tmp_path, monkeypatch) -> tuple[dict, dict]:
    suite, specs = appworld_case()
    data = evaluate(tmp_path, monkeypatch, suite, specs, k=2)
    # successes: a1#0, b1#0, d3#1, e2#0 of 10 episodes; first samples: a1, b1, e2 of 5 tasks
    rewards = [1, 1 / 3, 1, 0, 2 / 4, 0, 1 / 4, 1, 1, 0]  # tests passed; errored episodes 0
    expected = {
        "examples": 5,
        "episodes": 10,
        "success": 4 / 10,
        "success_ci_low": wilson(0.4 * 5, 5)[0],  # the task is the unit: 5 tasks, not 10 episodes
        "success_ci_high": wilson(0.4 * 5, 5)[1],
        "success_first": 3 / 5,
        "success_first_ci_low": wilson(3, 5)[0],
        "success_first_ci_high": wilson(3, 5)[1],
        "mean@2": 4 / 10,
        "pass@2": 4 / 5,  # every task with a success but c3
        "reward": sum(rewards) / 10,
        "truncation_rate": 2 / 10,
        "malformed_rate": 3 / 15,
        "tokens_per_s": 906 / GENERATION_S,
        "turns": 15 / 10,
        "tool_calls": 12 / 10,
        "malformed": 3 / 10,
        "truncated": 2 / 10,
        "model_tokens": 906 / 10,
        "errored": 2 / 10,
        "tgc": 4 / 10,
        "tgc_difficulty_1": 2 / 4,  # a1#0, b1#0 of a1 and b1's 4 episodes (not of all 10)
        "tgc_difficulty_2": 1 / 2,
        "tgc_difficulty_3": 1 / 4,
        "tests_passed": sum(rewards) / 10,
        "num_tests": (3 + 3 + 2 + 2 + 4 + 4 + 4 + 1 + 1) / 9,  # the errored world evaluated nothing
        "completed": 5 / 10,
        "executions": 12 / 10,
        "code_error_rate": (1 / 2 + 1 + 0 + 3 / 3 + 0 + 0 + 0 + 0) / 8,  # the 8 episodes that executed code
        "doc_lookups": 4 / 10,
        "api_calls": (4 + 1 + 3 + 0 + 5 + 2 + 6 + 2 + 0) / 9,  # the errored world reported none
        "scenarios": 2,  # s1 and s2; s3 has one of its two tasks
        "scenarios_partial": 1,
        "sgc": 1 / 2,  # s1's first samples both succeeded, s2's did not
        "sgc_ci_low": wilson(1, 2)[0],
        "sgc_ci_high": wilson(1, 2)[1],
    }
    return data, expected


def test_every_appworld_metric_by_hand(tmp_path, monkeypatch):
    data, expected = appworld_metrics(tmp_path, monkeypatch)
    assert_reported(data["metrics"], expected)
    counts = data["metric_counts"]  # the denominators
    assert counts["tgc_difficulty_1"] == 4 and counts["tgc_difficulty_2"] == 2 and counts["api_calls"] == 9
    assert counts["code_error_rate"] == 8 and counts["num_tests"] == 9 and counts["turns"] == 10


def search_metrics(tmp_path, monkeypatch) -> tuple[dict, dict]:
    q1 = Example("q1", {"question": "q1", "answers": ["Paris"], "supporting_ids": ["p1", "p2"]})
    q2 = Example("q2", {"question": "q2", "answers": ["Blue Whale"], "supporting_ids": ["p3"]})
    q3 = Example("q3", {"question": "q3", "answers": ["x"], "supporting_ids": []})
    verifier = RaisingVerifier(SearchVerifier(SearchConfig()), "q3")
    specs = [
        dict(example=q1, sample=0, turns=[(False, 1)] * 2 + [(False, 0)], tokens=30,
             state={"answer": "the Paris", "queries": ["a", "b"], "shown_ids": ["p1", "p9"]}),
        dict(example=q2, sample=0, turns=[(False, 1), (False, 0)], tokens=20,
             state={"answer": "whale", "queries": ["c"], "shown_ids": ["p3"]}),
        dict(example=q3, sample=0, turns=[(False, 0)], tokens=10, state={"answer": "x", "queries": []}),
    ]  # fmt: skip
    data = evaluate(tmp_path, monkeypatch, FixedSuite("search", verifier, [q1, q2, q3]), specs, k=1)
    expected = {
        "examples": 3,
        "episodes": 3,
        "success": 1 / 3,  # q3's verifier raised: errored, a failure
        "success_ci_low": wilson(1, 3)[0],
        "success_ci_high": wilson(1, 3)[1],
        "success_first": 1 / 3,
        "success_first_ci_low": wilson(1, 3)[0],
        "success_first_ci_high": wilson(1, 3)[1],
        "mean@1": 1 / 3,
        "pass@1": 1 / 3,
        "reward": 1 / 3,
        "truncation_rate": 0.0,
        "malformed_rate": 0.0,
        "tokens_per_s": 60 / GENERATION_S,
        "turns": 6 / 3,
        "tool_calls": 3 / 3,
        "malformed": 0.0,
        "truncated": 0.0,
        "model_tokens": 60 / 3,
        "errored": 1 / 3,
        # the verifier scored q1 and q2 only
        "em": 1 / 2,
        "f1": (1 + 2 / 3) / 2,  # "whale" against "blue whale": precision 1, recall 1/2
        "answered": 1.0,
        "searches": 3 / 2,
        "retrieved_gold": 1.0,
        "retrieved_all_gold": 1 / 2,
    }
    return data, expected


def test_every_search_metric_by_hand(tmp_path, monkeypatch):
    data, expected = search_metrics(tmp_path, monkeypatch)
    assert_reported(data["metrics"], expected)
    assert data["metric_counts"]["em"] == 2 and data["metric_counts"]["turns"] == 3


def custom_metrics(tmp_path, monkeypatch) -> tuple[dict, dict]:
    rows = [Example(f"r{i}", {"question": f"r{i}"}) for i in range(3)]
    call = {"error": None, "timed_out": False}
    specs = [
        dict(example=rows[0], sample=0, turns=[(False, 2)], tokens=12, state={
            "reward": 1.0, "final_answer": "done", "calls": [call, {**call, "error": "boom"}],
            "reward_metrics": {"reward/check": 1.0, "reward/get_reward": 0.0, "steps_used": 3.0}}),
        dict(example=rows[1], sample=0, turns=[(False, 1), (True, 0)], tokens=8, state={
            "reward": 0.5, "final_answer": None, "calls": [{**call, "timed_out": True}],
            "reward_metrics": {"reward/check": 0.5, "reward/get_reward": 0.0}}),
        dict(example=rows[2], sample=0, turns=[(False, 0)], tokens=4, state={"errored": True, "calls": []}),
    ]  # fmt: skip
    data = evaluate(tmp_path, monkeypatch, FixedSuite("custom", CustomVerifier(1.0), rows), specs, k=1)
    expected = {
        "examples": 3,
        "episodes": 3,
        "success": 1 / 3,
        "success_ci_low": wilson(1, 3)[0],
        "success_ci_high": wilson(1, 3)[1],
        "success_first": 1 / 3,
        "success_first_ci_low": wilson(1, 3)[0],
        "success_first_ci_high": wilson(1, 3)[1],
        "mean@1": 1 / 3,
        "pass@1": 1 / 3,
        "reward": (1.0 + 0.5 + 0.0) / 3,
        "truncation_rate": 0.0,
        "malformed_rate": 1 / 4,
        "tokens_per_s": 24 / GENERATION_S,
        "turns": 4 / 3,
        "tool_calls": 3 / 3,
        "malformed": 1 / 3,
        "truncated": 0.0,
        "model_tokens": 24 / 3,
        "errored": 1 / 3,
        "answered": 1 / 3,
        "tool_errors": 1 / 3,
        "tool_timeouts": 1 / 3,
        "reward/check": (1.0 + 0.5) / 2,  # the errored row returned no reward
        "reward/get_reward": 0.0,
        "steps_used": 3.0,  # one row returned it
    }
    return data, expected


def test_every_custom_metric_by_hand(tmp_path, monkeypatch):
    data, expected = custom_metrics(tmp_path, monkeypatch)
    assert_reported(data["metrics"], expected)


CASES = (appworld_metrics, search_metrics, custom_metrics)


def assert_reported(metrics: dict[str, float], expected: dict[str, float]) -> None:
    """What run_eval reported equals the hand computation, key for key (wall_s: measured, not computed)."""
    assert sorted(metrics) == sorted({*expected, "wall_s"})
    assert metrics == pytest.approx({**expected, "wall_s": metrics["wall_s"]})
    assert metrics["wall_s"] >= 0


def table_rows() -> dict[str, re.Pattern[str]]:
    """Metric names of docs/METRICS.md's table, each as a pattern (`<d>`, `<k>`: a number; `<function>`: a name)."""
    text = METRICS_MD.read_text()
    section = text.split("## Every reported metric", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, re.Pattern[str]] = {}
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        for name in re.findall(r"`([^`]+)`", line.split("|")[1]):
            pattern = re.sub(r"<(d|k)>", r"\\d+", re.escape(name).replace(r"\<", "<").replace(r"\>", ">"))
            rows[name] = re.compile(re.sub(r"<[a-z_]+>", r"[^/]+", pattern))
    return rows


def test_every_reported_metric_has_its_row_in_the_table(tmp_path, monkeypatch):
    rows = table_rows()
    for case in CASES:
        folder = tmp_path / case.__name__
        folder.mkdir()
        for key in case(folder, monkeypatch)[0]["metrics"]:
            if key in USER_METRICS:
                assert "<name>" in rows, key
                continue
            named = [name for name, pattern in rows.items() if name != "<name>" and pattern.fullmatch(key)]
            assert named, f"metric {key!r} is reported but has no row in docs/METRICS.md"


def test_the_table_lists_no_metric_that_is_not_reported(tmp_path, monkeypatch):
    reported: set[str] = set()
    for case in CASES:
        folder = tmp_path / case.__name__
        folder.mkdir()
        reported |= set(case(folder, monkeypatch)[0]["metrics"])
    for name, pattern in table_rows().items():
        if name == "<name>":
            assert reported & USER_METRICS
        else:
            assert any(pattern.fullmatch(key) for key in reported), f"docs/METRICS.md lists {name!r}, never reported"


def test_metric_means_divides_by_the_episodes_that_report_each_key():
    """Issue 24: 2 solved difficulty-1 tasks and 2 failed difficulty-3 tasks are TGC 1.0 on difficulty 1, not 0.5."""
    rows = [
        {"tgc": 1.0, "tgc_difficulty_1": 1.0, "api_calls": 4.0},
        {"tgc": 1.0, "tgc_difficulty_1": 1.0, "api_calls": 2.0},
        {"tgc": 0.0, "tgc_difficulty_3": 0.0, "api_calls": 6.0},
        {"tgc": 0.0, "tgc_difficulty_3": 0.0},  # an errored world: no API count
    ]
    assert metric_means(rows) == {"api_calls": 4.0, "tgc": 0.5, "tgc_difficulty_1": 1.0, "tgc_difficulty_3": 0.0}
    assert metric_counts(rows) == {"api_calls": 3, "tgc": 4, "tgc_difficulty_1": 2, "tgc_difficulty_3": 2}
    assert metric_means([]) == {} and metric_means(iter(rows)) == metric_means(rows)


def test_per_difficulty_tgc_and_api_calls_through_the_verifier_and_aggregate():
    """The issue's example end to end: AppWorld's verifier, then the evaluation's aggregation."""
    verifier = AppWorldVerifier(AppWorldConfig())
    episodes = []
    for i, (difficulty, solved, api) in enumerate([(1, True, 3), (1, True, 5), (3, False, 2), (3, False, None)]):
        ep = Episode(Example(f"t{i}", {"task_id": f"t{i}", "difficulty": difficulty}), 0)
        ep.env_state = {
            "evaluation": {"passes": [0] * (2 if solved else 0), "num_tests": 2, "success": solved},
            "executions": 1,
            "api_calls": api,
        }
        score = verifier.score(ep)
        ep.success, ep.reward, ep.metrics = score.success, score.reward, score.metrics
        episodes.append(ep)
    m = aggregate(episodes, 1)
    assert m["tgc_difficulty_1"] == 1.0 and m["tgc_difficulty_3"] == 0.0 and m["tgc"] == 0.5
    assert m["api_calls"] == pytest.approx(10 / 3)
