"""Did run B gain more than run A between two of their evaluations on the same questions?

    .venv/bin/python scripts/gain_difference.py RUN_A RUN_B [--split dev] [--before base] [--after step-0]

Per question: (B's success after - before) - (A's success after - before), over the questions both runs
evaluated; the mean with a 95% bootstrap interval over questions (seeded). Reads
<run>/eval/<split>-<tag>.rollouts.jsonl (first sample of each question).
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path


def successes(run: Path, split: str, tag: str) -> dict[str, float]:
    rows = (json.loads(line) for line in (run / "eval" / f"{split}-{tag}.rollouts.jsonl").read_text().splitlines())
    out: dict[str, float] = {}
    for row in rows:
        out.setdefault(row["example_id"], float(row["success"]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_a", type=Path)
    parser.add_argument("run_b", type=Path)
    parser.add_argument("--split", default="dev")
    parser.add_argument("--before", default="base")
    parser.add_argument("--after", default="step-0")
    args = parser.parse_args()
    runs = {}
    for name, run in (("A", args.run_a), ("B", args.run_b)):
        runs[name] = (successes(run, args.split, args.before), successes(run, args.split, args.after))
    ids = sorted(set.intersection(*(set(before) & set(after) for before, after in runs.values())))
    if not ids:
        raise SystemExit("the two runs share no evaluated question")
    gain = {name: [after[i] - before[i] for i in ids] for name, (before, after) in runs.items()}
    diffs = [b - a for a, b in zip(gain["A"], gain["B"], strict=True)]
    rng, n = random.Random(0), len(diffs)
    boots = sorted(sum(diffs[rng.randrange(n)] for _ in range(n)) / n for _ in range(4000))
    for name in ("A", "B"):
        print(f"gain of {name}: {sum(gain[name]) / n:+.3f}")
    print(
        f"{n} questions; gain of B - gain of A: {sum(diffs) / n:+.3f} (95% CI {boots[100]:+.3f} to {boots[3899]:+.3f})"
    )


if __name__ == "__main__":
    main()
