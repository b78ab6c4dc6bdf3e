"""``cemgd barrier|scaling|bench`` refuse bad input with exit 2 and a message naming the flag
or file (row, column), never a traceback; a damaged results folder is refused before
anything, ``.lock`` included, is written to it. Nothing here runs a study: the folders are
written by hand (their ``config.json`` by the command itself, its study stubbed out)."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pytest

from cemgd import cli
from cemgd.experiments import barrier, bench, bench_report, scaling
from cemgd.experiments.tables import INT, NUMBER, TEXT, CheckedFolder, load_arrays
from cemgd.runs import RunError

STUDIES = {"barrier": barrier, "scaling": scaling, "bench": bench}
#: Tiny command lines, one per study, and the key cells of the one row each writes by hand.
ARGS = {
    "barrier": ["--n-init", "10", "--planners", "cem-gd", "--trials", "2"],
    "scaling": ["--dims", "1", "--planners", "cem-50"],
    "bench": ["--planners", "cem-50", "--matmul-size", "64"],
}
KEYS = {
    "barrier": {"planner": "cem-gd", "n_init": "10"},
    "scaling": {"d": "1", "planner": "cem-50"},
    "bench": {"spec": "cem-50", "planner": "CEM 50", "name": "cem", "variant": "model",
              "grad_stage_ms": "", "grad_stage_bound_ms": "", "grad_stage_passes": "",
              "grad_stage_gap": "", "grad_stage_gap_matvec": ""},
}
COLUMNS = {"barrier": barrier.COLUMNS, "scaling": scaling.TABLE.columns,
           "bench": bench_report.TABLE.columns}
CSVS = {"barrier": "barrier.csv", "scaling": "scaling.csv", "bench": "bench.csv"}


def _command(study: str, out: Path, *more: str) -> list[str]:
    return [study, "--quick", "--out", str(out), *ARGS[study], *more]


def _row(study: str) -> dict[str, str]:
    """A well-formed row of ``study``'s table (made-up values, each of its column's kind)."""
    made_up = {INT: "2", NUMBER: "0.5", TEXT: "x"}
    return {name: KEYS[study].get(name, made_up.get(kind, "0.5"))
            for name, kind in COLUMNS[study].items()}


def _folder(study: str, out: Path, monkeypatch: pytest.MonkeyPatch,
            rows: list[dict[str, str]]) -> None:
    """``out`` as ``study`` leaves it (its own ``config.json``) with ``rows`` in its table,
    and the trajectories file barrier's row stands for; then no ``.lock``."""
    if not (out / "config.json").exists():
        with monkeypatch.context() as patch:
            patch.setattr(STUDIES[study], "_run", lambda config, out, run_dir: [])
            assert cli.main(_command(study, out)) == 0
    with (out / CSVS[study]).open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    if study == "barrier":
        _trajectories(out / "trajectories_n10.npz")
    (out / ".lock").unlink(missing_ok=True)


def _trajectories(file: Path, trials: int = 2) -> None:
    plan = np.zeros((trials, 20, 2), np.float32)
    np.savez_compressed(file, obs=np.zeros((trials, 15, 2)), first_plan=plan, cem_pick=plan,
                        side=np.ones(trials))


