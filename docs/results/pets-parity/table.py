"""The PETS parity ablation's table and learning curves, from the runs of ablation.sh.

Reads ``RUNS/VARIANT/seed-S/metrics.csv`` and ``RUNS/PLANNER/VARIANT/seed-S/metrics.csv``
(default ``runs/pets-parity``) and writes
``OUT/ablation.md`` (return per trial: mean ± std across seeds, per variant; the mean
over trials 12-15 with its seed spread; seconds per trial; then per variant each seed's
mean over trials 12-15, the 95 % t interval of their mean and the first trial from which
every later one returns above 140) and ``OUT/ablation.png``
(one curve per variant with a ±std band), then prints the table. Trials are numbered
from 1 as in mbrl-lib's logs (cemgd's trial index + 1). ::

    python docs/results/pets-parity/table.py [--runs runs/pets-parity]
        [--out docs/results/pets-parity]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import NamedTuple

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from cemgd.report.stats import mean_ci  # noqa: E402
from cemgd.runs import read_metrics  # noqa: E402

#: Variants in ablation.sh's order; others found under RUNS follow, sorted.
ORDER = ("baseline", "elites", "return-mean", "fixed-logvar", "decay-biases", "row-layout",
         "all", "warm-fill", "all-warm-fill", "keep-optimizer", "warm-fill-keep-optimizer",
         "partial-batch", "warm-fill-keep-optimizer-partial-batch", "three-elites",
         "three-fixed-logvar", "all-choices")
#: Trials (1-based) whose mean the issue's target is about.
LATE = (12, 13, 14, 15)
#: A return above this at every trial from one on: the pole swung up and balanced.
BALANCED = 140.0


class Run(NamedTuple):
    """One seed's run: ``returns`` and ``seconds`` (model training + episode) per trial."""

    returns: np.ndarray
    seconds: np.ndarray


def load(runs: Path) -> dict[str, dict[int, Run]]:
    """``{variant: {seed: Run}}`` of every run folder with a completed trial: ``VARIANT/seed-S``
    (the default planner) and ``PLANNER/VARIANT/seed-S`` (another one, ablation.sh with
    ``OUT=RUNS/PLANNER``; the variant is then named ``PLANNER/VARIANT``)."""
    out: dict[str, dict[int, Run]] = {}
    for run in sorted([*runs.glob("*/seed-*"), *runs.glob("*/*/seed-*")]):
        rows = read_metrics(run) if run.is_dir() else []
        if rows:
            variant = run.parent.relative_to(runs).as_posix()
            out.setdefault(variant, {})[int(run.name.removeprefix("seed-"))] = Run(
                np.asarray([r.episode_return for r in rows]),
                np.asarray([r.train_s + r.episode_s for r in rows]))
    known = [v for v in ORDER if v in out] + sorted(set(out) - set(ORDER))
    return {v: out[v] for v in known}


def stats(per_seed: dict[int, Run]) -> tuple[np.ndarray, np.ndarray, float, int]:
    """``(mean [n], std [n], seconds per trial, seeds)`` over the ``n`` trials every seed
    has done."""
    n = min(len(r.returns) for r in per_seed.values())
    block = np.stack([r.returns[:n] for r in per_seed.values()])
    seconds = float(np.mean([r.seconds[:n] for r in per_seed.values()]))
    return block.mean(0), block.std(0), seconds, len(per_seed)


def late(run: Run) -> float:
    """A run's statistic: its mean return over trials 12-15."""
    return float(run.returns[LATE[0] - 1:LATE[-1]].mean())


def late_mean(per_seed: dict[int, Run]) -> str:
    """Mean of trials 12-15 across seeds (± the std of the seeds' means), or '-'."""
    means = [late(r) for r in per_seed.values() if len(r.returns) >= LATE[-1]]
    return f"{np.mean(means):.1f} ± {np.std(means):.1f}" if means else "-"


