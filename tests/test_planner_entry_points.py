"""Installed planners: an entry point in the group ``cemgd.planners`` is a planner name,
imported when that name is resolved and, on the command line, only when the command
line names it."""

from __future__ import annotations

import importlib.metadata
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from cemgd.cli import main
from cemgd.planners import PLANNERS, make_planner, registry, resolve_planner
from cemgd.planners.registry import ENTRY_POINT_GROUP, only_named_planners

PLANNER_CODE = '''
from dataclasses import dataclass

import jax.numpy as jnp

from cemgd.planners.base import Planner, Result
from cemgd.planners.chunking import score
from cemgd.problem import Info


@dataclass(frozen=True)
class ZerosConfig:
    level: float = 0.0
    """The constant action."""


class Zeros(Planner):
    """Constant actions, from an installed package."""

    name = "ep-zeros"
    Config = ZerosConfig

    def _optimize(self, problem, obs, state, key):
        actions = problem.clip(jnp.full_like(state.mean, self.config.level))[None]
        returns, tally = score(Info(num_samples=1), problem, obs, actions, key)
        return Result(actions[0], returns[0], tally)
'''


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A module on the path, listed by a fake installed distribution's entry points
    (``ep-zeros``, a broken one and one that is no planner); yields the module's name."""
    module = f"ep_planner_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text(PLANNER_CODE)
    monkeypatch.syspath_prepend(str(tmp_path))
    points = [
        importlib.metadata.EntryPoint("ep-zeros", f"{module}:Zeros", ENTRY_POINT_GROUP),
        importlib.metadata.EntryPoint("ep-broken", "no_such_package_xyz:P", ENTRY_POINT_GROUP),
        importlib.metadata.EntryPoint("ep-config", f"{module}:ZerosConfig", ENTRY_POINT_GROUP),
    ]
    real = importlib.metadata.entry_points

    def entry_points(**kwargs):
        return points if kwargs.get("group") == ENTRY_POINT_GROUP else real(**kwargs)

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    try:
        yield module
    finally:
        for name in ("ep-zeros", "ep-config"):
            PLANNERS.pop(name, None)
        sys.modules.pop(module, None)


def test_an_installed_planner_is_imported_only_when_named(installed, capsys):
    assert main(["planners"]) == 0  # listing what exists imports nothing installed
    assert installed not in sys.modules and "ep-zeros" not in PLANNERS
    with only_named_planners(["cem-gd"]), pytest.raises(
            ValueError, match=r"name: planner 'ep-zeros' of the installed entry point .* "
                              r"pass --planner ep-zeros"):
        resolve_planner("ep-zeros")  # e.g. a folder's config.json names it
    assert installed not in sys.modules
    assert main(["planners", "ep-zeros"]) == 0  # named on the command line: loaded
    out = capsys.readouterr().out
    assert "ep-zeros: Constant actions, from an installed package" in out
    assert "--planner.level (float, default 0.0): The constant action." in out
    assert installed in sys.modules and PLANNERS["ep-zeros"].__module__ == installed


def test_a_library_caller_resolves_an_installed_planner_by_name(installed):
    assert registry.named_planners() is None  # outside a command line
    planner = make_planner("ep-zeros:level=0.5")
    assert type(planner).__name__ == "Zeros" and planner.config.level == 0.5
    assert resolve_planner("ep-zeros") == ("ep-zeros", {})


def test_a_broken_entry_point_is_named(installed):
    with pytest.raises(ValueError, match=r"name: cannot load planner 'ep-broken' of the "
                                         r"installed entry point 'no_such_package_xyz:P' "
                                         r"\(ModuleNotFoundError"):
        resolve_planner("ep-broken")
    with pytest.raises(ValueError, match=r"name: cannot use planner 'ep-config' .* cls: "
                                         r"expected a Planner subclass"):
        resolve_planner("ep-config")
    with pytest.raises(ValueError, match="name: unknown planner 'ep-none'"):
        resolve_planner("ep-none")
    assert main(["planners", "ep-broken"]) == 2
