"""Episodes a run stored, found by id: evaluations (eval/<split>[-<tag>].rollouts.jsonl) and training rollouts
(rollouts/step-NNNNNN.jsonl).

An episode's id is `SOURCE:EXAMPLE#SAMPLE`: the file it is in (`dev-step-8` for an evaluation, `step-3` for the
rollouts of a training step), the example's id and its sample number. Any part may be left out when the rest
is enough to pick one episode: `kb-0ac93aa76e18`, `dev-step-8:kb-0ac93aa76e18`, `step-3:kb-5bc24cd9f36a#2`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlagent.errors import UserError

_STEP_FILE = re.compile(r"step-0*(\d+)\.jsonl$")
_SHOWN_IN_ERRORS = 8


@dataclass
class StoredEpisode:
    source: str
    example_id: str
    sample: int
    path: Path
    line: int  # 1-based line of the file

    @property
    def id(self) -> str:
        return f"{self.source}:{self.example_id}#{self.sample}"

    def record(self) -> dict[str, Any]:
        with self.path.open(encoding="utf-8") as handle:
            for number, text in enumerate(handle, 1):
                if number == self.line:
                    return json.loads(text)
        raise UserError(f"{self.path} changed while it was read; run the command again")


def _sources(run_dir: Path) -> list[tuple[str, Path]]:
    """(source name, file), evaluations first (by name), then training steps in order."""
    evals = sorted((run_dir / "eval").glob("*.rollouts.jsonl"))
    out = [(p.name.removesuffix(".rollouts.jsonl"), p) for p in evals]
    steps = []
    for p in (run_dir / "rollouts").glob("step-*.jsonl"):
        if m := _STEP_FILE.search(p.name):
            steps.append((int(m.group(1)), p))
    out += [(f"step-{step}", p) for step, p in sorted(steps)]
    return out


def stored_episodes(run_dir: Path) -> list[StoredEpisode]:
    """Every episode of the run, without keeping the transcripts in memory."""
    found = []
    for source, path in _sources(run_dir):
        with path.open(encoding="utf-8") as handle:
            for number, text in enumerate(handle, 1):
                if not text.strip():
                    continue
                try:
                    row = json.loads(text)
                except json.JSONDecodeError:
                    continue  # a file cut short by a crash: its complete lines still count
                found.append(StoredEpisode(source, str(row.get("example_id")), int(row.get("sample", 0)), path, number))
    return found


def _parse(wanted: str, sources: set[str]) -> tuple[str | None, str, int | None]:
    source, rest = None, wanted
    head, colon, tail = wanted.partition(":")
    if colon and head in sources:
        source, rest = head, tail
    sample = None
    example, hash_, number = rest.rpartition("#")
    if hash_ and number.isdigit():
        rest, sample = example, int(number)
    return source, rest, sample


def _listing(episodes: list[StoredEpisode]) -> str:
    shown = ", ".join(e.id for e in episodes[:_SHOWN_IN_ERRORS])
    more = len(episodes) - _SHOWN_IN_ERRORS
    return shown + (f" and {more} more" if more > 0 else "")


def source_episodes(run_dir: Path, wanted: str) -> list[StoredEpisode] | None:
    """The episodes of one source when `wanted` names a source (`dev-step-8`, `step-3`), else None."""
    name = wanted.strip().removesuffix(":")
    if name not in dict(_sources(run_dir)):
        return None
    return [e for e in stored_episodes(run_dir) if e.source == name]


def find_episode(run_dir: Path, wanted: str) -> StoredEpisode:
    """The one stored episode `wanted` names; a UserError (one line) listing ids when it names none or several."""
    episodes = stored_episodes(run_dir)
    if not episodes:
        raise UserError(f"run '{run_dir}' has no stored episodes yet (eval/*.rollouts.jsonl, rollouts/step-*.jsonl)")
    by_source: dict[str, int] = {}
    for e in episodes:
        by_source[e.source] = by_source.get(e.source, 0) + 1
    source, example, sample = _parse(wanted.strip(), set(by_source))
    matches = [
        e
        for e in episodes
        if e.example_id == example and (source is None or e.source == source) and (sample is None or e.sample == sample)
    ]
    if not matches and source is None and sample is None:  # an example id that itself holds ':' or '#'
        matches = [e for e in episodes if e.example_id == wanted]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise UserError(f"episode '{wanted}' is ambiguous in {run_dir}: it matches {_listing(matches)}; give one")
    firsts = {}
    for e in episodes:
        firsts.setdefault(e.source, e)
    examples = ", ".join(f"{e.id} (of {by_source[e.source]})" for e in list(firsts.values())[:_SHOWN_IN_ERRORS])
    more = len(firsts) - _SHOWN_IN_ERRORS
    raise UserError(
        f"no episode '{wanted}' in {run_dir}; ids are SOURCE:EXAMPLE#SAMPLE, e.g. {examples}"
        + (f" and {more} more sources" if more > 0 else "")
        + "; give a source alone (--episode SOURCE) to list its episodes"
    )
