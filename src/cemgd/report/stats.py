"""The statistics that decide a claim: a difference with a bootstrap confidence interval.

A claim compares planner ``a`` with planner ``b`` on one metric. Where both ran with
the same seeds (a sweep's seeds, an evaluation's episode seeds) the samples are
**paired** and the statistic is the mean of the per-seed differences ``a - b``;
otherwise it is the difference of the two means (each side resampled on its own).
The 95% interval is a percentile bootstrap (10 000 resamples, a fixed generator, so
a report is reproducible).

Verdicts (``holds`` / ``does not hold`` / ``cannot tell``), with ``m`` the margin of
practical equivalence (:data:`MARGIN` times the mean magnitude of ``b``):

- ``better`` (a is better than b): holds when the interval lies above 0; does not
  hold when it lies below 0, or inside ``[-m, m]`` (a tie is shown).
- ``no_worse`` (a is as good as or better than b): holds when the interval lies above
  ``-m``; does not hold when it lies below ``-m``.
- ``tie`` (a and b are equal): holds when the interval lies inside ``[-m, m]``; does
  not hold when it lies outside it.

Otherwise ``cannot tell``, with the sample size at which the interval's half-width
would reach the nearest decision boundary (normal approximation, the observed
spread): ``n = ceil((1.96 sd / distance)^2)``.

Fewer than :data:`MIN_N` samples decide nothing (``cannot tell``, at least ``MIN_N``
needed) unless every difference is the same (an exact metric, e.g. compiled memory):
from two or three pairs a percentile interval is about the range of the differences,
which lies on one side of 0 for a quarter of the draws where nothing differs (n = 3).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

#: Equivalence margin, as a fraction of the reference's mean magnitude.
MARGIN = 0.05
#: Bootstrap resamples and confidence level.
RESAMPLES = 10_000
LEVEL = 0.95
KINDS = ("better", "no_worse", "tie")
HOLDS, FAILS, UNSURE = "holds", "does not hold", "cannot tell"
#: Fewest samples (pairs, or the smaller side) a varying metric's verdict needs.
MIN_N = 5


@dataclass(frozen=True)
class Comparison:
    """``a - b`` on one metric (signs flipped for lower-is-better metrics)."""

    diff: float
    """Mean paired difference (or difference of means)."""
    low: float
    """Lower end of the 95% bootstrap interval."""
    high: float
    """Upper end."""
    n: int
    """Pairs (paired) or the smaller side's count (unpaired)."""
    paired: bool
    sd: float
    """Spread behind the interval: sd of the differences (paired) or pooled."""
    mean_a: float
    """Mean of ``a`` (paired: over the shared seeds only)."""
    mean_b: float
    """Mean of ``b`` (paired: over the shared seeds only)."""


@dataclass(frozen=True)
class Verdict:
    """How a comparison decides a claim."""

    verdict: str
    """``holds``, ``does not hold`` or ``cannot tell``."""
    margin: float
    """The equivalence margin ``m`` used (in the metric's units)."""
    n_needed: int | None
    """With ``cannot tell``: the sample size that would tell (None: none would, or decided)."""


