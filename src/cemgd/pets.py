"""PETS (Chua et al. 2018) with any planner: the model-based RL loop of the paper's Sec. 3.

One run (:func:`run`, ``cemgd train``)::

    collect random_steps transitions with uniform random actions
    for trial in 0 .. trials-1:
        fit the input normaliser on the buffer; train the ensemble (warm-started)
        run one episode on the real environment with MPC: every step plans on the
        learned model's rollout with the chosen planner and applies the first action
        add the episode to the buffer; write metrics, model and buffer

The model rollout (:func:`model_problem`) is a :class:`cemgd.Problem`, so every planner
in the registry runs unchanged. CEM-style sampling scores sequences by the mean
return of ``num_particles`` sampled particles (TS-inf, TS1 or expectation); the
gradient stage of ``cem-gd``/``gd``/``gradcem`` ascends the return of the members'
deterministic mean predictions, one trajectory per member (the paper, Sec. 5), or,
with ``grad_propagation="sampled"``, the same sampled particle return as CEM.

The whole planning step is one compiled function that takes the model parameters
as an argument: it compiles once per run, not once per trial.

Run folder (written as the run goes; a killed run resumes with ``resume=True``)::

    config.json                 the resolved configuration (planner settings included)
    metrics.csv                 one row per trial (see :data:`METRIC_COLUMNS`)
    checkpoints/state.json      last completed trial, its metrics row, file names
    checkpoints/model-TTT.npz   ensemble + normaliser after trial TTT (cemgd.models.save_model)
    checkpoints/buffer-TTT.npz  every transition so far (float64 obs)
    videos/trial-TTT.gif        with ``video=True``

Every random quantity (random data, env resets, training splits and shuffles,
planner keys) is derived from ``(seed, trial)``, so a resumed run repeats exactly
what an uninterrupted run computes (times and memory aside).
"""

from __future__ import annotations

import dataclasses
import json
import os
import resource
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from cemgd.experiments.common import console, progress
from cemgd.fileio import write_atomic
from cemgd.models import (
    EnsembleParams,
    ModelData,
    Normalizer,
    TrainConfig,
    fit_normalizer,
    fold_normalizer,
    init_ensemble,
    load_model,
    make_rollout,
    num_members,
    save_model,
    train_ensemble,
)
from cemgd.models.rollout import PROPAGATIONS
from cemgd.planners import PLANNERS, Planner, make_planner, resolve_planner
from cemgd.problem import PlanInfo, PlanState, Problem
from cemgd.runs import METRIC_COLUMNS, RunError
from cemgd.tasks import EnvTask, check_env_task, make_env_task
from cemgd.validate import check_int

Array = jax.Array

GRAD_PROPAGATIONS = ("mean", "sampled")

#: Caps applied by :func:`quick` to planner settings that exist in a planner's config.
QUICK_PLANNER_CAPS: dict[str, int] = {
    "num_samples": 20, "num_iterations": 2, "n_init": 200, "n_replan": 10, "grad_steps": 3,
    "line_search_trials": 3, "num_elites": 4,
}


