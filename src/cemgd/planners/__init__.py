"""The planners, by name. Every one follows :class:`cemgd.planners.base.Planner`.

Planner specs (``"cem-gd:n_replan=20"``), presets and the ``--quick`` sizes live in
:mod:`cemgd.planners.spec`; :func:`make_planner` accepts all of them.
"""

from __future__ import annotations

from cemgd.planners.base import Planner
from cemgd.planners.registry import (
    ENTRY_POINT_GROUP,
    PLANNERS,
    PRESETS,
    only_named_planners,
    register_planner,
    resolve_planner,
)
from cemgd.planners.spec import (
    PlannerSpec,
    Setting,
    make_planner,
    planner_settings,
    quick_config,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "PLANNERS",
    "PRESETS",
    "Planner",
    "PlannerSpec",
    "Setting",
    "make_planner",
    "only_named_planners",
    "planner_settings",
    "quick_config",
    "register_planner",
    "resolve_planner",
]
