"""The statistics that decide a claim: a mean difference with a t interval.

A claim compares planner ``a`` with planner ``b`` on one metric. Samples are keyed by
an episode seed, or by ``(model, seed)`` when the same planners ran on several models.
Where both sides share keys the samples are **paired** and the statistic is the mean
of the per-key differences ``a - b``; otherwise it is the difference of the two means.

The interval is a **t interval** at :data:`LEVEL` (two-sided 95%, so each one-sided
decision errs at most 2.5%):

- one model, paired: the paired t interval (``n - 1`` degrees of freedom);
- several models, paired: stratified by model, each model's paired differences
  weighted by its share of the pairs, the standard error from the spread within each
  model and Welch-Satterthwaite degrees of freedom. The inference is conditional on
  the models evaluated (they are fixed, not sampled);
- unpaired: Welch's interval.

Why t and not a bootstrap: simulated at each claim's boundary with n = 5, 8, 12, 20,
the paired t interval says ``holds`` wrongly at its nominal 2.5% on normal
differences and below it on heavy-tailed ones (t, 3 dof), where the percentile
bootstrap said it 7-10% of the time at n = 5 (``tests/test_report_stats.py``;
``python -m cemgd.report.simulate`` prints the whole grid). No interval for a mean
keeps its level at these n for every distribution: on strongly skewed differences
(a centred lognormal, sigma 1) the side of the long tail errs 13-18% (bootstrap-t
7-11%), while the other side errs under 0.2%. The report shows the sample skewness
of each claim's differences so that a reader sees when this applies.

Verdicts (``holds`` / ``does not hold`` / ``cannot tell``), with ``m`` the margin of
practical equivalence (:func:`margin`):

- ``better`` (a is better than b): holds when the interval lies above 0; does not
  hold when it lies below 0, or inside ``[-m, m]`` (a tie is shown).
- ``no_worse`` (a is as good as or better than b): holds when the interval lies above
  ``-m``; does not hold when it lies below ``-m``.
- ``tie`` (a and b are equal): holds when the interval lies inside ``[-m, m]`` (two
  one-sided tests); does not hold when it lies outside it.

Otherwise ``cannot tell``, with the number of pairs at which the one-sided t test of
the decision the observed difference points to has 80% power, at the observed
difference and spread (:func:`n_needed`). Fewer than :data:`MIN_N` samples decide
nothing unless every difference is the same (an exact metric, e.g. compiled memory).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from dataclasses import dataclass

import numpy as np
from scipy import special

#: Equivalence margin: this fraction of the reference's improvement over the
#: uniform-random policy (of the reference's magnitude for time and memory).
MARGIN = 0.10
#: Two-sided confidence level; each one-sided decision errs at most (1 - LEVEL) / 2.
LEVEL = 0.95
#: Power at which :func:`n_needed` sizes an experiment.
POWER = 0.80
KINDS = ("better", "no_worse", "tie")
HOLDS, FAILS, UNSURE = "holds", "does not hold", "cannot tell"
#: Fewest samples (pairs, or the smaller side) a varying metric's verdict needs.
MIN_N = 5


@dataclass(frozen=True)
class Comparison:
    """``a - b`` on one metric (signs flipped for lower-is-better metrics)."""

    diff: float
    """Mean paired difference (pooled over models by pairs), or difference of means."""
    low: float
    """Lower end of the t interval at :data:`LEVEL`."""
    high: float
    """Upper end."""
    n: int
    """Pairs (paired) or the smaller side's count (unpaired)."""
    paired: bool
    sd: float
    """Spread of one difference (paired: within models; unpaired: sqrt(2) x pooled)."""
    mean_a: float
    """Mean of ``a`` (paired: over the shared keys only)."""
    mean_b: float
    """Mean of ``b`` (paired: over the shared keys only)."""
    se: float = math.nan
    """Standard error of ``diff`` (0 when every difference is the same)."""
    df: float = math.nan
    """Degrees of freedom of the t interval."""
    skew: float = math.nan
    """Sample skewness of the paired differences (NaN unpaired or n < 3)."""
    per_model: tuple[tuple[str, float, int], ...] = ()
    """With several models: ``(model, mean paired difference, pairs)`` of each."""

    @property
    def exact(self) -> bool:
        """Every difference is the same (a deterministic metric)."""
        return self.n >= 2 and self.se == 0.0


@dataclass(frozen=True)
class Verdict:
    """How a comparison decides a claim."""

    verdict: str
    """``holds``, ``does not hold`` or ``cannot tell``."""
    margin: float
    """The equivalence margin ``m`` used (in the metric's units)."""
    n_needed: int | None
    """With ``cannot tell``: pairs for 80% power (None: none would, or decided)."""
    p_holds: float = math.nan
    """One-sided p-value of the test that would make the claim hold."""
    p_fails: float = math.nan
    """One-sided p-value of the test that would make it not hold."""


