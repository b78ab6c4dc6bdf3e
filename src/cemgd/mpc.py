"""Model-predictive control: plan, act on the first action, keep the warm start."""

from __future__ import annotations

from typing import Any

import numpy as np

from cemgd.planners.base import Planner
from cemgd.problem import Array, Info, PlanState, Problem


class MPC:
    """Receding-horizon controller around one planner and one problem.

    ``reset(key)`` starts an episode (the next ``act`` is the planner's first
    step); ``act(obs)`` plans and returns the first action, keeping the shifted
    plan as the next warm start.
    """

    def __init__(self, planner: Planner, problem: Problem) -> None:
        if not isinstance(planner, Planner):
            raise ValueError(f"planner: expected a cemgd planner, got {type(planner).__name__}")
        if not isinstance(problem, Problem):
            raise ValueError(f"problem: expected a cemgd.Problem, got {type(problem).__name__}")
        self.planner = planner
        self.problem = problem
        self.state: PlanState | None = None
        self.last_plan: Array | None = None
        self.last_info: Info | None = None

    def reset(self, key: Array) -> None:
        """Start a new episode with PRNG ``key``."""
        self.state = self.planner.init(self.problem, key)
        self.last_plan = None
        self.last_info = None

    def act(self, obs: Any) -> np.ndarray:
        """Plan from ``obs`` and return the first action, ``[A]`` (numpy)."""
        if self.state is None:
            raise ValueError("obs: call reset(key) before act(obs)")
        actions, self.state, self.last_info = self.planner.plan(self.state, obs, self.problem)
        self.last_plan = actions
        return np.asarray(actions[0])
