"""Print the launch plan of a recipe as markdown: each machine's command, the memory per GPU and throughput bounds.

The same arithmetic `rlagent train ... --dry-run` prints, without the dry run's data and model checks (so it runs
on a machine without AppWorld's data or the model's weights); docs/SCALING.md is made of its output.

    .venv/bin/python scripts/scaling_plan.py recipe=appworld_32b launcher=fsdp2 launcher.num_processes=4 ...
"""

from __future__ import annotations

import sys

from rlagent.config.compose import compose_recipe
from rlagent.errors import UserError
from rlagent.launch.report import architecture_of, markdown
from rlagent.launch.throughput import throughput_lines


def main(overrides: list[str]) -> int:
    try:
        cfg, _ = compose_recipe(overrides)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"`{' '.join(overrides)}`\n")
    print(markdown(cfg, overrides))
    arch, _ = architecture_of(cfg)
    if arch is not None:
        for line in throughput_lines(cfg, arch):
            print(f"- {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
