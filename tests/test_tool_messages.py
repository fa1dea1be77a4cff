"""Tool calls kept as OpenAI messages in text-engine transcripts (rollout/tool_messages.py and the loop)."""

import json

from rlagent.rollout.engines.base import Generation
from rlagent.rollout.loop import AgentLoop, LoopSettings
from rlagent.rollout.tool_messages import (
    assistant_message,
    calls_in_text,
    tool_call,
    tool_replies,
    transcript_problems,
)

from .test_custom_suite import call, counter_suite


def test_calls_left_in_the_text_get_ids_and_bad_blocks_stay_text():
    content, calls = calls_in_text(
        'Let me look. <tool_call>{"name": "search", "arguments": {"query": "x"}}</tool_call>'
    )
    assert content == "Let me look."
    assert [c["function"] for c in calls] == [{"name": "search", "arguments": '{"query": "x"}'}]
    assert calls[0]["id"].startswith("call_") and calls[0]["type"] == "function"
    _, two = calls_in_text(call("a") + call("b"))
    assert len({c["id"] for c in two}) == 2
    broken = 'x <tool_call>{"name": "search", </tool_call>'
    assert calls_in_text(broken) == (broken, [])
    assert calls_in_text("no call") == ("no call", [])


def test_replies_answer_every_call_by_id_and_feedback_without_a_call_is_a_user_message():
    calls = [tool_call("a", "{}", "id-1"), tool_call("b", "{}", "id-2")]
    asked = assistant_message("", calls)
    assert tool_replies(asked, "r", "tool", ["r1", "r2"]) == [
        {"role": "tool", "tool_call_id": "id-1", "name": "a", "content": "r1"},
        {"role": "tool", "tool_call_id": "id-2", "name": "b", "content": "r2"},
    ]
    # a refusal (e.g. too many calls) answers each call with the same message
    assert [m["content"] for m in tool_replies(asked, "refused", "tool")] == ["refused", "refused"]
    assert tool_replies(assistant_message("hm", []), "No tool call.", "tool") == [
        {"role": "user", "content": "No tool call."}
    ]
    assert tool_replies(asked, "<information>", "user") == [{"role": "user", "content": "<information>"}]


def test_transcript_problems_are_what_a_strict_server_refuses():
    user = {"role": "user", "content": "q"}
    asked = assistant_message("", [tool_call("a", "{}", "id-1")])
    good = [
        user,
        asked,
        {"role": "tool", "tool_call_id": "id-1", "content": "r"},
        {"role": "assistant", "content": "ok"},
    ]
    assert transcript_problems(good) == []
    assert transcript_problems([user, asked]) == []  # an episode may end on its last call
    assert transcript_problems([user, {"role": "assistant", "content": "x"}, {"role": "tool", "content": "r"}])
    assert transcript_problems([user, asked, {"role": "tool", "tool_call_id": "other", "content": "r"}])
    assert transcript_problems([user, asked, {"role": "user", "content": "r"}])
    assert transcript_problems([user, assistant_message("", [{"type": "function", "function": {"name": "a"}}])])


class ServerLikePolicy:
    """Answers as the OpenAI engine does (text for the environment, the message with ids for the transcript):
    two calls in one reply, then a malformed call, then the final answer."""

    name = "openai"
    tokenizer = None

    def chat(self, conversations, sampling, tools=None):
        out = []
        for conversation in conversations:
            turn = sum(m["role"] == "assistant" for m in conversation)
            if turn == 0:
                calls = [tool_call("increment", json.dumps({"step": s}), f"id-{s}") for s in (1, 2)]
                text = call("increment", step=1) + call("increment", step=2)
                out.append(Generation([], [], text, "stop", message=assistant_message("", calls)))
            elif turn == 1:
                text = "<tool_call>{oops</tool_call>"
                out.append(Generation([], [], text, "stop", message=assistant_message(text, [])))
            else:
                out.append(Generation([], [], "3", "stop", message=assistant_message("3", [])))
        return out

    def close(self):
        pass


def test_text_engine_episodes_keep_calls_with_ids_and_per_call_results(tmp_path):
    suite = counter_suite(tmp_path, protocol="tools")
    loop = AgentLoop(ServerLikePolicy(), suite, LoopSettings(max_turns=4))
    (episode,) = loop.run([(suite.examples("train")[0], 0)])
    after = episode.messages[1:]  # after the user's message
    assert episode.messages[0]["role"] == "user"
    assert [m["role"] for m in after] == ["assistant", "tool", "tool", "assistant", "user", "assistant"]
    assert [(m["tool_call_id"], m["content"]) for m in after[1:3]] == [("id-1", "1"), ("id-2", "3")]
    assert "not valid JSON" in after[4]["content"]  # feedback on a turn without a call is not a tool message
    assert transcript_problems(episode.messages) == []
    assert episode.env_state["reward"] == 3.0 and episode.turns[0].tool_calls == 2


def test_calls_over_the_episode_limit_are_answered_as_not_run(tmp_path):
    suite = counter_suite(tmp_path, protocol="tools", max_tool_calls=1)
    loop = AgentLoop(ServerLikePolicy(), suite, LoopSettings(max_turns=1))
    (episode,) = loop.run([(suite.examples("train")[0], 0)])
    assert episode.messages[-1]["role"] == "assistant"  # max_turns=1: no reply appended
    env = suite.make_env(suite.examples("train")[0])
    env.reset()
    result = env.step(call("increment", step=1) + call("increment", step=2))
    env.close()
    assert result.tool_results[0] == "1" and result.tool_results[1].startswith("Not run")


def test_stored_tool_calls_render_with_their_ids(tmp_path):
    """`runs show --episode` shows each call with its id and which call each tool message answers."""
    from rlagent.runs.episodes import find_episode
    from rlagent.runs.files import write_jsonl_atomic
    from rlagent.runs.transcript import render_episode

    suite = counter_suite(tmp_path, protocol="tools")
    (episode,) = AgentLoop(ServerLikePolicy(), suite, LoopSettings(max_turns=4)).run([(suite.examples("train")[0], 0)])
    write_jsonl_atomic(tmp_path / "run" / "eval" / "train.rollouts.jsonl", [episode.to_record()])
    stored = find_episode(tmp_path / "run", "a")
    text = "\n".join(line for line, _ in render_episode(stored, stored.record(), "run"))
    assert "episode train:a#0 of run run" in text
    assert '  → call increment {"step": 1}  [id-1]' in text and '  → call increment {"step": 2}  [id-2]' in text
    assert "── turn 1 · environment (tool → result of id-1) ──\n  1\n" in text
    assert "── turn 1 · environment (tool → result of id-2) ──\n  3\n" in text
    assert "── turn 2 · model (malformed) ──" in text and "── turn 2 · environment (user) ──" in text
    assert "── turn 3 · model ──\n  3\n" in text and "── end: the episode finished ──" in text


def test_an_errored_episode_says_why(tmp_path):
    from rlagent.runs.episodes import StoredEpisode
    from rlagent.runs.transcript import render_episode

    record = {"example_id": "a", "turns": [], "messages": [{"role": "user", "content": "q"}], "finish_reason": "error"}
    record |= {"errored": True, "error": "environment step raised ValueError: boom", "reward": 0.0}
    lines = [text for text, _ in render_episode(StoredEpisode("dev", "a", 0, tmp_path / "x.jsonl", 1), record, "r")]
    assert "  errored, not the model's doing: environment step raised ValueError: boom" in lines
    assert lines[-1] == "── end: the episode errored ──"