@dataclass(frozen=True)
class PETSConfig:
    """One PETS run: task, planner, model and protocol (paper defaults, Sec. 3)."""

    task: str = "cartpole-swingup"
    """Environment task: a name in ``cemgd.tasks.list_env_tasks()`` or ``module:factory``."""
    planner: str = "cem-gd"
    """Planner or preset name (``cemgd.planners.PLANNERS`` / ``PRESETS``)."""
    planner_options: Mapping[str, Any] = field(default_factory=dict)
    """Planner settings that override the planner's (or preset's) defaults."""
    seed: int = 0
    """Seed of everything random in the run (>= 0)."""
    trials: int = 12
    """Episodes with the learned model (>= 1)."""
    episode_length: int = 0
    """Steps per episode; 0 takes the task's (paper: 100, pusher 200)."""
    random_steps: int = 500
    """Transitions collected with uniform random actions before the first trial (>= 1)."""
    horizon: int = 45
    """Planning horizon T."""
    num_particles: int = 20
    """Particles per action sequence in the sampled rollout (PETS: 20)."""
    propagation: str = "tsinf"
    """Trajectory propagation of the sampled rollout: 'tsinf', 'ts1' or 'expectation'."""
    grad_propagation: str = "mean"
    """Gradient-stage objective: 'mean' (members' mean predictions) or 'sampled'."""
    members: int = 5
    """Ensemble size E."""
    hidden: int = 200
    """Width of each hidden layer."""
    layers: int = 3
    """Hidden layers."""
    activation: str = "silu"
    """Activation of the ensemble."""
    train: TrainConfig = field(default_factory=TrainConfig)
    """Model training settings (its ``seed`` is replaced by one derived from ``seed``)."""

    def __post_init__(self) -> None:
        check_env_task(self.task, argument="task")  # a name or package.module:factory
        try:
            base, _ = resolve_planner(self.planner)
        except ValueError as err:
            raise ValueError(str(err).replace("name:", "planner:", 1)) from None
        if not isinstance(self.planner_options, Mapping):
            raise ValueError(
                f"planner_options: expected a mapping of settings, got {self.planner_options!r}"
            )
        fields = {f.name for f in dataclasses.fields(PLANNERS[base].Config)}
        for key in self.planner_options:
            if key not in fields:
                raise ValueError(
                    f"planner_options: {key!r} is not a setting of planner {base!r}; "
                    f"expected one of {sorted(fields)}"
                )
        object.__setattr__(self, "planner_options", dict(self.planner_options))
        check_int("seed", self.seed, 0)
        check_int("trials", self.trials, 1)
        check_int("episode_length", self.episode_length, 0)
        check_int("random_steps", self.random_steps, 1)
        check_int("horizon", self.horizon, 1)
        check_int("num_particles", self.num_particles, 1)
        check_int("members", self.members, 1)
        check_int("hidden", self.hidden, 1)
        check_int("layers", self.layers, 1)
        if self.propagation not in PROPAGATIONS:
            raise ValueError(
                f"propagation: expected one of {PROPAGATIONS}, got {self.propagation!r}"
            )
        if self.grad_propagation not in GRAD_PROPAGATIONS:
            raise ValueError(
                f"grad_propagation: expected one of {GRAD_PROPAGATIONS}, "
                f"got {self.grad_propagation!r}"
            )
        if not isinstance(self.train, TrainConfig):
            raise ValueError(f"train: expected a TrainConfig, got {type(self.train).__name__}")
        if self.activation != self.train.activation:
            object.__setattr__(
                self, "train", dataclasses.replace(self.train, activation=self.activation)
            )

    def make_task(self) -> EnvTask:
        """The task, with ``episode_length`` applied."""
        kwargs = {"episode_length": self.episode_length} if self.episode_length else {}
        return make_env_task(self.task, **kwargs)

    def make_planner(self) -> Planner:
        """The planner with its preset and ``planner_options`` applied."""
        return make_planner(self.planner, **self.planner_options)


def quick(config: PETSConfig) -> PETSConfig:
    """A tiny version of ``config`` (a two-trial run of any task in about a minute).

    Shrinks the episode, the random data, the model and its training, the horizon and
    the planner's sample counts (:data:`QUICK_PLANNER_CAPS`); settings given in
    ``planner_options`` are kept as they are.
    """
    base, preset = resolve_planner(config.planner)
    defaults = dataclasses.asdict(PLANNERS[base].Config(**preset))
    options = {
        name: min(int(defaults[name]), cap)
        for name, cap in QUICK_PLANNER_CAPS.items()
        if name in defaults and isinstance(defaults[name], int) and not isinstance(
            defaults[name], bool)
    }
    options.update(config.planner_options)
    return dataclasses.replace(
        config, trials=min(config.trials, 2), episode_length=15, random_steps=30, horizon=8,
        num_particles=2, members=2, hidden=32, layers=2, planner_options=options,
        train=dataclasses.replace(config.train, epochs=3, batch_size=16),
    )


