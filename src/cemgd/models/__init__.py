"""Learned dynamics: a PETS probabilistic ensemble, its training and particle rollouts."""

from cemgd.models.data import ModelData, bucket_size
from cemgd.models.ensemble import (
    ACTIVATIONS,
    EnsembleParams,
    ensemble_apply,
    forward_flops,
    init_ensemble,
    num_members,
)
from cemgd.models.io import (
    load_model,
    model_architecture,
    read_npz,
    save_model,
    write_model,
)
from cemgd.models.normalizer import (
    Normalizer,
    fit_normalizer,
    fold_normalizer,
    identity_normalizer,
    normalize_inputs,
    normalized_apply,
)
from cemgd.models.rollout import RewardFn, make_rollout
from cemgd.models.train import (
    TrainConfig,
    TrainReport,
    gaussian_nll,
    train_ensemble,
    validation_mse,
)

__all__ = [
    "ACTIVATIONS",
    "EnsembleParams",
    "ModelData",
    "Normalizer",
    "RewardFn",
    "TrainConfig",
    "TrainReport",
    "bucket_size",
    "ensemble_apply",
    "fit_normalizer",
    "fold_normalizer",
    "forward_flops",
    "gaussian_nll",
    "identity_normalizer",
    "init_ensemble",
    "load_model",
    "make_rollout",
    "model_architecture",
    "normalize_inputs",
    "normalized_apply",
    "num_members",
    "read_npz",
    "save_model",
    "train_ensemble",
    "validation_mse",
    "write_model",
]
