"""The search environment: Search-R1 tags or native tool calls over a passage retriever."""

from __future__ import annotations

from typing import Any

from rlagent.config.schema import TaskConfig
from rlagent.rollout.actions import Action, ActionError, parse_tag_action, parse_tool_call
from rlagent.tasks.base import Example, StepResult
from rlagent.tasks.search.retriever import Retriever

TAGS = ("search", "answer")
TOOL_ARGS = {"search": ["query"], "answer": ["answer"]}
TOOL_SCHEMAS = [
    {
        "type": "function",
        "function": {
            "name": "search",
            "description": "Search the passage collection; returns the best matching passages.",
            "parameters": {
                "type": "object",
                "properties": {"query": {"type": "string", "description": "What to look for."}},
                "required": ["query"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "answer",
            "description": "Give the final answer and end the episode.",
            "parameters": {
                "type": "object",
                "properties": {"answer": {"type": "string", "description": "The short final answer."}},
                "required": ["answer"],
            },
        },
    },
]


class SearchEnvironment:
    """One episode: the agent searches (at most `max_searches` times) and then answers once."""

    def __init__(self, example: Example, retriever: Retriever, cfg: TaskConfig):
        self.example, self.retriever, self.cfg = example, retriever, cfg
        self.tools_mode = cfg.search.protocol == "tools"
        self.stop = None if self.tools_mode else ["</search>", "</answer>"]
        self.tools = TOOL_SCHEMAS if self.tools_mode else None
        self.observation_role = "tool" if self.tools_mode else "user"
        self.answer: str | None = None
        self.queries: list[str] = []
        self.shown_ids: list[str] = []
        self.malformed = 0

    def reset(self) -> list[dict[str, Any]]:
        messages = []
        if self.cfg.system_prompt:
            messages.append({"role": "system", "content": self.cfg.system_prompt})
        messages.extend(dict(turn) for turn in self.cfg.demonstration)
        messages.append(
            {"role": "user", "content": self.cfg.user_template.format(question=self.example.data["question"])}
        )
        return messages

    def _parse(self, text: str) -> Action | ActionError:
        if self.tools_mode:
            return parse_tool_call(text, TOOL_ARGS)
        action = parse_tag_action(text, TAGS)
        if isinstance(action, Action):
            key = "query" if action.name == "search" else "answer"
            action.arguments = {key: action.arguments["text"]}
        return action

    def _format_results(self, query: str) -> str:
        passages = self.retriever.search(query, self.cfg.search.top_k)
        self.shown_ids.extend(p.id for p in passages)
        if not passages:
            body = "No passage matches this query. Try other words."
        else:
            body = "\n".join(f"Doc {i}: {p.render(self.cfg.search.passage_chars)}" for i, p in enumerate(passages, 1))
        return body if self.tools_mode else f"<information>\n{body}\n</information>"

    def step(self, action_text: str) -> StepResult:
        action = self._parse(action_text)
        if isinstance(action, ActionError):
            self.malformed += 1
            return StepResult(action.message, done=False, malformed=True)
        if action.name == "answer":
            self.answer = action.arguments["answer"]
            return StepResult(None, done=True, tool_calls=int(self.tools_mode))
        query = action.arguments["query"]
        if len(self.queries) >= self.cfg.search.max_searches:
            self.malformed += 1
            limit = self.cfg.search.max_searches
            how = "call answer" if self.tools_mode else "write <answer>...</answer>"
            return StepResult(f"You have used all {limit} searches. Now {how}.", done=False, malformed=True)
        self.queries.append(query)
        return StepResult(self._format_results(query), done=False, tool_calls=1)

    def state(self) -> dict[str, Any]:
        return {
            "answer": self.answer,
            "queries": list(self.queries),
            "shown_ids": list(dict.fromkeys(self.shown_ids)),
            "malformed": self.malformed,
        }

    def close(self) -> None:
        pass