def _snapshot(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def _refused(study: str, out: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """Run ``study`` into ``out``: exit 2, the folder untouched; returns the message."""
    before = _snapshot(out)
    capsys.readouterr()
    assert cli.main(_command(study, out)) == 2
    assert _snapshot(out) == before  # not even a .lock
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    return err


@pytest.mark.parametrize("study", STUDIES)
@pytest.mark.parametrize("seed", ["-1", "99999999999999999999", "4294967296"])
def test_a_seed_outside_0_to_2_32_is_refused_naming_seed(study, seed, tmp_path, capsys):
    out = tmp_path / "out"
    assert cli.main(_command(study, out, "--seed", seed)) == 2
    err = capsys.readouterr().err
    assert re.search(rf"--seed: expected an int in \[0, 429496729\d\], got {seed}$", err), err
    assert not out.exists()


@pytest.mark.parametrize("study", ["barrier", "scaling"])
def test_a_seed_whose_trials_pass_2_32_is_refused(study, tmp_path, capsys):
    """Trial i uses seed + i: the last trial's seed must stay below 2**32 too."""
    out = tmp_path / "out"
    assert cli.main(_command(study, out, "--seed", "4294967295")) == 2
    assert "--seed: expected an int in [0, 42949672" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize(("argv", "message"), [
    (["scaling", "--dims", "1", "1"], "--dims: 1 is given twice"),
    (["scaling", "--planners", "cem-50", "cem-50"], "--planners: 'cem-50' is given twice"),
    (["scaling", "--planners", "cem-gd:n_replan=10", "cem-gd: n_replan=10"],
     "--planners: 'cem-gd:n_replan=10' and 'cem-gd: n_replan=10' are the same planner"),
    (["barrier", "--n-init", "10", "10"], "--n-init: 10 is given twice"),
    (["barrier", "--planners", "cem-gd", "cem-gd"], "--planners: 'cem-gd' is given twice"),
    (["bench", "--planners", "cem-50", "cem-50@model"],
     "--planners: 'cem-50' and 'cem-50@model' are the same planner"),
])
def test_a_value_listed_twice_is_refused_naming_the_flag_and_value(argv, message, tmp_path,
                                                                    capsys):
    out = tmp_path / "out"
    assert cli.main([*argv, "--quick", "--out", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("study", STUDIES)
def test_a_well_formed_folder_is_resumed(study, tmp_path, monkeypatch):
    """The hand-written folders of the tests below, undamaged, are accepted."""
    out = tmp_path / "out"
    _folder(study, out, monkeypatch, [_row(study)])
    monkeypatch.setattr(STUDIES[study], "_run", lambda config, out, run_dir: [])
    assert cli.main(_command(study, out)) == 0


@pytest.mark.parametrize(("study", "column", "kind"), [
    ("scaling", "rollouts_per_step", "an int"), ("scaling", "normalized_return", "a number"),
    ("barrier", "trials", "an int"), ("barrier", "fraction_below", "a number"),
    ("bench", "compile_s", "a number"), ("bench", "fallbacks", "an int"),
    ("bench", "grad_stage_passes", "'FORWARDS+BACKWARDS' or empty"),
])
def test_a_cell_that_is_no_number_is_refused_naming_file_row_and_column(
        study, column, kind, tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    other = {"barrier": {"n_init": "500"}, "scaling": {"d": "2"}, "bench": {"spec": "cem-500"}}
    _folder(study, out, monkeypatch, [_row(study), {**_row(study), **other[study],
                                                     column: "abc"}])
    err = _refused(study, out, capsys)
    assert f"{out / CSVS[study]}: row 2, column {column!r}: expected {kind}, got 'abc'" in err


@pytest.mark.parametrize("study", STUDIES)
def test_a_missing_column_or_cell_or_a_repeated_row_is_refused(study, tmp_path, monkeypatch,
                                                               capsys):
    out = tmp_path / "out"
    file = out / CSVS[study]
    row = _row(study)
    dropped = next(name for name in row if name not in KEYS[study])
    _folder(study, out, monkeypatch, [{k: v for k, v in row.items() if k != dropped}])
    assert f"{file}: no column {dropped!r}" in _refused(study, out, capsys)

    _folder(study, out, monkeypatch, [row, row])
    assert f"{file}: row 2 repeats the" in _refused(study, out, capsys)

    header = ",".join(row)
    file.write_text(f"{header}\n{','.join(row.values())}\n{','.join(list(row.values())[:3])}\n")
    assert f"{file}: row 2 has fewer cells than the header" in _refused(study, out, capsys)

    file.write_text(f"{header},extra\n")  # no row yet: still not this version's header
    assert f"{file}: unexpected column 'extra'" in _refused(study, out, capsys)


@pytest.mark.parametrize(("damage", "message"), [
    (lambda f: f.write_bytes(b""), "empty, truncated or damaged (EOFError"),
    (lambda f: f.write_bytes(f.read_bytes()[:100]), "empty, truncated or damaged"),
    (lambda f: np.save(f.open("wb"), np.zeros(2)), "not an .npz archive"),
    (lambda f: f.unlink(), "missing"),
    (lambda f: np.savez(f, obs=np.zeros(2)), "no array 'first_plan'"),
    (lambda f: _trajectories(f, trials=3), "expected 2 trials first"),
])
def test_a_damaged_trajectories_file_of_a_barrier_row_is_refused(damage, message, tmp_path,
                                                                 monkeypatch, capsys):
    out = tmp_path / "out"
    _folder("barrier", out, monkeypatch, [_row("barrier")])
    damage(out / "trajectories_n10.npz")
    err = _refused("barrier", out, capsys)
    assert f"{out / 'trajectories_n10.npz'}: " in err and message in err
    assert f"row 1 of {out / 'barrier.csv'}" in err


def test_load_arrays_names_the_file(tmp_path):
    file = tmp_path / "a.npz"
    np.savez(file, x=np.arange(3))
    assert list(load_arrays(file, ["x"])["x"]) == [0, 1, 2]
    file.write_bytes(b"PK\x03\x04" + b"\0" * 30)
    with pytest.raises(RunError, match="a.npz: empty, truncated or damaged"):
        load_arrays(file, ["x"])


def test_a_table_is_checked_wherever_it_is_read(tmp_path):
    """Not only when the folder is opened: a row appended since is checked on the next read."""
    with CheckedFolder(tmp_path, {"study": 1}, [scaling.TABLE]) as folder:
        folder.append("scaling.csv", _row("scaling"))
        assert len(folder.read("scaling.csv")) == 1
        folder.append("scaling.csv", {**_row("scaling"), "d": "2", "step_ms": "fast"})
        with pytest.raises(RunError, match="row 2, column 'step_ms': expected a number"):
            folder.read("scaling.csv")
