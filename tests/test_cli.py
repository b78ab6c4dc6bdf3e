"""The ``cemgd`` command line: discoverable commands, plain help, one-line exit-2 errors."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cemgd import __version__
from cemgd.cli import base, build_parser, main
from cemgd.cli.base import Context, add_command, plain
from cemgd.tasks import ENV_TASKS

REST = re.compile(r"``|:[a-z]+:`")


def _help(argv: list[str], capsys: pytest.CaptureFixture) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--help"])
    assert exit_info.value.code == 0
    return capsys.readouterr().out


def test_version(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"cemgd {__version__}"


@pytest.mark.parametrize("command", [[], ["train"], ["sweep"], ["evaluate"], ["report"],
                                     ["barrier"], ["scaling"], ["bench"], ["planners"]])
def test_help_has_no_rest_markup(command: list[str], capsys: pytest.CaptureFixture) -> None:
    text = _help(command, capsys)
    assert not REST.search(text), REST.search(text)


def test_task_help_lists_every_task(capsys: pytest.CaptureFixture) -> None:
    text = " ".join(_help(["train"], capsys).split())
    for name in ENV_TASKS:
        assert name in text
    assert "package.module:factory" in text


def test_tasks_and_planners_list_what_exists(capsys: pytest.CaptureFixture) -> None:
    assert main(["tasks"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in ENV_TASKS)
    assert main(["planners"]) == 0
    out = capsys.readouterr().out
    for line in ("--planner.n-replan (int, default 50)", "--planner.num-samples (int",
                 "presets: cem-50"):
        assert line in out
    assert main(["planners", "cem-gd"]) == 0
    out = capsys.readouterr().out
    assert "--planner.grad-steps" in out and "mppi" not in out
    assert main(["planners", "nope"]) == 2
    assert "unknown planner 'nope'" in capsys.readouterr().err


def test_plain_removes_markup() -> None:
    assert plain("see :func:`~cemgd.pets.run` and ``ENV_TASKS``") == "see run and ENV_TASKS"
    assert plain(":class:`cemgd.tasks.EnvTask`") == "cemgd.tasks.EnvTask"


def _bad_out(tmp_path: Path) -> dict[str, tuple[str, str]]:
    file = tmp_path / "file"
    file.write_text("x")
    return {"empty": ("", "--out: expected a folder path"),
            "file": (str(file), f"{file} exists and is not a folder"),
            "under-file": (str(file / "run"), f"is under {file}, which is not a folder"),
            }


@pytest.mark.parametrize("command", [["train", "--quick"], ["barrier", "--quick"],
                                     ["sweep", "--tasks", "cartpole-swingup",
                                      "--planners", "cem-50", "--quick"]])
@pytest.mark.parametrize("case", ["empty", "file", "under-file"])
def test_bad_out_exits_2_with_one_line(command: list[str], case: str, tmp_path: Path,
                                       capsys: pytest.CaptureFixture) -> None:
    out, message = _bad_out(tmp_path)[case]
    assert main([*command, "--out", out]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
    assert err.startswith(f"cemgd {command[0]}: --out")
    assert (tmp_path / "file").read_text() == "x"


def test_read_only_out_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    if os.geteuid() == 0:  # root writes anywhere: make the folder read-only for the check
        real = os.access
        monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == folder
                            else real(p, mode))
    else:
        folder.chmod(0o555)
    assert main(["train", "--quick", "--out", str(folder / "run")]) == 2
    assert f"--out: {folder} is not writable" in capsys.readouterr().err
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize("argv, message", [
    (["train", "--out", "x", "--task", "walker"], "task: unknown task 'walker'"),
    (["train", "--out", "x", "--planner", "cem-9"], "planner: unknown planner 'cem-9'"),
    (["train", "--out", "x", "--horizon", "many"], "--horizon: invalid int value"),
    (["train", "--out", "x", "--bogus"], "--bogus: unknown argument"),
    (["train"], "the following arguments are required: --out"),
    (["nope"], "invalid choice: 'nope'"),
    (["barrier", "--out", "x", "--planner.n-init", "3"], "unrecognized arguments"),
    (["sweep", "--out", "x", "--tasks", "walker", "--planners", "cem-50"], "unknown task"),
])
def test_bad_input_is_one_line_exit_2(argv: list[str], message: str, tmp_path: Path,
                                      capsys: pytest.CaptureFixture,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert _exit_code(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
    assert "Traceback" not in err
    assert not (tmp_path / "x").exists()


def _exit_code(argv: list[str]) -> int | str | None:
    """``main(argv)``'s status, whether it returns it or argparse exits with it."""
    try:
        return main(argv)
    except SystemExit as exit_info:
        return exit_info.code


