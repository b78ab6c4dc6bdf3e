"""Cross-Entropy Method planner, the baseline of the CEM-GD paper.

Rubinstein, "Optimization of computer simulation models with rare events",
European Journal of Operational Research, 1997; as used for planning in PETS
(Chua et al., "Deep Reinforcement Learning in a Handful of Trials using
Probabilistic Dynamics Models", NeurIPS 2018) and in the CEM-GD paper (Huang et
al., Sec. 2.1, Eq. 2). ``num_samples`` sequences per iteration for
``num_iterations`` iterations (N = n * m rollouts per step), truncated-normal
sampling inside the action box, elite moving average with weight ``alpha``,
warm start from the previous plan shifted by one step. Returns the best sequence
seen, as the paper states; with ``return_mean`` the mean of the sampling distribution
after the last iteration (the last elites' mean averaged in with weight ``alpha``:
mbrl-lib's ``return_mean_elites``), evaluated once so the step reports its return.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from cemgd.planners.base import Planner, Result, WarmFill, num_elites_for
from cemgd.planners.chunking import score
from cemgd.planners.loop import cem_stage
from cemgd.planners.sampling import Search
from cemgd.planners.settings import CEMSettings
from cemgd.problem import Array, Info, Problem
from cemgd.validate import check_int

__all__ = ["CEM", "CEMConfig", "CEMSamples", "CEMSettings", "CEMState", "ReturnMean",
           "cem_stage", "check_return_mean", "final_mean"]


@dataclass(frozen=True)
class CEMSamples(CEMSettings):
    """The CEM settings plus the sequences sampled per iteration (``cem``, ``gradcem``,
    ``icem``)."""

    num_samples: int = 100
    """Sequences sampled per iteration (n)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        check_int("num_samples", self.num_samples)

    @property
    def num_elites(self) -> int:
        """Elites per iteration."""
        return num_elites_for(self.num_samples, self.elite_ratio)


@dataclass(frozen=True)
class ReturnMean:
    """The setting ``cem`` and ``cem-gd`` add to the CEM settings: what the CEM stage gives."""

    return_mean: bool = False
    """Give the CEM mean after the last iteration (mbrl-lib), not the best sequence seen."""


def check_return_mean(config: ReturnMean) -> None:
    """Raise ValueError unless ``config.return_mean`` is a bool."""
    if not isinstance(config.return_mean, bool):
        raise ValueError(f"return_mean: expected a bool, got {config.return_mean!r}")


def final_mean(problem: Problem, obs: Array, found: Search) -> tuple[Array, Array, Info]:
    """``(mean [1, T, A], its return [1], tally)``: the mean of :func:`cem_stage`'s final
    distribution (clipped to the box), evaluated under the stage's rollout key
    (``found.eval_key``) and counted (``return_mean``)."""
    mean = problem.clip(found.dist.mean)[None]
    returns, tally = score(found.info, problem, obs, mean, found.eval_key)
    return mean, returns, tally


@dataclass(frozen=True)
class CEMConfig(ReturnMean, CEMSamples):
    """Settings of ``cem`` (defaults: the paper's CEM 500, 100 x 5, as mbrl-lib's CEM
    runs: the final mean returned, the warm start's new step at the box centre;
    ``docs/results/pets-parity/`` measures both in the PETS loop)."""

    warm_fill: WarmFill = "initial"
    """Last step of the next step's warm start: 'initial' starts it at the initial mean,
    the box centre (mbrl-lib, PETS' code, the CEM-GD authors' code); 'last' repeats the
    plan's last action."""
    return_mean: bool = True
    """Give the CEM mean after the last iteration (mbrl-lib); False: the best sequence seen."""

    def __post_init__(self) -> None:
        super().__post_init__()
        check_return_mean(self)


class CEMState(NamedTuple):
    """``cem``'s state: the warm start ``mean: [T, A]``, ``key``, ``step`` (calls since
    init)."""

    mean: Array
    key: Array
    step: Array


class CEM(Planner):
    """CEM with warm start; see the module docstring."""

    name = "cem"
    Config = CEMConfig
    State = CEMState

    def _optimize(self, problem: Problem, obs: Array, state: CEMState, key: Array) -> Result:
        found = cem_stage(problem, obs, key, state.mean, self.config, self.config.num_samples)
        if self.config.return_mean:
            mean, mean_return, tally = final_mean(problem, obs, found)
            return Result(mean[0], mean_return[0], tally)
        return Result(found.top_actions[0], found.top_returns[0], found.info)
