"""The planners by name, and the presets usable wherever a planner name is.

Two ways to make a planner known by name, both resolved by :func:`resolve_planner`:

* registered: ``register_planner("my-planner", MyPlanner)`` in the running process;
* installed: an entry point in the group ``cemgd.planners`` of an installed package,
  ``my-planner = "my_package.planners:MyPlanner"`` (``[project.entry-points.
  "cemgd.planners"]`` in its ``pyproject.toml``), imported the first time that name is
  resolved, never by listing what is installed.

Security: an entry point is code. Within :func:`only_named_planners` (the command line
runs every command in it) an installed planner is imported only when the command line
names it (``--planner``, ``--planners``, ``cemgd planners NAME``), never because a
folder (``config.json``, ``sweep.json``, ...) records its name.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.metadata
import re
from collections.abc import Iterable
from typing import Any

from cemgd.planners.base import Planner
from cemgd.planners.cem import CEM
from cemgd.planners.cem_gd import CEMGD
from cemgd.planners.gd import GD
from cemgd.planners.gradcem import GradCEM
from cemgd.planners.icem import ICEM
from cemgd.planners.mppi import MPPI
from cemgd.planners.random_shooting import RandomShooting
from cemgd.validate import CommandLineNames

PLANNERS: dict[str, type[Planner]] = {
    cls.name: cls for cls in (CEMGD, CEM, GD, RandomShooting, MPPI, ICEM, GradCEM)
}

#: Named configurations usable wherever a planner name is: ``preset -> (registry name,
#: settings)``. ``cem-50/500/5000`` are the paper's CEM baselines (Sec. 3; N = samples per
#: iteration x iterations). ``cem-gd`` and ``gd`` need no preset: their registry defaults
#: are the paper's. ``cem-gd-robust`` is CEM-GD for a problem nobody tuned it for: the
#: scale-free line search (``step_rule="scaled"``, first trial moving the largest action
#: coordinate by a tenth of its half-width), the warm start kept as a candidate, and the
#: CEM stage's choices of ``cem``'s defaults (its final mean as the first start, the warm
#: start's new step at the box centre); one fixed setting, measured by
#: ``benchmarks/invariance.py`` and in the PETS loop
#: (``docs/results/pets-parity/plan-robust-preset.md``). ``cem-gd-authors`` is CEM-GD
#: as the authors' code runs it (KevinHuang8/CEM-GD, docs/guide/reproduce.md): the warm
#: start's new step at the box centre, CEM's initial std half a half-width, and projected
#: Adam (lr 0.01 divided by 1.5 per rejected trial, 8 trials, at most 16 accepted steps;
#: a trial must raise the return, where their code also accepts an equal one).
PRESETS: dict[str, tuple[str, dict[str, Any]]] = {
    "cem-50": ("cem", {"num_samples": 10, "num_iterations": 5}),
    "cem-500": ("cem", {"num_samples": 100, "num_iterations": 5}),
    "cem-5000": ("cem", {"num_samples": 100, "num_iterations": 50}),
    "cem-gd-robust": ("cem-gd", {"step_rule": "scaled", "keep_warm_start": True,
                                 "step_size": 0.1, "return_mean": True,
                                 "warm_fill": "initial"}),
    "cem-gd-authors": ("cem-gd", {"step_rule": "adam", "step_size": 0.01, "step_decay": 1 / 1.5,
                                  "line_search_trials": 8, "grad_steps": 16,
                                  "warm_fill": "initial", "init_std": 0.5}),
}


_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]*")

#: The entry-point group an installed package lists its planners under.
ENTRY_POINT_GROUP = "cemgd.planners"

#: Planner names a command line named (:func:`only_named_planners`); ``names`` is ``None``
#: outside one: any installed planner is imported when its name is resolved.
_NAMED = CommandLineNames()


def only_named_planners(named: Iterable[str]) -> contextlib.AbstractContextManager[None]:
    """Within: import an installed planner (an entry point) only if ``named`` (what the
    command line gave) holds its name; resolving any other one raises ValueError."""
    return _NAMED.within(named)


def named_planners() -> frozenset[str] | None:
    """The planners the running command line named (``None``: not run from one)."""
    return _NAMED.names


def register_planner(name: str, cls: type[Planner], *, replace: bool = False) -> None:
    """Make planner class ``cls`` known as ``name`` wherever a planner name is accepted
    (:func:`~cemgd.planners.make_planner`, specs, ``PETSConfig``, the CLI's ``--planner``
    in this process).

    Args:
        name: lower-case letters, digits, ``-``, ``_`` or ``.``, equal to ``cls.name``
            and not a preset's name.
        cls: a subclass of :class:`~cemgd.planners.base.Planner` whose ``Config`` is a
            dataclass.
        replace: allow replacing another class registered under ``name``.

    Raises:
        ValueError: naming ``name`` (malformed, a preset, taken, not ``cls.name``) or
            ``cls`` (not a ``Planner`` subclass with a dataclass ``Config``).
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"name: expected a planner name of lower-case letters, digits, "
                         f"'-', '_' or '.', got {name!r}")
    if not (isinstance(cls, type) and issubclass(cls, Planner)
            and dataclasses.is_dataclass(getattr(cls, "Config", None))):
        raise ValueError(f"cls: expected a Planner subclass with a dataclass Config, "
                         f"got {cls!r}")
    if cls.name != name:
        raise ValueError(f"name: {name!r} differs from the class's name {cls.name!r}")
    if name in PRESETS:
        raise ValueError(f"name: {name!r} is a preset of planner {PRESETS[name][0]!r}")
    if name in PLANNERS and PLANNERS[name] is not cls and not replace:
        raise ValueError(f"name: planner {name!r} is already registered (pass replace=True)")
    PLANNERS[name] = cls


def resolve_planner(name: str) -> tuple[str, dict[str, Any]]:
    """``(registry name, preset settings)`` of a planner or preset name.

    Raises:
        ValueError: naming ``name``, listing the known planners and presets.
    """
    if name in PRESETS:
        base, settings = PRESETS[name]
        return base, dict(settings)
    if name in PLANNERS or _load_entry_point(name):
        return name, {}
    raise ValueError(
        f"name: unknown planner {name!r}; expected one of {sorted(PLANNERS) + sorted(PRESETS)}"
    )


def _load_entry_point(name: str) -> bool:
    """Import and register the installed planner ``name`` (entry point group
    :data:`ENTRY_POINT_GROUP`); ``False`` if no installed package lists it.

    Raises:
        ValueError: naming ``name``: the command line did not name it (within
            :func:`only_named_planners`), or its entry point does not load a planner.
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        return False
    points = [p for p in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
              if p.name == name]
    if not points:
        return False
    where = f"planner {name!r} of the installed entry point {points[0].value!r}"
    if not _NAMED.allows(name):
        raise ValueError(f"name: {where} is code, which cemgd imports only when the "
                         f"command line names it: pass --planner {name} if you trust it")
    try:
        cls = points[0].load()
    except Exception as err:  # a broken installed package: say which one
        raise ValueError(f"name: cannot load {where} ({type(err).__name__}: {err})") from None
    try:
        register_planner(name, cls)
    except ValueError as err:
        raise ValueError(f"name: cannot use {where}: {err}") from None
    return True
