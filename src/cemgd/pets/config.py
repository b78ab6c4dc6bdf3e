"""The settings of one PETS run, their ``--quick`` form and their ``config.json`` form."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cemgd.models import ACTIVATIONS, EnsembleModel, MLPEnsemble, TrainConfig
from cemgd.models.rollout import ASSIGNMENTS, PROPAGATIONS
from cemgd.pets.model import check_model_spec, make_model
from cemgd.planners import PLANNERS, Planner, PlannerSpec, make_planner, resolve_planner
from cemgd.planners.spec import quick_spec
from cemgd.runs import RunError
from cemgd.runs import config_diff as _diff
from cemgd.tasks import EnvTask, check_env_task, resolve_env_task
from cemgd.validate import check_int, check_seed

#: ``config.json`` keys renamed since the first format (old -> new); old folders resume.
LEGACY_KEYS = {"members": "num_members", "layers": "num_layers"}

#: Settings removed since the first format (by section, as :data:`ADDED_KEYS`): the train
#: section's ``activation`` is the run's ``activation``, which old files hold as well.
REMOVED_KEYS: dict[str | None, tuple[str, ...]] = {"train": ("activation",)}

#: Settings added since the first format, with the value a ``config.json`` without them
#: ran with (by section: the run's, ``train``'s, ``planner_config``'s); old folders resume.
ADDED_KEYS: dict[str | None, dict[str, Any]] = {
    None: {"num_elites": 0, "assignment": "particle", "model": "mlp"},
    "train": {"decay_biases": False, "learn_logvar_bounds": True, "keep_optimizer": False,
              "partial_batch": False},
    "planner_config": {"return_mean": False, "warm_fill": "last", "grad_objective": "mean"},
}


@dataclass(frozen=True)
class PETSConfig:
    """One PETS run: task, planner, model and protocol (paper defaults, Sec. 3)."""

    task: str = "cartpole-swingup"
    """Environment task: a name in ``cemgd.tasks.list_env_tasks()`` or ``module:factory``."""
    planner: PlannerSpec = field(default_factory=lambda: PlannerSpec("cem-gd"))
    """Planner: a name or preset and the settings that override its defaults (a spec
    string such as ``"cem-gd:n_replan=20"`` is read with ``PlannerSpec.parse``)."""
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
    assignment: str = "row"
    """Particles to members: 'row' (own per row, mbrl-lib) or 'particle' (shared by every
    sequence: paired returns)."""
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
    model: str = "mlp"
    """Dynamics model: mlp (the built-in ensemble of num_members, hidden, num_layers,
    activation) or package.module:factory (or file.py:factory) returning an ensemble model,
    imported only when the command line names it."""
    train: TrainConfig = field(default_factory=TrainConfig)
    """Model training settings (its ``seed`` is replaced by one derived from ``seed``)."""

    def __post_init__(self) -> None:
        check_env_task(self.task, argument="task")  # a name or package.module:factory
        check_model_spec(self.model)
        object.__setattr__(self, "planner", PlannerSpec.parse(self.planner, where="planner"))
        self._check_values()

    def _check_values(self) -> None:
        check_seed("seed", self.seed)
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
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"activation: expected one of {sorted(ACTIVATIONS)}, got {self.activation!r}")
        check_int("num_elites", self.num_elites, 0)
        if self.num_elites > self.num_members:
            raise ValueError(f"num_elites: expected at most num_members={self.num_members}, "
                             f"got {self.num_elites}")
        if not isinstance(self.train, TrainConfig):
            raise ValueError(f"train: expected a TrainConfig, got {type(self.train).__name__}")

    def make_task(self) -> EnvTask:
        """The task, with ``episode_length`` applied."""
        kwargs = {"episode_length": self.episode_length} if self.episode_length else {}
        return resolve_env_task(self.task, argument="task", **kwargs)

    def make_model(self) -> EnsembleModel:
        """The dynamics model ``model`` names (:func:`cemgd.pets.model.make_model`)."""
        return make_model(self.model, self.builtin_model)

    def builtin_model(self) -> MLPEnsemble:
        """The built-in ensemble of this config's sizes and training settings."""
        return MLPEnsemble(members=self.num_members, hidden=self.hidden,
                           num_layers=self.num_layers, activation=self.activation,
                           bound_coef=self.train.bound_coef,
                           learn_bounds=self.train.learn_logvar_bounds,
                           decay_biases=self.train.decay_biases)

    def make_planner(self) -> Planner:
        """The planner of :attr:`planner` (its preset and settings applied)."""
        return make_planner(self.planner)


