"""Print docs/ALGORITHMS.md's paper-parity tables (LOOP, Search-R1) from rlagent/config/parity.py.

Each table composes its recipes and shows the resolved values next to the paper's; tests/test_paper_parity.py checks
every row against the recipes and that the doc holds exactly this output.

    .venv/bin/python scripts/parity_tables.py            # every paper
    .venv/bin/python scripts/parity_tables.py search_r1  # one paper (loop, search_r1)
"""

from __future__ import annotations

import sys

from rlagent.config.parity import PAPERS, markdown


def main(args: list[str]) -> int:
    known = {paper.key: paper for paper in PAPERS}
    unknown = [a for a in args if a not in known]
    if unknown:
        print(f"error: unknown paper {', '.join(unknown)}; choose from {', '.join(known)}", file=sys.stderr)
        return 2
    chosen = [known[a] for a in args] or list(PAPERS)
    print("\n".join(markdown(paper) for paper in chosen), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
