"""Question and passage records: the JSONL formats rlagent reads, and conversion from Hub formats.

Accepted question fields (one JSON object per line):
- `id`, `question`;
- answers as `answers: [str]` (NQ-open style lists), `answer: str | [str]` plus optional `answer_aliases`;
- supporting evidence as `supporting_passage_ids`, `gold_passage_id`, or MuSiQue's `paragraphs`
  with `is_supporting` flags (their ids become `<question id>-p<idx>`);
- an optional `question_decomposition: [{question, answer}]` for multi-hop questions.

Passages: `{id, title, text}`, or the Search-R1 Wikipedia dump's `{id, contents}` where contents is
`"Title"\\ntext`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rlagent.tasks.base import Example


@dataclass(frozen=True)
class Passage:
    id: str
    title: str
    text: str

    def render(self, max_chars: int) -> str:
        body = self.text if len(self.text) <= max_chars else self.text[:max_chars].rsplit(" ", 1)[0] + " ..."
        return f"({self.title}) {body}" if self.title else body


def _answers(record: dict[str, Any]) -> list[str]:
    answers = record.get("answers")
    if answers is None:
        answer = record.get("answer", [])
        answers = [answer] if isinstance(answer, str) else list(answer)
    answers = [*answers, *record.get("answer_aliases", [])]
    seen: dict[str, None] = {}
    for answer in answers:
        if isinstance(answer, str) and answer.strip():
            seen.setdefault(answer.strip())
    return list(seen)


def paragraph_id(question_id: str, idx: int) -> str:
    return f"{question_id}-p{idx}"


def example_from_record(record: dict[str, Any], fallback_id: str) -> Example:
    """An Example from any accepted question record."""
    qid = str(record.get("id") or fallback_id)
    if "question" not in record:
        raise ValueError(f"record {qid} has no 'question' field")
    supporting = list(record.get("supporting_passage_ids") or [])
    if not supporting and record.get("gold_passage_id"):
        supporting = [record["gold_passage_id"]]
    if not supporting and record.get("paragraphs"):
        supporting = [paragraph_id(qid, p["idx"]) for p in record["paragraphs"] if p.get("is_supporting")]
    decomposition = [
        {"question": step["question"], "answer": step["answer"]} for step in record.get("question_decomposition") or []
    ]
    return Example(
        id=qid,
        data={
            "question": record["question"].strip(),
            "answers": _answers(record),
            "supporting_ids": supporting,
            "decomposition": decomposition,
        },
    )


def passage_from_record(record: dict[str, Any], fallback_id: str) -> Passage:
    """A Passage from `{id, title, text}` or `{id, contents}` records."""
    pid = str(record.get("id") or fallback_id)
    if "text" in record:
        return Passage(pid, str(record.get("title") or ""), str(record["text"]))
    if "contents" in record:
        title, _, text = str(record["contents"]).partition("\n")
        return Passage(pid, title.strip().strip('"'), text.strip())
    raise ValueError(f"passage {pid} has neither 'text' nor 'contents'")


def passages_from_paragraphs(record: dict[str, Any], fallback_id: str) -> list[Passage]:
    """MuSiQue-format records carry their own paragraphs; each becomes a passage."""
    qid = str(record.get("id") or fallback_id)
    return [
        Passage(paragraph_id(qid, p["idx"]), str(p.get("title", "")), str(p["paragraph_text"]))
        for p in record.get("paragraphs") or []
    ]
