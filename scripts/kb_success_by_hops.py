"""Success by number of hops of every evaluation of a run on the embedded knowledge base.

    .venv/bin/python scripts/kb_success_by_hops.py runs/quickstart-doc

The question generator is rebuilt from the run's own config.yaml, so the hop count of each dev question is
the one the run saw.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import yaml
from omegaconf import OmegaConf

from rlagent.config.schema import SyntheticKBConfig
from rlagent.tasks.search.synthetic_kb import SyntheticKB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="run directory")
    parser.add_argument("--split", default="dev")
    args = parser.parse_args()
    config = yaml.safe_load((args.run / "config.yaml").read_text())
    kb_cfg = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(SyntheticKBConfig), config["task"]["synthetic"]))
    hops = {ex.id: ex.data["hops"] for ex in SyntheticKB(kb_cfg).examples(args.split)}
    evals = [json.loads(p.read_text()) for p in (args.run / "eval").glob(f"{args.split}*.json")]
    evals.sort(key=lambda d: d["step"] if d["step"] is not None else 10**9)
    levels = sorted(set(hops.values()))
    print("| evaluation | " + " | ".join(f"{h}-hop" for h in levels) + " | all |")
    print("|---|" + "---:|" * (len(levels) + 1))
    for data in evals:
        by: dict[int, list[bool]] = defaultdict(list)
        for example_id, results in data["per_example"].items():
            by[hops[example_id]].append(results[0])
        label = "base" if data["step"] == -1 else f"step {data['step']}"
        cells = [f"{sum(by[h])}/{len(by[h])}" for h in levels]
        total = sum(sum(v) for v in by.values()), sum(len(v) for v in by.values())
        print(f"| {label} | " + " | ".join(cells) + f" | {total[0]}/{total[1]} |")


if __name__ == "__main__":
    main()
