"""Sweeps: every (task, planner, seed) one PETS run folder, on a local process pool or Ray.

``cemgd sweep --tasks cartpole-swingup,halfcheetah --planners cem-50,cem-gd --seeds 0-4
--out sweeps/mine`` runs :func:`cemgd.pets.run` once per combination, into::

    OUT/<task>/<planner>/seed-<k>/   a `cemgd train` run folder (config.json, metrics.csv,
                                     checkpoints/) plus sweep.log (the run's output)
    OUT/sweep.json                   the sweep's settings, hardware and every run's status
    OUT/failures.csv                 runs that failed after all retries (header only if none)

The sweep is idempotent. Before anything is started, each run folder is inspected in
the driver: a finished run (``metrics.csv`` holds ``trials`` rows and ``config.json``
equals the run's configuration) is skipped without starting a process; a folder
holding another configuration is reported as a conflict and left untouched; every
other run is started with ``resume=True``, so an interrupted run continues after its
last completed trial (PETS derives every random number from ``(seed, trial)``, so the
resumed run computes what an uninterrupted one would). A run that raises is retried
up to ``max_retries`` times, then reported in the summary, ``sweep.json`` and
``failures.csv``, and the command exits with status 1. Running the same command
again retries only what is not finished.

Execution:

* Local (default): a ``concurrent.futures.ProcessPoolExecutor`` with the ``spawn``
  start method (JAX is not fork-safe) and ``workers`` processes, one run at a time per
  process, a fresh process per run (so peak RSS and caches are the run's own). With
  more than one worker each process runs XLA on one thread
  (``XLA_FLAGS=--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1``,
  unless ``XLA_FLAGS`` is already set), so ``workers`` runs share the cores without
  oversubscribing them. Returns are the same with or without the flags.
* Ray (``ray="auto"``: connect to a running cluster, else start a local one;
  ``"local"``: always start a local one with ``workers`` CPUs; or a cluster address):
  one task per run with ``num_cpus=1`` and the same single-thread XLA flags. By
  default no shared filesystem is assumed: the driver sends the run folder's files
  (if any: an interrupted run) to the task, the task runs in a temporary folder on
  its node and returns every file of the run folder as bytes, and the driver writes
  them into ``OUT`` (so the layout is the same as with the local pool). Progress made
  on a node is therefore only saved when its task returns: if the driver dies, a
  run resumes from the last copy the driver received. With ``ray_shared_fs=True``
  the task writes straight into ``OUT`` (which must then be the same path on every
  node) and keeps per-trial checkpoints there. Every node needs ``cemgd`` (and the
  task's extras) installed. Ray is optional: it is imported only when used.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import datetime as dt
import io
import json
import multiprocessing
import os
import platform
import sys
import tempfile
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cemgd import pets
from cemgd.experiments.common import console, parse_planner, progress, typed_value
from cemgd.fileio import write_atomic
from cemgd.models import TrainConfig
from cemgd.planners import PLANNERS, resolve_planner
from cemgd.tasks import ENV_TASKS
from cemgd.validate import check_int

#: The paper's protocol (Sec. 3): four tasks, five planners, 20 runs each, PETS defaults.
PAPER: dict[str, Any] = {
    "tasks": ("cartpole-swingup", "pusher", "halfcheetah", "humanoid-standup"),
    "planners": ("cem-50", "cem-500", "cem-5000", "gd", "cem-gd"),
    "seeds": tuple(range(20)),
}

#: A reduced protocol for one 2-core machine: ALL its numbers are here, tune them here.
#: Everything not named keeps the paper's value (planner settings included: CEM 50/500/5000
#: are 10x5, 100x5, 100x50; CEM-GD has N_init = 15000, N_r = 50). Measured on 2 cores
#: (docs/results): about 22 minutes for the paper's five planners (30 runs) on 2 workers;
#: the 6 CEM-5000 runs take 260-300 s each (0.5-0.7 s per step), every other run 12-80 s.
LAPTOP: dict[str, Any] = {
    "tasks": ("cartpole-swingup", "halfcheetah"),
    # the paper's five, plus CEM-GD at N_r = 10 and 200 for Figure 4's x-axis
    "planners": ("cem-50", "cem-500", "cem-5000", "gd", "cem-gd", "cem-gd:n_replan=10",
                 "cem-gd:n_replan=200"),
    "seeds": (0, 1, 2),
    "trials": 5,            # paper (PETSConfig default): 12 (x 100 steps)
    "horizon": 25,          # paper: 45 (PETS: 25 for cartpole, 30 for halfcheetah)
    "num_particles": 5,     # PETS: 20
    "hidden": 100,          # paper: 200 (3 hidden layers kept)
    "planner_options": {},  # applied to every planner that has the setting
    "train": {},            # TrainConfig overrides
}

#: Named protocols for ``--preset``.
SWEEP_PRESETS: dict[str, dict[str, Any]] = {"paper": PAPER, "laptop": LAPTOP}

#: PETSConfig fields a sweep may override for every run (the rest are per run or nested).
RUN_FIELDS = tuple(
    f.name for f in dataclasses.fields(pets.PETSConfig)
    if f.name not in ("task", "planner", "seed", "planner_options", "train")
)

#: Run statuses: ``done`` (ran from scratch), ``resumed`` (continued an interrupted run),
#: ``skipped`` (already finished), ``failed`` (raised on every attempt), ``conflict`` (the
#: folder holds another configuration), ``interrupted`` / ``pending`` (not finished).
OK_STATUSES = ("done", "resumed", "skipped")

#: XLA settings of a worker process when several share the machine (one thread each).
SINGLE_THREAD_XLA = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


@dataclass(frozen=True)
class SweepConfig:
    """A sweep: every combination of tasks x planners x seeds, each one PETS run."""

    tasks: tuple[str, ...] = ("cartpole-swingup",)
    """Tasks (names in ``cemgd.tasks.ENV_TASKS``)."""
    planners: tuple[str, ...] = ("cem-gd",)
    """Planners: a name or preset (``cem-50``), optionally ``NAME:key=value,...``."""
    seeds: tuple[int, ...] = (0,)
    """Seeds (>= 0), one run each per task and planner."""
    overrides: Mapping[str, Any] = field(default_factory=dict)
    """PETSConfig settings of every run (``trials``, ``horizon``, ... see RUN_FIELDS)."""
    planner_options: Mapping[str, Any] = field(default_factory=dict)
    """Planner settings applied to every planner that has the setting."""
    train: Mapping[str, Any] = field(default_factory=dict)
    """TrainConfig settings of every run (not ``seed``/``activation``, set by the run)."""
    quick: bool = False
    """Shrink every run with ``pets.quick``; ``overrides`` etc. are applied after it."""
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    """Local worker processes (>= 1); with Ray ``local``, the CPUs of the local cluster."""
    max_retries: int = 2
    """Retries of a run that raised (>= 0): at most 1 + max_retries attempts."""
    ray: str | None = None
    """None: local pool; 'auto', 'local' or a Ray cluster address: one Ray task per run."""
    ray_shared_fs: bool = False
    """Ray tasks write straight into ``out`` (same path on every node) instead of copying."""
    preset: str | None = None
    """Name of the preset this sweep started from (recorded in sweep.json)."""

    def __post_init__(self) -> None:
        for name in ("tasks", "planners", "seeds"):
            value = getattr(self, name)
            if isinstance(value, str) or not isinstance(value, Iterable):
                raise ValueError(f"{name}: expected a sequence, got {value!r}")
            value = tuple(dict.fromkeys(value))  # drop repeats, keep the order
            if not value:
                raise ValueError(f"{name}: expected at least one entry")
            object.__setattr__(self, name, value)
        for task in self.tasks:
            if task not in ENV_TASKS:
                raise ValueError(
                    f"tasks: unknown task {task!r}; expected names in {sorted(ENV_TASKS)}"
                )
        for spec in self.planners:
            parse_planner(spec)
        for seed in self.seeds:
            check_int("seeds", seed, 0)
        for name in ("overrides", "planner_options", "train"):
            value = getattr(self, name)
            if not isinstance(value, Mapping):
                raise ValueError(f"{name}: expected a mapping of settings, got {value!r}")
            object.__setattr__(self, name, dict(value))
        for key in self.overrides:
            if key not in RUN_FIELDS:
                raise ValueError(
                    f"overrides: {key!r} is not a run setting; expected one of {list(RUN_FIELDS)}"
                )
        train_fields = {f.name for f in dataclasses.fields(TrainConfig)} - {"seed", "activation"}
        for key in self.train:
            if key not in train_fields:
                raise ValueError(
                    f"train: {key!r} is not a training setting; expected one of "
                    f"{sorted(train_fields)}"
                )
        for key in self.planner_options:
            if not any(key in _planner_fields(spec) for spec in self.planners):
                raise ValueError(
                    f"planner_options: {key!r} is not a setting of any planner in the sweep "
                    f"({', '.join(self.planners)})"
                )
        check_int("workers", self.workers, 1)
        check_int("max_retries", self.max_retries, 0)
        if self.ray is not None and (not isinstance(self.ray, str) or not self.ray):
            raise ValueError(
                f"ray: expected None, 'auto', 'local' or a cluster address, got {self.ray!r}"
            )
        if self.preset is not None and self.preset not in SWEEP_PRESETS:
            raise ValueError(
                f"preset: unknown preset {self.preset!r}; expected one of {sorted(SWEEP_PRESETS)}"
            )
        # every run's configuration must be valid before anything starts
        for task in self.tasks:
            for spec in self.planners:
                try:
                    run_config(self, task, spec, self.seeds[0]).make_planner()
                except ValueError as err:
                    raise ValueError(f"{err} (task {task}, planner {spec})") from None

    @classmethod
    def from_preset(cls, name: str, **changes: Any) -> SweepConfig:
        """The preset ``name`` (:data:`SWEEP_PRESETS`) with ``changes`` on top.

        ``changes`` may hold SweepConfig fields and run settings (``trials=3``); mappings
        (``overrides``, ``planner_options``, ``train``) are merged into the preset's. With
        ``quick=True`` the preset's run sizes are dropped (``pets.quick`` replaces them);
        its tasks, planners and seeds are kept.

        Raises:
            ValueError: unknown preset or setting, naming it.
        """
        if name not in SWEEP_PRESETS:
            raise ValueError(
                f"preset: unknown preset {name!r}; expected one of {sorted(SWEEP_PRESETS)}"
            )
        preset = dict(SWEEP_PRESETS[name])
        own = {f.name for f in dataclasses.fields(cls)}
        kwargs: dict[str, Any] = {k: preset.pop(k) for k in ("tasks", "planners", "seeds")
                                  if k in preset}
        planner_options = dict(preset.pop("planner_options", {}))
        train = dict(preset.pop("train", {}))
        overrides = dict(preset)
        if changes.get("quick"):
            overrides, planner_options, train = {}, {}, {}
        for key, value in changes.items():
            if key == "overrides":
                overrides.update(value)
            elif key == "planner_options":
                planner_options.update(value)
            elif key == "train":
                train.update(value)
            elif key in own:
                kwargs[key] = value
            elif key in RUN_FIELDS:
                overrides[key] = value
            else:
                raise ValueError(f"{key}: not a sweep or run setting")
        return cls(**kwargs, overrides=overrides, planner_options=planner_options, train=train,
                   preset=name)


@dataclass(frozen=True)
class RunSpec:
    """One run of a sweep: its key, folder and full configuration."""

    task: str
    planner: str
    """The planner as given in the sweep (``cem-gd`` or ``cem-gd:n_replan=20``)."""
    seed: int
    folder: Path
    """``out/<task>/<planner label>/seed-<seed>``."""
    config: pets.PETSConfig

    @property
    def name(self) -> str:
        """``task/planner/seed-k``."""
        return f"{self.task}/{planner_label(self.planner)}/seed-{self.seed}"


# ----------------------------------------------------------------------------- parsing
def parse_seeds(text: str) -> tuple[int, ...]:
    """``"0-19"``, ``"0,1,5"`` or both (``"0-4,10"``) -> seeds in the order given.

    Raises:
        ValueError: naming ``seeds`` and the bad item.
    """
    seeds: list[int] = []
    for item in (s.strip() for s in str(text).split(",")):
        if not item:
            continue
        low, dash, high = item.partition("-")
        try:
            a = int(low)
            b = int(high) if dash else a
        except ValueError:
            raise ValueError(
                f"seeds: expected integers like '0-19' or '0,1,5', got {item!r}"
            ) from None
        if a < 0 or b < a:
            raise ValueError(f"seeds: expected 0 <= first <= last in {item!r}")
        seeds.extend(range(a, b + 1))
    if not seeds:
        raise ValueError(f"seeds: no seed in {text!r}")
    return tuple(dict.fromkeys(seeds))


def format_seeds(seeds: Sequence[int]) -> str:
    """Inverse of :func:`parse_seeds`: ``(0, 1, 2, 5)`` -> ``"0-2,5"``."""
    runs: list[list[int]] = []
    for seed in seeds:
        if runs and runs[-1][1] == seed - 1:
            runs[-1][1] = seed
        else:
            runs.append([seed, seed])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def describe_preset(name: str) -> str:
    """One line of the preset's settings, for ``--help``."""
    items = []
    for key, value in SWEEP_PRESETS[name].items():
        if key == "seeds":
            value = format_seeds(value)
        elif key in ("tasks", "planners"):
            value = ",".join(value)
        elif value == {}:
            continue
        items.append(f"{key} {value}")
    return "; ".join(items)


