"""The settings of one PETS run, their ``--quick`` form and their ``config.json`` form."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cemgd.models import TrainConfig
from cemgd.models.rollout import ASSIGNMENTS, PROPAGATIONS
from cemgd.planners import PLANNERS, Planner, make_planner, resolve_planner
from cemgd.planners.spec import quick_config
from cemgd.runs import RunError
from cemgd.runs import config_diff as _diff
from cemgd.tasks import EnvTask, check_env_task, resolve_env_task
from cemgd.validate import check_int

GRAD_PROPAGATIONS = ("mean", "sampled")

#: ``config.json`` keys renamed since the first format (old -> new); old folders resume.
LEGACY_KEYS = {"members": "num_members", "layers": "num_layers"}

#: Settings added since the first format, with the value a ``config.json`` without them
#: ran with (by section: the run's, ``train``'s, ``planner_config``'s); old folders resume.
ADDED_KEYS: dict[str | None, dict[str, Any]] = {
    None: {"num_elites": 0, "assignment": "particle"},
    "train": {"decay_biases": False, "learn_logvar_bounds": True, "keep_optimizer": False,
              "partial_batch": False},
    "planner_config": {"return_mean": False, "warm_fill": "last"},
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
    """Steps per episode; 0 takes the task's (paper: 100, pusher 200, cartpole-paper 60)."""
    random_steps: int = 500
    """Transitions collected with uniform random actions before the first trial (>= 1)."""
    horizon: int = 45
    """Planning horizon T."""
    num_particles: int = 20
    """Particles per action sequence in the sampled rollout (PETS: 20)."""
    propagation: str = "tsinf"
    """Trajectory propagation of the sampled rollout: 'tsinf', 'ts1' or 'expectation'."""
    assignment: str = "particle"
    """Particles to members: 'particle' (draws shared by all sequences) or 'row' (own per row)."""
    grad_propagation: str = "mean"
    """Gradient-stage objective: 'mean' (members' mean predictions) or 'sampled'."""
    num_members: int = 5
    """Ensemble size E."""
    num_elites: int = 0
    """Members planned with: the num_elites of lowest MSE after training; 0: all."""
    hidden: int = 200
    """Width of each hidden layer."""
    num_layers: int = 3
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
        self._check_values()
        if self.activation != self.train.activation:
            object.__setattr__(
                self, "train", dataclasses.replace(self.train, activation=self.activation)
            )

    def _check_values(self) -> None:
        check_int("seed", self.seed, 0)
        check_int("trials", self.trials, 1)
        check_int("episode_length", self.episode_length, 0)
        check_int("random_steps", self.random_steps, 1)
        for name in ("horizon", "num_particles", "num_members", "hidden", "num_layers"):
            check_int(name, getattr(self, name), 1)
        if self.propagation not in PROPAGATIONS:
            raise ValueError(
                f"propagation: expected one of {PROPAGATIONS}, got {self.propagation!r}"
            )
        if self.assignment not in ASSIGNMENTS:
            raise ValueError(f"assignment: expected one of {ASSIGNMENTS}, got {self.assignment!r}")
        check_int("num_elites", self.num_elites, 0)
        if self.num_elites > self.num_members:
            raise ValueError(f"num_elites: expected at most num_members={self.num_members}, "
                             f"got {self.num_elites}")
        if self.grad_propagation not in GRAD_PROPAGATIONS:
            raise ValueError(
                f"grad_propagation: expected one of {GRAD_PROPAGATIONS}, "
                f"got {self.grad_propagation!r}"
            )
        if not isinstance(self.train, TrainConfig):
            raise ValueError(f"train: expected a TrainConfig, got {type(self.train).__name__}")

    def make_task(self) -> EnvTask:
        """The task, with ``episode_length`` applied."""
        kwargs = {"episode_length": self.episode_length} if self.episode_length else {}
        return resolve_env_task(self.task, argument="task", **kwargs)

    def make_planner(self) -> Planner:
        """The planner with its preset and ``planner_options`` applied."""
        return make_planner(self.planner, **self.planner_options)


