"""Figures: one colour per planner across every figure (one mapping), legends outside the
data, axis labels on every axis, bands or error bars where there is a std."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib.colors import to_hex

from cemgd import plots

PLANNERS = ("cem-50", "cem-500", "cem-5000", "gd", "cem-gd", "mppi", "cem-gd_n_replan=10")


def _curves(labels: tuple[str, ...] = PLANNERS) -> dict[str, dict]:
    return {p: {"x": [10, 20, 30], "mean": [1.0 + i, 2.0 + i, 3.0 + i], "std": [0.5] * 3,
                "runs": [3, 3, 2]} for i, p in enumerate(labels)}


FIGURES: dict[str, Callable[[Path], None]] = {
    "sweep_returns": lambda p: plots.sweep_returns(p, [{"title": "cartpole", "curves": _curves()},
                                                       {"title": "pusher", "curves": _curves()}]),
    "model_quality": lambda p: plots.model_quality(
        p, [{"title": "cartpole", "mse": _curves(), "train": _curves()}]),
    "sample_efficiency": lambda p: plots.sample_efficiency(p, [{
        "title": "halfcheetah", "cem": {"x": [50, 500, 5000], "mean": [1, 2, 3], "std": [1] * 3},
        "cem_gd": {"x": [10, 50], "measured": [20, 71], "mean": [3, 3], "std": [1, 1]}}]),
    "barrier_fraction": lambda p: plots.barrier_fraction(p, [
        {"label": q, "n_init": [10, 100, 1000], "fraction": [0.5, 0.8, 1.0],
         "low": [0.3, 0.6, 0.9], "high": [0.7, 0.9, 1.0], "trials": [50] * 3}
        for q in ("cem-gd", "cem-gd-robust")], n_replan=50),
    "returns_per_planner": lambda p: plots.returns_per_planner(
        p, "halfcheetah", {q: [1.0 + i, 2.0 + i, 1.5 + i] for i, q in enumerate(PLANNERS)}),
    "return_vs_rollouts": lambda p: plots.return_vs_rollouts(
        p, "halfcheetah", {q: {"rollouts": 10.0 * (i + 1), "mean": float(i), "std": 0.5}
                           for i, q in enumerate(PLANNERS)}),
    "scaling": lambda p: plots.scaling(p, [1, 2, 4], {q: [1.0, 0.9, 0.8] for q in PLANNERS},
                                       {q: [1.0, 2.0, 4.0] for q in PLANNERS}, "return / optimum",
                                       optimum=0.5),
}


@pytest.fixture()
def drawn(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every figure a plotting function saves (kept open for inspection)."""
    figures: list[Any] = []

    def keep(fig: Any, path: Any) -> None:
        fig.canvas.draw()
        figures.append(fig)

    monkeypatch.setattr(plots, "_save", keep)
    return figures


def _handle_colour(handle: Any) -> str:
    for getter in ("get_color", "get_facecolor", "get_edgecolor"):
        if hasattr(handle, getter):
            value = getattr(handle, getter)()
            if isinstance(value, str):
                return to_hex(value)
            value = np.asarray(value)
            return to_hex(value.reshape(-1, value.shape[-1])[0] if value.ndim > 1 else value)
    lines = getattr(handle, "lines", None)  # an errorbar container
    return to_hex(lines[0].get_color())


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_every_figure_uses_the_one_colour_mapping(name: str, drawn: list[Any],
                                                  tmp_path: Path) -> None:
    FIGURES[name](tmp_path / f"{name}.png")
    assert len(drawn) == 1
    fig = drawn[0]
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    assert legends, f"{name}: no legend"
    seen = 0
    for legend in legends:
        for handle, text in zip(legend.legend_handles, legend.get_texts(), strict=True):
            label = text.get_text()
            planner = label.split(" ", 1)[0]
            if planner in PLANNERS or planner in plots.PLANNER_COLOURS:
                assert _handle_colour(handle) == to_hex(plots.planner_colour(planner)), label
                seen += 1
        # outside the data: the legend's box starts right of its axes
        renderer = fig.canvas.get_renderer()
        ax_box = legend.axes.get_window_extent(renderer)
        assert legend.get_window_extent(renderer).x0 >= ax_box.x1 - 1, f"{name}: legend inside"
    assert seen >= 2, f"{name}: planners not found in its legend"
    for ax in fig.axes:
        if ax.get_visible() and ax.has_data():
            assert ax.get_xlabel() and ax.get_ylabel(), f"{name}: an axis without labels"


def test_bands_where_there_is_a_std(drawn: list[Any], tmp_path: Path) -> None:
    FIGURES["sweep_returns"](tmp_path / "a.png")
    ax = drawn[0].axes[0]
    assert len(ax.collections) == len(PLANNERS)  # one ±std band per curve
    FIGURES["sample_efficiency"](tmp_path / "b.png")
    assert any(c.__class__.__name__ == "ErrorbarContainer" for c in drawn[1].axes[0].containers)


def test_planner_colours_are_fixed_distinct_and_stable() -> None:
    paper = ("cem-50", "cem-500", "cem-5000", "gd", "cem-gd")
    assert len({plots.planner_colour(p) for p in paper}) == len(paper)
    assert plots.planner_colour("cem-gd (n=3)") == plots.planner_colour("cem-gd")
    other = plots.planner_colour("cem-gd_n_replan=10")
    assert other == plots.planner_colour("cem-gd_n_replan=10")  # same in every figure
    assert other not in plots.PLANNER_COLOURS.values()


def test_barrier_fraction_draws_every_planner(drawn: list[Any], tmp_path: Path) -> None:
    FIGURES["barrier_fraction"](tmp_path / "f.png")
    ax = drawn[0].axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["cem-gd", "cem-gd-robust"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["10", "100", "1000"]


def test_figure4_log_axis_and_cem_points(drawn: list[Any], tmp_path: Path) -> None:
    # a quick sweep: CEM at N = 20 (no paper preset), CEM-GD at N_r = 10 measuring 150
    plots.sample_efficiency(tmp_path / "q.png", [{
        "title": "pendulum", "cem": {"x": [20], "mean": [-300.0], "std": [0.0]},
        "cem_gd": {"x": [10], "measured": [150], "mean": [-200.0], "std": [0.0]}}])
    ax = drawn[0].axes[0]
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert "10" in labels and "100" in labels  # the stretch up to 150 is labelled
    cem = to_hex(plots.planner_colour("cem"))
    points = [line for line in ax.lines if line.get_marker() == "o"]
    assert points and all(to_hex(line.get_color()) == cem for line in points)