def balanced_from(returns: np.ndarray) -> str:
    """The first trial (1-based) from which every later return is above BALANCED, or '-'."""
    above = returns > BALANCED
    later = np.flip(np.cumprod(np.flip(above)))  # 1 where this trial and all later are above
    return str(int(np.argmax(later)) + 1) if later.any() else "-"


def seed_table(data: dict[str, dict[int, Run]]) -> str:
    """Per variant with every seed at trial 15: each seed's mean over trials 12-15, the 95 %
    t interval of the seeds' mean, and each seed's first balanced trial."""
    lines = [f"| variant | seeds | trials {LATE[0]}-{LATE[-1]} per seed | 95 % t interval | "
             f"above {BALANCED:g} from trial |", "|---|---|---|---|---|"]
    for variant, per_seed in data.items():
        runs = {s: r for s, r in sorted(per_seed.items()) if len(r.returns) >= LATE[-1]}
        if len(runs) < len(per_seed) or not runs:
            continue
        means = np.array([late(r) for r in runs.values()])
        low, high = mean_ci(means)
        interval = f"[{low:.1f}, {high:.1f}]" if len(means) > 1 else "-"
        lines.append(f"| {variant} | {', '.join(map(str, runs))} | "
                     f"{', '.join(f'{m:.1f}' for m in means)} | {interval} | "
                     f"{', '.join(balanced_from(r.returns[:LATE[-1]]) for r in runs.values())} |")
    return "\n".join(lines)


def table(data: dict[str, dict[int, Run]]) -> str:
    """The markdown table: one row per variant, one column per trial."""
    trials = max(min(len(r.returns) for r in d.values()) for d in data.values())
    head = ["variant", "seeds", *(str(t + 1) for t in range(trials)),
            f"trials {LATE[0]}-{LATE[-1]}", "s / trial"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for variant, per_seed in data.items():
        mean, std, secs, seeds = stats(per_seed)
        cells = [f"{m:.1f} ± {s:.1f}" for m, s in zip(mean, std, strict=True)]
        cells += ["-"] * (trials - len(cells))
        lines.append("| " + " | ".join([variant, str(seeds), *cells, late_mean(per_seed),
                                        f"{secs:.1f}"]) + " |")
    return "\n".join(lines)


def figure(data: dict[str, dict[int, Run]], path: Path) -> None:
    """Return per trial, one curve per variant, a ±std band across seeds."""
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for variant, per_seed in data.items():
        mean, std, _, seeds = stats(per_seed)
        x = np.arange(1, len(mean) + 1)
        (line,) = ax.plot(x, mean, marker="o", ms=3, label=f"{variant} ({seeds} seeds)")
        ax.fill_between(x, mean - std, mean + std, color=line.get_color(), alpha=0.15)
    ax.set_xlabel("trial")
    ax.set_ylabel("episode return")
    ax.set_title("cemgd PETS with mbrl-lib's choices (mean ± std across seeds)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    here = Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", default="runs/pets-parity", help="ablation.sh's OUT")
    parser.add_argument("--out", default=str(here), help="where ablation.md/.png go")
    args = parser.parse_args(argv)
    data = load(Path(args.runs))
    if not data:
        print(f"--runs: no run with a completed trial under {args.runs}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    text = table(data)
    (out / "ablation.md").write_text(
        "Return per trial (mean ± std across seeds) of `ablation.sh`'s runs; the "
        f"trials {LATE[0]}-{LATE[-1]} column is the mean of the seeds' means of those "
        "trials ± their std; s / trial: model training + episode.\n\n" + text + "\n\n"
        f"Per seed (seeds in the order listed): the mean over trials {LATE[0]}-{LATE[-1]}, "
        "the 95 % t interval of the seeds' mean (n = seeds, `cemgd.report.stats.mean_ci`) "
        f"and the first trial from which every later one returns above {BALANCED:g}.\n\n"
        + seed_table(data) + "\n", encoding="utf-8")
    figure(data, out / "ablation.png")
    print(text)
    print(f"wrote {out / 'ablation.md'} and {out / 'ablation.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