def margin(mean_b: float, floor: float | None, fraction: float = MARGIN) -> float:
    """The equivalence margin: ``fraction`` of the reference's improvement over the
    uniform-random return ``floor`` (offset-free), or of ``|mean_b|`` when ``floor``
    is None (times and memory, whose zero is natural)."""
    return fraction * abs(mean_b - (0.0 if floor is None else floor))


def _tq(df: float, q: float) -> float:
    """The ``q`` quantile of Student's t with ``df`` degrees of freedom."""
    return float(special.stdtrit(df, q)) if math.isfinite(df) and df > 0 else math.inf


def _interval(diff: float, se: float, df: float, level: float = LEVEL) -> tuple[float, float]:
    half = 0.0 if se == 0.0 else _tq(df, 0.5 + level / 2) * se
    return diff - half, diff + half


def _key_model(key: Hashable) -> str:
    return str(key[0]) if isinstance(key, tuple) else ""


def _skew(d: np.ndarray) -> float:
    c = d - d.mean()
    v = float((c ** 2).mean())
    return float((c ** 3).mean() / v ** 1.5) if d.size >= 3 and v > 0 else math.nan


def _paired(d: np.ndarray, models: list[str]) -> tuple[float, float, float, float,
                                                       tuple[tuple[str, float, int], ...]]:
    """``(diff, se, df, sd, per_model)`` of paired differences ``d [n]`` by model."""
    groups = {m: d[[i for i, x in enumerate(models) if x == m]] for m in dict.fromkeys(models)}
    n = d.size
    if len(groups) == 1:
        sd = float(d.std(ddof=1)) if n > 1 else math.nan
        return float(d.mean()), sd / math.sqrt(n), float(n - 1), sd, ()
    weights = {m: x.size / n for m, x in groups.items()}
    terms = {m: (weights[m] ** 2) * (x.var(ddof=1) if x.size > 1 else math.nan) / x.size
             for m, x in groups.items()}
    var = sum(terms.values())
    denom = sum(t ** 2 / (groups[m].size - 1) for m, t in terms.items() if groups[m].size > 1)
    df = var ** 2 / denom if denom > 0 else (math.inf if var == 0 else math.nan)
    within = np.concatenate([x - x.mean() for x in groups.values()])
    sd = float(math.sqrt((within ** 2).sum() / max(n - len(groups), 1)))
    per = tuple((m, float(x.mean()), int(x.size)) for m, x in groups.items())
    return float(d.mean()), math.sqrt(var), df, sd, per


def compare(a: Mapping[Hashable, float], b: Mapping[Hashable, float],
            lower_is_better: bool = False) -> Comparison | None:
    """Compare ``a`` and ``b`` (values keyed by seed, or by ``(model, seed)``): paired
    on shared keys when there are at least two, else unpaired. ``None`` when a side has
    no finite value."""
    a = {k: v for k, v in a.items() if math.isfinite(v)}
    b = {k: v for k, v in b.items() if math.isfinite(v)}
    if not a or not b:
        return None
    sign = -1.0 if lower_is_better else 1.0
    shared = sorted(set(a) & set(b), key=repr)
    if len(shared) >= 2 or (len(shared) == 1 and len(a) == len(b) == 1):
        xa, xb = np.array([a[k] for k in shared]), np.array([b[k] for k in shared])
        d = sign * (xa - xb)
        if d.size >= 2 and np.all(d == d[0]):
            diff, se, df, sd, per = float(d[0]), 0.0, float(d.size - 1), 0.0, ()
        else:
            diff, se, df, sd, per = _paired(d, [_key_model(k) for k in shared])
        low, high = _interval(diff, se, df) if d.size > 1 else (diff, diff)
        return Comparison(diff, low, high, len(shared), True, sd, float(xa.mean()),
                          float(xb.mean()), se if d.size > 1 else math.nan,
                          df, _skew(d), per)
    xa, xb = np.array(list(a.values())), np.array(list(b.values()))
    va, vb = (x.var(ddof=1) / x.size if x.size > 1 else math.nan for x in (xa, xb))
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va ** 2 / (xa.size - 1) + vb ** 2 / (xb.size - 1)) \
        if math.isfinite(se) and se > 0 else math.nan
    diff = sign * float(xa.mean() - xb.mean())
    low, high = _interval(diff, se, df) if math.isfinite(se) else (math.nan, math.nan)
    pooled = math.sqrt((va * xa.size + vb * xb.size) / 2) if math.isfinite(se) else math.nan
    return Comparison(diff, low, high, min(xa.size, xb.size), False, pooled * math.sqrt(2),
                      float(xa.mean()), float(xb.mean()), se, df)


