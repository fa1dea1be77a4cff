"""appsim's tasks end to end: the oracle solves every task of every split through the real sandbox, doing
nothing fails every task, and solving while also changing an unrelated record fails too."""

from __future__ import annotations

from collections import Counter, defaultdict

import pytest

from rlagent.sandbox.config import SandboxConfig
from rlagent.worlds.appsim.service import AppsimService, UnknownTask
from rlagent.worlds.appsim.tasks.catalog import SPLITS, catalog, instance, task_ids
from rlagent.worlds.appsim.tasks.templates import TEMPLATES

# A change no task asks for: delete one of the supervisor's notes.
COLLATERAL = """
_pw = {p["account_name"]: p["password"] for p in apis.supervisor.show_account_passwords()}
_tok = apis.simple_note.login(username=apis.supervisor.show_profile()["email"], password=_pw["simple_note"])
_note = apis.simple_note.search_notes(access_token=_tok["access_token"])[0]
apis.simple_note.delete_note(access_token=_tok["access_token"], note_id=_note["id"])
"""


@pytest.fixture(scope="module")
def service():
    svc = AppsimService(SandboxConfig(mode="bwrap"))
    yield svc
    svc.close_all()


def test_splits_have_the_promised_sizes_and_shapes():
    sizes = Counter(s.split for s in catalog().values())
    assert sizes["train"] >= 90 and sizes["dev"] >= 57 and sizes["test_normal"] >= 168
    assert sizes["test_challenge"] >= 100
    scenarios = defaultdict(list)
    for spec in catalog().values():
        scenarios[spec.scenario_id].append(spec)
    assert all(len(tasks) == 3 and len({t.template for t in tasks}) == 1 for tasks in scenarios.values())
    by_split = {split: {s.template for s in catalog().values() if s.split == split} for split in SPLITS}
    others = by_split["train"] | by_split["dev"] | by_split["test_normal"]
    assert by_split["test_challenge"] and not (by_split["test_challenge"] & others)
    assert {TEMPLATES[t].difficulty for t in by_split["train"]} == {1, 2, 3}
    assert set(task_ids("train", (1, 2))) < set(task_ids("train"))


def test_tasks_are_deterministic_and_tasks_of_a_scenario_differ():
    first = catalog()[task_ids("dev")[0]]
    a, b = instance(first.task_id), instance(first.task_id)
    assert a[1].instruction == b[1].instruction and a[0].tables == b[0].tables
    siblings = [t for t in catalog().values() if t.scenario_id == first.scenario_id]
    assert len({instance(t.task_id)[1].instruction for t in siblings}) > 1


@pytest.mark.parametrize("split", SPLITS)
def test_oracle_solves_every_task_and_doing_nothing_fails_it(service, split):
    for task_id in task_ids(split):
        service.initialize(task_id)
        untouched = service.evaluate(task_id)
        assert not untouched["success"], task_id
        output = service.execute(task_id, instance(task_id)[1].oracle)
        result = service.evaluate(task_id)
        assert result["success"], (task_id, output, result["failures"])
        assert result["num_tests"] == len(result["passes"]) >= 2
        service.close(task_id)


def test_solving_and_damaging_an_unrelated_record_fails(service):
    for name in TEMPLATES:
        task_id = next(s.task_id for s in catalog().values() if s.template == name)
        service.initialize(task_id)
        output = service.execute(task_id, instance(task_id)[1].oracle + COLLATERAL)
        result = service.evaluate(task_id)
        assert not result["success"], (task_id, output)
        assert any("collateral" in f["requirement"] for f in result["failures"])
        service.close(task_id)


def test_wrong_answer_fails_and_labels_mark_the_no_op_outcome(service):
    task_id = next(s.task_id for s in catalog().values() if s.template == "venmo_balance")
    service.initialize(task_id)
    service.execute(task_id, "apis.supervisor.complete_task(answer=-1)")
    result = service.evaluate(task_id)
    assert not result["success"]
    labels = {f["requirement"][:20]: f["label"] for f in result["failures"]}
    assert list(labels.values()) == ["no_op_fail"]
    assert [p["label"] for p in result["passes"]] == ["no_op_pass"]


def test_unknown_task_ids_are_refused(service):
    with pytest.raises(UnknownTask):
        service.initialize("nope_1")
    with pytest.raises(UnknownTask):
        service.execute("nope_1", "print(1)")


def test_execute_speaks_appworld_output_format(service):
    task_id = task_ids("dev")[0]
    info = service.initialize(task_id)
    assert set(info) == {"task_id", "instruction", "supervisor", "datetime"}
    assert service.execute(task_id, "x = 41") == "Execution successful."
    assert service.execute(task_id, "print(x + 1)").strip() == "42"
    failed = service.execute(task_id, "apis.venmo.show_balance(access_token='bad')")
    assert failed.startswith("Execution failed. Traceback:")
    assert "Response status code is 401" in failed
    missing = service.execute(task_id, "apis.venmo.show_balance()")
    assert "Response status code is 422" in missing and "access_token" in missing
    service.close(task_id)


def test_a_bare_complete_task_earns_no_more_partial_credit_than_doing_nothing(service):
    for name in ("venmo_pay_contact", "note_create", "todoist_complete_due"):
        task_id = next(s.task_id for s in catalog().values() if s.template == name)
        service.initialize(task_id)
        idle = len(service.evaluate(task_id)["passes"])
        service.execute(task_id, "apis.supervisor.complete_task()")
        assert len(service.evaluate(task_id)["passes"]) == idle, name
        service.close(task_id)


def test_a_deleted_record_stays_visible_even_if_a_new_one_takes_its_place(service):
    task_id = next(s.task_id for s in catalog().values() if s.template == "note_create")
    service.initialize(task_id)
    delete_newest = """
_pw = {p["account_name"]: p["password"] for p in apis.supervisor.show_account_passwords()}
_tok = apis.simple_note.login(username=apis.supervisor.show_profile()["email"], password=_pw["simple_note"])
_notes = apis.simple_note.search_notes(access_token=_tok["access_token"], page_limit=20)
apis.simple_note.delete_note(access_token=_tok["access_token"], note_id=max(n["id"] for n in _notes))
"""
    # without AUTOINCREMENT, SQLite would give the new note the deleted note's id and the diff would miss both
    delete_then_create = delete_newest + instance(task_id)[1].oracle
    service.execute(task_id, delete_then_create)
    result = service.evaluate(task_id)
    assert not result["success"]
    assert any("deleted" in f["requirement"] for f in result["failures"])
    service.close(task_id)
