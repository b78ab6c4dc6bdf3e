"""How often the report's rules say ``holds`` when the claim sits exactly on its boundary.

Each claim is simulated where it is just false: ``better`` at a true difference of 0,
``no_worse`` at ``-m``, ``tie`` at ``+m`` and at ``-m``. Paired differences are drawn
from a normal, a heavy-tailed (t, 3 dof) and a skewed distribution (a lognormal with
sigma 1 minus its mean: long right tail; ``skewed-left`` is its mirror image), scaled
to unit spread, and decided by :func:`cemgd.report.stats.compare` and
:func:`~cemgd.report.stats.decide` as a report decides them. A one-sided 97.5% decision
should say ``holds`` at most 2.5% of the time.

``python -m cemgd.report.simulate [REPS]`` prints the whole grid (REPS per cell,
default 4000); ``--bootstrap`` adds the rate of a 95% percentile bootstrap interval of
the mean (the rule the t interval replaced) for ``better`` at 0.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence

import numpy as np

from cemgd.report import stats

#: Margin of the simulations, in units of the differences' spread.
SIM_MARGIN = 0.5
SIZES = (5, 8, 12, 20)


def _lognormal(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    x = rng.lognormal(0.0, 1.0, shape)
    return (x - math.exp(0.5)) / math.sqrt((math.e - 1) * math.e)


DISTRIBUTIONS: dict[str, Callable[[np.random.Generator, tuple[int, int]], np.ndarray]] = {
    "normal": lambda rng, shape: rng.standard_normal(shape),
    "t3": lambda rng, shape: rng.standard_t(3, shape) / math.sqrt(3.0),
    "skewed": _lognormal,
    "skewed-left": lambda rng, shape: -_lognormal(rng, shape),
}
#: ``(kind, true difference)`` of each boundary, the difference in units of the margin.
BOUNDARIES = (("better", 0.0), ("no_worse", -1.0), ("tie", 1.0), ("tie", -1.0))


def false_holds(kind: str, boundary: float, distribution: str, n: int, reps: int,
                seed: int = 0) -> float:
    """Fraction of ``reps`` simulated claims at ``boundary`` (x :data:`SIM_MARGIN`)
    decided ``holds``."""
    rng = np.random.default_rng(seed)
    draws = DISTRIBUTIONS[distribution](rng, (reps, n)) + boundary * SIM_MARGIN
    seeds = range(n)
    zero = dict.fromkeys(seeds, 0.0)
    said = 0
    for row in draws:
        c = stats.compare(dict(zip(seeds, row.tolist(), strict=True)), zero)
        said += stats.decide(c, kind, SIM_MARGIN).verdict == stats.HOLDS
    return said / reps


def bootstrap_false_holds(distribution: str, n: int, reps: int, resamples: int = 1000,
                          seed: int = 0) -> float:
    """Fraction of ``reps`` simulated ``better`` claims at a true difference of 0 whose
    95% percentile bootstrap interval of the mean lies above 0 (``resamples`` resamples
    of the ``n`` differences each)."""
    rng = np.random.default_rng(seed)
    draws = DISTRIBUTIONS[distribution](rng, (reps, n))
    said = 0
    for start in range(0, reps, 500):  # [chunk, resamples, n] resampled indices at a time
        chunk = draws[start:start + 500]
        idx = rng.integers(0, n, (chunk.shape[0], resamples, n))
        means = np.take_along_axis(chunk[:, None, :], idx, axis=2).mean(axis=2)
        said += int(np.sum(np.quantile(means, (1 - stats.LEVEL) / 2, axis=1) > 0))
    return said / reps


def slack(reps: int, rate: float = (1 - stats.LEVEL) / 2) -> float:
    """Three Monte-Carlo standard errors of a rate ``rate`` estimated from ``reps``."""
    return 3 * math.sqrt(rate * (1 - rate) / reps)


def grid(reps: int, distributions: Sequence[str] = tuple(DISTRIBUTIONS),
         sizes: Sequence[int] = SIZES) -> list[dict[str, object]]:
    """Every ``(kind, boundary, distribution, n)`` cell's false-``holds`` rate."""
    return [{"kind": kind, "boundary": boundary, "distribution": dist, "n": n,
             "rate": false_holds(kind, boundary, dist, n, reps, seed=n)}
            for kind, boundary in BOUNDARIES for dist in distributions for n in sizes]


def main(argv: Sequence[str] | None = None) -> int:
    """Print the grid as a Markdown table (``REPS``: claims simulated per cell)."""
    parser = argparse.ArgumentParser(
        prog="python -m cemgd.report.simulate",
        description="The report's false-'holds' rate at each claim's boundary, by simulation "
                    "of paired differences (normal, t with 3 dof, centred lognormal).")
    parser.add_argument("reps", nargs="?", type=int, default=4000,
                        help="simulated claims per cell (a positive integer; default 4000)")
    parser.add_argument("--bootstrap", action="store_true",
                        help="also the percentile bootstrap's rate for 'better' at 0")
    args = parser.parse_args(argv)
    reps = args.reps
    if reps < 1:
        parser.error(f"reps: expected a positive integer, got {reps}")
    nominal = (1 - stats.LEVEL) / 2
    print(f"False 'holds' at the boundary ({reps} claims per cell; nominal {nominal:.3f}, "
          f"Monte-Carlo slack {slack(reps):.3f})\n")
    print("| claim at its boundary | distribution | " + " | ".join(f"n = {n}" for n in SIZES)
          + " |")
    print("|---|---|" + "---:|" * len(SIZES))
    rows = grid(reps)
    for kind, boundary in BOUNDARIES:
        for dist in DISTRIBUTIONS:
            cells = [r for r in rows if (r["kind"], r["boundary"], r["distribution"])
                     == (kind, boundary, dist)]
            where = "0" if boundary == 0 else f"{'+' if boundary > 0 else '-'}m"
            print(f"| {kind} at {where} | {dist} | "
                  + " | ".join(f"{r['rate']:.4f}" for r in cells) + " |")
    if args.bootstrap:
        print_bootstrap(reps)
    return 0


def print_bootstrap(reps: int) -> None:
    """The percentile bootstrap's false-``holds`` rate for ``better`` at 0, as a table."""
    print("\nThe same for a 95% percentile bootstrap interval of the mean (1000 resamples), "
          "'better' at 0\n")
    print("| distribution | " + " | ".join(f"n = {n}" for n in SIZES) + " |")
    print("|---|" + "---:|" * len(SIZES))
    for dist in DISTRIBUTIONS:
        print(f"| {dist} | " + " | ".join(
            f"{bootstrap_false_holds(dist, n, reps, seed=n):.4f}" for n in SIZES) + " |")


if __name__ == "__main__":
    raise SystemExit(main())
