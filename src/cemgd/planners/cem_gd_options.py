"""CEM-GD's settings beyond Algorithm 1 (:mod:`cemgd.planners.cem_gd`), and its config's checks.

``return_mean`` (mbrl-lib's ``return_mean_elites``): the CEM stage's final mean, evaluated
once, becomes the first of the top-k starts (the last one leaves).

``keep_warm_start`` (on in the preset ``cem-gd-robust``, with the scale-free
``step_rule="scaled"``): the warm start itself (the previous plan shifted, ``state.mean``) is
evaluated with the step's key and competes with the CEM samples for the top-k, so on a
deterministic problem a step never returns a plan worse than the shifted previous one.
"""

from __future__ import annotations

from typing import Protocol

import jax.numpy as jnp

from cemgd.planners.cem import check_return_mean, final_mean
from cemgd.planners.chunking import score
from cemgd.planners.sampling import Search, merge_top_k
from cemgd.problem import Array, Info, Problem
from cemgd.validate import check_int


class CEMGDOptions(Protocol):
    """The fields of :class:`~cemgd.planners.cem_gd.CEMGDConfig` read here."""

    num_iterations: int
    top_k: int
    n_init: int
    n_replan: int
    return_mean: bool
    keep_warm_start: bool


def check_config(config: CEMGDOptions) -> None:
    """Raise ValueError naming the setting unless ``return_mean`` and ``keep_warm_start``
    are bools, ``n_init`` and ``n_replan`` multiples of ``num_iterations`` (at least one
    per iteration) and ``top_k`` at most the smaller of them."""
    check_return_mean(config)
    if not isinstance(config.keep_warm_start, bool):
        raise ValueError(f"keep_warm_start: expected a bool, got {config.keep_warm_start!r}")
    for name in ("n_init", "n_replan"):
        value = getattr(config, name)
        check_int(name, value, config.num_iterations)
        if value % config.num_iterations:
            raise ValueError(
                f"{name}: expected a multiple of num_iterations={config.num_iterations}, "
                f"got {value}"
            )
    if config.top_k > min(config.n_init, config.n_replan):
        raise ValueError(
            f"top_k: expected <= min(n_init, n_replan) = "
            f"{min(config.n_init, config.n_replan)}, got {config.top_k}"
        )


def with_options(problem: Problem, obs: Array, warm_start: Array, found: Search,
                 config: CEMGDOptions) -> tuple[Array, Array, Info]:
    """The gradient stage's starts: the CEM stage's top-k (``found.top_actions: [k, T, A]``,
    ``found.top_returns: [k]``) and its counts, with ``return_mean`` and ``keep_warm_start``
    applied (``warm_start: [T, A]``, the state's mean); as they are when both are off."""
    top_actions, top_returns, tally = found.top_actions, found.top_returns, found.info
    if config.return_mean:  # the final mean replaces the best sample as the first start
        mean, mean_return, tally = final_mean(problem, obs, found)
        top_actions = jnp.concatenate([mean, top_actions[:-1]])
        top_returns = jnp.concatenate([mean_return, top_returns[:-1]])
    if config.keep_warm_start:  # scored with the CEM stage's rollout key: paired
        warm = problem.clip(warm_start)[None]
        warm_return, tally = score(tally, problem, obs, warm, found.eval_key)
        top_actions, top_returns = merge_top_k(top_actions, top_returns, warm, warm_return)
    return top_actions, top_returns, tally
