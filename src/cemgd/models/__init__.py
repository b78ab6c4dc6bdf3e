"""Learned dynamics: a PETS probabilistic ensemble and its particle rollouts."""

from cemgd.models.ensemble import (
    ACTIVATIONS,
    EnsembleParams,
    ensemble_apply,
    forward_flops,
    init_ensemble,
    num_members,
)
from cemgd.models.rollout import RewardFn, make_rollout

__all__ = [
    "ACTIVATIONS",
    "EnsembleParams",
    "RewardFn",
    "ensemble_apply",
    "forward_flops",
    "init_ensemble",
    "make_rollout",
    "num_members",
]
