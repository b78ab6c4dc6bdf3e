"""A sweep's settings: :class:`SweepConfig`, the named protocols, and how each run is set.

Every (task, planner, seed) is one PETS run (:func:`run_config` gives its
``PETSConfig``; :func:`expand` gives every :class:`RunSpec` of a sweep folder).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cemgd.models import TrainConfig
from cemgd.pets import PETSConfig, quick
from cemgd.planners.spec import PlannerSpec, planner_settings
from cemgd.problem import moved
from cemgd.runs.tensorboard import check_tensorboard
from cemgd.sweep.parse import distinct_entries, format_seeds, parse_list, parse_seeds
from cemgd.tasks import check_env_task
from cemgd.validate import check_int, check_seed

__all__ = ["LAPTOP", "PAPER", "RUN_FIELDS", "SWEEP_PRESETS", "RunSpec", "SweepConfig",
           "describe_preset", "estimated_cost", "expand", "format_seeds", "parse_list",
           "parse_seeds", "planner_fields", "planner_folder", "run_config", "task_folder"]

#: The paper's protocol (Sec. 3): four tasks, five planners, 20 runs each, PETS defaults;
#: the cart-pole is the authors' own (``cartpole-paper``, 60-step trials).
PAPER: dict[str, Any] = {
    "tasks": ("cartpole-paper", "pusher", "halfcheetah", "humanoid-standup"),
    "planners": ("cem-50", "cem-500", "cem-5000", "gd", "cem-gd"),
    "seeds": tuple(range(20)),
}

#: A reduced protocol for one small CPU machine: ALL its numbers are here, tune them here.
#: Everything not named keeps the paper's value (planner settings included: CEM 50/500/5000
#: are 10x5, 100x5, 100x50; CEM-GD has N_init = 15000, N_r = 50). Its results:
#: docs/results/laptop/README.md.
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
    f.name for f in dataclasses.fields(PETSConfig)
    if f.name not in ("task", "planner", "seed", "train")
)


@dataclass(frozen=True)
class SweepConfig:
    """A sweep: every combination of tasks x planners x seeds, each one PETS run."""

    tasks: tuple[str, ...] = ("cartpole-swingup",)
    """Tasks: names (``cemgd tasks`` lists them) or ``package.module:factory``."""
    planners: tuple[PlannerSpec, ...] = field(default_factory=lambda: (PlannerSpec("cem-gd"),))
    """Planners: specs, or a name or preset (``cem-50``), optionally ``NAME:key=value,...``,
    parsed here once; each spec's text as given (``spec.text``) names its folder."""
    seeds: tuple[int, ...] = (0,)
    """Seeds (ints in ``[0, 2**32 - 1]``), one run each per task and planner. No task,
    planner or seed may be listed twice."""
    overrides: Mapping[str, Any] = field(default_factory=dict)
    """PETSConfig settings of every run (``trials``, ``horizon``, ... see RUN_FIELDS)."""
    planner_options: Mapping[str, Any] = field(default_factory=dict)
    """Planner settings applied to every planner that has the setting."""
    train: Mapping[str, Any] = field(default_factory=dict)
    """TrainConfig settings of every run (not ``seed``, set by the run)."""
    quick: bool = False
    """Shrink every run with ``quick``; ``overrides`` etc. are applied after it."""
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
    tensorboard: bool = False
    """Also write TensorBoard events in every run folder (the ``tensorboard`` extra)."""

    def __post_init__(self) -> None:
        for name in ("tasks", "seeds"):
            object.__setattr__(self, name, distinct_entries(name, getattr(self, name)))
        for task in self.tasks:
            check_env_task(task, argument="tasks")
        object.__setattr__(self, "planners", distinct_entries(  # parsed once; text: folders
            "planners", self.planners, lambda p: PlannerSpec.parse(p, where="planners"),
            text=lambda spec: repr(spec.text)))
        for seed in self.seeds:
            check_seed("seeds", seed)
        for name in ("overrides", "planner_options", "train"):
            value = getattr(self, name)
            if not isinstance(value, Mapping):
                raise ValueError(f"{name}: expected a mapping of settings, got {value!r}")
            object.__setattr__(self, name, dict(value))
        self._check_settings()
        check_int("workers", self.workers, 1)
        check_int("max_retries", self.max_retries, 0)
        if not isinstance(self.tensorboard, bool):
            raise ValueError(f"tensorboard: expected True or False, got {self.tensorboard!r}")
        if self.tensorboard:
            check_tensorboard("tensorboard")
        if self.ray is not None and (not isinstance(self.ray, str) or not self.ray):
            raise ValueError(
                f"ray: expected None, 'auto', 'local' or a cluster address, got {self.ray!r}"
            )
        if self.ray_shared_fs and self.ray is None:
            raise ValueError("ray_shared_fs: needs ray (Ray tasks writing into out); without "
                             "Ray every run writes into out already")
        if self.preset is not None and self.preset not in SWEEP_PRESETS:
            raise ValueError(
                f"preset: unknown preset {self.preset!r}; expected one of {sorted(SWEEP_PRESETS)}"
            )
        # every run's configuration must be valid before anything starts
        for task in self.tasks:
            for spec in self.planners:
                try:
                    run_config(self, task, spec, self.seeds[0])
                except ValueError as err:
                    raise ValueError(f"{err} (task {task}, planner {spec.text})") from None

    def _check_settings(self) -> None:
        """``overrides``, ``train`` and ``planner_options`` name settings that exist."""
        for key in self.overrides:
            if key not in RUN_FIELDS:
                raise ValueError(
                    f"overrides: {key!r} is not a run setting; expected one of {list(RUN_FIELDS)}"
                )
        train_fields = {f.name for f in dataclasses.fields(TrainConfig)} - {"seed"}
        for key in self.train:
            if key not in train_fields:
                raise ValueError(
                    f"train: {key!r} is not a training setting; expected one of "
                    f"{sorted(train_fields)}"
                )
        for key in self.planner_options:
            if not any(key in planner_fields(spec) for spec in self.planners):
                raise ValueError(
                    f"planner_options: {key!r} is not a setting of any planner in the sweep "
                    f"({', '.join(spec.text for spec in self.planners)})"
                )

    @classmethod
    def from_preset(cls, name: str, **changes: Any) -> SweepConfig:
        """The preset ``name`` (:data:`SWEEP_PRESETS`) with ``changes`` on top.

        ``changes`` may hold SweepConfig fields and run settings (``trials=3``); mappings
        (``overrides``, ``planner_options``, ``train``) are merged into the preset's. With
        ``quick=True`` the preset's run sizes are dropped (``quick`` replaces them);
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


def planner_fields(spec: PlannerSpec | str) -> dict[str, Any]:
    """Settings of the planner ``spec`` names and their defaults (preset applied; a string
    is parsed)."""
    name = PlannerSpec.parse(spec, where="planners").name
    return {s.name: s.default for s in planner_settings(name)}


@dataclass(frozen=True)
class RunSpec:
    """One run of a sweep: its key, folder and full configuration."""

    task: str
    planner: PlannerSpec
    """The planner as the sweep lists it (its text as given, ``cem-gd`` or
    ``cem-gd:n_replan=20``, names its folder); ``config.planner`` is the spec the run uses
    (the sweep's settings added)."""
    seed: int
    folder: Path
    """``out/<task folder>/<planner folder>/seed-<seed>``."""
    config: PETSConfig

    @property
    def name(self) -> str:
        """``task/planner/seed-k``."""
        return f"{self.task}/{planner_folder(self.planner)}/seed-{self.seed}"


def planner_folder(spec: PlannerSpec | str) -> str:
    """Folder name of a sweep's planner, from its text as given (``spec.text``; a string is
    that text): ``cem-gd:n_replan=20`` -> ``cem-gd_n_replan=20``."""
    text = spec.text if isinstance(spec, PlannerSpec) else spec
    return text.replace(" ", "").replace(":", "_").replace(",", "_").replace("/", "-")


def task_folder(task: str) -> str:
    """Folder name of a task: a name as is, ``pkg.mod:factory`` -> ``pkg.mod_factory``."""
    return task.replace(":", "_").replace("/", "-")


def run_config(config: SweepConfig, task: str, planner: PlannerSpec | str,
               seed: int) -> PETSConfig:
    """The PETSConfig of one run of the sweep.

    Order: PETSConfig defaults, then (with ``quick``) ``pets.quick``, then the sweep's
    ``overrides``, ``train`` and planner settings (the spec's own ``:key=value`` last;
    a string is parsed).
    """
    spec = PlannerSpec.parse(planner, where="planners")
    base = PETSConfig(task=task, planner=PlannerSpec(spec.name), seed=seed)
    if config.quick:
        base = quick(base)
    fields = planner_fields(spec)
    options = dict(base.planner.settings)
    options.update({k: v for k, v in config.planner_options.items() if k in fields})
    options.update(spec.settings)
    train = dataclasses.replace(base.train, **config.train)
    return dataclasses.replace(base, **config.overrides, planner=PlannerSpec(spec.name, options),
                               train=train)


def expand(config: SweepConfig, out: str | os.PathLike[str]) -> list[RunSpec]:
    """Every run of the sweep, task-major then planner then seed.

    Returns:
        Run specs with folders ``out/<task folder>/<planner folder>/seed-<seed>``.
    """
    root = Path(out)
    _check_folder_names("tasks", config.tasks, task_folder)
    _check_folder_names("planners", [p.text for p in config.planners], planner_folder)
    return [
        RunSpec(task, planner, seed,
                root / task_folder(task) / planner_folder(planner) / f"seed-{seed}",
                run_config(config, task, planner, seed))
        for task in config.tasks for planner in config.planners for seed in config.seeds
    ]


def _check_folder_names(argument: str, entries: Sequence[str],
                        folder: Callable[[str], str]) -> None:
    """Refuse two ``entries`` (tasks or planners, as given) whose folder names
    (``folder``) are the same: their runs would share one folder.

    Raises:
        ValueError: ``"<argument>: two <argument> map to the same folder name ..."``.
    """
    seen: dict[str, list[str]] = {}
    for entry in entries:
        seen.setdefault(folder(entry), []).append(entry)
    clashes = [f"{name} ({', '.join(group)})" for name, group in seen.items() if len(group) > 1]
    if clashes:
        raise ValueError(f"{argument}: two {argument} map to the same folder name: "
                         + "; ".join(clashes))


def estimated_cost(config: PETSConfig) -> float:
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


#: kept one release: "label" is a display label (:func:`cemgd.evaluate.settings_label`)
__getattr__ = moved("cemgd.sweep.config", {"planner_label": "cemgd.sweep.config.planner_folder",
                                           "task_label": "cemgd.sweep.config.task_folder"})
