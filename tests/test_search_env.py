"""The search suite with scripted policies through the real agent loop, retriever and verifier."""

from rlagent.config.schema import SyntheticKBConfig, TaskConfig
from rlagent.rollout.loop import AgentLoop, LoopSettings, score_episodes
from rlagent.tasks.search.suite import SearchSuite
from rlagent.tasks.search.synthetic_kb import SyntheticKB

from .policies import OraclePolicy, SilentPolicy


def kb_task(**search) -> TaskConfig:
    cfg = TaskConfig(
        suite="search", dataset="synthetic_kb", source="synthetic", max_turns=5, user_template="Question: {question}"
    )
    cfg.synthetic = SyntheticKBConfig(train_questions=60, dev_questions=40)
    cfg.search.max_searches = 4
    for key, value in search.items():
        setattr(cfg.search, key, value)
    return cfg


def play(suite, policy, split="dev", max_turns=5):
    examples = suite.examples(split)
    loop = AgentLoop(policy, suite, LoopSettings(max_turns=max_turns))
    episodes = loop.run([(ex, 0) for ex in examples])
    score_episodes(suite, episodes)
    return episodes


def test_knowledge_base_is_seeded_and_multi_hop():
    a, b = SyntheticKB(SyntheticKBConfig(seed=3)), SyntheticKB(SyntheticKBConfig(seed=3))
    assert [e.data for e in a.examples("dev")] == [e.data for e in b.examples("dev")]
    assert SyntheticKB(SyntheticKBConfig(seed=4)).examples("dev")[0].data != a.examples("dev")[0].data
    hops = {e.data["hops"] for e in a.examples("train")}
    assert hops == {1, 2, 3}
    passages = {p.id: p for p in a.passages()}
    for example in a.examples("dev"):
        assert len(example.data["supporting_ids"]) == example.data["hops"]
        assert all(pid in passages for pid in example.data["supporting_ids"])
        # the final answer is written in the last supporting passage
        assert example.data["answers"][0] in passages[example.data["supporting_ids"][-1]].text


def test_oracle_policy_scores_exact_match_one():
    suite = SearchSuite(kb_task())
    episodes = play(suite, OraclePolicy(suite.examples("dev")))
    assert all(ep.done and ep.finish_reason == "done" for ep in episodes)
    assert sum(ep.metrics["em"] for ep in episodes) / len(episodes) == 1.0
    assert all(ep.metrics["retrieved_all_gold"] == 1.0 for ep in episodes)
    assert {ep.metrics["searches"] for ep in episodes} == {1.0, 2.0, 3.0}


def test_never_answering_policy_scores_zero_and_hits_limits():
    suite = SearchSuite(kb_task(reward="em_format", format_penalty=0.25))
    episodes = play(suite, SilentPolicy(), max_turns=6)
    assert all(ep.reward == -0.25 and not ep.success for ep in episodes)
    assert all(ep.finish_reason == "max_turns" and ep.metrics["answered"] == 0 for ep in episodes)
    # after max_searches the environment refuses further searches and says why
    turns = episodes[0].turns
    assert [t.malformed for t in turns] == [False] * 4 + [True] * 2
    assert "used all 4 searches" in turns[-1].observation


def test_observations_format_passages_in_information_tags():
    suite = SearchSuite(kb_task(top_k=2))
    example = suite.examples("dev")[0]
    env = suite.make_env(example)
    step = env.step(f"<search> {example.data['decomposition'][0]['question']} </search>")
    assert step.observation.startswith("<information>\nDoc 1: (") and step.observation.endswith("</information>")
    assert step.observation.count("Doc ") == 2 and not step.done
    bad = env.step("I will answer now")
    assert bad.malformed and "no action" in bad.observation
    final = env.step("<answer> nope </answer>")
    assert final.done and env.state()["answer"] == "nope"


def test_tools_protocol_uses_tool_role_and_schemas():
    suite = SearchSuite(kb_task(protocol="tools"))
    env = suite.make_env(suite.examples("dev")[0])
    assert env.tools and env.stop is None and env.observation_role == "tool"
    step = env.step('<tool_call>{"name": "search", "arguments": {"query": "city"}}</tool_call>')
    assert not step.malformed and step.observation.startswith("Doc 1:")
    done = env.step('<tool_call>{"name": "answer", "arguments": {"answer": "X"}}</tool_call>')
    assert done.done and env.state()["answer"] == "X"
