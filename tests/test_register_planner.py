"""register_planner: a user's Planner subclass becomes a planner name everywhere one is
accepted, and bad registrations are refused naming the argument."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cemgd import MPC, Problem
from cemgd.pets import PETSConfig
from cemgd.planners import (
    PLANNERS,
    make_planner,
    planner_settings,
    register_planner,
    resolve_planner,
)
from cemgd.planners.base import Planner, Result
from cemgd.planners.cem import CEM
from cemgd.planners.chunking import score
from cemgd.problem import Array, Info, PlanState


@dataclass(frozen=True)
class ZeroOrWarmConfig:
    scale: float = 1.0
    """Multiplies the warm start before it is scored beside all zeros."""


class ZeroOrWarm(Planner):
    """The better of all-zero actions and the scaled warm start."""

    name = "zero-or-warm"
    Config = ZeroOrWarmConfig

    def _optimize(self, problem: Problem, obs: Array, state: PlanState, key: Array) -> Result:
        candidates = problem.clip(jnp.stack([jnp.zeros_like(state.mean),
                                             self.config.scale * state.mean]))
        returns, tally = score(Info(num_samples=2), problem, obs, candidates, key)
        best = jnp.argmax(returns)
        return Result(candidates[best], returns[best], tally)


@pytest.fixture
def registered() -> Iterator[None]:
    register_planner("zero-or-warm", ZeroOrWarm)
    try:
        yield
    finally:
        PLANNERS.pop("zero-or-warm", None)


def _problem() -> Problem:
    def rollout(obs: Array, actions: Array, key: Array) -> Array:  # best: actions = 0.5
        return -jnp.sum((actions - 0.5) ** 2, axis=(1, 2))

    return Problem(rollout, horizon=3, action_low=-np.ones(2), action_high=np.ones(2))


def test_a_registered_planner_is_a_name_everywhere(registered: None):
    assert resolve_planner("zero-or-warm") == ("zero-or-warm", {})
    planner = make_planner("zero-or-warm:scale=0.5")
    assert isinstance(planner, ZeroOrWarm) and planner.config.scale == 0.5
    assert [s.name for s in planner_settings("zero-or-warm")] == ["scale"]
    assert PETSConfig(task="pendulum", planner="zero-or-warm").make_planner().name == (
        "zero-or-warm")
    mpc = MPC(planner, _problem())
    mpc.reset(jax.random.key(0))
    action = mpc.act(np.zeros(1))
    np.testing.assert_array_equal(action, np.zeros(2))  # zeros beat the zero warm start x 0.5
    assert int(mpc.last_info.num_rollouts) == 2 and int(mpc.last_info.num_samples) == 2
    register_planner("zero-or-warm", ZeroOrWarm)  # the same class again: no change
    assert PLANNERS["zero-or-warm"] is ZeroOrWarm


def test_unregistered_names_stay_unknown():
    assert "zero-or-warm" not in PLANNERS
    with pytest.raises(ValueError, match="unknown planner 'zero-or-warm'"):
        make_planner("zero-or-warm")


class Renamed(ZeroOrWarm):
    name = "cem"


@pytest.mark.parametrize("name, cls, message", [
    ("Zero Or Warm", ZeroOrWarm, "name: expected a planner name"),
    ("", ZeroOrWarm, "name: expected a planner name"),
    ("a:b", ZeroOrWarm, "name: expected a planner name"),
    ("other", ZeroOrWarm, "name: 'other' differs from the class's name 'zero-or-warm'"),
    ("cem", Renamed, "name: planner 'cem' is already registered"),
    ("zero-or-warm", int, "cls: expected a Planner subclass"),
    ("zero-or-warm", ZeroOrWarm(), "cls: expected a Planner subclass"),
])
def test_bad_registrations_are_refused(name: str, cls: object, message: str):
    before = dict(PLANNERS)
    with pytest.raises(ValueError, match=message):
        register_planner(name, cls)  # type: ignore[arg-type]
    assert PLANNERS == before


def test_a_preset_name_is_refused_and_replace_is_explicit():
    class Preset(ZeroOrWarm):
        name = "cem-500"

    with pytest.raises(ValueError, match="name: 'cem-500' is a preset of planner 'cem'"):
        register_planner("cem-500", Preset)
    register_planner("cem", Renamed, replace=True)
    try:
        assert isinstance(make_planner("cem"), Renamed)
    finally:
        PLANNERS["cem"] = CEM
