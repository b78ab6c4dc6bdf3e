"""What produced an episode: the code, the model, the planner as run, the machine.

Each ``episodes.csv`` row carries them (:data:`cemgd.report.episodes.PROVENANCE_COLUMNS`),
recorded by the process that plays the episode (a worker process or Ray node records
its own); summaries are derived from the rows
(:func:`cemgd.report.episodes.planner_codes`).
"""

from __future__ import annotations

import dataclasses
import functools

from cemgd.planners import Planner
from cemgd.planners.spec import PlannerSpec
from cemgd.report.episodes import PROVENANCE_COLUMNS
from cemgd.runtime import code_version, hardware_info


def _as_run(spec: PlannerSpec | str, planner: Planner) -> PlannerSpec:
    """``spec`` (a string is parsed) with the settings ``planner`` actually has
    (``--quick`` shrinks them)."""
    parsed = PlannerSpec.parse(spec)
    nominal = parsed.config()
    changed = {f.name: getattr(planner.config, f.name)
               for f in dataclasses.fields(planner.config)
               if getattr(planner.config, f.name) != getattr(nominal, f.name)}
    return PlannerSpec(parsed.name, {**parsed.settings, **changed})


def settings_label(spec: PlannerSpec | str, planner: Planner) -> str:
    """The display label of the settings ``planner`` actually has (``"CEM 20 (10x2)"``
    under ``--quick``); ``evaluate.json`` and the report show it beside the spec."""
    return _as_run(spec, planner).label


def spec_as_run(spec: PlannerSpec | str, planner: Planner) -> str:
    """The spec of the settings ``planner`` actually has (``cem-50:...`` with the
    shrunk settings under ``--quick``): it builds the same planner again."""
    return _as_run(spec, planner).format()


@functools.cache
def _machine() -> tuple[tuple[str, str], ...]:
    """This process's code and machine (computed once per process)."""
    info = hardware_info()
    return (("code", code_version()), ("cpu_model", str(info.get("cpu_model", ""))),
            ("jax_backend", str(info.get("jax_backend", ""))),
            ("devices", ", ".join(info.get("devices", []))))


def provenance(model_hash: str, spec: PlannerSpec, planner: Planner) -> dict[str, str]:
    """What produces the episodes of ``planner`` (built from ``spec``) on the model of
    hash ``model_hash`` in this process, as :data:`PROVENANCE_COLUMNS` of their rows:
    the code, the model's hash, the spec with the settings it runs with, and this
    machine's CPU model, JAX backend and devices."""
    out = {**dict(_machine()), "model_hash": model_hash,
           "spec_as_run": spec_as_run(spec, planner)}
    return {c: out[c] for c in PROVENANCE_COLUMNS}
