"""The optimizer that trains the ensemble, and a check of a state carried between trainings.

L2 weight decay on the leaves the model's ``decay_mask`` names is added to the gradient,
then Adam steps (torch Adam's ``weight_decay`` form, as PETS and mbrl-lib train). A
state from ``make_optimizer(...).init(params)`` can be handed from one training to the
next (:attr:`cemgd.models.train.TrainConfig.keep_optimizer`).
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
import optax

from cemgd.models.protocol import EnsembleModel


def make_optimizer(weight_decay: float, learning_rate: float, model: EnsembleModel
                   ) -> optax.GradientTransformation:
    """L2 decay (``weight_decay``) on ``model.decay_mask`` added to the gradient, then
    Adam with ``learning_rate``; its ``init(params)`` is a fresh state."""
    return optax.chain(optax.add_decayed_weights(weight_decay, mask=model.decay_mask),
                       optax.adam(learning_rate))


def check_opt_state(opt_state: Any, template: Any) -> None:
    """Raise ValueError naming ``opt_state`` unless its structure and leaf shapes are
    ``template``'s (a fresh state of the same optimizer and params)."""
    same = jax.tree.structure(opt_state) == jax.tree.structure(template) and all(
        np.shape(a) == np.shape(b)
        for a, b in zip(jax.tree.leaves(opt_state), jax.tree.leaves(template), strict=True))
    if not same:
        raise ValueError("opt_state: not an Adam state of these params and this config")