def quick(config: PETSConfig) -> PETSConfig:
    """A tiny version of ``config``: two short trials of any task with a tiny model (a smoke test).

    Shrinks the episode, the random data, the model and its training, the horizon and
    the planner's sizes (:func:`cemgd.planners.spec.quick_config`, the one ``--quick``
    table); settings given in ``planner_options`` are kept as they are.
    """
    base, preset = resolve_planner(config.planner)
    cls = PLANNERS[base].Config
    given = dict(config.planner_options)  # applied after the caps, as given
    before = dataclasses.asdict(cls(**preset))
    after = dataclasses.asdict(quick_config(cls(**preset), keep=given))
    options = {k: v for k, v in after.items() if v != before[k] and k not in given}
    options.update(given)
    return dataclasses.replace(
        config, trials=min(config.trials, 2), episode_length=15, random_steps=30, horizon=8,
        num_particles=2, num_members=2, num_elites=min(config.num_elites, 2), hidden=32,
        num_layers=2, planner_options=options,
        train=dataclasses.replace(config.train, epochs=3, batch_size=16),
    )


def config_to_json(config: PETSConfig, planner: Planner | None = None) -> dict[str, Any]:
    """The JSON form of ``config``, with the planner's full resolved settings added."""
    payload = dataclasses.asdict(config)
    planner = config.make_planner() if planner is None else planner
    payload["planner_config"] = dataclasses.asdict(planner.config)
    payload["planner_name"] = planner.name
    return payload


def config_payload(config: PETSConfig, planner: Planner | None = None) -> dict[str, Any]:
    """``config.json`` of a run: :func:`config_to_json` in its JSON form (lists, not tuples)."""
    return json.loads(json.dumps(config_to_json(config, planner), default=str))


def upgrade_payload(payload: Mapping[str, Any]) -> dict[str, Any]:
    """A ``config.json`` payload in today's vocabulary (``members`` -> ``num_members``, ...;
    a setting added since, :data:`ADDED_KEYS`, at the value the run had without it).

    Raises:
        RunError: the payload holds both an old key and its new name.
    """
    out = dict(payload)
    for old, new in LEGACY_KEYS.items():
        if old in out:
            if new in out:
                raise RunError(f"config.json: holds both {old!r} and {new!r}; keep {new!r}")
            out[new] = out.pop(old)
    for section, added in ADDED_KEYS.items():
        if section is None:
            out = {**added, **out}
        elif isinstance(out.get(section), dict):
            known = _planner_fields(out) if section == "planner_config" else set(added)
            out[section] = {**{k: v for k, v in added.items() if k in known}, **out[section]}
    return out


def _planner_fields(payload: Mapping[str, Any]) -> set[str]:
    """Settings of the payload's planner (none if it names no known planner)."""
    planner = PLANNERS.get(str(payload.get("planner_name")))
    return set() if planner is None else {f.name for f in dataclasses.fields(planner.Config)}


def config_diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Settings that differ between two ``config.json`` payloads, as ``"key: old -> new"``.

    Old payloads are read in today's vocabulary (:func:`upgrade_payload`). ``trials`` is
    left out (a run may be extended), and so is ``task_name`` (what a code task calls
    itself, for display) and ``planner_options``: the resolved
    ``planner_config`` is compared instead, so giving a default explicitly is not a change;
    its ``max_batch`` is left out too (chunks change memory and speed, never a result).
    """
    old, new = upgrade_payload(old), upgrade_payload(new)
    for payload in (old, new):
        if isinstance(payload.get("planner_config"), dict):
            payload["planner_config"] = {k: v for k, v in payload["planner_config"].items()
                                         if k != "max_batch"}
    return _diff(old, new, ignore=("trials", "planner_options", "task_name"))
