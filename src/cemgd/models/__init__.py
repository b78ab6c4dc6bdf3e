"""Learned dynamics: a PETS probabilistic ensemble, its training and particle rollouts.

Any pure JAX ensemble that follows :class:`EnsembleModel` (:mod:`cemgd.models.protocol`)
rolls out, trains and runs in the PETS loop like the built-in one (:class:`MLPEnsemble`).
"""

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
    load_params,
    model_architecture,
    model_digest,
    read_npz,
    save_model,
    write_model,
    write_params,
)
from cemgd.models.normalizer import (
    Normalizer,
    fit_normalizer,
    fold_normalizer,
    identity_normalizer,
    normalize_inputs,
    normalized_apply,
)
from cemgd.models.protocol import EnsembleModel, MLPEnsemble, Normalized, StackedEnsemble
from cemgd.models.rollout import RewardFn, make_rollout
from cemgd.models.score import validation_mse
from cemgd.models.train import TrainConfig, TrainReport, gaussian_nll, train_ensemble

__all__ = [
    "ACTIVATIONS",
    "EnsembleModel",
    "EnsembleParams",
    "MLPEnsemble",
    "ModelData",
    "Normalized",
    "Normalizer",
    "RewardFn",
    "StackedEnsemble",
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
    "load_params",
    "make_rollout",
    "model_architecture",
    "model_digest",
    "normalize_inputs",
    "normalized_apply",
    "num_members",
    "read_npz",
    "save_model",
    "train_ensemble",
    "validation_mse",
    "write_model",
    "write_params",
]
