"""The planners, by name. Every one follows :class:`cemgd.planners.base.Planner`."""

from __future__ import annotations

from typing import Any

from cemgd.planners.base import Planner
from cemgd.planners.cem import CEM
from cemgd.planners.cem_gd import CEMGD
from cemgd.planners.gd import GD
from cemgd.planners.gradcem import GradCEM
from cemgd.planners.icem import ICEM
from cemgd.planners.mppi import MPPI
from cemgd.planners.random_shooting import RandomShooting

PLANNERS: dict[str, type[Planner]] = {
    cls.name: cls for cls in (CEMGD, CEM, GD, RandomShooting, MPPI, ICEM, GradCEM)
}


#: The paper's baseline configurations (Sec. 3), usable wherever a planner name is:
#: ``preset -> (registry name, settings)``. N = samples per iteration x iterations.
#: ``cem-gd`` and ``gd`` need no preset: their registry defaults are the paper's.
PRESETS: dict[str, tuple[str, dict[str, Any]]] = {
    "cem-50": ("cem", {"num_samples": 10, "num_iterations": 5}),
    "cem-500": ("cem", {"num_samples": 100, "num_iterations": 5}),
    "cem-5000": ("cem", {"num_samples": 100, "num_iterations": 50}),
}


def resolve_planner(name: str) -> tuple[str, dict[str, Any]]:
    """``(registry name, preset settings)`` of a planner or preset name.

    Raises:
        ValueError: naming ``name``, listing the known planners and presets.
    """
    if name in PRESETS:
        base, settings = PRESETS[name]
        return base, dict(settings)
    if name in PLANNERS:
        return name, {}
    raise ValueError(
        f"name: unknown planner {name!r}; expected one of {sorted(PLANNERS) + sorted(PRESETS)}"
    )


def make_planner(name: str, **overrides: Any) -> Planner:
    """Build planner or preset ``name`` with its paper defaults, changed by ``overrides``.

    Raises:
        ValueError: unknown ``name`` or a setting the planner does not have.
    """
    base, settings = resolve_planner(name)
    settings.update(overrides)
    return PLANNERS[base](**settings)


__all__ = ["PLANNERS", "PRESETS", "Planner", "make_planner", "resolve_planner"]