def bootstrap_mean_ci(x: np.ndarray, resamples: int = RESAMPLES, level: float = LEVEL,
                      seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``x [n]`` (n >= 1)."""
    x = np.asarray(x, float)
    if x.size == 1 or np.all(x == x[0]):
        return float(x[0] if x.size == 1 else x.mean()), float(x[0] if x.size == 1 else x.mean())
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, (resamples, x.size))].mean(axis=1)
    tail = (1 - level) / 2 * 100
    return float(np.percentile(means, tail)), float(np.percentile(means, 100 - tail))


def compare(a: Mapping[int, float], b: Mapping[int, float], lower_is_better: bool = False,
            ) -> Comparison | None:
    """Compare ``a`` and ``b`` (values keyed by seed): paired on shared seeds when there
    are at least two, else unpaired. ``None`` when a side has no finite value."""
    a = {k: v for k, v in a.items() if math.isfinite(v)}
    b = {k: v for k, v in b.items() if math.isfinite(v)}
    if not a or not b:
        return None
    sign = -1.0 if lower_is_better else 1.0
    shared = sorted(set(a) & set(b))
    if len(shared) >= 2 or (len(shared) == 1 and len(a) == len(b) == 1):
        xa, xb = np.array([a[k] for k in shared]), np.array([b[k] for k in shared])
        d = sign * (xa - xb)
        low, high = bootstrap_mean_ci(d)
        sd = float(d.std(ddof=1)) if d.size > 1 else math.nan
        # the means of the pairs, so that they differ by the paired difference shown
        return Comparison(float(d.mean()), low, high, len(shared), True, sd,
                          float(xa.mean()), float(xb.mean()))
    mean_a, mean_b = float(np.mean(list(a.values()))), float(np.mean(list(b.values())))
    xa, xb = np.array(list(a.values())), np.array(list(b.values()))
    rng = np.random.default_rng(1)
    ma = xa[rng.integers(0, xa.size, (RESAMPLES, xa.size))].mean(axis=1)
    mb = xb[rng.integers(0, xb.size, (RESAMPLES, xb.size))].mean(axis=1)
    diffs = sign * (ma - mb)
    tail = (1 - LEVEL) / 2 * 100
    low, high = (float(np.percentile(diffs, q)) for q in (tail, 100 - tail))
    pooled = math.sqrt((_var(xa) + _var(xb)) / 2) if min(xa.size, xb.size) > 1 else math.nan
    return Comparison(sign * (mean_a - mean_b), low, high, min(xa.size, xb.size), False,
                      pooled * math.sqrt(2) if math.isfinite(pooled) else math.nan,
                      mean_a, mean_b)


def _var(x: np.ndarray) -> float:
    return float(x.var(ddof=1)) if x.size > 1 else 0.0


def decide(c: Comparison, kind: str, margin_fraction: float = MARGIN) -> Verdict:
    """The verdict of claim ``kind`` (see the module docstring) on comparison ``c``.

    Raises:
        ValueError: ``kind`` is not one of :data:`KINDS`.
    """
    if kind not in KINDS:
        raise ValueError(f"kind: expected one of {KINDS}, got {kind!r}")
    m = margin_fraction * abs(c.mean_b)
    lo, hi = c.low, c.high
    exact = c.n >= 2 and c.high - c.low <= 1e-9 * max(1.0, abs(c.diff))  # all differences equal
    if c.n < MIN_N and not exact:
        return Verdict(UNSURE, m, max(MIN_N, _n_needed(c, _boundaries(kind, m)) or MIN_N))
    if kind == "better":
        verdict = HOLDS if lo > 0 else FAILS if (hi < 0 or (lo >= -m and hi <= m)) else UNSURE
    elif kind == "no_worse":
        verdict = HOLDS if lo > -m else FAILS if hi < -m else UNSURE
    else:
        verdict = HOLDS if (lo >= -m and hi <= m) else FAILS if (lo > m or hi < -m) else UNSURE
    needed = _n_needed(c, _boundaries(kind, m)) if verdict == UNSURE else None
    return Verdict(verdict, m, needed)


def _boundaries(kind: str, m: float) -> tuple[float, ...]:
    return {"better": (0.0, m), "no_worse": (-m,), "tie": (-m, m)}[kind]


def _n_needed(c: Comparison, boundaries: tuple[float, ...]) -> int | None:
    """Samples at which 1.96 sd / sqrt(n) reaches the nearest boundary (None: none does)."""
    distance = min(abs(c.diff - b) for b in boundaries)
    if not math.isfinite(c.sd) or distance <= 0:
        return None
    return max(c.n + 1, math.ceil((1.96 * c.sd / distance) ** 2))
