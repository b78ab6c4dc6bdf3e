"""Moved to :mod:`cemgd.planners.objectives` (kept one release; every name warns)."""

from __future__ import annotations

from cemgd.problem import moved

__getattr__ = moved("cemgd.objectives", {
    n: f"cemgd.planners.objectives.{n}" for n in (
        "GRAD_OBJECTIVES", "GradObjective", "reduce_particles", "gradient_objective",
        "rescores")})
