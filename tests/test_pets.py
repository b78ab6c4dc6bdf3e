"""The PETS loop and ``cemgd train``: smoke runs per task, exact resume, bad input."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

pytest.importorskip("gymnasium")
pytest.importorskip("mujoco")

from cemgd import pets  # noqa: E402
from cemgd.cli import main  # noqa: E402
from cemgd.models import TrainConfig, init_ensemble  # noqa: E402
from cemgd.models.train import default_model  # noqa: E402
from cemgd.pets.config import upgrade_payload  # noqa: E402
from cemgd.planners import PLANNERS, PlannerSpec  # noqa: E402
from cemgd.planners.gradient import gradient_objective  # noqa: E402
from cemgd.tasks import ENV_TASKS  # noqa: E402

#: Columns that depend on the machine's speed, not on the computation.
TIMING = {"train_s", "plan_ms_mean", "plan_ms_max", "plan_ms_first", "peak_rss_mb",
          "compile_s", "episode_s", "plan_memory_mb"}


def _metrics(folder: Path) -> list[dict[str, str]]:
    import csv

    with open(folder / "metrics.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def _deterministic(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    return [{k: v for k, v in row.items() if k not in TIMING} for row in rows]


def _snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


#: the tasks whose quick PETS run stays in the default suite; the others are marked slow
#: (each takes 17-27 s on 2 cores) and run with ``-m slow``
QUICK_TRAIN_IN_CI = ("cartpole-swingup", "cartpole-paper", "pets-cartpole")


@pytest.mark.parametrize("task", [
    pytest.param(task, marks=() if task in QUICK_TRAIN_IN_CI else pytest.mark.slow)
    for task in sorted(ENV_TASKS)])
def test_quick_train_runs_every_task(task: str, tmp_path: Path) -> None:
    out = tmp_path / task
    video = ["--video"] if task in ("cartpole-swingup", "halfcheetah") else []
    code = main(["train", "--task", task, "--planner", "cem-gd", "--quick", "--no-progress",
                 "--out", str(out), *video])
    assert code == 0
    rows = _metrics(out)
    assert [int(r["trial"]) for r in rows] == [0, 1]
    config = json.loads((out / "config.json").read_text())
    assert config["task"] == task and config["planner_name"] == "cem-gd"
    episode = config["episode_length"]
    steps = [int(row["episode_steps"]) for row in rows]
    for row, n in zip(rows, steps, strict=True):
        assert np.isfinite(float(row["episode_return"]))
        # Only cartpole-paper terminates (its cart may leave the track): then a shorter trial.
        assert n == episode or (task == "cartpole-paper" and 0 < n < episode)
        assert float(row["plan_ms_mean"]) > 0 and float(row["plan_memory_mb"]) > 0
        assert float(row["rollouts_per_step"]) > 0
    assert int(rows[1]["env_steps"]) - int(rows[0]["env_steps"]) == steps[1]
    assert int(rows[0]["env_steps"]) == config["random_steps"] + steps[0]
    state = json.loads((out / "checkpoints" / "state.json").read_text())
    assert state["completed"] == 2
    assert (out / "checkpoints" / "model-001.npz").is_file()
    assert not (out / "checkpoints" / "model-000.npz").exists()
    buffer = np.load(out / "checkpoints" / "buffer-001.npz")
    assert buffer["obs"].shape == (config["random_steps"] + sum(steps), ENV_TASKS[task]().obs_dim)
    if video:
        from PIL import Image

        gif = Image.open(out / "videos" / "trial-001.gif")
        assert gif.n_frames == episode + 1
        frame = np.asarray(gif.convert("RGB"))
        assert frame.std() > 1.0  # not a blank image


def _quick(**changes: object) -> pets.PETSConfig:
    config = pets.quick(pets.PETSConfig(task="cartpole-swingup", planner="cem-gd"))
    return dataclasses.replace(config, **{"trials": 3, **changes})


def test_resume_after_a_crash_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    config = _quick()
    full = tmp_path / "full"
    pets.run(config, full, show_progress=False)

    crashed = tmp_path / "crashed"

    class CrashInThirdEpisode(pets.RunEvents):
        def phase(self, trial: int, what: str) -> None:
            if trial == 2 and what == "episode":
                raise KeyboardInterrupt("killed")

    with pytest.raises(KeyboardInterrupt):
        pets.run(config, crashed, events=CrashInThirdEpisode())
    assert len(_metrics(crashed)) == 2  # what was done is on disk
    before = _metrics(crashed)
    rows = pets.run(config, crashed, resume=True, show_progress=False)
    assert len(rows) == 3
    assert _metrics(crashed)[:2] == before  # nothing written is lost or rewritten
    assert _deterministic(_metrics(crashed)) == _deterministic(_metrics(full))
    a = np.load(full / "checkpoints" / "buffer-002.npz")
    b = np.load(crashed / "checkpoints" / "buffer-002.npz")
    for name in a.files:
        np.testing.assert_array_equal(a[name], b[name])


def test_more_trials_extend_a_finished_run(tmp_path: Path) -> None:
    config = _quick(trials=1)
    pets.run(config, tmp_path, show_progress=False)
    rows = pets.run(dataclasses.replace(config, trials=2), tmp_path, resume=True,
                    show_progress=False)
    assert [r["trial"] for r in rows] == [0, 1]
    # a finished run resumes to nothing
    again = pets.run(dataclasses.replace(config, trials=2), tmp_path, resume=True,
                     show_progress=False)
    assert len(again) == 2


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[pets.PETSConfig, Path]:
    folder = tmp_path_factory.mktemp("finished")
    config = _quick(trials=2)
    pets.run(config, folder, show_progress=False)
    return config, folder


def _copy(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def test_existing_run_needs_resume_and_is_untouched(
    finished_run: tuple[pets.PETSConfig, Path], tmp_path: Path
) -> None:
    config, src = finished_run
    folder = _copy(src, tmp_path / "run")
    before = _snapshot(folder)
    with pytest.raises(pets.RunError, match="--resume"):
        pets.run(config, folder, show_progress=False)
    with pytest.raises(pets.RunError, match="another configuration.*horizon"):
        pets.run(dataclasses.replace(config, horizon=9), folder, resume=True,
                 show_progress=False)
    assert _snapshot(folder) == before


def test_config_diff_ignores_only_the_chunk_size() -> None:
    from cemgd.pets.config import config_diff

    old = {"horizon": 30, "planner_config": {"n_replan": 50, "max_batch": 100}}
    chunked = {"horizon": 30, "planner_config": {"n_replan": 50, "max_batch": None}}
    assert config_diff(old, chunked) == []  # chunks change memory and speed, not results
    other = {"horizon": 30, "planner_config": {"n_replan": 10, "max_batch": None}}
    assert [d.split(":")[0] for d in config_diff(old, other)] == ["planner_config"]
    assert old["planner_config"]["max_batch"] == 100  # the payloads are not modified


def test_resume_over_another_config_fails_in_the_cli(
    finished_run: tuple[pets.PETSConfig, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    _, src = finished_run
    folder = _copy(src, tmp_path / "run")
    before = _snapshot(folder)
    code = main(["train", "--task", "cartpole-swingup", "--planner", "cem-500", "--quick",
                 "--trials", "3", "--no-progress", "--resume", "--out", str(folder)])
    assert code == 2
    assert "another configuration" in capsys.readouterr().err
    assert _snapshot(folder) == before


@pytest.mark.parametrize("damage", ["corrupt-model", "missing-model", "corrupt-buffer",
                                    "corrupt-state"])
def test_damaged_checkpoint_is_a_clear_error(
    damage: str, finished_run: tuple[pets.PETSConfig, Path], tmp_path: Path
) -> None:
    config, src = finished_run
    folder = _copy(src, tmp_path / "run")
    ckpt = folder / "checkpoints"
    if damage == "corrupt-model":
        (ckpt / "model-001.npz").write_bytes(b"not a zip file")
    elif damage == "missing-model":
        (ckpt / "model-001.npz").unlink()
    elif damage == "corrupt-buffer":
        (ckpt / "buffer-001.npz").write_bytes(b"\x00" * 64)
    else:
        (ckpt / "state.json").write_text("{ half")
    before = _snapshot(folder)
    with pytest.raises(ValueError, match="model|buffer|state") as err:
        pets.run(dataclasses.replace(config, trials=3), folder, resume=True,
                 show_progress=False)
    assert str(ckpt) in str(err.value)
    assert _snapshot(folder) == before


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--task", "walker"], "task: unknown task 'walker'"),
        (["--planner", "cem-9"], "planner: unknown planner 'cem-9'"),
        (["--planner.n-replan", "many"], "--planner.n-replan: expected a value of type int"),
        (["--planner.num-samples", "5"], "not a setting of planner 'cem-gd'"),
        (["--horizon", "0"], "horizon"),
        (["--propagation", "ts2"], "propagation: expected one of"),
    ],
)
def test_bad_cli_input(argv: list[str], message: str, tmp_path: Path,
                       capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "run"
    code = main(["train", "--quick", "--no-progress", "--out", str(out), *argv])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_planner_options_reach_the_planner(tmp_path: Path) -> None:
    out = tmp_path / "run"
    code = main(["train", "--quick", "--no-progress", "--trials", "1", "--out", str(out),
                 "--planner.n-replan", "8", "--train.epochs", "2"])
    assert code == 0
    config = json.loads((out / "config.json").read_text())
    assert config["planner_config"]["n_replan"] == 8
    assert config["train"]["epochs"] == 2
    assert int(_metrics(out)[0]["train_epochs"]) <= 2


def test_gradient_stage_uses_deterministic_member_means() -> None:
    task = ENV_TASKS["halfcheetah"]()
    config = pets.quick(pets.PETSConfig(task="halfcheetah"))
    params = init_ensemble(jax.random.key(0), task.obs_dim, task.action_dim, config.num_members,
                           config.hidden, config.num_layers, input_dim=task.model_obs_dim)
    problem = pets.model_problem(task, params, config)
    assert problem.rollout_rows == config.num_particles  # sizes the planners' default chunk
    obs = jnp.linspace(-0.5, 0.5, task.obs_dim)
    actions = jax.random.uniform(jax.random.key(1), (4, config.horizon, task.action_dim),
                                 minval=-1, maxval=1)
    k1, k2 = jax.random.key(2), jax.random.key(3)
    assert problem.grad_rollout is not None
    np.testing.assert_array_equal(problem.grad_rollout(obs, actions, k1),
                                  problem.grad_rollout(obs, actions, k2))
    assert not np.allclose(problem.rollout(obs, actions, k1), problem.rollout(obs, actions, k2))
    # a planner's grad_objective="sampled" climbs the sampled return CEM ranks instead
    np.testing.assert_array_equal(
        gradient_objective(problem, "sampled", 0.5)(obs, actions, k1),
        problem.rollout(obs, actions, k1))
    # the model never sees x: shifting x leaves the predicted progress unchanged
    shifted = obs.at[0].add(100.0)
    np.testing.assert_allclose(problem.grad_rollout(obs, actions, k1),
                               problem.grad_rollout(shifted, actions, k1), rtol=1e-4, atol=1e-2)


@pytest.mark.parametrize("planner", sorted(PLANNERS))
def test_every_planner_runs_in_the_loop(planner: str, tmp_path: Path) -> None:
    config = dataclasses.replace(
        pets.quick(pets.PETSConfig(task="halfcheetah", planner=planner)), trials=1,
        episode_length=4,
    )
    rows = pets.run(config, tmp_path, show_progress=False)
    assert len(rows) == 1 and np.isfinite(rows[0]["episode_return"])
    assert rows[0]["rollouts_per_step"] > 0


@pytest.mark.slow  # over 25 s on 2 cores; run with -m slow
def test_resume_in_a_new_process_equals_one_run(tmp_path: Path) -> None:
    """Resume across processes (fresh JAX, fresh compile) gives the same numbers."""
    import subprocess
    import sys

    base = ["-m", "cemgd.cli", "train", "--task", "cartpole-swingup", "--quick",
            "--no-progress"]
    env = {**__import__("os").environ, "CEMGD_CACHE_DIR": ""}
    one = tmp_path / "one"
    subprocess.run([sys.executable, *base, "--trials", "2", "--out", str(one)], check=True,
                   env=env, capture_output=True)
    two = tmp_path / "two"
    subprocess.run([sys.executable, *base, "--trials", "1", "--out", str(two)], check=True,
                   env=env, capture_output=True)
    subprocess.run([sys.executable, *base, "--trials", "2", "--resume", "--out", str(two)],
                   check=True, env=env, capture_output=True)
    assert _deterministic(_metrics(one)) == _deterministic(_metrics(two))


def test_missing_state_with_rows_is_an_error(
    finished_run: tuple[pets.PETSConfig, Path], tmp_path: Path
) -> None:
    config, src = finished_run
    folder = _copy(src, tmp_path / "run")
    (folder / "checkpoints" / "state.json").unlink()
    before = _snapshot(folder)
    with pytest.raises(pets.RunError, match="state missing"):
        pets.run(config, folder, resume=True, show_progress=False)
    assert _snapshot(folder) == before


def test_out_that_is_a_file_is_an_error(tmp_path: Path) -> None:
    file = tmp_path / "file"
    file.write_text("x")
    with pytest.raises(pets.RunError, match="not a folder"):
        pets.run(_quick(trials=1), file, show_progress=False)
    assert file.read_text() == "x"


RESULTS = Path(__file__).parents[1] / "docs" / "results"


def _committed_run_configs() -> list[Path]:
    return sorted(p for p in RESULTS.glob("**/config.json")
                  if "planner_config" in json.loads(p.read_text()))


@pytest.mark.parametrize("file", _committed_run_configs(), ids=lambda p: str(p.parent))
def test_committed_run_configs_load_as_today_s_config(file: Path) -> None:
    old = json.loads(file.read_text())
    config = pets.config_from_payload(old)
    assert config.planner.name == old["planner"]
    pinned = {k: v for k, v in config.planner.settings.items() if k not in old["planner_options"]}
    assert config.planner.settings == {**old["planner_options"], **pinned}
    recorded = upgrade_payload(old)["planner_config"]  # a default changed since: pinned
    assert pinned == {k: v for k, v in recorded.items() if k in pinned}
    assert config.activation == old["activation"] == old["train"].get("activation", "silu")
    assert pets.config_diff(old, pets.config_payload(config)) == []  # resumes as it ran
    assert pets.config_from_payload(pets.config_payload(config)) == config


@pytest.mark.parametrize(("planner", "objective"), [
    ("cem-gd", "sampled"), ("gd", "sampled"), ("gradcem", "sampled"), ("cem-500", None)])
def test_old_config_grad_propagation_is_the_planner_s_grad_objective(
        planner: str, objective: str | None) -> None:
    old = pets.config_payload(pets.PETSConfig(planner=planner))
    old["grad_propagation"] = "sampled"  # the run-level knob of the first format
    old["train"]["activation"] = old["activation"]
    old["planner_config"].pop("grad_objective", None)
    config = pets.config_from_payload(old)
    assert config.planner.settings.get("grad_objective") == objective
    assert getattr(config.make_planner().config, "grad_objective", None) == objective
    assert pets.config_diff(old, pets.config_payload(config)) == []
    mean = dict(old, grad_propagation="mean")
    assert pets.config_from_payload(mean).planner.settings == {}


def test_config_planner_is_one_validated_spec() -> None:
    config = pets.PETSConfig(planner="cem-gd:n_replan=10")
    assert config.planner == PlannerSpec("cem-gd", {"n_replan": 10})
    assert config.make_planner().config.n_replan == 10
    payload = pets.config_payload(config)
    assert payload["planner"] == "cem-gd" and payload["planner_options"] == {"n_replan": 10}
    assert pets.config_from_payload(payload) == config
    small = pets.quick(config)
    assert small.planner.settings["n_replan"] == 10  # a given setting survives --quick
    assert small.make_planner().config.n_init <= 200
    for bad, named in [("cem-gd:n_sample=3", "'n_sample' is not a setting of planner"),
                       ("cem-9", "planner: unknown planner"), ("cem-gd:n_replan=7", "n_replan")]:
        with pytest.raises(ValueError, match=named):
            pets.PETSConfig(planner=bad)


def test_activation_has_one_owner_in_the_config() -> None:
    assert "activation" not in {f.name for f in dataclasses.fields(TrainConfig)}
    assert "grad_propagation" not in {f.name for f in dataclasses.fields(pets.PETSConfig)}
    with pytest.raises(ValueError, match="activation: expected one of"):
        pets.PETSConfig(activation="gelu?")
    config = pets.PETSConfig(activation="relu")
    assert default_model(config.train, config.activation).activation == "relu"
