"""What a new user reads from the command line: help without internals, flags named in
errors, a suggestion for a misspelled planner or task, consistent trial numbers."""

from __future__ import annotations

import pytest

from cemgd.cli import main
from cemgd.cli.errors import user_message
from cemgd.pets.events import trial_label
from cemgd.tasks.overlay import caption

INTERNALS = ("Modules:", "include_incomplete", ".stats", "max_retries", "ray_shared_fs=",
             "resume=True", "pets.quick", "cemgd.", "about a minute", "under a minute")


def _help(command: str, capsys: pytest.CaptureFixture) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("command", ["train", "sweep", "evaluate", "report", "barrier"])
def test_help_names_no_internals(command: str, capsys: pytest.CaptureFixture) -> None:
    text = _help(command, capsys)
    assert [word for word in INTERNALS if word in text] == []


def test_sweep_help_lists_the_laptop_presets_planners(capsys: pytest.CaptureFixture) -> None:
    from cemgd.sweep import SWEEP_PRESETS

    text = _help("sweep", capsys)
    line = next(row for row in text.splitlines() if row.startswith("  laptop: tasks"))
    assert ",".join(SWEEP_PRESETS["laptop"]["planners"]) in line


@pytest.mark.parametrize(("argv", "expected"), [
    (["--planner", "cem-dg"], "--planner: unknown planner 'cem-dg' (did you mean 'cem-gd'?)"),
    (["--task", "pendlum"], "--task: unknown task 'pendlum' (did you mean 'pendulum'?)"),
    (["--trials", "-3"], "cemgd train: --trials: expected an int >= 1, got -3"),
    (["--seed", str(2**64)], "--seed: expected an int in [0, 4294967295]"),
    (["--planner", "cem-gd:n_replan=10,n_replan=20"],
     "--planner (cem-gd:n_replan=10,n_replan=20): n_replan given twice"),
    (["--planner", "cem-gd:"], "--planner: expected key=value after ':' in 'cem-gd:'"),
    (["--planner", ""], "--planner: unknown planner ''"),
    (["--planner", "cem-gd:n_replan=1"], "--planner (cem-gd:n_replan=1): n_replan: expected"),
    (["--planner.n-replan", "1"], "cemgd train: --planner.n-replan: expected an int >= 2"),
    (["--train.learning-rate", "nan"], "cemgd train: --train.learning-rate: expected a finite"),
])
def test_errors_name_the_flag_and_suggest(argv: list[str], expected: str, tmp_path,
                                          capsys: pytest.CaptureFixture) -> None:
    assert main(["train", "--quick", "--out", str(tmp_path / "run"), *argv]) == 2
    err = capsys.readouterr().err
    assert expected in err and err.count("\n") == 1
    assert not (tmp_path / "run").exists()


def test_sweep_planner_list_gets_a_suggestion(tmp_path, capsys: pytest.CaptureFixture) -> None:
    assert main(["sweep", "--tasks", "pendulum", "--planners", "cem,mpii:temperature=2",
                 "--quick", "--out", str(tmp_path / "s")]) == 2
    assert "--planners: unknown planner 'mpii' (did you mean 'mppi'?)" in capsys.readouterr().err


def test_user_message_leaves_other_messages_alone() -> None:
    flags = {"trials": "--trials", "planner": "--planner"}
    assert user_message("seed: expected an int", flags) == "seed: expected an int"
    assert user_message("x/metrics.csv: trials: bad", flags) == "x/metrics.csv: trials: bad"
    assert user_message("planner: unknown planner 'zzzzzz'; expected one of cem", flags) \
        == "--planner: unknown planner 'zzzzzz'; expected one of cem"


def test_trial_numbers_agree_with_metrics_csv() -> None:
    # metrics.csv's trial column, videos/trial-001.gif, the caption and --trial: from 0
    assert trial_label(1, 2) == "trial 1 (2 of 2)"
    assert caption(1, 3, 100, -2.0).startswith("trial 1 ")


def test_counts_in_the_sweep_announcement_agree_in_number() -> None:
    from cemgd.sweep.driver import counted

    assert [counted(1, "task"), counted(2, "planner"), counted(0, "seed")] == \
        ["1 task", "2 planners", "0 seeds"]


def test_a_code_task_is_shown_by_its_name_and_resumes_without_it() -> None:
    from cemgd.pets import config_diff
    from cemgd.tasks import task_title

    assert task_title("reacher_task.py:reacher", "reacher") == "reacher (reacher_task.py:reacher)"
    assert task_title("pendulum", "pendulum") == "pendulum"
    # a folder written before config.json recorded task_name still resumes
    assert config_diff({"task": "reacher_task.py:reacher"},
                       {"task": "reacher_task.py:reacher", "task_name": "reacher"}) == []


def test_a_reader_that_stops_early_ends_the_command_quietly() -> None:
    """``cemgd planners | head -1``: when stdout's reader has gone, no error message and
    SIGPIPE's status (the pipe is closed before the command, still importing, writes)."""
    import subprocess
    import sys

    cmd = [sys.executable, "-c", "import sys; from cemgd.cli import main; sys.exit(main())",
           "planners"]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()
        err = proc.stderr.read()
        status = proc.wait(timeout=120)
    assert err == b"" and status == 141
