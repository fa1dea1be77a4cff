"""Native tool calls (`protocol=tools`) through an OpenAI-compatible `vllm serve` that is strict about them.

The server (conftest.py's `vllm_server`) renders with a chat template that refuses, with HTTP 400, a `tool` message
that answers no pending call by `tool_call_id`, and a conversation that goes on before every call is answered,
as OpenAI's API does. An episode's second request carries the first turn's calls and their results, so an
evaluation that reaches a second turn after a call has had its transcript accepted.
"""

import json

import openai
import pytest

from rlagent.config.compose import compose_recipe
from rlagent.evaluate.runner import run_eval
from rlagent.rollout.engines.base import Generation
from rlagent.rollout.loop import AgentLoop, LoopSettings
from rlagent.rollout.tool_messages import assistant_message, tool_call, transcript_problems
from rlagent.runs.rundir import open_run_dir
from rlagent.tasks.search.env import TOOL_SCHEMAS
from rlagent.tasks.search.suite import SearchSuite

from .test_custom_suite import counter_suite

pytestmark = pytest.mark.slow

# One exchange in the prompt is enough for SmolLM2-135M to copy the call format at temperature 0; the server's
# Hermes parser turns the copied call into `tool_calls` with ids.
DEMONSTRATION = [
    {"role": "user", "content": "Question: Who founded Acme Works?"},
    {
        "role": "assistant",
        "content": '<tool_call>{"name": "search", "arguments": {"query": "Acme Works founder"}}</tool_call>',
    },
]


def client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url, api_key="EMPTY", max_retries=0)


def test_search_episodes_send_tool_calls_with_ids_and_the_server_accepts_them(tmp_path, vllm_server):
    cfg, _ = compose_recipe(
        [
            "recipe=smoke_search",
            "model=smollm2-135m",
            "task.search.protocol=tools",
            "task.limit=3",
            "task.max_turns=2",
            "rollout=openai",
            f"rollout.openai.base_url={vllm_server}",
            "rollout.openai.model=smollm2",
            "rollout.max_new_tokens=40",
            f"run.root={tmp_path}",
        ]
    )
    cfg.task.system_prompt = "You answer questions. Call the search tool to search, and answer when you know."
    cfg.task.demonstration = DEMONSTRATION
    suite = SearchSuite(cfg.task)
    served = run_eval(cfg, open_run_dir(cfg, "eval"), suite, show_progress=False)

    answered = []  # (assistant message with calls, the tool messages after it) followed by another turn
    for ep in served.episodes:
        assert transcript_problems(ep.messages) == []
        for i, message in enumerate(ep.messages):
            if message["role"] == "assistant" and message.get("tool_calls") and i + 2 < len(ep.messages):
                replies = ep.messages[i + 1 : i + 1 + len(message["tool_calls"])]
                answered.append((message, replies))
                assert ep.messages[i + 1 + len(replies)]["role"] == "assistant"  # the server took the transcript
    assert answered, [ep.messages[len(DEMONSTRATION) + 2 :] for ep in served.episodes]
    for message, replies in answered:
        ids = [call["id"] for call in message["tool_calls"]]
        assert all(i.startswith("chatcmpl-tool-") for i in ids)  # the server's own ids, kept
        assert [r["role"] for r in replies] == ["tool"] * len(ids)
        assert [r["tool_call_id"] for r in replies] == ids
        assert replies[0]["content"].startswith("Doc 1:")  # the search results answer the call
    rows = [json.loads(line) for line in served.path.with_suffix("").with_suffix(".rollouts.jsonl").open()]
    assert [row["messages"] for row in rows] == [ep.messages for ep in served.episodes]

    # The server is strict: the same transcript with the call left as text and an unlinked tool message (what
    # was sent before tool calls were kept) is refused.
    message, replies = answered[0]
    episode = next(ep for ep in served.episodes if any(m is message for m in ep.messages))
    cut = next(i for i, m in enumerate(episode.messages) if m is message)
    flattened = [
        *episode.messages[:cut],
        {"role": "assistant", "content": next(t.action for t in episode.turns)},
        {"role": "tool", "content": replies[0]["content"]},
    ]
    with pytest.raises(openai.BadRequestError, match="tool_call_id"):
        client(vllm_server).chat.completions.create(
            model="smollm2", messages=flattened, tools=TOOL_SCHEMAS, max_tokens=4
        )


class TwoCallsThenAnswer:
    """Plays an OpenAI server's turns: two calls in one reply (server-made ids), then the final answer."""

    name = "openai"
    tokenizer = None

    def chat(self, conversations, sampling, tools=None):
        out = []
        for conversation in conversations:
            if conversation[-1]["role"] == "tool":
                out.append(Generation([], [], "3", "stop", message=assistant_message("3", [])))
                continue
            calls = [tool_call("increment", '{"step": 1}', "call-a"), tool_call("increment", '{"step": 2}', "call-b")]
            text = "".join(
                f'<tool_call>{{"name": "increment", "arguments": {c["function"]["arguments"]}}}</tool_call>'
                for c in calls
            )
            out.append(Generation([], [], text, "stop", message=assistant_message("", calls)))
        return out

    def close(self):
        pass


def test_several_calls_in_one_turn_are_each_answered_and_accepted(tmp_path, vllm_server):
    """A custom task (`protocol: tools`) answers each call of a turn with its own result, by id, and the server
    accepts the transcript."""
    suite = counter_suite(tmp_path, protocol="tools")
    loop = AgentLoop(TwoCallsThenAnswer(), suite, LoopSettings(max_turns=3))
    (episode,) = loop.run([(suite.examples("train")[0], 0)])
    tools = [m for m in episode.messages if m["role"] == "tool"]
    assert [(m["tool_call_id"], m["content"]) for m in tools] == [("call-a", "1"), ("call-b", "3")]
    assert transcript_problems(episode.messages) == []
    reply = client(vllm_server).chat.completions.create(
        model="smollm2", messages=episode.messages[:-1], tools=suite.plugin.schemas, max_tokens=4
    )
    assert reply.choices[0].finish_reason in ("stop", "length")
