"""Report v2 statistics: each claim's verdict on synthetic numbers with known answers (a
clear win, a clear loss, a tie, and too few samples), on evaluation folders and alone."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from cemgd.cli import main
from cemgd.report import stats, write_report
from cemgd.report.episodes import EPISODE_COLUMNS

SEEDS = list(range(12))


def _values(offset: float, noise: float, seed: int) -> dict[int, float]:
    rng = np.random.default_rng(seed)
    base = 100.0 + 30.0 * np.random.default_rng(99).standard_normal(len(SEEDS))
    return {s: float(b + offset + noise * rng.standard_normal())
            for s, b in zip(SEEDS, base, strict=True)}


@pytest.mark.parametrize(("offset", "noise", "kind", "expected"), [
    (50.0, 2.0, "better", "holds"),          # clear win
    (-50.0, 2.0, "better", "does not hold"),  # clear loss
    (0.0, 0.2, "better", "does not hold"),   # a tie is shown: not better
    (50.0, 2.0, "no_worse", "holds"),
    (0.0, 0.2, "no_worse", "holds"),         # a tie is as good as
    (-50.0, 2.0, "no_worse", "does not hold"),
    (0.0, 0.2, "tie", "holds"),
    (50.0, 2.0, "tie", "does not hold"),
    (-50.0, 2.0, "tie", "does not hold"),
])
def test_verdicts_on_known_answers(offset: float, noise: float, kind: str,
                                   expected: str) -> None:
    b = _values(0.0, 0.0, 1)
    a = _values(offset, noise, 2)
    c = stats.compare(a, b)
    assert c is not None and c.paired and c.n == len(SEEDS)
    assert c.diff == pytest.approx(offset, abs=3 * noise)
    assert c.low <= c.diff <= c.high
    v = stats.decide(c, kind, stats.margin(c.mean_b, None))
    assert v.verdict == expected
    assert v.n_needed is None


def test_paired_means_are_over_the_shared_seeds() -> None:
    """A partial evaluation (5 episodes against 3): the means shown beside the paired
    difference are those of the 3 pairs, so they differ by exactly that difference."""
    a = {0: 60.0, 1: 62.0, 2: 64.0, 3: 70.0, 4: 80.0}
    b = {0: 50.0, 1: 50.0, 2: 50.0}
    c = stats.compare(a, b)
    assert c is not None and c.paired and c.n == 3
    assert (c.mean_a, c.mean_b, c.diff) == (62.0, 50.0, 12.0)
    assert c.mean_a - c.mean_b == c.diff


def test_too_few_samples_cannot_tell_and_says_how_many_would() -> None:
    b = _values(0.0, 0.0, 1)
    a = _values(-3.0, 40.0, 3)  # a small loss buried in noise
    c = stats.compare({k: a[k] for k in SEEDS[:4]}, {k: b[k] for k in SEEDS[:4]})
    v = stats.decide(c, "no_worse", 5.0)
    assert v.verdict == "cannot tell"
    assert v.n_needed is not None and v.n_needed > 4
    # one value a side decides nothing
    one = stats.decide(stats.compare({0: 1.0}, {0: 2.0}), "better", 0.1)
    assert one.verdict == "cannot tell"
    # lower is better: the sign flips
    fast = stats.compare({s: 1.0 + 0.01 * s for s in SEEDS}, {s: 3.0 for s in SEEDS},
                         lower_is_better=True)
    assert fast.diff > 0 and stats.decide(fast, "better", 0.3).verdict == "holds"
    with pytest.raises(ValueError, match="kind"):
        stats.decide(fast, "worse", 0.3)
    with pytest.raises(ValueError, match="m: expected a margin >= 0"):
        stats.decide(fast, "better", float("nan"))


def test_fewer_than_five_samples_decide_only_an_exact_metric() -> None:
    """Found on the half-cheetah evaluation: CEM 5000 "better than CEM 500" was called
    from two paired episodes, whose bootstrap interval is just the two differences."""
    win = {s: 50.0 + s for s in range(5)}
    zero = {s: 0.0 for s in range(5)}
    few = stats.decide(stats.compare({s: win[s] for s in range(3)},
                                     {s: zero[s] for s in range(3)}), "better", 1.0)
    assert few.verdict == "cannot tell" and few.n_needed == stats.MIN_N == 5
    assert stats.decide(stats.compare(win, zero), "better", 1.0).verdict == "holds"
    memory = stats.compare({0: 6.06, 1: 6.06}, {0: 6.05, 1: 6.05})  # the same every time
    assert memory.exact and stats.decide(memory, "better", 0.6).verdict == "holds"


def test_unpaired_when_seeds_differ() -> None:
    c = stats.compare({s: 10.0 + s for s in range(5)}, {s: 1.0 + s for s in range(5, 10)})
    assert c is not None and not c.paired and c.diff == pytest.approx(4.0)
    assert stats.decide(c, "better", 0.5).verdict == "holds"


def write_evaluation(folder: Path, task: str, returns: dict[str, dict[int, float]],
                     quick: bool = False) -> None:
    folder.mkdir(parents=True)
    planners = [{"spec": p, "label": p.upper(), "family": "cem-gd" if p == "cem-gd" else "cem",
                 "settings": {"n_replan": 50} if p == "cem-gd" else {}} for p in returns]
    (folder / "evaluate.json").write_text(json.dumps({
        "config": {"task": task, "trial": 4, "quick": quick, "reference": "cem-gd",
                   "seeds": SEEDS, "episode_length": 100, "run_dir": "runs/x"},
        "planners": planners,
        "hardware": {"cpu_model": "Synthetic CPU", "usable_cpus": 4, "jax_backend": "gpu",
                     "gpu": "NVIDIA H200 (used by JAX, backend gpu)"}}))
    ms = {"cem-gd": 20.0, "cem-500": 10.0, "cem-5000": 90.0}
    with (folder / "episodes.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=EPISODE_COLUMNS)
        writer.writeheader()
        for p, values in returns.items():
            for k, (seed, value) in enumerate(values.items()):
                writer.writerow({"task": task, "planner": p, "episode": k, "seed": seed,
                                 "return": value, "steps": 100, "plan_ms_mean": ms[p] + k % 3,
                                 "plan_ms_p90": ms[p] + 3, "plan_ms_first": 5 * ms[p],
                                 "rollouts_per_step": 50.0, "plan_memory_mb": ms[p] / 10,
                                 "peak_rss_mb": 900.0, "compile_s": 1.0, "episode_s": 3.0})


@pytest.fixture()
def evaluations(tmp_path: Path) -> Path:
    root = tmp_path / "compare"
    cem5000 = _values(0.0, 0.0, 1)
    write_evaluation(root / "halfcheetah", "halfcheetah", {
        "cem-gd": _values(60.0, 3.0, 2),     # a clear win over CEM 5000
        "cem-500": _values(80.0, 3.0, 3),    # CEM 5000 clearly loses to CEM 500
        "cem-5000": cem5000})
    write_evaluation(root / "cartpole", "cartpole-swingup", {
        "cem-gd": _values(-60.0, 3.0, 4),    # a clear loss to CEM 5000
        "cem-500": _values(0.0, 0.3, 5),     # CEM 5000 ties CEM 500
        "cem-5000": cem5000})
    return root


def test_report_on_evaluations_calls_each_claim(evaluations: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    assert main(["report", str(evaluations), "--out", str(out)]) == 0
    result = write_report(evaluations, tmp_path / "again")
    verdicts = {(c["claim"].rsplit(" (", 1)[0], c["task"]): c["verdict"] for c in result.claims}
    win = "CEM-GD (N_r = 50) is better than CEM 5000 on Half-Cheetah and Humanoid Standup"
    assert verdicts[(win, "halfcheetah")] == "holds"
    no_worse = "CEM-GD (N_r = 50) performs as well as or better than CEM 5000"
    assert verdicts[(no_worse, "halfcheetah")] == "holds"
    assert verdicts[(no_worse, "cartpole-swingup")] == "does not hold"
    loss = "CEM 5000 is better than CEM 500 on Half-Cheetah and Humanoid Standup"
    assert verdicts[(loss, "halfcheetah")] == "does not hold"
    tie = "CEM saturates at 500 samples on Cart-pole and Pusher: CEM 5000 ties CEM 500"
    assert verdicts[(tie, "cartpole-swingup")] == "holds"
    assert (tie, "halfcheetah") not in verdicts and (win, "cartpole-swingup") not in verdicts
    faster = "CEM-GD plans faster per step than CEM 5000"
    assert verdicts[(faster, "halfcheetah")] == "holds"
    text = (out / "REPORT.md").read_text()
    assert "Synthetic CPU" in text and "NVIDIA H200" in text and "backend gpu" in text
    assert "--quick" not in text.split("## Hardware")[0]
    assert "paired cem-gd - cem-5000" in text and "95% t CI" in text
    assert "**Method.**" in text and "exploratory" in text
    assert "## What we measured differently from the paper" in text
    assert "paper 3.38" in text  # Table 1 of the paper beside ours (half-cheetah CEM 5000)
    assert "| claim | cartpole-swingup | halfcheetah |" in text  # the verdicts at a glance
    assert (f"| {no_worse} (Sec. 3.1) | does not hold | holds |") in text
    assert f"| {tie} (Sec. 3.1) | holds | - |" in text
    for name in ("halfcheetah_returns.png", "cartpole-swingup_return_vs_rollouts.png",
                 "evaluate_claims.csv", "evaluate_table1_time.csv"):
        assert (out / name).stat().st_size > 0, name


def test_quick_evaluation_says_so_at_the_top(tmp_path: Path) -> None:
    write_evaluation(tmp_path / "e", "pusher", {"cem-gd": _values(0.0, 1.0, 2),
                                                "cem-5000": _values(0.0, 1.0, 3)}, quick=True)
    result = write_report(tmp_path / "e", tmp_path / "out")
    head = result.path.read_text().split("## Hardware")[0]
    assert "These are `--quick` runs" in head
    assert "| cem-gd | cem-gd | CEM-GD |" in result.path.read_text()  # labels as run
    assert "worker process" not in result.path.read_text()  # no executor recorded: none said
    assert "Verdicts at a glance" not in result.path.read_text()  # one task: no matrix
    described = tmp_path / "e" / "evaluate.json"
    described.write_text(described.read_text().replace('"quick": true', '"quick": true, '
                                                       '"workers": 0'))
    again = write_report(tmp_path / "e", tmp_path / "out2").path.read_text()
    assert "- Ran in one process, one planner after another." in again
    assert "worker process" not in again


def test_partial_evaluation_is_said_and_its_planners_are_those_with_episodes(
    tmp_path: Path,
) -> None:
    """Found on the background cart-pole evaluation: the report listed planners not yet
    started among the planners "as evaluated", named the folder `.`, and showed RSS per
    planner as if each were its own process."""
    folder = tmp_path / "cartpole-eval"
    write_evaluation(folder, "cartpole-swingup", {
        "cem-gd": _values(0.0, 1.0, 2),
        "cem-500": {s: v for s, v in _values(0.0, 1.0, 3).items() if s < 3}})
    description = json.loads((folder / "evaluate.json").read_text())
    description["planners"].append({"spec": "mppi", "label": "MPPI", "family": "mppi"})
    (folder / "evaluate.json").write_text(json.dumps(description))
    text = write_report(folder, tmp_path / "out").path.read_text()
    assert "(`cartpole-eval`)" in text and "(`.`)" not in text
    assert (f"**Partial**: episodes so far: cem-500 3 of {len(SEEDS)}; no episode yet: mppi."
            in text)
    planners = text.split("### Planners as evaluated")[1].split("##")[0]
    assert "| cem-500 | cem | CEM-500 | defaults |" in planners and "mppi" not in planners
    assert "how the planners ran was not recorded" in text
    # the claim's means are those of the pairs, so they differ by the paired difference
    claim = next(line for line in text.splitlines()
                 if line.startswith("| CEM-GD performs as well as or better than CEM 500"))
    b = _values(0.0, 1.0, 3)
    a = _values(0.0, 1.0, 2)
    assert f"cem-500 {np.mean([b[s] for s in range(3)]):.3g} (n=3)" in claim
    assert f"cem-gd {np.mean([a[s] for s in range(3)]):.3g} vs" in claim


def test_n_r_claim_varies_n_r_alone() -> None:
    """Found on the pusher evaluation: with N_r = 200 not yet run, "flat in N_r" compared
    N_r = 10 with a cem-gd-robust variant (also N_r = 50, another planner)."""
    from cemgd.report.claims import check_samples
    from cemgd.report.episodes import episode_samples

    specs = ["cem-gd", "cem-gd:n_replan=10", "cem-gd-robust:grad_objective=pessimistic"]
    description = {"planners": [{"spec": s, "family": "cem-gd",
                                 "settings": {"n_replan": 10 if "=10" in s else 50}}
                                for s in specs]}
    rows = [{"task": "pusher", "planner": s, "seed": k, "return": float(k + i),
             "plan_ms_mean": 1.0, "plan_memory_mb": 1.0}
            for i, s in enumerate(specs) for k in range(5)]
    samples = episode_samples(description, rows)
    assert samples.resolve("pusher", "max-nr") == "cem-gd"
    claim = next(c for c in check_samples(samples) if "flat in N_r" in c["claim"])
    assert (claim["a"], claim["b"]) == ("cem-gd:n_replan=10", "cem-gd")


@pytest.mark.parametrize("damage", ["nan", "inf", "repeat"])
def test_rows_that_would_reshape_the_statistics_are_refused(tmp_path: Path, capsys,
                                                           damage: str) -> None:
    """A non-finite return (dropped: n falls) or a repeated row (counted twice) exits 2
    naming the file and the row, instead of a report on other numbers."""
    folder = tmp_path / "eval"
    write_evaluation(folder, "cartpole-swingup", {"cem-gd": _values(0.0, 1.0, 2),
                                                  "cem-500": _values(0.0, 1.0, 3)})
    file = folder / "episodes.csv"
    lines = file.read_text().splitlines(keepends=True)
    if damage == "repeat":
        file.write_text("".join([*lines, lines[3]]))  # cem-gd episode 2 again
        message = f"{file}: row {len(lines)} repeats cem-gd episode 2 of row 3"
    else:
        cells = lines[2].split(",")
        cells[EPISODE_COLUMNS.index("return")] = damage
        lines[2] = ",".join(cells)
        file.write_text("".join(lines))
        message = f"{file}: row 2 (cem-gd, episode 1): return {damage} is not finite"
    assert main(["report", str(folder), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "out" / "REPORT.md").exists()


def test_planners_as_evaluated_show_the_settings_that_differ_from_the_name_s_defaults(
    tmp_path: Path,
) -> None:
    """A folder evaluated under other defaults says so: the settings its evaluate.json
    records that differ from the name's defaults are listed beside the planner."""
    folder = tmp_path / "eval"
    write_evaluation(folder, "cartpole-swingup", {"cem-gd": _values(0.0, 1.0, 2),
                                                  "cem-500": _values(0.0, 1.0, 3)})
    description = json.loads((folder / "evaluate.json").read_text())
    for entry in description["planners"]:
        if entry["spec"] == "cem-500":
            entry["settings"] = {"num_samples": 100, "return_mean": False, "alpha": 0.5}
    (folder / "evaluate.json").write_text(json.dumps(description))
    planners = write_report(folder, tmp_path / "out").path.read_text().split(
        "### Planners as evaluated")[1].split("##")[0]
    assert "| cem-500 | cem | CEM-500 | return_mean=False, alpha=0.5 |" in planners
    assert "| cem-gd | cem-gd | CEM-GD | defaults |" in planners
