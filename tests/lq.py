"""A linear-quadratic planning problem with its optimum from the Riccati recursion.

The family lives in :mod:`cemgd.experiments.invariance` (with action and return scales);
tests import it from here.
"""

from __future__ import annotations

from cemgd.experiments.invariance import LQ, double_integrators, start_state

__all__ = ["LQ", "double_integrators", "start_state"]