def parse_list(name: str, texts: str | Sequence[str]) -> tuple[str, ...]:
    """``"a,b"`` (or ``["a,b", "c"]``) -> ``("a", "b", "c")``; ValueError naming ``name``
    if empty.

    An item holding ``=`` but no ``:`` continues the previous planner spec, so
    ``"cem-gd:n_replan=20,top_k=2,cem-50"`` is ``("cem-gd:n_replan=20,top_k=2", "cem-50")``.
    """
    items: list[str] = []
    for text in [texts] if isinstance(texts, str) else texts:
        for item in (s.strip() for s in str(text).split(",")):
            if not item:
                continue
            if "=" in item and ":" not in item and items and ":" in items[-1]:
                items[-1] += "," + item
            else:
                items.append(item)
    if not items:
        raise ValueError(f"{name}: expected a comma-separated list, got {texts!r}")
    return tuple(items)


def planner_label(spec: str) -> str:
    """Folder name of a planner spec: ``cem-gd:n_replan=20`` -> ``cem-gd_n_replan=20``."""
    return spec.replace(" ", "").replace(":", "_").replace(",", "_").replace("/", "-")


def _planner_fields(spec: str) -> dict[str, Any]:
    base, _ = resolve_planner(spec.partition(":")[0].strip())
    return {f.name: f.default for f in dataclasses.fields(PLANNERS[base].Config)}