def config_to_json(config: PETSConfig) -> dict[str, Any]:
    """The JSON form of ``config``, with the planner's full resolved settings added."""
    payload = dataclasses.asdict(config)
    planner = config.make_planner()
    payload["planner_config"] = dataclasses.asdict(planner.config)
    payload["planner_name"] = planner.name
    return payload


# ----------------------------------------------------------------------------- the model
def model_problem(
    task: EnvTask, params: EnsembleParams, config: PETSConfig
) -> Problem:
    """The planning problem on the learned model ``params`` (normaliser folded in).

    ``rollout`` samples ``num_particles`` particles per sequence with
    ``config.propagation``; ``grad_rollout`` (for the gradient stage) is the members'
    deterministic mean predictions, one trajectory per member, or ``None`` with
    ``grad_propagation="sampled"`` (the gradient of the sampled return). Pure: it may
    be built inside ``jit`` with traced ``params``.
    """
    common = dict(
        activation=config.activation, input_fn=task.model_input,
        output_fn=task.model_output_to_next_obs, termination_fn=task.termination,
    )
    rollout = make_rollout(
        params, task.reward, config.num_particles, sample=True, propagation=config.propagation,
        **common,
    )
    grad_rollout = None
    if config.grad_propagation == "mean":
        grad_rollout = make_rollout(
            params, task.reward, num_members(params), sample=False, propagation="tsinf", **common
        )
    return Problem(
        rollout, config.horizon, task.action_low, task.action_high,
        obs_shape=(task.obs_dim,), grad_rollout=grad_rollout,
    )


PlanStep = Callable[[PlanState, Array, EnsembleParams], tuple[Array, PlanState, PlanInfo]]


def compile_plan_step(
    task: EnvTask, planner: Planner, config: PETSConfig, params: EnsembleParams,
    state: PlanState,
) -> tuple[PlanStep, float, float]:
    """Compile ``(state, obs [S], params) -> (actions [T, A], state, info)`` once.

    Returns:
        ``(step, compile seconds, memory MB)``, the memory being the compiled step's
        arguments + outputs + temporaries (XLA's memory analysis).
    """

    def step(state: PlanState, obs: Array, params: EnsembleParams) -> Any:
        return planner.plan_fn(model_problem(task, params, config))(state, obs)

    obs = jnp.zeros((task.obs_dim,), jnp.float32)
    start = time.perf_counter()
    compiled = jax.jit(step).lower(state, obs, params).compile()
    seconds = time.perf_counter() - start
    memory = float("nan")
    try:
        m = compiled.memory_analysis()
        memory = (m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes) / 2**20
    except Exception:  # noqa: BLE001 - not every backend reports memory
        pass
    return compiled, seconds, memory


def model_data(task: EnvTask, buffer: Buffer) -> ModelData:
    """The buffer in model space: ``model_input(obs)``, actions, ``model_target``."""
    obs = np.asarray(buffer.obs, np.float64)
    inputs = np.asarray(task.model_input(obs))
    targets = np.asarray(task.model_target(obs, np.asarray(buffer.next_obs, np.float64)))
    return ModelData(inputs, buffer.actions, targets)


