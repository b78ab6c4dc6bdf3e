"""The settings of CEM-GD's two stages, with their checks: :class:`CEMSettings` (the CEM
stage, :mod:`cemgd.planners.loop`; shared by ``cem``, ``cem-gd``, ``gradcem``, ``icem``) and
:class:`GradientSettings` (the gradient stage, :mod:`cemgd.planners.gradient`; shared by
``cem-gd`` and ``gd``). Defaults are the paper's (Sec. 3)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from cemgd.planners.base import WarmFill, check_warm_fill
from cemgd.planners.chunking import check_max_batch
from cemgd.planners.gradient_options import LineSearch, StepRule, check_options
from cemgd.planners.objectives import GradObjective
from cemgd.validate import check_int, check_range

Truncation = Literal["box", "pets"]


@dataclass(frozen=True)
class CEMSettings:
    """The CEM settings every CEM-based planner shares (``cem``, ``cem-gd``, ``gradcem``,
    ``icem``); each adds how many sequences it samples."""

    num_iterations: int = 5
    """CEM iterations per planning step (m)."""
    elite_ratio: float = 0.1
    """Fraction of each iteration's samples kept as elites (at least one)."""
    alpha: float = 0.9
    """Weight of the elites' mean and variance in the moving average (Eq. 2)."""
    init_std: float = 0.5
    """Initial std in half-widths of the action box (0.5: PETS' var = width^2 / 16)."""
    truncation: Truncation = "pets"
    """'pets': PETS' std cap near bounds (the paper's code); 'box': normal cut to the box."""
    warm_fill: WarmFill = "last"
    """Last step of the next step's warm start: 'last' repeats the plan's last action (the
    CEM-GD paper); 'initial' starts it at the initial mean, the box centre (PETS' code,
    mbrl-lib)."""
    max_batch: int | None = None
    """Sequences rolled out at a time; larger batches run in chunks (same result, less
    memory). ``None``: 2000 rows of rollout work a chunk, ``2000 // Problem.rollout_rows``
    sequences (100 at 20 particles; ``DEFAULT_CHUNK_ROWS``)."""

    def __post_init__(self) -> None:
        parent = getattr(super(), "__post_init__", None)
        if parent is not None:  # the other base of a composed config (cem-gd's gradient stage)
            parent()
        check_int("num_iterations", self.num_iterations)
        check_range("elite_ratio", self.elite_ratio, 0.0, 1.0, low_open=True)
        check_range("alpha", self.alpha, 0.0, 1.0, low_open=True)
        check_range("init_std", self.init_std, 0.0, float("inf"), low_open=True)
        check_truncation(self.truncation)
        check_warm_fill(self.warm_fill)
        check_max_batch(self.max_batch)


def check_truncation(value: Any) -> None:
    """Raise ValueError unless ``value`` is ``"box"`` or ``"pets"``."""
    if value not in ("box", "pets"):
        raise ValueError(f"truncation: expected 'box' or 'pets', got {value!r}")


@dataclass(frozen=True)
class GradientSettings:
    """The gradient stage's settings, shared by ``cem-gd`` and ``gd`` (paper, Sec. 3)."""

    top_k: int = 1
    """Sequences refined by gradient ascent at every step (k)."""
    grad_steps: int = 10
    """Gradient updates per sequence (G)."""
    step_size: float = 0.01
    """Initial step size of every line search (eta_init)."""
    step_decay: float = 0.67
    """Backtracking factor (rho)."""
    line_search_trials: int = 8
    """Step sizes tried per gradient update (J)."""
    line_search: LineSearch = "sequential"
    """'sequential' backtracking (the paper) or 'parallel' (all J in one batch)."""
    step_rule: StepRule = "paper"
    """'paper': a step of eta times the gradient, eta restarting at step_size; 'scaled':
    the largest coordinate moves step_size half-widths of the box, growing by 1/rho
    after each accepted step (invariant to the return's scale and the box's); 'adam': the
    CEM-GD authors' code, Adam's direction (moments advanced by accepted steps only) with
    eta restarting at step_size (a trial must raise the return; their code also accepts
    an equal one)."""
    grad_objective: GradObjective = "mean"
    """What gradient steps climb: 'mean' (the problem's gradient rollout, e.g. the members'
    mean predictions, the paper), 'sampled' (the sampled return CEM ranks), 'pessimistic'
    (mean minus risk x std over particles) or 'cvar' (mean of the worst risk fraction)."""
    risk: float = 0.5
    """'pessimistic': std multiplier (>= 0); 'cvar': worst fraction of particles in (0, 1]."""

    def __post_init__(self) -> None:
        check_int("top_k", self.top_k)
        check_int("grad_steps", self.grad_steps, 0)
        check_range("step_size", self.step_size, 0.0, float("inf"), low_open=True)
        check_range("step_decay", self.step_decay, 0.0, 1.0, low_open=True, high_open=True)
        check_int("line_search_trials", self.line_search_trials)
        check_options(self.line_search, self.step_rule, self.grad_objective, self.risk)