def test_a_module_registers_a_command(monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture) -> None:
    seen: list[Context] = []

    def run(args: object, ctx: Context) -> int:
        seen.append(ctx)
        return 7

    class Module:
        @staticmethod
        def register(sub: base.Subparsers) -> None:
            add_command(sub, "hello", run, help="say hello", extra=True)

    monkeypatch.setattr("cemgd.cli.COMMANDS", ("hello",))
    monkeypatch.setattr("importlib.util.find_spec", lambda name: object())
    monkeypatch.setitem(sys.modules, "cemgd.cli.hello", Module)
    monkeypatch.setenv("CEMGD_NO_PROGRESS", "1")
    monkeypatch.setenv("CEMGD_CACHE_DIR", "")
    assert main(["hello", "--planner.x", "1"]) == 7
    assert seen == [Context(extra=["--planner.x", "1"], progress=False, cache_dir=None)]
    assert "hello" in build_parser().format_help()


def test_train_says_where_it_writes_and_reports_each_trial(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "cemgd.cli", "train", "--quick", "--trials", "1",
         "--no-progress", "--out", str(out)],
        capture_output=True, text=True, env={**os.environ, "CEMGD_CACHE_DIR": ""},
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"writing to {out}" in proc.stdout
    assert re.search(r"trial 0 \(1 of 1\): return -?\d", proc.stdout)
    assert (out / "figure3_returns.png").is_file() and (out / "model_quality.png").is_file()
    assert f"wrote {out / 'figure3_returns.png'}" in proc.stdout
    assert (out / "metrics.csv").exists()


def test_nothing_below_cli_imports_it() -> None:
    src = Path(__file__).resolve().parents[1] / "src" / "cemgd"
    offenders = [p.relative_to(src).as_posix() for p in src.rglob("*.py")
                 if "cli" not in p.relative_to(src).parts
                 and re.search(r"^\s*(from|import) cemgd\.cli\b", p.read_text(), re.M)]
    assert offenders == []


def test_train_planner_takes_a_spec_and_setting_flags_on_top() -> None:
    from cemgd.cli import train

    args, extra = build_parser().parse_known_args(
        ["train", "--out", "x", "--quick", "--planner", "cem-gd:n_replan=4",
         "--planner.grad-steps", "5", "--activation", "relu"])
    config = train.build_config(args, extra)
    assert config.planner.name == "cem-gd" and config.activation == "relu"
    assert config.planner.settings["n_replan"] == 4  # kept, as given, under --quick
    assert config.planner.settings["grad_steps"] == 5  # the flag's, beside the spec's
    assert config.make_planner().config.num_iterations == 2  # --quick's cap
    # a flag overrides the spec's setting, as a later flag overrides an earlier one
    args, extra = build_parser().parse_known_args(
        ["train", "--out", "x", "--planner", "cem-gd:grad_steps=2", "--planner.grad-steps", "5",
         "--planner.step-size", "0.1", "--planner.step-size", "0.2"])
    settings = train.build_config(args, extra).planner.settings
    assert settings["grad_steps"] == 5 and settings["step_size"] == 0.2
