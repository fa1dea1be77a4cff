"""Quiet by default (rlagent/quiet.py): what libraries write to file descriptor 2 goes to the run's log; rlagent's
own console lines and warnings stay on the terminal; an unexpected failure shows the log's last lines."""

import logging
import os

import pytest

from rlagent import quiet
from rlagent.errors import UserError
from rlagent.ui import err_console


@pytest.fixture
def cli_mode(monkeypatch):
    monkeypatch.setattr(quiet, "enabled", True)


def chatter(text: str) -> None:
    """What a C++ library (vLLM-CPU's NUMA binding warning) does, and a Python library's warning through the
    process's stderr (under pytest `sys.stderr` is a capture object, so it is written to descriptor 2 here)."""
    os.write(2, f"[W native] {text}\n".encode())
    with open(2, "w", closefd=False) as stderr:
        print(f"library says {text}", file=stderr, flush=True)


def test_library_output_goes_to_the_log_and_ours_to_the_terminal(tmp_path, capfd, cli_mode):
    with quiet.library_output(tmp_path / "logs"):
        chatter("NUMA binding")
        err_console.print("step 1/2  eta 0m10s", highlight=False)
        logging.getLogger("rlagent.rollout.loop").warning("an environment step raised")
    chatter("after the run")
    err = capfd.readouterr().err
    log = (tmp_path / "logs" / quiet.LOG_NAME).read_text()
    assert "NUMA binding" not in err and "[W native] NUMA binding" in log and "library says NUMA binding" in log
    assert "step 1/2  eta 0m10s" in err and "WARNING: an environment step raised" in err
    assert "step 1/2" not in log and "after the run" in err and "after the run" not in log  # fd 2 restored


def test_a_failure_shows_the_logs_last_lines_and_bad_input_stays_one_line(tmp_path, capfd, cli_mode):
    with pytest.raises(RuntimeError), quiet.library_output(tmp_path / "logs"):
        chatter("engine core died")
        raise RuntimeError("boom")
    err = capfd.readouterr().err
    assert f"last lines of {tmp_path / 'logs' / quiet.LOG_NAME}" in err and "[W native] engine core died" in err

    with pytest.raises(UserError), quiet.library_output(tmp_path / "logs"):
        raise UserError("bad key")
    assert "last lines" not in capfd.readouterr().err


def test_verbose_or_in_process_leaves_stderr_alone(tmp_path, capfd):
    assert not quiet.enabled  # only the CLI's main() turns it on
    with quiet.library_output(tmp_path / "logs"):
        chatter("visible")
    assert "[W native] visible" in capfd.readouterr().err and not (tmp_path / "logs").exists()
    argv = ["rlagent", "eval", "-v", "recipe=x", "--verbose"]
    assert quiet.take_verbose(argv) and argv == ["rlagent", "eval", "recipe=x"]
    assert not quiet.take_verbose(argv)