def mean_ci(x: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    """The t interval of the mean of ``x [n]`` at ``level`` (NaN for n < 2 unless every
    value is the same)."""
    x = np.asarray(x, float)
    if x.size >= 1 and np.all(x == x[0]):
        return float(x[0]), float(x[0])
    if x.size < 2:
        return math.nan, math.nan
    return _interval(float(x.mean()), float(x.std(ddof=1)) / math.sqrt(x.size),
                     float(x.size - 1), level)


def p_above(c: Comparison, bound: float) -> float:
    """One-sided p-value of ``H0: true difference <= bound`` against ``> bound``."""
    if c.exact:
        return 0.0 if c.diff > bound else 1.0
    if not (math.isfinite(c.se) and c.se > 0 and math.isfinite(c.df)):
        return math.nan
    return float(special.stdtr(c.df, -(c.diff - bound) / c.se))


def p_below(c: Comparison, bound: float) -> float:
    """One-sided p-value of ``H0: true difference >= bound`` against ``< bound``."""
    if c.exact:
        return 0.0 if c.diff < bound else 1.0
    if not (math.isfinite(c.se) and c.se > 0 and math.isfinite(c.df)):
        return math.nan
    return float(special.stdtr(c.df, (c.diff - bound) / c.se))


def p_values(c: Comparison, kind: str, m: float) -> tuple[float, float]:
    """``(p_holds, p_fails)``: one-sided p-values of the tests that would make the claim
    hold and not hold (the larger of two one-sided tests where both must pass, the
    smaller where either suffices). A verdict at level ``alpha`` per side is ``holds``
    when ``p_holds < alpha``, ``does not hold`` when ``p_fails < alpha``.

    Raises:
        ValueError: ``kind`` is not one of :data:`KINDS`.
    """
    if kind not in KINDS:
        raise ValueError(f"kind: expected one of {KINDS}, got {kind!r}")
    tie = max(p_above(c, -m), p_below(c, m))
    if kind == "better":
        return p_above(c, 0.0), min(p_below(c, 0.0), tie)
    if kind == "no_worse":
        return p_above(c, -m), p_below(c, -m)
    return tie, min(p_above(c, m), p_below(c, -m))


def decide(c: Comparison, kind: str, m: float, alpha: float = (1 - LEVEL) / 2) -> Verdict:
    """The verdict of claim ``kind`` (see the module docstring) on comparison ``c`` with
    margin ``m`` (see :func:`margin`), each one-sided test at ``alpha``.

    Raises:
        ValueError: ``kind`` is not one of :data:`KINDS`, or ``m`` is negative or NaN.
    """
    if not m >= 0:
        raise ValueError(f"m: expected a margin >= 0, got {m!r}")
    p_hold, p_fail = p_values(c, kind, m)
    if c.n < MIN_N and not c.exact:
        return Verdict(UNSURE, m, max(MIN_N, n_needed(c, kind, m, alpha) or MIN_N),
                       p_hold, p_fail)
    verdict = HOLDS if p_hold < alpha else FAILS if p_fail < alpha else UNSURE
    needed = n_needed(c, kind, m, alpha) if verdict == UNSURE else None
    return Verdict(verdict, m, needed, p_hold, p_fail)


def _distance(c: Comparison, kind: str, m: float) -> float:
    """How far the observed difference lies from the boundary of the decision it points
    to (0: on a boundary, so no sample size decides)."""
    d = c.diff
    if kind == "better":
        return d if d > 0 else max(-d, m - abs(d))
    if kind == "no_worse":
        return abs(d + m)
    return m - abs(d) if abs(d) < m else abs(d) - m


def n_needed(c: Comparison, kind: str, m: float, alpha: float = (1 - LEVEL) / 2,
             power: float = POWER) -> int | None:
    """Pairs at which the one-sided t test of the decision the observed difference
    points to has ``power``, if the difference and spread are as observed (None: the
    difference sits on a boundary, or the spread is unknown)."""
    delta = _distance(c, kind, m)
    if not (math.isfinite(c.sd) and c.sd > 0 and delta > 0):
        return None
    n = 2
    for _ in range(50):  # t quantiles depend on n: iterate to the fixed point
        df = n - 1
        want = math.ceil(((_tq(df, 1 - alpha) + _tq(df, power)) * c.sd / delta) ** 2)
        want = max(want, 2)
        if want == n:
            break
        n = want
    return max(n, c.n + 1)


def holm(p: Mapping[str, float]) -> dict[str, float]:
    """Holm's step-down adjusted p-values of a family ``{name: p}`` (NaN stays NaN and
    counts as a member of the family)."""
    names = sorted(p, key=lambda k: (math.isnan(p[k]), p[k]))
    out, running, k = {}, 0.0, len(names)
    for i, name in enumerate(names):
        if math.isnan(p[name]):
            out[name] = math.nan
            continue
        running = max(running, min(1.0, (k - i) * p[name]))
        out[name] = running
    return out
