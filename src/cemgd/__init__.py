"""cemgd: CEM-GD and its peer planners for model-based RL, as jitted JAX functions."""

from cemgd.mpc import MPC
from cemgd.planners import PLANNERS, Planner, make_planner
from cemgd.problem import Info, PlanState, Problem, Rollout, moved

__version__ = "0.1.0"

#: ``cemgd.PlanInfo``: now :class:`cemgd.Info` (kept one release; warns)
__getattr__ = moved("cemgd", {"PlanInfo": "cemgd.problem.Info"})

__all__ = [
    "MPC",
    "PLANNERS",
    "Info",
    "PlanState",
    "Planner",
    "Problem",
    "Rollout",
    "make_planner",
]
