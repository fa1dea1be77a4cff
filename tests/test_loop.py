"""The agent loop with a real model: token bookkeeping, masks, transcripts, truncation."""

import pytest

from rlagent.config.schema import SyntheticKBConfig, TaskConfig
from rlagent.rollout.chat import ChatFormat
from rlagent.rollout.engines.hf import HFEngine
from rlagent.rollout.loop import AgentLoop, LoopSettings, score_episodes
from rlagent.tasks.search.suite import SearchSuite

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def suite():
    cfg = TaskConfig(suite="search", dataset="synthetic_kb", source="synthetic", max_turns=3)
    cfg.synthetic = SyntheticKBConfig(train_questions=20, dev_questions=8)
    cfg.system_prompt = "Search with <search> query </search>, answer with <answer> answer </answer>."
    cfg.user_template = "Question: {question}"
    return SearchSuite(cfg)


@pytest.fixture(scope="module")
def engine(smollm2_path):
    return HFEngine(smollm2_path, batch_size=8)


def run(engine, suite, **settings):
    loop = AgentLoop(engine, suite, LoopSettings(**{"temperature": 1.0, "max_new_tokens": 40, **settings}))
    episodes = loop.run([(ex, 0) for ex in suite.examples("dev")], seed=1)
    score_episodes(suite, episodes)
    return episodes


@pytest.fixture(scope="module")
def episodes(engine, suite):
    return run(engine, suite, max_turns=3, max_episode_tokens=400)


def test_ids_masks_and_logprobs_line_up(episodes):
    assert any(len(ep.turns) > 1 for ep in episodes)
    for ep in episodes:
        assert len(ep.completion_ids) == len(ep.mask) == len(ep.logprobs)
        assert all(lp == 0.0 for lp, m in zip(ep.logprobs, ep.mask, strict=True) if m == 0)
        assert all(lp < 0.0 or lp == 0.0 for lp in ep.logprobs)
        assert sum(ep.mask) == ep.model_tokens > 0


def test_decoding_all_ids_reproduces_the_transcript(engine, episodes):
    chat = ChatFormat(engine.tokenizer)
    for ep in episodes:
        decoded = engine.tokenizer.decode(ep.prompt_ids + ep.completion_ids)
        rendered = engine.tokenizer.apply_chat_template(ep.messages, tokenize=False)
        # The rendered transcript closes the last model turn; the ids end where the model stopped.
        last_turn = ep.completion_ids[len(ep.completion_ids) - _last_model_run(ep.mask) :]
        assert rendered == decoded + chat.turn_closing(last_turn)


def _last_model_run(mask):
    n = 0
    for m in reversed(mask):
        if m == 0:
            break
        n += 1
    return n


def test_environment_tokens_are_masked(engine, episodes):
    for ep in episodes:
        env_text = engine.tokenizer.decode([t for t, m in zip(ep.completion_ids, ep.mask, strict=True) if m == 0])
        for turn in ep.turns[:-1]:
            assert turn.observation in env_text
        model_text = engine.tokenizer.decode([t for t, m in zip(ep.completion_ids, ep.mask, strict=True) if m == 1])
        assert "<|im_start|>user" not in model_text


def test_truncation_is_flagged(engine, suite):
    episodes = run(engine, suite, max_turns=6, max_episode_tokens=60, max_new_tokens=40)
    truncated = [ep for ep in episodes if ep.truncated]
    assert truncated and all(ep.finish_reason == "max_tokens" for ep in truncated)
    assert all(len(ep.completion_ids) <= 60 for ep in episodes)
    assert all(ep.metrics["truncated"] == 1.0 for ep in truncated)