def planner_flags(extra: Sequence[str], planners: Sequence[str]) -> dict[str, Any]:
    """``--planner.<setting> VALUE`` pairs (as in ``cemgd train``), typed by the first
    planner of ``planners`` that has the setting.

    Raises:
        ValueError: an unknown argument or a setting no planner in the sweep has.
    """
    options: dict[str, Any] = {}
    items = list(extra)
    while items:
        flag = items.pop(0)
        name, eq, value = flag.partition("=")
        if not name.startswith("--planner."):
            raise ValueError(f"{flag}: unknown argument")
        key = name[len("--planner."):].replace("-", "_")
        if not eq:
            if not items:
                raise ValueError(f"{name}: expected a value")
            value = items.pop(0)
        default = next((_planner_fields(p)[key] for p in planners if key in _planner_fields(p)),
                       None)
        if default is None:
            which = (f"planner {planners[0]!r}" if len(planners) == 1 else
                     f"any of the planners {', '.join(repr(p) for p in planners)}")
            raise ValueError(f"{name}: not a setting of {which}")
        options[key] = typed_value(name, value, default)
    return options


# ----------------------------------------------------------------------------- expansion
def run_config(config: SweepConfig, task: str, planner: str, seed: int) -> pets.PETSConfig:
    """The PETSConfig of one run of the sweep.

    Order: PETSConfig defaults, then (with ``quick``) ``pets.quick``, then the sweep's
    ``overrides``, ``train`` and planner settings (the spec's own ``:key=value`` last).
    """
    name, spec_options = parse_planner(planner)
    base = pets.PETSConfig(task=task, planner=name, seed=seed)
    if config.quick:
        base = pets.quick(base)
    fields = _planner_fields(planner)
    options = dict(base.planner_options)
    options.update({k: v for k, v in config.planner_options.items() if k in fields})
    options.update(spec_options)
    train = dataclasses.replace(base.train, **config.train)
    return dataclasses.replace(base, **config.overrides, planner_options=options, train=train)


