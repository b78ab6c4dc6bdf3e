"""What every study shares: config to CLI flags, a run folder, CSV written as it goes."""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import os
import types
import typing
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from rich.table import Table

# console and progress moved to cemgd.runtime; importable here until callers switch.
from cemgd.runtime import console as _console
from cemgd.runtime import progress as progress

console = _console()


def _field_type(tp: Any) -> tuple[type, bool]:
    """``(element type, is_sequence)`` for a config field's annotation."""
    origin = typing.get_origin(tp)
    if origin in (tuple, list, Sequence):
        args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        return (args[0] if args else str), True
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _field_type(args[0])
    if origin is typing.Literal:
        return type(typing.get_args(tp)[0]), False
    return tp, False


def add_config_arguments(
    parser: argparse.ArgumentParser, config_cls: type, skip: Sequence[str] = ()
) -> None:
    """Add one ``--flag`` per field of the dataclass ``config_cls`` (docstring as help).

    Fields named in ``skip`` get no flag (e.g. nested configs handled elsewhere).
    """
    hints = typing.get_type_hints(config_cls)
    docs = field_docs(config_cls)
    for f in dataclasses.fields(config_cls):
        if f.name in skip:
            continue
        elem, many = _field_type(hints[f.name])
        flag = "--" + f.name.replace("_", "-")
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        help_text = f"{docs.get(f.name, '')} (default: {default})"
        if elem is bool and not many:
            parser.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction,
                                default=None, help=help_text)
        else:
            parser.add_argument(flag, dest=f.name, type=elem, nargs="+" if many else None,
                                default=None, help=help_text)


def config_from_args(config_cls: type, args: argparse.Namespace, base: Any = None) -> Any:
    """Build ``config_cls`` from parsed flags; unset flags keep ``base``'s values."""
    base = config_cls() if base is None else base
    changes = {}
    hints = typing.get_type_hints(config_cls)
    for f in dataclasses.fields(config_cls):
        value = getattr(args, f.name, None)
        if value is not None:
            _, many = _field_type(hints[f.name])
            changes[f.name] = tuple(value) if many else value
    return dataclasses.replace(base, **changes)


def field_docs(config_cls: type) -> dict[str, str]:
    """Docstrings written under each field of a dataclass and its bases (the line after
    ``x: int = 1``)."""
    import ast
    import inspect
    import textwrap

    docs: dict[str, str] = {}
    for cls in reversed(config_cls.__mro__):
        if not dataclasses.is_dataclass(cls):
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
        except (OSError, TypeError):
            continue
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for node, nxt in zip(body, body[1:], strict=False):
            if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                    and isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant)
                    and isinstance(nxt.value.value, str)):
                docs[node.target.id] = " ".join(nxt.value.value.split())
    return docs


class RunDir:
    """A results folder: ``config.json`` once, CSV rows appended and flushed as they come.

    Rows already in a CSV are kept when the folder is reopened with the same
    config, so a killed study resumes by skipping the keys in :meth:`done_keys`.
    With a different config the old CSV files are moved to ``*.csv.old`` first, so
    rows of two configurations never mix.
    """

    def __init__(self, out: str | os.PathLike[str], config: Any) -> None:
        self.path = Path(out)
        self.path.mkdir(parents=True, exist_ok=True)
        payload = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else config
        text = json.dumps(payload, indent=2, default=str) + "\n"
        old = self.path / "config.json"
        if old.exists() and json.loads(old.read_text()) != json.loads(text):
            for csv_file in self.path.glob("*.csv"):
                csv_file.replace(csv_file.with_name(csv_file.name + ".old"))
                console.print(f"config changed: moved {csv_file.name} to {csv_file.name}.old")
        old.write_text(text)

    def append(self, name: str, row: dict[str, Any]) -> None:
        """Append ``row`` to ``name`` (a CSV in the run folder), writing a header if new."""
        file = self.path / name
        new = not file.exists() or file.stat().st_size == 0
        with file.open("a", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(row))
            if new:
                writer.writeheader()
            writer.writerow(row)
            fh.flush()
            os.fsync(fh.fileno())

    def read(self, name: str) -> list[dict[str, str]]:
        """Rows of CSV ``name`` (empty if it does not exist)."""
        file = self.path / name
        if not file.exists():
            return []
        with file.open(newline="") as fh:
            return list(csv.DictReader(fh))

    def done_keys(self, name: str, keys: Sequence[str]) -> set[tuple[str, ...]]:
        """The ``keys`` tuples of rows already written to ``name`` (for resuming)."""
        return {tuple(row[k] for k in keys) for row in self.read(name)}


def print_table(title: str, rows: Iterable[dict[str, Any]], columns: Sequence[str]) -> None:
    """Print ``rows`` as a rich table with ``columns``."""
    table = Table(title=title)
    for col in columns:
        table.add_column(col, justify="right")
    for row in rows:
        table.add_row(*[_fmt(row.get(col, "")) for col in columns])
    console.print(table)


