"""Moved to :mod:`cemgd.planners.objectives` (kept one release; every name warns)."""

from __future__ import annotations

from cemgd.problem import moved

__getattr__ = moved("cemgd.objectives", "cemgd.planners.objectives", (
    "GRAD_OBJECTIVES", "GradObjective", "gradient_objective", "reduce_particles", "rescores"))
