"""A self-contained HTML report of compare-runs: tables, embedded plots, per-task results and flips."""

from __future__ import annotations

import base64
from html import escape
from pathlib import Path
from typing import Any

from rlagent.runs.compare import (
    PAIR_HEADERS,
    SUMMARY_HEADERS,
    PairComparison,
    SummaryRow,
    fmt,
    pair_cells,
    summary_cells,
)
from rlagent.runs.load import RunRecord

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 1200px; }
table { border-collapse: collapse; margin: 0.6em 0 1.6em; font-size: 14px; }
th, td { border: 1px solid #bbb; padding: 4px 8px; text-align: right; }
th { background: #eef1f5; } td.l, th.l { text-align: left; }
.noise { color: #777; } .better { color: #137333; font-weight: 600; } .worse { color: #b3261e; font-weight: 600; }
.plots img { width: 560px; margin: 4px; border: 1px solid #ddd; }
details { margin: 0.3em 0; } pre { white-space: pre-wrap; background: #f7f7f7; padding: 6px; font-size: 12px; }
.ok { color: #137333; } .no { color: #b3261e; } p.show code { font-size: 12px; user-select: all; }
"""

LOADED_SCRIPT = """
window.addEventListener('load', function () {
  var images = Array.from(document.images);
  var ok = images.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  document.body.setAttribute('data-images-loaded', ok + '/' + images.length);
});
"""


def _table(headers: list[str], rows: list[list[str]], left: int = 1) -> str:
    head = "".join(f'<th class="{"l" if i < left else ""}">{escape(h)}</th>' for i, h in enumerate(headers))
    body = "".join(
        "<tr>" + "".join(f'<td class="{"l" if i < left else ""}">{cell}</td>' for i, cell in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def summary_table(rows: list[SummaryRow]) -> str:
    return _table(list(SUMMARY_HEADERS), [[escape(c) for c in summary_cells(r)] for r in rows], left=2)


def pairs_table(pairs: list[PairComparison]) -> str:
    body = []
    for pair in pairs:
        cells = [escape(c) for c in pair_cells(pair)]
        d = pair.difference
        css = "noise" if d.within_noise else d.verdict
        verdict = PAIR_HEADERS.index("verdict")
        cells[verdict] = f'<span class="{css}">{cells[verdict]}</span>'
        body.append(cells)
    return _table(list(PAIR_HEADERS), body, left=3)


def _transcript(record: dict[str, Any] | None) -> str:
    if record is None:
        return "<p><i>transcript not recorded</i></p>"
    parts = [
        f"<p><b>question:</b> {escape(str(record.get('question')))} · <b>gold:</b> "
        f"{escape(', '.join(record.get('gold') or []))} · <b>reward:</b> {record.get('reward')}</p>"
    ]
    for i, turn in enumerate(record.get("turns", []), 1):
        parts.append(f"<pre><b>model {i}:</b> {escape(turn.get('action', ''))}</pre>")
        if turn.get("observation"):
            parts.append(f"<pre><b>environment:</b> {escape(turn['observation'])}</pre>")
    return "".join(parts)


def _show(command: str | None) -> str:
    """The command that shows an episode turn by turn in the terminal."""
    return f'<p class="show"><code>{escape(command)}</code></p>' if command else ""


def flips_section(pairs: list[PairComparison], limit: int = 50) -> str:
    out = []
    for p in pairs:
        out.append(f"<h3>{escape(p.split)}: {escape(p.run_b)} vs {escape(p.run_a)}</h3>")
        for title, flips in ((f"solved only by {p.run_b}", p.gained), (f"solved only by {p.run_a}", p.lost)):
            out.append(f"<p><b>{escape(title)}</b>: {len(flips)} tasks</p>")
            for flip in flips[:limit]:
                out.append(
                    f'<details id="flip-{escape(p.split)}-{escape(flip.task)}"><summary>{escape(flip.task)}</summary>'
                    f"<h4>{escape(p.run_a)}</h4>{_show(flip.show_a)}{_transcript(flip.transcript_a)}"
                    f"<h4>{escape(p.run_b)}</h4>{_show(flip.show_b)}{_transcript(flip.transcript_b)}</details>"
                )
    return "".join(out) or "<p>No flips: compare at least two runs evaluated on the same tasks.</p>"


def per_task_table(runs: list[RunRecord], split: str, limit: int = 300) -> str:
    finals = [(run.label, run.final_eval(split)) for run in runs]
    finals = [(label, e) for label, e in finals if e is not None]
    tasks = sorted(set().union(*(e.per_example for _, e in finals))) if finals else []
    body = []
    for task in tasks[:limit]:
        cells = [escape(task)]
        for _, e in finals:
            outcome = e.per_example.get(task)
            if outcome is None:
                cells.append("—")
            else:
                share = sum(outcome) / len(outcome)
                cells.append(
                    f'<span class="{"ok" if outcome[0] else "no"}">{"✓" if outcome[0] else "✗"}</span>'
                    + (f" {share:.2f}" if len(outcome) > 1 else "")
                )
        body.append(cells)
    note = f"<p>first {limit} of {len(tasks)} tasks</p>" if len(tasks) > limit else ""
    return _table(["task", *[label for label, _ in finals]], body) + note


def _image(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{escape(path.stem)}" src="data:image/png;base64,{data}">'


def render_report(
    runs: list[RunRecord],
    rows: list[SummaryRow],
    pairs: list[PairComparison],
    diffs: list[tuple[str, list[Any]]],
    plots: list[tuple[str, Path]],
    skipped: list[str],
) -> str:
    runs_table = _table(
        ["run", "recipe", "model", "task", "algorithm", "status", "path"],
        [
            [
                escape(r.label),
                escape(r.recipe),
                escape(str(r.config.get("model", {}).get("name_or_path"))),
                escape(str(r.config.get("task", {}).get("dataset"))),
                escape(str(r.config.get("algorithm", {}).get("name"))),
                escape(r.status),
                escape(str(r.path)),
            ]
            for r in runs
        ],
        left=7,
    )
    diff_table = _table(
        ["key", *[r.label for r in runs]],
        [[escape(k), *[escape(fmt(v)) for v in vs]] for k, vs in diffs],
        left=len(runs) + 1,
    )
    splits = sorted({r.split for r in rows})
    sections = [
        "<h1>rlagent · compare-runs</h1>",
        "<h2>Runs</h2>",
        runs_table,
        *(["<p>Skipped: " + "; ".join(escape(s) for s in skipped) + "</p>"] if skipped else []),
        "<h2>Final and best evaluation</h2>",
        summary_table(rows),
        "<h2>Differences against the first run</h2>",
        pairs_table(pairs) if pairs else "<p>Give two or more runs to compare.</p>",
        "<p class='noise'>Paired: bootstrap over shared tasks (95% CI) and McNemar's exact test on first samples; "
        "unpaired: normal interval and z-test over tasks (each task once, with its mean over its samples). "
        "A CI containing 0 is within noise.</p>",
        "<h2>Configuration keys that differ</h2>",
        diff_table if diffs else "<p>None.</p>",
        "<h2>Curves</h2>",
        '<div class="plots">' + "".join(_image(p) for _, p in plots) + "</div>",
        *[f"<h2>Per-task results: {escape(s)}</h2>{per_task_table(runs, s)}" for s in splits],
        "<h2>Per-task flips</h2>",
        flips_section(pairs),
    ]
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>rlagent compare-runs</title>"
        f"<style>{STYLE}</style><script>{LOADED_SCRIPT}</script></head><body>{''.join(sections)}</body></html>"
    )
