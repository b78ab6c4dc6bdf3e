"""Moved to :mod:`cemgd.planners.gradient`, :mod:`cemgd.planners.gradient_options` and
:mod:`cemgd.planners.settings` (kept one release; every name warns)."""

from __future__ import annotations

from cemgd.problem import moved

__getattr__ = moved("cemgd.linesearch", {
    **{n: f"cemgd.planners.gradient.{n}" for n in ("gradient_ascent", "refine_and_pick")},
    "GradientSettings": "cemgd.planners.settings.GradientSettings",
    **{n: f"cemgd.planners.gradient_options.{n}" for n in (
        "LineSearch", "MAX_SCALED_STEP", "StepRule", "ascent_direction")}})