def quick(config: PETSConfig) -> PETSConfig:
    """A tiny version of ``config``: two short trials of any task with a tiny model (a smoke test).

    Shrinks the episode, the random data, the model and its training, the horizon and
    the planner's sizes (:func:`cemgd.planners.spec.quick_config`, the one ``--quick``
    table); settings the planner spec gives are kept as they are.
    """
    return dataclasses.replace(
        config, trials=min(config.trials, 2), episode_length=15, random_steps=30, horizon=8,
        num_particles=2, num_members=2, num_elites=min(config.num_elites, 2), hidden=32,
        num_layers=2, planner=quick_spec(config.planner.name, config.planner.settings),
        train=dataclasses.replace(config.train, epochs=3, batch_size=16),
    )


def config_to_json(config: PETSConfig, planner: Planner | None = None) -> dict[str, Any]:
    """The JSON form of ``config``, with the planner's full resolved settings added.

    The planner spec is written as ``planner`` (its name) and ``planner_options`` (its
    settings), the keys every ``config.json`` has had (:func:`config_from_payload` reads
    them back).
    """
    payload: dict[str, Any] = {}
    for key, value in dataclasses.asdict(config).items():
        if key == "planner":
            payload["planner"] = config.planner.name
            payload["planner_options"] = dict(config.planner.settings)
        else:
            payload[key] = value
    planner = config.make_planner() if planner is None else planner
    payload["planner_config"] = dataclasses.asdict(planner.config)
    payload["planner_name"] = planner.name
    return payload


def config_payload(config: PETSConfig, planner: Planner | None = None) -> dict[str, Any]:
    """``config.json`` of a run: :func:`config_to_json` in its JSON form (lists, not tuples)."""
    return json.loads(json.dumps(config_to_json(config, planner), default=str))


def config_from_payload(payload: Mapping[str, Any]) -> PETSConfig:
    """The :class:`PETSConfig` of a ``config.json`` payload, of today's format or an older
    one (:func:`upgrade_payload`); keys that are not settings (``planner_config``, ...)
    are ignored.

    Raises:
        ValueError: a setting that is missing its type or value, naming it.
        TypeError: a section that is not a mapping.
    """
    payload = upgrade_payload(payload)
    names = {f.name for f in dataclasses.fields(PETSConfig)} - {"planner", "train"}
    kwargs = {k: v for k, v in payload.items() if k in names}
    spec = PlannerSpec(str(payload.get("planner", "cem-gd")),
                       payload.get("planner_options") or {})
    spec = _as_recorded(spec, payload.get("planner_config"))
    return PETSConfig(**kwargs, planner=spec, train=TrainConfig(**payload.get("train", {})))


def _as_recorded(spec: PlannerSpec, recorded: Any) -> PlannerSpec:
    """``spec`` with each setting of the run's ``planner_config`` (``recorded``) that
    ``spec`` resolves to another value (a default that changed) given explicitly, so the
    run reads back as it ran; ``spec`` itself when nothing differs or nothing is recorded."""
    if not isinstance(recorded, Mapping):
        return spec
    now = json.loads(json.dumps(dataclasses.asdict(spec.config()), default=str))
    changed = {k: v for k, v in recorded.items()
               if k in now and k != "max_batch" and now[k] != v}
    return spec.with_settings(**changed) if changed else spec


def upgrade_payload(payload: Mapping[str, Any]) -> dict[str, Any]:
    """A ``config.json`` payload in today's vocabulary (``members`` -> ``num_members``, ...;
    a setting added since, :data:`ADDED_KEYS`, at the value the run had without it).

    A run's ``grad_propagation`` (the gradient stage's objective, set on the run before it
    was the planner's ``grad_objective``) becomes that planner setting: ``"sampled"`` is
    ``grad_objective="sampled"`` (the sampled return CEM ranks), ``"mean"`` the default.

    Raises:
        RunError: the payload holds both an old key and its new name.
    """
    out = _upgrade_grad_propagation(dict(payload))
    for section, removed in REMOVED_KEYS.items():
        if isinstance(out.get(section), Mapping):
            out[section] = {k: v for k, v in out[section].items() if k not in removed}
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


def _upgrade_grad_propagation(payload: dict[str, Any]) -> dict[str, Any]:
    """``grad_propagation`` of an old payload moved into the planner's ``grad_objective``."""
    if payload.pop("grad_propagation", "mean") != "sampled":
        return payload
    if "grad_objective" in _planner_fields(payload):
        payload["planner_options"] = {**(payload.get("planner_options") or {}),
                                      "grad_objective": "sampled"}
        if isinstance(payload.get("planner_config"), Mapping):
            payload["planner_config"] = {**payload["planner_config"], "grad_objective": "sampled"}
    return payload


def _planner_fields(payload: Mapping[str, Any]) -> set[str]:
    """Settings of the payload's planner (``planner_name``, else the family of ``planner``;
    none if it names no known planner)."""
    family = str(payload.get("planner_name"))
    if family not in PLANNERS:
        try:
            family = resolve_planner(str(payload.get("planner")))[0]
        except ValueError:
            return set()
    return {f.name for f in dataclasses.fields(PLANNERS[family].Config)}


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
