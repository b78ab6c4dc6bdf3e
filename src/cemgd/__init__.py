"""cemgd: CEM-GD and its peer planners for model-based RL, as jitted JAX functions."""

from cemgd.mpc import MPC
from cemgd.planners import PLANNERS, Planner, make_planner
from cemgd.problem import PlanInfo, PlanState, Problem, Rollout

__version__ = "0.1.0"

__all__ = [
    "MPC",
    "PLANNERS",
    "PlanInfo",
    "PlanState",
    "Planner",
    "Problem",
    "Rollout",
    "make_planner",
]
