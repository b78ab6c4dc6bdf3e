"""``cemgd sweep`` refuses bad input in one line, exit 2, before any run starts or the
sweep folder is made: a model or task that cannot be built (as ``cemgd train`` refuses
it), a task, planner or seed listed twice, a seed out of range, and ``--ray-shared-fs``
without ``--ray``."""

from __future__ import annotations

from pathlib import Path

import pytest

from cemgd import sweep
from cemgd.cli import main
from cemgd.sweep import SweepConfig
from cemgd.sweep import local as sweep_local

TINY = dict(tasks=("cartpole-swingup",), planners=("cem-50",), seeds=(0,), quick=True)
FACTORIES = '''
def raises():
    raise RuntimeError("no licence")


def task(**kwargs):
    raise RuntimeError("no simulator")
'''


def _one_line_error(capsys: pytest.CaptureFixture) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory holding ``factories.py``; no sweep run may start."""
    (tmp_path / "factories.py").write_text(FACTORIES)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sweep_local, "start_worker", None)  # a started run fails the test
    return tmp_path


@pytest.mark.parametrize(("argv", "message"), [
    (["--model", "foo"], "--model: 'foo' is neither the built-in model (mlp)"),
    (["--model", "os:getcwd"], "--model: expected an ensemble model"),
    (["--model", "factories.py:raises"],
     "--model: the model factory factories.py:raises raised RuntimeError: no licence"),
    (["--tasks", "factories.py:task"], "--tasks: the task factory factories.py:task raised "
                                       "RuntimeError: no simulator"),
])
def test_a_model_or_task_that_cannot_be_built_is_refused_before_any_run(
    argv: list[str], message: str, workdir: Path, capsys: pytest.CaptureFixture,
) -> None:
    """Exit 2 before any run starts (no retries), as train does."""
    tasks = [] if "--tasks" in argv else ["--tasks", "cartpole-swingup"]
    assert main(["sweep", "--quick", "--workers", "1", "--planners", "cem", "--seeds", "0",
                 "--no-progress", "--out", "s", *tasks, *argv]) == 2
    err = _one_line_error(capsys)
    assert err.startswith("cemgd sweep: ") and message in err, err
    assert not (workdir / "s").exists()


@pytest.mark.parametrize(("argv", "message"), [
    (["--seeds", "0,0"], "--seeds: seed 0 is given twice ('0' and '0')"),
    (["--seeds", "0-2,1"], "--seeds: seed 1 is given twice ('0-2' and '1')"),
    (["--tasks", "cartpole-swingup,cartpole-swingup"],
     "--tasks: 'cartpole-swingup' is given twice"),
    (["--planners", "cem,cem-50,cem"], "--planners: 'cem' is given twice"),
    (["--planners", "cem-gd:n_replan=20,cem-gd:n-replan=20"],
     "--planners: 'cem-gd:n_replan=20' and 'cem-gd:n-replan=20' are the same planner"),
    (["--seeds", "4294967296"], "--seeds: expected an int in [0, 4294967295], got 4294967296"),
    (["--seeds", "0-99999999999999999999"], "--seeds: expected an int in [0, 4294967295]"),
    (["--ray-shared-fs"], "--ray-shared-fs: needs ray"),
])
def test_duplicates_conflicts_and_seeds_out_of_range_are_refused(
    argv: list[str], message: str, workdir: Path, capsys: pytest.CaptureFixture,
) -> None:
    """A repeat is refused, not dropped; --ray-shared-fs needs --ray."""
    given = {"--tasks": "cartpole-swingup", "--planners": "cem", "--seeds": "0"}
    defaults = [x for flag, value in given.items() if flag not in argv for x in (flag, value)]
    assert main(["sweep", "--quick", "--workers", "1", "--no-progress", "--out", "s",
                 *defaults, *argv]) == 2
    err = _one_line_error(capsys)
    assert message in err, err
    assert not (workdir / "s").exists()


@pytest.mark.parametrize(("changes", "message"), [
    ({"seeds": (0, 0)}, "seeds: 0 is given twice"),
    ({"seeds": (2**32,)}, r"seeds: expected an int in \[0, 4294967295\]"),
    ({"tasks": ("cartpole-swingup", "cartpole-swingup")}, "tasks: 'cartpole-swingup' is given"),
    ({"planners": ("cem-50", "cem-50")}, "planners: 'cem-50' is given twice"),
    ({"ray_shared_fs": True}, "ray_shared_fs: needs ray"),
])
def test_the_library_refuses_them_too(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SweepConfig(**{**TINY, **changes})


def test_the_largest_seed_is_taken() -> None:
    assert sweep.parse_seeds("4294967294-4294967295") == (2**32 - 2, 2**32 - 1)
    assert SweepConfig(**{**TINY, "seeds": (2**32 - 1,)}).seeds == (2**32 - 1,)