def expand(config: SweepConfig, out: str | os.PathLike[str]) -> list[RunSpec]:
    """Every run of the sweep, task-major then planner then seed.

    Returns:
        Run specs with folders ``out/<task>/<planner label>/seed-<seed>``.
    """
    root = Path(out)
    labels = [planner_label(p) for p in config.planners]
    if len(set(labels)) != len(labels):
        raise ValueError(f"planners: two planners map to the same folder name: {labels}")
    return [
        RunSpec(task, planner, seed, root / task / planner_label(planner) / f"seed-{seed}",
                run_config(config, task, planner, seed))
        for task in config.tasks for planner in config.planners for seed in config.seeds
    ]


def estimated_cost(config: pets.PETSConfig) -> float:
    """A rough relative cost of a run (for scheduling the longest runs first).

    Rollouts per step (CEM: samples x iterations; CEM-GD: N_r plus N_init spread over
    an episode plus the gradient stage; others: their sample count) x trials x
    horizon x particles x hidden^2.
    """
    settings = dataclasses.asdict(config.make_planner().config)
    length = config.episode_length or 100
    if "n_replan" in settings:
        rollouts = settings["n_replan"] + settings["n_init"] / length + 3.0 * settings.get(
            "grad_steps", 10)
    elif "num_samples" in settings:
        rollouts = settings["num_samples"] * settings.get("num_iterations", 1)
    else:
        rollouts = 3.0 * settings.get("grad_steps", 10)
    per_step = rollouts * config.horizon * config.num_particles * config.hidden ** 2
    return float(config.trials) * (length * per_step + 1e9)  # + training and compiling


# ----------------------------------------------------------------------------- run state
def inspect_run(spec: RunSpec) -> tuple[str, int, str]:
    """State of a run folder, read in the driver: ``(state, completed trials, detail)``.

    ``state`` is ``"complete"`` (same configuration, ``trials`` rows), ``"partial"`` (to
    resume), ``"empty"`` (nothing there) or ``"conflict"`` (another configuration; the
    detail names the differing settings). A damaged folder is ``"partial"``: ``pets.run``
    then reports what is wrong.
    """
    file = spec.folder / "config.json"
    if not file.exists():
        return "empty", 0, ""
    try:
        old = json.loads(file.read_text())
    except (OSError, json.JSONDecodeError):
        return "partial", 0, "config.json unreadable"
    if not isinstance(old, dict):
        return "partial", 0, "config.json is not an object"
    diff = pets.config_diff(old, pets.config_payload(spec.config))
    if diff:
        return "conflict", 0, "; ".join(diff)
    rows = _count_rows(spec.folder / "metrics.csv")
    if rows >= spec.config.trials:
        return "complete", rows, ""
    return "partial", rows, ""


