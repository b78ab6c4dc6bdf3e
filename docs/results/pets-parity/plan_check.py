"""The outcome of ``plan-robust-preset.md``: its criteria C1 and C2 and the paired
differences, from the runs it names (read with ``table.py``'s loader). ::

    python docs/results/pets-parity/plan_check.py [--runs docs/results/pets-parity/runs]

Writes ``plan-robust-preset-result.md`` beside this file and prints it; exits 2 when a
run the plan names has not reached trial 15.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from table import LATE, Run, late, load

from cemgd.report.stats import mean_ci

TARGET = 150.0
#: (budget, candidate run, control run, fresh seeds, criterion) as the plan fixed them.
ARMS = (
    ("500", "cem-gd-robust-replan500-return-mean/defaults-warm-fill",
     "cem-gd-robust-replan500/defaults-warm-fill", (3, 4, 5), "C1"),
    ("50", "cem-gd-robust-return-mean/defaults-warm-fill",
     "cem-gd-robust/defaults-warm-fill", (6, 7, 8), "C2"),
)


def arm_lines(data: dict[str, dict[int, Run]], budget: str, candidate: str, control: str,
              seeds: tuple[int, ...], name: str) -> list[str]:
    """One budget's criterion and paired differences, as markdown lines.

    Raises:
        LookupError: a run of ``seeds`` under ``candidate`` or ``control`` is missing or
            has not reached trial 15.
    """
    values = {}
    for variant in (candidate, control):
        runs = data.get(variant, {})
        missing = [s for s in seeds if s not in runs or len(runs[s].returns) < LATE[-1]]
        if missing:
            raise LookupError(f"{variant}: seeds {missing} have not reached trial {LATE[-1]}")
        values[variant] = np.array([late(runs[s]) for s in seeds])
    cand, ctrl = values[candidate], values[control]
    diff = cand - ctrl
    low, high = mean_ci(diff)
    verdict = "holds" if cand.mean() >= TARGET else "does not hold"
    return [
        f"| {budget} | {name}: {cand.mean():.1f} >= {TARGET:g}: **{verdict}** | "
        f"{', '.join(f'{v:.1f}' for v in cand)} | {ctrl.mean():.1f} "
        f"({', '.join(f'{v:.1f}' for v in ctrl)}) | {diff.mean():.1f} [{low:.1f}, {high:.1f}] |"]


def outcome(runs: Path) -> str:
    """The outcome page's text from the runs under ``runs``.

    Raises:
        LookupError: a run the plan names has not reached trial 15.
    """
    data = load(runs)
    lines = ["Outcome of [plan-robust-preset.md](plan-robust-preset.md) "
             f"(`python docs/results/pets-parity/plan_check.py`): mean return over trials "
             f"{LATE[0]}-{LATE[-1]} on the fresh seeds; candidate `--planner.return-mean true` "
             "against the control without it, both with `--planner.warm-fill initial`; the "
             "difference is candidate - control seed by seed, its mean and 95 % t interval "
             "(n = 3, a description, not a test).", "",
             "| rollouts a step | criterion | candidate per seed | control (per seed) | "
             "difference [95 % t] |", "|---|---|---|---|---|"]
    for arm in ARMS:
        lines += arm_lines(data, *arm)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    here = Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", default=str(here / "runs"), help="ablation.sh's OUT")
    args = parser.parse_args(argv)
    try:
        text = outcome(Path(args.runs))
    except LookupError as err:
        print(f"--runs: {err}", file=sys.stderr)
        return 2
    (here / "plan-robust-preset-result.md").write_text(text, encoding="utf-8")
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
