"""Play one task with AppWorld's own Python client against a remote environment server (AppWorld's or appsim's).

    APPWORLD_ROOT=DIR <appworld-venv>/bin/python scripts/appworld/drive_task.py --url http://127.0.0.1:P \\
        --task-id ID [--code-file FILE] [--no-ground-truth]

DIR holds the task files the client reads locally (for appsim: `rlagent appsim export DIR`). The script runs
`AppWorld(task_id, remote_environment_url=URL)`, executes FILE's code (nothing when not given), then asks
`task_completed()` and `evaluate()`, closes the world and prints one JSON object on stdout:
{task_id, instruction, supervisor, output, completed, success, num_tests, passes, failures}.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def drive(url: str, task_id: str, code: str | None, load_ground_truth: bool) -> dict:
    from appworld import AppWorld

    extra = {} if load_ground_truth else {"load_ground_truth": False}
    with AppWorld(task_id=task_id, remote_environment_url=url, **extra) as world:
        output = world.execute(code) if code else None
        completed = world.task_completed()
        tracker = world.evaluate()
        return {
            "task_id": world.task.id,
            "instruction": world.task.instruction,
            "supervisor": {key: world.task.supervisor[key] for key in ("first_name", "last_name", "email")},
            "api_doc_apps": sorted(world.task.api_docs),
            "output": output,
            "completed": completed,
            "success": tracker.success,
            "num_tests": tracker.num_tests,
            "passes": tracker.passes,
            "failures": tracker.failures,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="The environment server, e.g. http://127.0.0.1:8000.")
    parser.add_argument("--task-id", required=True)
    parser.add_argument("--code-file", type=Path, help="Python code to execute in the task's world once.")
    parser.add_argument("--no-ground-truth", action="store_true", help="Pass load_ground_truth=False.")
    args = parser.parse_args()
    code = args.code_file.read_text() if args.code_file else None
    print(json.dumps(drive(args.url, args.task_id, code, not args.no_ground_truth), default=str))


if __name__ == "__main__":
    main()