# ----------------------------------------------------------------------------- the buffer
@dataclass
class Buffer:
    """Every real transition of the run.

    Attributes:
        obs: ``[N, S]`` float64.
        actions: ``[N, A]`` float32.
        next_obs: ``[N, S]`` float64.
        rewards: ``[N]`` float64 (the environment's).
        trial: ``[N]`` int, the trial that collected the row (-1: random data).
    """

    obs: np.ndarray
    actions: np.ndarray
    next_obs: np.ndarray
    rewards: np.ndarray
    trial: np.ndarray

    @classmethod
    def empty(cls, obs_dim: int, action_dim: int) -> Buffer:
        """A buffer with no rows."""
        return cls(np.zeros((0, obs_dim)), np.zeros((0, action_dim), np.float32),
                   np.zeros((0, obs_dim)), np.zeros((0,)), np.zeros((0,), np.int64))

    def __len__(self) -> int:
        return int(self.obs.shape[0])

    def add(self, obs: np.ndarray, actions: np.ndarray, next_obs: np.ndarray,
            rewards: np.ndarray, trial: int) -> None:
        """Append an episode: ``obs [n, S], actions [n, A], next_obs [n, S], rewards [n]``."""
        self.obs = np.concatenate([self.obs, np.asarray(obs, np.float64)])
        self.actions = np.concatenate([self.actions, np.asarray(actions, np.float32)])
        self.next_obs = np.concatenate([self.next_obs, np.asarray(next_obs, np.float64)])
        self.rewards = np.concatenate([self.rewards, np.asarray(rewards, np.float64)])
        self.trial = np.concatenate([self.trial, np.full((len(obs),), trial, np.int64)])

    def save(self, path: Path) -> None:
        """Write ``.npz`` atomically (:func:`cemgd.fileio.write_atomic`)."""
        arrays = dataclasses.asdict(self)
        write_atomic(path, lambda fh: np.savez(fh, **arrays))

    @classmethod
    def load(cls, path: Path, obs_dim: int, action_dim: int) -> Buffer:
        """Read what :meth:`save` wrote; ``RunError`` naming ``path`` if missing or corrupt."""
        if not path.is_file():
            raise RunError(f"{path}: buffer file missing")
        try:
            with np.load(path, allow_pickle=False) as f:
                buffer = cls(**{k.name: f[k.name] for k in dataclasses.fields(cls)})
        except Exception as err:  # noqa: BLE001 - any failure means a corrupt file
            raise RunError(f"{path}: corrupt buffer file ({type(err).__name__}: {err})") from err
        n = len(buffer)
        ok = (buffer.obs.shape == (n, obs_dim) and buffer.next_obs.shape == (n, obs_dim)
              and buffer.actions.shape == (n, action_dim) and buffer.rewards.shape == (n,)
              and buffer.trial.shape == (n,))
        if not ok:
            raise RunError(f"{path}: corrupt buffer file (shapes do not match the task)")
        return buffer


# ----------------------------------------------------------------------------- the loop
def _seed(config: PETSConfig, *parts: int) -> int:
    """A 31-bit seed derived from the run seed and ``parts`` (trial, purpose)."""
    return int(np.random.SeedSequence([config.seed, *parts]).generate_state(1)[0] >> 1)


def collect_random(task: EnvTask, config: PETSConfig) -> Buffer:
    """``random_steps`` transitions with uniform random actions (episodes of the task's length)."""
    rng = np.random.default_rng(_seed(config, 1_000_000))
    env = task.make_env(seed=_seed(config, 1_000_001))
    buffer = Buffer.empty(task.obs_dim, task.action_dim)
    obs, _ = env.reset()
    rows: list[tuple] = []
    while len(rows) < config.random_steps:
        action = rng.uniform(task.action_low, task.action_high).astype(np.float32)
        next_obs, reward, terminated, truncated, _ = env.step(action)
        rows.append((obs, action, next_obs, reward))
        obs = next_obs
        if terminated or truncated:
            obs, _ = env.reset()
    env.close()
    o, a, n, r = (np.stack(c) for c in zip(*rows, strict=True))
    buffer.add(o, a, n, r, trial=-1)
    return buffer


