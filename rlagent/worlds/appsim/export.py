"""Export appsim tasks in AppWorld's on-disk task layout (what AppWorld's client reads locally).

AppWorld's Python client loads `$APPWORLD_ROOT/data/tasks/<task_id>/specs.json` even when it talks
to a remote environment server. Only what that client reads is written: the instruction, the
supervisor, the datetime and the db version, plus `ground_truth/metadata.json` with the difficulty.
No tests or answers leave appsim: evaluation happens on the server.
"""

from __future__ import annotations

from pathlib import Path

from rlagent.runs.files import write_json_atomic
from rlagent.worlds.appsim.tasks.catalog import catalog, instance


def export_tasks(folder: Path, split: str | None = None) -> int:
    count = 0
    for spec in catalog().values():
        if split and spec.split != split:
            continue
        data, built = instance(spec.task_id)
        sup = data.supervisor
        specs = {
            "instruction": built.instruction,
            "supervisor": {
                "first_name": sup.first_name,
                "last_name": sup.last_name,
                "email": sup.email,
                "phone_number": sup.phone_number,
            },
            "datetime": data.now.strftime("%Y-%m-%dT%H:%M:%S"),
            "db_version": "0.1.0",
        }
        task_dir = Path(folder) / "data" / "tasks" / spec.task_id
        (task_dir / "ground_truth").mkdir(parents=True, exist_ok=True)
        write_json_atomic(task_dir / "specs.json", specs)
        metadata = {
            "difficulty": spec.difficulty,
            "scenario_id": spec.scenario_id,
            "template": spec.template,
            "split": spec.split,
        }
        write_json_atomic(task_dir / "ground_truth" / "metadata.json", metadata)
        count += 1
    return count
