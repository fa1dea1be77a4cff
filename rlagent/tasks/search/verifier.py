"""Score a search episode: exact match / token F1 against every gold alias, plus retrieval metrics."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rlagent.config.schema import SearchConfig
from rlagent.tasks.base import Score
from rlagent.tasks.search.answers import exact_match, token_f1

if TYPE_CHECKING:
    from rlagent.rollout.episode import Episode


class SearchVerifier:
    """Outcome reward at the final turn: EM by default, F1 or EM with a format penalty by configuration."""

    def __init__(self, cfg: SearchConfig):
        self.cfg = cfg

    def score(self, episode: Episode) -> Score:
        data, state = episode.example.data, episode.env_state
        answer = state.get("answer")
        answered = answer is not None
        em = exact_match(answer, data["answers"]) if answered else 0.0
        f1 = token_f1(answer, data["answers"]) if answered else 0.0
        if self.cfg.reward == "f1":
            reward = f1
        elif self.cfg.reward == "em_format":
            reward = em if answered else -self.cfg.format_penalty
        else:
            reward = em
        supporting, shown = set(data.get("supporting_ids", [])), set(state.get("shown_ids", []))
        metrics = {
            "em": em,
            "f1": f1,
            "answered": float(answered),
            "searches": float(len(state.get("queries", []))),
            "retrieved_gold": float(bool(supporting & shown)),
            "retrieved_all_gold": float(bool(supporting) and supporting <= shown),
        }
        return Score(reward=reward, success=em == 1.0, metrics=metrics)