def peak_rss_mb() -> float:
    """Peak resident memory of this process, MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class Run:
    """A run folder: config, metrics, checkpoints; created, validated or resumed."""

    def __init__(self, out: str | os.PathLike[str], config: PETSConfig, resume: bool) -> None:
        self.path = Path(out)
        self.config = config
        self.ckpt = self.path / "checkpoints"
        payload = config_payload(config)
        if self.path.exists() and not self.path.is_dir():
            raise RunError(f"out: {self.path} exists and is not a folder")
        existing = self.path / "config.json"
        if existing.exists():
            try:
                old = json.loads(existing.read_text())
            except json.JSONDecodeError as err:
                raise RunError(f"{existing}: not valid JSON ({err})") from None
            if not resume:
                raise RunError(
                    f"out: {self.path} already holds a run; pass --resume to continue it "
                    "or choose another --out"
                )
            diff = config_diff(old, payload)
            if diff:
                raise RunError(
                    f"out: {self.path} holds a run with another configuration "
                    f"({'; '.join(diff)}); choose another --out"
                )
        self.completed, self.rows = self._read_state() if existing.exists() else (0, [])
        if self.completed > config.trials:  # keep the record of the longer run
            payload["trials"] = self.completed
        self._payload = payload

    def open(self) -> None:
        """Create the folder, write ``config.json`` and make ``metrics.csv`` current.

        Called only after everything needed to continue has been read and checked, so a
        run that cannot continue leaves its folder as it was.
        """
        self.path.mkdir(parents=True, exist_ok=True)
        self.ckpt.mkdir(exist_ok=True)
        text = json.dumps(self._payload, indent=2, default=str) + "\n"
        config_file = self.path / "config.json"
        if not config_file.exists() or config_file.read_text() != text:
            write_atomic(config_file, text)
        self._sync_metrics()

    def _read_state(self) -> tuple[int, list[dict[str, Any]]]:
        state_file = self.ckpt / "state.json"
        if not state_file.exists():
            metrics = self.path / "metrics.csv"
            has_rows = metrics.exists() and len(metrics.read_text().splitlines()) > 1
            if has_rows or any(self.ckpt.glob("*.npz")):
                raise RunError(
                    f"{state_file}: checkpoint state missing, but the run has completed "
                    "trials; restore it or choose another --out"
                )
            return 0, []
        try:
            state = json.loads(state_file.read_text())
            return int(state["completed"]), list(state["rows"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
            raise RunError(f"{state_file}: corrupt checkpoint state ({err})") from None

    def _sync_metrics(self) -> None:
        """Make ``metrics.csv`` hold exactly the completed rows (rewrite if it lags)."""
        file = self.path / "metrics.csv"
        lines = [",".join(METRIC_COLUMNS)]
        lines += [",".join(_fmt(row[c]) for c in METRIC_COLUMNS) for row in self.rows]
        text = "\n".join(lines) + "\n"
        if not file.exists() or file.read_text() != text:
            write_atomic(file, text)

    def load_checkpoint(self, task: EnvTask) -> tuple[EnsembleParams, Normalizer, Buffer]:
        """Model and buffer of the last completed trial."""
        t = self.completed - 1
        try:
            params, normalizer = load_model(self.ckpt / f"model-{t:03d}.npz")
        except ValueError as err:  # a damaged checkpoint is not worth retrying
            raise RunError(str(err)) from None
        buffer = Buffer.load(self.ckpt / f"buffer-{t:03d}.npz", task.obs_dim, task.action_dim)
        return params, normalizer, buffer

    def commit(self, trial: int, params: EnsembleParams, normalizer: Normalizer,
               buffer: Buffer, row: dict[str, Any]) -> None:
        """Save the trial's model and buffer, then the state, then the metrics row."""
        save_model(self.ckpt / f"model-{trial:03d}.npz", params, normalizer)
        buffer.save(self.ckpt / f"buffer-{trial:03d}.npz")
        self.rows.append(row)
        self.completed = trial + 1
        state = {"completed": self.completed, "rows": self.rows,
                 "model": f"model-{trial:03d}.npz", "buffer": f"buffer-{trial:03d}.npz"}
        write_atomic(self.ckpt / "state.json", json.dumps(state, indent=1) + "\n")
        self._sync_metrics()
        for old in (f"model-{trial - 1:03d}.npz", f"buffer-{trial - 1:03d}.npz"):
            (self.ckpt / old).unlink(missing_ok=True)


