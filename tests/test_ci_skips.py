"""The CI skip gate (tests/conftest.py SkipGate): under CI=true a skip that tests/expected_skips.txt does not list
fails the session, and every skip is printed with its reason; outside CI nothing changes. Each case runs a
session of its own (pytester) with the gate of tests/conftest.py."""

from __future__ import annotations

import pytest

from .conftest import EXPECTED_SKIPS, REPO, read_expected_skips

SAMPLE = """
import pytest

def test_runs():
    assert True

@pytest.mark.skipif(True, reason="no widget here")
def test_marked():
    pass

@pytest.fixture
def gadget():
    pytest.skip("no gadget here")

def test_in_a_fixture(gadget):
    pass

@pytest.mark.parametrize("n", [1, 2])
def test_param(n):
    pytest.skip(f"param {n} cannot run")

@pytest.mark.xfail(reason="known bug")
def test_xfail():
    assert False
"""
ALL_SKIPS = (
    "test_sample.py::test_marked",
    "test_sample.py::test_in_a_fixture",
    "test_sample.py::test_param[1]",
    "test_sample.py::test_param[2]",
)


@pytest.fixture
def session(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch):
    """run(expected lines, ci=True) -> the result of a session over SAMPLE, rooted in pytester's folder."""
    pytester.makeini("[pytest]\n")  # the rootdir: node ids and tests/expected_skips.txt are relative to it
    pytester.makeconftest("from tests.conftest import pytest_configure  # the gate under test\n")
    pytester.makepyfile(test_sample=SAMPLE)

    def run(expected: str | None, ci: bool = True, *args: str, subprocess: bool = False) -> pytest.RunResult:
        if expected is not None:
            (pytester.path / "tests").mkdir(exist_ok=True)
            (pytester.path / EXPECTED_SKIPS).write_text(expected)
        if ci:
            monkeypatch.setenv("CI", "true")
        else:
            monkeypatch.delenv("CI", raising=False)
        if subprocess:  # a session that must not share this process (Ctrl-C)
            monkeypatch.setenv("PYTHONPATH", str(REPO))  # `tests.conftest` importable there
            return pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider", *args)
        return pytester.runpytest("-q", "-p", "no:cacheprovider", *args)

    return run


def test_an_unexpected_skip_fails_a_ci_session_and_is_listed(session):
    expected = "\n".join(
        ["# comment", "", "test_sample.py::test_marked the widget is CI's to skip", "test_sample.py::test_param[*] x"]
    )
    result = session(expected)
    result.assert_outcomes(passed=1, skipped=4, xfailed=1)  # the xfail is not a skip
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    out = result.stdout.str()
    assert "UNEXPECTED test_sample.py::test_in_a_fixture: no gadget here" in out
    assert "expected   test_sample.py::test_marked: no widget here (listed: the widget is CI's to skip)" in out
    assert "expected   test_sample.py::test_param[1]: param 1 cannot run (listed: x)" in out
    assert "expected   test_sample.py::test_param[2]" in out
    assert "1 unexpected skip(s) fail this session" in out and "test_xfail" not in out


def test_a_ci_session_whose_skips_are_all_listed_passes(session):
    result = session("\n".join(f"{nodeid} listed" for nodeid in ALL_SKIPS))
    result.assert_outcomes(passed=1, skipped=4, xfailed=1)
    assert result.ret == pytest.ExitCode.OK
    assert "UNEXPECTED" not in result.stdout.str()
    assert result.stdout.str().count("expected   test_sample.py::") == 4


def test_a_pattern_takes_brackets_literally_and_star_as_any_text(session):
    result = session("test_sample.py::test_* all\n")
    assert result.ret == pytest.ExitCode.OK
    result = session("test_sample.py::test_param[1] only the first\ntest_sample.py::test_marked x\n")
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # [1] is not a character set: test_param[2] is not listed
    out = result.stdout.str()
    assert "UNEXPECTED test_sample.py::test_param[2]" in out and "UNEXPECTED test_sample.py::test_param[1]" not in out


def test_a_module_skipped_while_collecting_counts(session, pytester):
    pytester.makepyfile(test_gone="import pytest\npytest.skip('no module here', allow_module_level=True)\n")
    result = session("test_sample.py::* listed\n", True, "test_gone.py")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert "UNEXPECTED test_gone.py: no module here" in result.stdout.str()


def test_an_interrupted_session_keeps_its_status(session, pytester):
    pytester.makepyfile(test_stop="def test_stop():\n    raise KeyboardInterrupt\n")
    result = session("", True, subprocess=True)  # four unexpected skips, then Ctrl-C
    assert result.ret == pytest.ExitCode.INTERRUPTED


def test_outside_ci_nothing_changes(session):
    result = session(None, ci=False)  # no expected-skips file either: it is only read under CI
    result.assert_outcomes(passed=1, skipped=4, xfailed=1)
    assert result.ret == pytest.ExitCode.OK
    assert "skips (CI=true" not in result.stdout.str() and "UNEXPECTED" not in result.stdout.str()


def test_a_ci_session_needs_a_well_formed_list(session, pytester):
    result = session("test_sample.py::test_marked\n")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "'test_sample.py::test_marked' has no reason" in result.stderr.str()
    (pytester.path / EXPECTED_SKIPS).unlink()
    result = session(None)
    assert result.ret == pytest.ExitCode.USAGE_ERROR and "expected_skips.txt does not exist" in result.stderr.str()


def test_the_repository_list_names_real_test_files_with_reasons():
    entries = read_expected_skips(REPO / EXPECTED_SKIPS)
    assert entries
    for entry in entries:
        path = entry.pattern.split("::")[0]
        assert "*" not in path and (REPO / path).is_file(), entry
        assert len(entry.reason.split()) >= 4, entry  # a reason, not a word
