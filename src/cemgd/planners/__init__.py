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


def make_planner(name: str, **overrides: Any) -> Planner:
    """Build planner ``name`` with its paper defaults, changed by ``overrides``.

    Raises:
        ValueError: unknown ``name`` or a setting the planner does not have.
    """
    if name not in PLANNERS:
        raise ValueError(f"name: unknown planner {name!r}; expected one of {sorted(PLANNERS)}")
    return PLANNERS[name](**overrides)


__all__ = ["PLANNERS", "Planner", "make_planner"]