def config_payload(config: PETSConfig) -> dict[str, Any]:
    """``config.json`` of a run: :func:`config_to_json` in its JSON form (lists, not tuples)."""
    return json.loads(json.dumps(config_to_json(config), default=str))


def config_diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Settings that differ between two ``config.json`` payloads, as ``"key: old -> new"``.

    ``trials`` is left out (a run may be extended), and so is ``planner_options``: the
    resolved ``planner_config`` is compared instead, so giving a default explicitly is
    not a change.
    """
    keys = sorted((set(old) | set(new)) - {"trials", "planner_options"})
    return [f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in keys if old.get(k) != new.get(k)]


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return repr(value)
    return str(value)


def run(
    config: PETSConfig, out: str | os.PathLike[str], resume: bool = False, video: bool = False,
    show_progress: bool = True,
) -> list[dict[str, Any]]:
    """Run PETS with ``config`` into the folder ``out``; return the metrics rows.

    Args:
        config: the run's settings.
        out: run folder (created). If it already holds a run, ``resume=True`` is needed
            and the configuration must match (``trials`` may be raised).
        resume: continue from the last completed trial.
        video: write ``videos/trial-TTT.gif`` of every episode.
        show_progress: draw a progress bar.

    Raises:
        RunError: ``out`` holds another run, or its checkpoint is missing or corrupt; the
            folder is left as it was.
    """
    task = config.make_task()
    planner = config.make_planner()
    run_dir = Run(out, config, resume)
    rows = list(run_dir.rows)
    if run_dir.completed >= config.trials:
        run_dir.open()
        console.print(f"{run_dir.path}: all {config.trials} trials already done")
        return rows
    if run_dir.completed > 0:
        params, normalizer, buffer = run_dir.load_checkpoint(task)
        run_dir.open()
        console.print(f"{run_dir.path}: resuming after trial {run_dir.completed - 1}")
    else:
        run_dir.open()
        params = init_ensemble(
            jax.random.key(_seed(config, 2_000_000)), task.obs_dim, task.action_dim,
            config.members, config.hidden, config.layers, config.activation,
            input_dim=task.model_obs_dim,
        )
        normalizer = None
        buffer = collect_random(task, config)

    dummy = Problem(lambda o, a, k: jnp.zeros(a.shape[0]), config.horizon, task.action_low,
                    task.action_high)
    state0 = planner.initial_state(dummy, jax.random.key(0))
    plan_step: PlanStep | None = None
    compile_s = mem_mb = float("nan")
    length = task.episode_length
    with progress() if show_progress else _NoProgress() as bar:
        trials_bar = bar.add_task("trials", total=config.trials, completed=run_dir.completed)
        steps_bar = bar.add_task("steps", total=length)
        for trial in range(run_dir.completed, config.trials):
            bar.update(trials_bar, description=f"trial {trial + 1}/{config.trials} training")
            data = model_data(task, buffer)
            normalizer = fit_normalizer(data.inputs, data.actions)
            train_cfg = dataclasses.replace(config.train, seed=_seed(config, trial, 3))
            params, report = train_ensemble(params, normalizer, data, config=train_cfg)
            folded = fold_normalizer(params, normalizer)
            if plan_step is None:
                bar.update(trials_bar, description=f"trial {trial + 1}/{config.trials} compiling")
                plan_step, compile_s, mem_mb = compile_plan_step(
                    task, planner, config, folded, state0
                )
            episode = _episode(task, config, trial, plan_step, folded, state0, video, bar,
                               steps_bar, run_dir.path)
            buffer.add(episode["obs"], episode["actions"], episode["next_obs"],
                       episode["rewards"], trial)
            times = episode["plan_ms"]
            row = {
                "trial": trial,
                "episode_return": float(np.sum(episode["rewards"])),
                "episode_steps": len(times),
                "env_steps": len(buffer),
                "train_loss": float(report.train_loss[-1]),
                "val_mse": float(report.best_val_mse),
                "train_epochs": len(report.train_loss),
                "train_s": round(report.seconds, 3),
                "plan_ms_mean": round(float(np.mean(times)), 3),
                "plan_ms_max": round(float(np.max(times)), 3),
                "plan_ms_first": round(float(times[0]), 3),
                "rollouts_per_step": float(np.mean(episode["rollouts"])),
                "grad_steps_per_step": float(np.mean(episode["grad_steps"])),
                "fallback_steps": int(np.sum(episode["fallback"])),
                "plan_memory_mb": round(mem_mb, 3),
                "peak_rss_mb": round(peak_rss_mb(), 1),
                "compile_s": round(compile_s, 3),
                "episode_s": round(episode["seconds"], 3),
            }
            run_dir.commit(trial, params, normalizer, buffer, row)
            rows.append(row)
            bar.update(trials_bar, advance=1)
            console.print(
                f"trial {trial + 1}/{config.trials}: return {row['episode_return']:.1f}, "
                f"{row['plan_ms_mean']:.1f} ms/step (max {row['plan_ms_max']:.1f}), "
                f"model val MSE {row['val_mse']:.4g}, train {row['train_s']:.1f} s"
            )
    return rows


def _episode(
    task: EnvTask, config: PETSConfig, trial: int, plan_step: PlanStep, params: EnsembleParams,
    state0: PlanState, video: bool, bar: Any, steps_bar: Any, out: Path,
) -> dict[str, Any]:
    """One MPC episode on the real environment."""
    env = task.make_env(seed=_seed(config, trial, 4), render_mode="rgb_array" if video else None)
    state = state0._replace(key=jax.random.key(_seed(config, trial, 5)))
    obs, _ = env.reset()
    frames = [env.render()] if video else []
    record: dict[str, list] = {k: [] for k in (
        "obs", "actions", "next_obs", "rewards", "plan_ms", "rollouts", "grad_steps",
        "fallback")}
    start = time.perf_counter()
    bar.reset(steps_bar, total=task.episode_length)
    total = 0.0
    for _ in range(task.episode_length):
        t0 = time.perf_counter()
        actions, state, info = plan_step(state, jnp.asarray(obs, jnp.float32), params)
        # one device-to-host transfer per step (it waits for the step)
        action, info = jax.device_get((actions[0], info))
        record["plan_ms"].append((time.perf_counter() - t0) * 1e3)
        next_obs, reward, terminated, truncated, _ = env.step(action)
        for name, value in (("obs", obs), ("actions", action), ("next_obs", next_obs),
                            ("rewards", reward), ("rollouts", int(info.num_rollouts)),
                            ("grad_steps", int(info.grad_steps)),
                            ("fallback", bool(info.fallback))):
            record[name].append(value)
        total += float(reward)
        if video:
            frames.append(env.render())
        bar.update(steps_bar, advance=1, description=(
            f"return {total:.1f} · {record['plan_ms'][-1]:.1f} ms/step"))
        obs = next_obs
        if terminated or truncated:
            break
    env.close()
    if video:
        _write_gif(out / "videos" / f"trial-{trial:03d}.gif", frames)
    result: dict[str, Any] = {k: np.asarray(v) for k, v in record.items()}
    result["seconds"] = time.perf_counter() - start
    return result


def _write_gif(path: Path, frames: list[np.ndarray]) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    images = [Image.fromarray(np.asarray(f, np.uint8)) for f in frames if f is not None]
    if not images:
        return
    write_atomic(path, lambda fh: images[0].save(
        fh, format="GIF", save_all=True, append_images=images[1:], duration=50, loop=0))


class _NoProgress:
    """Stands in for a rich progress bar when none is wanted."""

    def __enter__(self) -> _NoProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def add_task(self, *args: Any, **kwargs: Any) -> int:
        return 0

    def update(self, *args: Any, **kwargs: Any) -> None:
        return None

    def reset(self, *args: Any, **kwargs: Any) -> None:
        return None