def _count_rows(path: Path) -> int:
    try:
        with path.open(newline="") as fh:
            return sum(1 for row in csv.DictReader(fh) if row.get("episode_return"))
    except (OSError, csv.Error, UnicodeDecodeError):
        return 0


# ----------------------------------------------------------------------------- workers
def _worker_env(single_thread: bool) -> dict[str, str]:
    """Environment variables of a worker process (set before its JAX starts)."""
    env = {"CEMGD_NO_PROGRESS": "1", "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}
    if "CEMGD_CACHE_DIR" in os.environ:
        env["CEMGD_CACHE_DIR"] = os.environ["CEMGD_CACHE_DIR"]
    if "XLA_FLAGS" in os.environ:
        env["XLA_FLAGS"] = os.environ["XLA_FLAGS"]
    elif single_thread:
        env["XLA_FLAGS"] = SINGLE_THREAD_XLA
    return env


def _init_worker(env: Mapping[str, str]) -> None:
    """Process-pool initializer: set the environment before the worker's JAX starts."""
    os.environ.update(env)


def run_one(config: pets.PETSConfig, folder: str | os.PathLike[str]) -> dict[str, Any]:
    """Run (or resume) one PETS run into ``folder``; never raises.

    The run's output goes to ``folder/sweep.log``.

    Returns:
        ``{"ok", "retry", "error", "rows", "seconds"}``: ``retry`` is False for errors
        that another attempt cannot fix (``pets.RunError``: the folder holds another run
        or a damaged checkpoint).
    """
    start = time.perf_counter()
    result: dict[str, Any] = {"ok": False, "retry": True, "error": "", "rows": [],
                              "seconds": 0.0}
    try:
        from cemgd.runtime import enable_compilation_cache

        # interim, until cemgd.sweep passes the folder down: the driver set it in the env
        enable_compilation_cache(os.environ.get("CEMGD_CACHE_DIR", os.path.expanduser(
            "~/.cache/cemgd/jax")))
        path = Path(folder)
        path.mkdir(parents=True, exist_ok=True)
        with (path / "sweep.log").open("a") as log, _redirect_fds(log), \
                contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            print(f"--- {dt.datetime.now().isoformat(timespec='seconds')} pid {os.getpid()} "
                  f"host {platform.node()}: pets.run(resume=True)", flush=True)
            try:
                result["rows"] = pets.run(config, path, resume=True, show_progress=False)
                result["ok"] = True
            except pets.RunError as err:
                result.update(retry=False, error=f"RunError: {err}")
                print(result["error"])
            except Exception as err:  # noqa: BLE001 - reported to the driver, then retried
                result["error"] = f"{type(err).__name__}: {err}"
                traceback.print_exc(file=log)
    except Exception as err:  # noqa: BLE001 - e.g. the folder cannot be created
        result["error"] = f"{type(err).__name__}: {err}"
    result["seconds"] = time.perf_counter() - start
    return result


@contextlib.contextmanager
def _redirect_fds(log: io.TextIOBase) -> Iterator[None]:
    """Send file descriptors 1 and 2 (C-level output: XLA, MuJoCo) to ``log``, then back."""
    saved = []
    try:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        for fd in (1, 2):
            saved.append((fd, os.dup(fd)))
            os.dup2(log.fileno(), fd)
    except OSError:  # no such descriptors (embedded interpreters): Python-level only
        pass
    try:
        yield
    finally:
        for stream in (sys.stdout, sys.stderr, log):
            with contextlib.suppress(Exception):
                stream.flush()
        for fd, copy in saved:
            os.dup2(copy, fd)
            os.close(copy)


def _read_files(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder``: relative POSIX path -> bytes (temporary files aside)."""
    if not folder.is_dir():
        return {}
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.name.endswith(".tmp")}


def _write_files(folder: Path, files: Mapping[str, bytes]) -> None:
    """Make ``folder`` hold exactly ``files`` (each written atomically)."""
    folder.mkdir(parents=True, exist_ok=True)
    for rel, data in files.items():
        target = folder / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, data)
    for p in sorted(folder.rglob("*"), reverse=True):
        rel = p.relative_to(folder).as_posix()
        if p.is_file() and rel not in files:
            p.unlink()


def ray_task(config: pets.PETSConfig, folder: str, files: Mapping[str, bytes] | None,
             shared_fs: bool) -> dict[str, Any]:
    """Body of a Ray task: :func:`run_one`, in a temporary copy of the folder unless
    ``shared_fs``; the result then carries the folder's files (``"files"``)."""
    if shared_fs:
        return run_one(config, folder)
    with tempfile.TemporaryDirectory(prefix="cemgd-run-") as tmp:
        path = Path(tmp) / "run"
        _write_files(path, files or {})
        result = run_one(config, path)
        result["files"] = _read_files(path)
    return result


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ValueError(
            "ray: Ray is not installed; install the extra with `pip install -e .[ray]` "
            "(or `pip install 'ray>=2.9'`), or leave out --ray to use the local process pool"
        ) from None
    return ray


# ----------------------------------------------------------------------------- the sweep
@dataclass
class RunResult:
    """What became of one run of the sweep."""

    task: str
    planner: str
    seed: int
    folder: str
    status: str = "pending"
    attempts: int = 0
    seconds: float = 0.0
    """Wall time of this sweep's attempts (0 for a skipped run)."""
    trials_done: int = 0
    trials: int = 0
    final_return: float | None = None
    best_return: float | None = None
    error: str = ""


@dataclass
class SweepSummary:
    """The outcome of :func:`run_sweep`."""

    out: Path
    results: list[RunResult]
    seconds: float = 0.0
    interrupted: bool = False

    @property
    def failed(self) -> list[RunResult]:
        """Runs that did not finish (failed, conflict, interrupted, pending)."""
        return [r for r in self.results if r.status not in OK_STATUSES]

    @property
    def ok(self) -> bool:
        """True when every run finished."""
        return not self.failed

    def counts(self) -> dict[str, int]:
        """Runs per status."""
        counts: dict[str, int] = {}
        for r in self.results:
            counts[r.status] = counts.get(r.status, 0) + 1
        return counts


def hardware_info() -> dict[str, Any]:
    """This machine: CPU model, cores, memory, OS, Python and JAX versions."""
    info: dict[str, Any] = {"cpu_model": platform.processor() or platform.machine(),
                            "cpu_count": os.cpu_count()}
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(AttributeError, OSError):
        info["usable_cpus"] = len(os.sched_getaffinity(0))
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                info["memory_gb"] = round(int(line.split()[1]) / 2**20, 1)
                break
    info["gpu"] = "none used (JAX on the CPU)"
    info["platform"] = platform.platform()
    info["python"] = platform.python_version()
    with contextlib.suppress(Exception):
        import jax

        info["jax"] = jax.__version__
    return info


class _Book:
    """The driver's record of a sweep: results, sweep.json and failures.csv."""

    def __init__(self, config: SweepConfig, out: Path, specs: list[RunSpec]) -> None:
        self.config = config
        self.out = out
        self.start = time.perf_counter()
        self.started = dt.datetime.now().isoformat(timespec="seconds")
        self.hardware = hardware_info()
        self.results = {
            s.name: RunResult(s.task, s.planner, s.seed, s.folder.relative_to(out).as_posix(),
                              trials=s.config.trials)
            for s in specs
        }
        self.interrupted = False

    def update(self, spec: RunSpec, **changes: Any) -> RunResult:
        result = self.results[spec.name]
        for key, value in changes.items():
            setattr(result, key, value)
        return result

    def summary(self) -> SweepSummary:
        return SweepSummary(self.out, list(self.results.values()),
                            time.perf_counter() - self.start, self.interrupted)

    def write(self, finished: bool = False) -> None:
        summary = self.summary()
        payload = {
            "config": _jsonable(dataclasses.asdict(self.config)),
            "hardware": self.hardware,
            "command": " ".join(sys.argv),
            "started": self.started,
            "updated": dt.datetime.now().isoformat(timespec="seconds"),
            "finished": finished,
            "interrupted": self.interrupted,
            "seconds": round(summary.seconds, 1),
            "counts": summary.counts(),
            "runs": [dataclasses.asdict(r) for r in summary.results],
        }
        _write_text(self.out / "sweep.json", json.dumps(payload, indent=1) + "\n")
        buf = io.StringIO()
        columns = ("task", "planner", "seed", "folder", "status", "attempts", "error")
        writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for r in summary.failed:
            if r.status in ("failed", "conflict") or finished:
                writer.writerow({c: getattr(r, c) for c in columns})
        _write_text(self.out / "failures.csv", buf.getvalue())


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _write_text(path: Path, text: str) -> None:
    write_atomic(path, text)


def run_sweep(
    config: SweepConfig, out: str | os.PathLike[str], show_progress: bool = True,
    on_result: Callable[[RunResult], None] | None = None,
) -> SweepSummary:
    """Run every run of ``config`` into ``out`` (idempotent; see the module docstring).

    Worker processes are started with ``spawn``: from a script, call this under
    ``if __name__ == "__main__":``.

    Args:
        config: the sweep.
        out: sweep folder (created).
        show_progress: draw the overall progress bar.
        on_result: called in the driver with each run's result as it finishes.

    Returns:
        The summary; ``summary.ok`` is False if any run failed.

    Raises:
        ValueError: ``ray`` is set but Ray is not installed.
        KeyboardInterrupt: after recording the interruption in sweep.json (the runs keep
            their last completed trial; run the sweep again to resume).
    """
    root = Path(out)
    specs = expand(config, root)
    if config.ray:
        _import_ray()  # a clear error before anything is written
    root.mkdir(parents=True, exist_ok=True)
    book = _Book(config, root, specs)
    todo: list[tuple[RunSpec, str]] = []
    for spec in specs:
        state, rows, detail = inspect_run(spec)
        if state == "complete":
            book.update(spec, status="skipped", **_returns(spec.folder, rows))
        elif state == "conflict":
            book.update(spec, status="conflict", error=(
                f"{spec.folder} holds a run with another configuration ({detail}); "
                "remove it or choose another --out"))
        else:
            todo.append((spec, "resumed" if rows > 0 else "done"))
    # longest runs first, so the last ones to finish are short (fewer idle workers at the end)
    todo.sort(key=lambda item: -estimated_cost(item[0].config))
    book.write()
    total, finished = len(specs), len(specs) - len(todo)
    skipped = sum(r.status == "skipped" for r in book.results.values())
    console.print(
        f"sweep {root}: {total} runs ({len(config.tasks)} tasks x {len(config.planners)} "
        f"planners x {len(config.seeds)} seeds); {skipped} already finished, {len(todo)} to run "
        + (f"on Ray ({config.ray})" if config.ray else f"on {config.workers} local workers")
    )
    for r in book.results.values():
        if r.status == "conflict":
            console.print(f"[red]conflict[/red] {r.folder}: {r.error}")

    with (progress() if show_progress else contextlib.nullcontext()) as bar:
        bar_id = bar.add_task("runs", total=total, completed=finished) if bar else None

        def finish(spec: RunSpec, how: str, result: dict[str, Any], attempts: int) -> None:
            nonlocal finished
            status = how if result["ok"] else "failed"
            rows = result.get("rows") or []
            done = book.update(
                spec, status=status, attempts=attempts,
                seconds=book.results[spec.name].seconds + result["seconds"],
                error="" if result["ok"] else result["error"],
                **_returns(spec.folder, len(rows), rows or None),
            )
            finished += 1
            if bar is not None:
                bar.update(bar_id, advance=1)
            ret = ("-" if done.final_return is None else
                   f"return {done.final_return:.1f} (best {done.best_return:.1f})")
            colour = "green" if result["ok"] else "red"
            console.print(
                f"[{finished}/{total}] {spec.task} {spec.planner} seed {spec.seed}: "
                f"[{colour}]{status}[/{colour}] · {ret} · {done.seconds:.1f} s"
                + (f" · attempt {attempts}" if attempts > 1 else "")
                + ("" if result["ok"] else f" · {result['error']} (log: {spec.folder}/sweep.log)")
            )
            book.write()
            if on_result is not None:
                on_result(done)

        def attempt_failed(spec: RunSpec, result: dict[str, Any], attempts: int) -> None:
            book.update(spec, seconds=book.results[spec.name].seconds + result["seconds"],
                        attempts=attempts)
            console.print(f"[yellow]retrying[/yellow] {spec.name} after attempt {attempts}: "
                          f"{result['error']}")

        runner = _run_ray if config.ray else _run_local
        try:
            if todo:
                runner(config, todo, finish, attempt_failed)
        except KeyboardInterrupt:
            book.interrupted = True
            for spec in specs:
                if book.results[spec.name].status == "pending":
                    book.update(spec, status="interrupted", **_returns(spec.folder, 0))
            book.write(finished=False)
            console.print("[red]interrupted[/red]: run the same command again to resume")
            raise
    book.write(finished=True)
    summary = book.summary()
    counts = ", ".join(f"{n} {s}" for s, n in summary.counts().items())
    console.print(f"sweep {root}: {counts} in {summary.seconds:.1f} s")
    for r in summary.failed:
        console.print(f"[red]{r.status}[/red] {r.task} {r.planner} seed {r.seed} "
                      f"after {r.attempts} attempt(s): {r.error}")
    if summary.failed:
        console.print(f"failed runs are listed in {root / 'failures.csv'}")
    return summary


def _returns(folder: Path, count: int, rows: Sequence[Mapping[str, Any]] | None = None,
             ) -> dict[str, Any]:
    """``trials_done``, ``final_return``, ``best_return`` from ``rows`` or metrics.csv."""
    if rows is None:
        try:
            with (folder / "metrics.csv").open(newline="") as fh:
                rows = list(csv.DictReader(fh))
        except (OSError, csv.Error):
            rows = []
    returns = []
    for row in rows:
        with contextlib.suppress(KeyError, TypeError, ValueError):
            returns.append(float(row["episode_return"]))
    if not returns:
        return {"trials_done": count}
    return {"trials_done": max(count, len(returns)), "final_return": returns[-1],
            "best_return": max(returns)}


Finish = Callable[[RunSpec, str, dict[str, Any], int], None]
Retry = Callable[[RunSpec, dict[str, Any], int], None]


def _run_local(config: SweepConfig, todo: list[tuple[RunSpec, str]], finish: Finish,
               retry: Retry) -> None:
    """Run ``todo`` on a spawn process pool; a pool whose worker died is replaced."""
    context = multiprocessing.get_context("spawn")
    env = _worker_env(single_thread=config.workers > 1)
    queue: deque[tuple[RunSpec, str]] = deque(todo)
    attempts = {spec.name: 0 for spec, _ in todo}
    while queue:
        workers = min(config.workers, len(queue))
        # one run per worker process: peak RSS and compile caches are the run's own
        executor = ProcessPoolExecutor(max_workers=workers, mp_context=context,
                                       max_tasks_per_child=1,
                                       initializer=_init_worker, initargs=(env,))
        running: dict[Future, tuple[RunSpec, str]] = {}
        interrupted = False
        try:
            while queue:
                spec, how = queue.popleft()
                attempts[spec.name] += 1
                running[executor.submit(run_one, spec.config, str(spec.folder))] = (spec, how)
            broken = False
            while running:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    spec, how = running.pop(future)
                    try:
                        result = future.result()
                    except BrokenProcessPool as err:
                        broken = True
                        result = {"ok": False, "retry": True, "seconds": 0.0, "rows": [],
                                  "error": f"worker process died ({err})"}
                    except Exception as err:  # noqa: BLE001 - e.g. unpicklable result
                        result = {"ok": False, "retry": True, "seconds": 0.0, "rows": [],
                                  "error": f"{type(err).__name__}: {err}"}
                    n = attempts[spec.name]
                    if not result["ok"] and result["retry"] and n <= config.max_retries:
                        retry(spec, result, n)
                        if broken:
                            queue.append((spec, how))
                        else:
                            attempts[spec.name] += 1
                            try:
                                new = executor.submit(run_one, spec.config, str(spec.folder))
                                running[new] = (spec, how)
                            except BrokenProcessPool:
                                attempts[spec.name] -= 1
                                queue.append((spec, how))
                    else:
                        finish(spec, how, result, n)
        except KeyboardInterrupt:
            interrupted = True
            raise
        finally:
            executor.shutdown(wait=not interrupted, cancel_futures=True)


def _run_ray(config: SweepConfig, todo: list[tuple[RunSpec, str]], finish: Finish,
             retry: Retry) -> None:
    """Run ``todo`` as Ray tasks (one CPU each); files come back to the driver."""
    ray = _import_ray()
    started_here = not ray.is_initialized()
    if started_here:
        if config.ray == "local":
            ray.init(address="local", num_cpus=config.workers, include_dashboard=False)
        elif config.ray == "auto":
            ray.init(address=None, include_dashboard=False)
        else:
            ray.init(address=config.ray)
    try:
        remote = ray.remote(num_cpus=1, max_retries=0, max_calls=1)(ray_task).options(
            runtime_env={"env_vars": _worker_env(single_thread=True)})
        attempts = {spec.name: 0 for spec, _ in todo}
        running: dict[Any, tuple[RunSpec, str]] = {}

        def submit(spec: RunSpec, how: str) -> None:
            attempts[spec.name] += 1
            files = None if config.ray_shared_fs else _read_files(spec.folder)
            ref = remote.remote(spec.config, str(spec.folder.resolve()), files,
                                config.ray_shared_fs)
            running[ref] = (spec, how)

        for spec, how in todo:
            submit(spec, how)
        while running:
            ready, _ = ray.wait(list(running), num_returns=1)
            for ref in ready:
                spec, how = running.pop(ref)
                try:
                    result = ray.get(ref)
                except Exception as err:  # noqa: BLE001 - a Ray error: worker died, ...
                    result = {"ok": False, "retry": True, "seconds": 0.0, "rows": [],
                              "error": f"{type(err).__name__}: {err}"}
                files = result.pop("files", None)
                if files:
                    try:
                        _write_files(spec.folder, files)
                    except OSError as err:
                        result = {"ok": False, "retry": True, "seconds": result["seconds"],
                                  "rows": [], "error": f"cannot write the run's files into "
                                  f"{spec.folder}: {type(err).__name__}: {err}"}
                n = attempts[spec.name]
                if not result["ok"] and result["retry"] and n <= config.max_retries:
                    retry(spec, result, n)
                    submit(spec, how)
                else:
                    finish(spec, how, result, n)
    except KeyboardInterrupt:
        for ref in list(running):
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)
        raise
    finally:
        if started_here:
            ray.shutdown()
