"""Closed-loop LQ return over action boxes and return scales, per planner (issue 9, item 4).

Run: ``python benchmarks/invariance.py`` (about 10-20 minutes on 2 shared cores), or
``--boxes 0.1 100 --scales 0.001 1000`` for a corner subset. Each cell is the
closed-loop return of a 20-step episode (planning horizon 15, 2 double integrators,
``cemgd.experiments.invariance``) over the Riccati optimum of the episode: 1.000 is
optimal, 1.05 is 5% more cost. ``pass`` means every cell of the row is within 5%.
"""

from __future__ import annotations

import argparse
import time

from cemgd.experiments.invariance import BOXES, RETURN_SCALES, study

PLANNERS = ("cem-gd-robust", "cem-gd", "cem-5000", "icem", "mppi")


def main() -> None:
    """Print one row per planner and one column per (box, return scale)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--planners", nargs="+", default=list(PLANNERS))
    parser.add_argument("--boxes", nargs="+", type=float, default=list(BOXES))
    parser.add_argument("--scales", nargs="+", type=float, default=list(RETURN_SCALES))
    parser.add_argument("--seeds", type=int, default=1)
    args = parser.parse_args()
    cells = [(b, c) for b in args.boxes for c in args.scales]
    head = "| planner | " + " | ".join(f"+-{b:g}, x{c:g}" for b, c in cells) + " | pass |"
    print(head)
    print("|---|" + "---:|" * len(cells) + "---|")
    for spec in args.planners:
        start = time.perf_counter()
        rows = study([spec], boxes=args.boxes, return_scales=args.scales, seeds=args.seeds)
        ratios = [r["ratio"] for r in rows]
        ok = "yes" if max(ratios) <= 1.05 else "no"
        print(f"| {spec} | " + " | ".join(f"{x:.3f}" for x in ratios) + f" | {ok} |"
              f"  ({time.perf_counter() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