def _fmt(value: Any) -> str:
    if isinstance(value, str):
        try:
            value = int(value)
        except ValueError:
            try:
                value = float(value)
            except ValueError:
                return value
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def wilson_interval(successes: int, trials: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a binomial proportion."""
    if trials <= 0:
        return 0.0, 1.0
    p = successes / trials
    denom = 1 + z**2 / trials
    centre = (p + z**2 / (2 * trials)) / denom
    half = z * (p * (1 - p) / trials + z**2 / (4 * trials**2)) ** 0.5 / denom
    return max(0.0, centre - half), min(1.0, centre + half)




def parse_planner(spec: str) -> tuple[str, dict[str, Any]]:
    """``"cem-gd:n_replan=20,line_search=parallel"`` -> ``("cem-gd", {"n_replan": 20, ...})``.

    The name is a planner or preset; values are typed by the planner's config.

    Raises:
        ValueError: naming ``planners``: unknown planner, setting or malformed value.
    """
    if not isinstance(spec, str):
        raise ValueError(f"planners: expected a planner name, got {spec!r}")
    name, _, rest = spec.partition(":")
    name = name.strip()
    from cemgd.planners import PLANNERS, resolve_planner

    try:
        base, _ = resolve_planner(name)
    except ValueError as err:
        raise ValueError(str(err).replace("name:", "planners:", 1)) from None
    fields = {f.name: f for f in dataclasses.fields(PLANNERS[base].Config)}
    options: dict[str, Any] = {}
    for item in filter(None, (s.strip() for s in rest.split(","))):
        key, eq, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not eq:
            raise ValueError(f"planners: expected key=value in {spec!r}, got {item!r}")
        if key not in fields:
            raise ValueError(
                f"planners: {key!r} is not a setting of planner {base!r}; expected one of "
                f"{sorted(fields)}"
            )
        options[key] = typed_value(f"planners ({spec}): {key}", value.strip(),
                                   fields[key].default)
    return name, options


def typed_value(where: str, value: Any, default: Any) -> Any:
    """``value`` (a string from the command line, or already typed) as ``default``'s type.

    Raises:
        ValueError: starting with ``where``, if ``value`` does not convert.
    """
    if not isinstance(value, str):
        return value
    try:
        if isinstance(default, bool):
            if value.lower() not in ("true", "false"):
                raise ValueError(value)
            return value.lower() == "true"
        if isinstance(default, int | float):
            return type(default)(value)
    except ValueError:
        raise ValueError(
            f"{where}: expected a value of type {type(default).__name__}, got {value!r}"
        ) from None
    return value


def parse_planner_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """``"cem-500"``, ``"cem-gd"`` or ``"cem-gd:n_replan=20,line_search=parallel"``.

    Returns:
        ``(registry name, settings)``: the preset's settings (if a preset) updated by the
        spec's, typed by the planner's config (see :func:`parse_planner`).
    """
    from cemgd.planners import resolve_planner

    name, options = parse_planner(spec)
    base, settings = resolve_planner(name)
    settings.update(options)
    return base, settings


def make_planner_from_spec(spec: str, **defaults: Any) -> Any:
    """Build the planner of :func:`parse_planner_spec`; ``defaults`` fill unset settings."""
    import dataclasses as dc

    from cemgd.planners import PLANNERS, make_planner

    name, settings = parse_planner_spec(spec)
    fields = {f.name for f in dc.fields(PLANNERS[name].Config)}
    merged = {k: v for k, v in defaults.items() if k in fields}
    merged.update(settings)
    return make_planner(name, **merged)


class StepTiming(NamedTuple):
    """Result of :func:`time_plan_step`.

    Attributes:
        compile_s: trace + lower + compile of the replan step.
        first_call_s: ``compile_s`` plus the first call.
        times_ms: the timed calls, ``[repeats]``.
        infos: PlanInfo of every timed call.
        compiled: the compiled step (for ``memory_analysis``).
    """

    compile_s: float
    first_call_s: float
    times_ms: Any
    infos: list
    compiled: Any

    def summary(self) -> dict[str, float]:
        """``compile_s``, ``median_ms``, ``p10_ms``, ``p90_ms``."""
        import numpy as np

        t = np.asarray(self.times_ms)
        return {"compile_s": self.compile_s, "median_ms": float(np.median(t)),
                "p10_ms": float(np.percentile(t, 10)), "p90_ms": float(np.percentile(t, 90))}


def time_plan_step(planner: Any, problem: Any, obs: Any, key: Any, repeats: int,
                   warmup: int = 2) -> StepTiming:
    """Time the jitted replan step (``plan_fn(problem, first=False)``) of ``planner``.

    The state is carried from call to call as in MPC; each call is waited for.
    """
    import time

    import jax
    import jax.numpy as jnp
    import numpy as np

    state = planner.init(problem, key)
    obs = jnp.asarray(obs, jnp.float32)
    start = time.perf_counter()
    compiled = jax.jit(planner.plan_fn(problem, first=False)).lower(state, obs).compile()
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    state = jax.block_until_ready(compiled(state, obs))[1]
    first_call_s = compile_s + time.perf_counter() - start
    for _ in range(warmup):
        state = jax.block_until_ready(compiled(state, obs))[1]
    times, infos = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        _, state, info = jax.block_until_ready(compiled(state, obs))
        times.append((time.perf_counter() - start) * 1e3)
        infos.append(info)
    return StepTiming(compile_s, first_call_s, np.asarray(times), infos, compiled)
