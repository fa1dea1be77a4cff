"""Scripted policies for environment tests: they speak the text-engine interface of the agent loop."""

from __future__ import annotations

from rlagent.rollout.engines.base import Generation, Sampling
from rlagent.tasks.base import Example


def _split(conversation: list[dict]) -> tuple[str, list[dict]]:
    """The question of the episode and the messages after it (demonstration turns come before)."""
    index = max(i for i, m in enumerate(conversation) if m["role"] == "user" and "Question:" in m["content"])
    return conversation[index]["content"].split("Question:", 1)[1].strip(), conversation[index + 1 :]


class OraclePolicy:
    """Searches each hop of the gold decomposition (filling #k with earlier answers), then answers gold."""

    name = "oracle"
    tokenizer = None

    def __init__(self, examples: list[Example]):
        self.by_question = {ex.data["question"]: ex for ex in examples}

    def chat(self, conversations: list[list[dict]], sampling: list[Sampling], tools=None) -> list[Generation]:
        out = []
        for conversation in conversations:
            question, after = _split(conversation)
            example = self.by_question[question]
            done = sum(1 for m in after if m["role"] == "assistant" and "<search>" in m["content"])
            steps = example.data["decomposition"]
            if done < len(steps):
                query = steps[done]["question"]
                for k, step in enumerate(steps[:done], 1):
                    query = query.replace(f"#{k}", step["answer"])
                text = f"<search> {query} </search>"
            else:
                text = f"<answer> {example.data['answers'][0]} </answer>"
            out.append(Generation([], [], text, "stop"))
        return out

    def close(self) -> None:
        pass


class SilentPolicy:
    """Never answers: keeps searching the same words."""

    name = "silent"
    tokenizer = None

    def chat(self, conversations, sampling, tools=None):
        return [Generation([], [], "<search> something </search>", "stop") for _ in conversations]

    def close(self) -> None:
        pass
