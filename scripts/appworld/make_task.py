"""Write one small task of rlagent's own content in AppWorld's on-disk format (run with the AppWorld venv's python).

    <appworld-venv>/bin/python scripts/appworld/make_task.py --root DIR [--task-id rlagentsum_1]

The task asks for the sum of two numbers and is checked by an evaluation of our own. AppWorld's app code is
used only as a library to create empty app databases with the right schema and to generate the API docs the
server needs; everything it writes goes under DIR (never into the repository: AppWorld's licence allows
redistributing its code and data only encrypted).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

SUPERVISOR = {"first_name": "Ada", "last_name": "Quill", "email": "ada.quill@example.org", "phone_number": "5550100"}
INSTRUCTION = "What is 17 plus 25? Give the number as the answer when you complete the task."
ANSWER = 42
DATETIME = "2024-03-01T09:30:00"
DB_VERSION = "0.1.0"  # AppWorld 0.1.x refuses tasks whose specs name another db_version

EVALUATION = """\
import json


def evaluate(test, public_data, private_data, main_user, models, ground_truth_answer):
    tasks = models.end.supervisor.Task.all()
    with test("the active task is marked complete"):
        test.case(tasks[0].status, "==", "success")
    with test("the answer is the sum"):
        test.answer(json.loads(tasks[0].answer), ground_truth_answer)
"""
REQUIREMENTS = ["the active task is marked complete", "the answer is the sum"]


def write_json(path: Path, value: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2))


def make_api_docs() -> None:
    """data/api_docs/standard/<app>.json for every app: generated from the installed app code."""
    from appworld.collections.api_docs import ApiDocCollection
    from appworld.common.constants import CANARY_STRING
    from appworld.common.path_store import path_store

    standard = Path(path_store.data) / "api_docs" / "standard"
    if (standard / "supervisor.json").is_file():
        return
    for app_name, api_name_to_doc in ApiDocCollection.build(include_response_schemas=True).items():
        docs = {api_name: {**doc, "canary_string": CANARY_STRING} for api_name, doc in api_name_to_doc.items()}
        write_json(standard / f"{app_name}.json", docs)


def make_dbs(task_id: str, dbs: Path) -> None:
    from appworld.apps import get_all_apps
    from appworld.collections.models import ModelCollection

    models = ModelCollection.load(
        to_db_home_path=f":memory:rlagent-{task_id}", load_apps=get_all_apps(), create_db=True
    )
    birthday = {"birthday": "1990-05-17", "sex": "female"}
    models.admin.MainUser.create_save(**SUPERVISOR, **birthday)
    supervisor = models.supervisor.Supervisor.create_save(**SUPERVISOR, **birthday)
    models.supervisor.Task.create_save(supervisor_id=supervisor.id, instruction=INSTRUCTION, status=None, answer="null")
    models.save(db_home_path=str(dbs), format="full", delete_if_exists=True)


def make_task(root: Path, task_id: str) -> Path:
    os.environ["APPWORLD_ROOT"] = str(root)
    task_dir = root / "data" / "tasks" / task_id
    write_json(
        task_dir / "specs.json",
        {"instruction": INSTRUCTION, "supervisor": SUPERVISOR, "datetime": DATETIME, "db_version": DB_VERSION},
    )
    truth = task_dir / "ground_truth"
    # minimal-mode ground truth: num_apps and num_solution_code_lines must be given (AppWorld cannot derive them).
    write_json(
        truth / "metadata.json",
        {"mode": "minimal", "difficulty": 1, "num_apps": 0, "num_apis": 1, "num_solution_code_lines": 1},
    )
    write_json(truth / "public_data.json", {})
    write_json(truth / "private_data.json", {})
    write_json(truth / "answer.json", ANSWER)
    write_json(truth / "test_data.json", [{"requirement": r, "label": "no_op_fail"} for r in REQUIREMENTS])
    (truth / "evaluation.py").write_text(EVALUATION)
    make_api_docs()
    make_dbs(task_id, task_dir / "dbs")
    return task_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, type=Path, help="the APPWORLD_ROOT to write data/ under")
    parser.add_argument("--task-id", default="rlagentsum_1")
    args = parser.parse_args()
    print(make_task(args.root.resolve(), args.task_id))


if __name__ == "__main__":
    main()
