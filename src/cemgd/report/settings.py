"""What the runs ran on and with: hardware (as recorded), ``--quick``, planner settings."""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cemgd.planners.spec import PlannerSpec
from cemgd.report.load import planner_family
from cemgd.runtime import hardware_info


@dataclass(frozen=True)
class Hardware:
    """The machine a sweep or an evaluation ran on, and how it was run."""

    info: dict[str, Any]
    """:func:`cemgd.runtime.hardware_info` as recorded (or of this machine)."""
    source: str
    """Where ``info`` comes from (``recorded by the sweep``, ...)."""
    run_config: dict[str, Any] = field(default_factory=dict)
    """The sweep's or evaluation's own settings (``workers``, ``ray``, ``quick``, ...)."""

    @property
    def quick(self) -> bool:
        """The runs were made with ``--quick``."""
        return bool(self.run_config.get("quick"))


def read_hardware(root: Path, record: str = "sweep.json") -> Hardware:
    """Hardware and settings from ``root / record``, else this machine's (and say so)."""
    with contextlib.suppress(OSError, json.JSONDecodeError, AttributeError, TypeError,
                             UnicodeDecodeError):
        payload = json.loads((root / record).read_text())
        if isinstance(payload.get("hardware"), dict):
            config = payload.get("config")
            return Hardware(payload["hardware"], f"recorded in {record}",
                            config if isinstance(config, dict) else {})
    return Hardware(hardware_info(), f"the machine that wrote this report (no {record} found)")


def settings_diff(name: str, resolved: Mapping[str, Any]) -> str:
    """Settings in ``resolved`` that differ from planner ``name``'s defaults, as
    ``key=value, ...`` (``defaults`` when none; ``?`` when ``name`` is unknown)."""
    try:
        defaults = dataclasses.asdict(PlannerSpec.parse(name).config())
    except ValueError:
        return "?"
    diff = [f"{k}={v}" for k, v in resolved.items() if k in defaults and defaults[k] != v]
    return ", ".join(diff) if diff else "defaults"


def planner_settings_rows(configs: Mapping[str, Mapping[str, Any]]) -> list[list[str]]:
    """Rows ``[label, family, settings that differ]`` of each label's run config."""
    rows = []
    for label, config in configs.items():
        name = str(config.get("planner", label))
        resolved = config.get("planner_config") or {}
        rows.append([label, planner_family(name, dict(config)),
                     settings_diff(name, resolved) if resolved else "not recorded"])
    return rows
