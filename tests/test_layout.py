"""The source tree's shape rules: file and function sizes, and imports that flow down."""

from __future__ import annotations

import ast
import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "cemgd"

#: Functions allowed over 60 lines (at most three), each with its reason.
LONG_FUNCTIONS: dict[str, str] = {}

ARCHITECTURE = SRC.parents[1] / "docs" / "ARCHITECTURE.md"

#: Layers from the bottom up; a module may import only from its own layer or lower ones.
#: docs/ARCHITECTURE.md states them (its layer table, :func:`_documented_layers`).
LAYERS: tuple[tuple[str, ...], ...] = (
    ("validate",),
    ("problem",),
    ("sharding",),
    ("planners", "models", "tasks"),
    # objectives, linesearch: their names moved into planners, re-exported one release
    ("objectives", "linesearch"),
    ("mpc",),
    ("runs", "runtime", "plots"),
    ("pets", "experiments"),
    ("sweep", "report"),
    ("evaluate",),
    ("cli",),
)
#: Siblings within a layer that never import one another (docs/ARCHITECTURE.md says so).
INDEPENDENT: tuple[tuple[str, ...], ...] = (("planners", "models", "tasks"),
                                            ("pets", "experiments"), ("sweep", "report"))


def _documented_layers() -> tuple[tuple[str, ...], ...]:
    """The first column of each row of docs/ARCHITECTURE.md's layer table, bottom up."""
    text = ARCHITECTURE.read_text().split("## What flows down")[0]
    rows = [line.split("|")[1] for line in text.splitlines() if line.startswith("| `")]
    return tuple(tuple(n.rstrip("/") for n in re.findall(r"`([^`]+)`", cell)) for cell in rows)


def _modules() -> dict[str, ast.Module]:
    return {
        ".".join(p.relative_to(SRC.parent).with_suffix("").parts): ast.parse(p.read_text())
        for p in sorted(SRC.rglob("*.py"))
    }


def _layer(module: str) -> int:
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 and parts[1] != "__init__" else ""
    for level, names in enumerate(LAYERS):
        if top in names:
            return level
    return len(LAYERS)  # the package root: public API only, may import anything


def _imports(tree: ast.Module) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "cemgd":
            found |= {f"cemgd.{a.name}" for a in node.names if not a.name.startswith("_")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("cemgd"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("cemgd")}
    return found


def test_no_file_over_400_lines() -> None:
    roots = (SRC, SRC.parents[1] / "tests", SRC.parents[1] / "benchmarks")
    long = {p.relative_to(SRC.parents[1]).as_posix(): n for root in roots
            for p in root.rglob("*.py") if (n := len(p.read_text().splitlines())) > 400}
    assert not long, f"files over 400 lines: {long}"


def test_at_most_three_functions_over_60_lines_each_with_a_reason() -> None:
    long = []
    for name, tree in _modules().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                if node.end_lineno - node.lineno + 1 > 60:
                    long.append(f"{name}.{node.name}")
    assert len(LONG_FUNCTIONS) <= 3
    assert sorted(long) == sorted(LONG_FUNCTIONS), f"functions over 60 lines: {long}"


def test_the_layers_are_those_docs_architecture_states() -> None:
    assert _documented_layers() == LAYERS
    text = " ".join(ARCHITECTURE.read_text().split())
    assert "planners, models and tasks never import one another" in text
    assert "neither do `pets` and `experiments`" in text
    assert "nor `sweep` and `report`" in text


def test_independent_siblings_never_import_one_another() -> None:
    crossing = []
    for name, tree in _modules().items():
        here = name.split(".")[1] if "." in name else ""
        for group in (g for g in INDEPENDENT if here in g):
            crossing += [f"{name} -> {t}" for t in _imports(tree)
                         if len(t.split(".")) > 1 and t.split(".")[1] in group
                         and t.split(".")[1] != here]
    assert not crossing, f"siblings importing one another: {crossing}"


def test_imports_flow_down_the_layers() -> None:
    upward = []
    for name, tree in _modules().items():
        for target in _imports(tree):
            if _layer(target) > _layer(name):
                upward.append(f"{name} -> {target}")
    assert not upward, f"imports that run upward: {upward}"


def test_the_import_graph_has_no_cycle() -> None:
    modules = _modules()
    graph = {name: {t for t in _imports(tree) if t in modules or f"{t}.__init__" in modules}
             for name, tree in modules.items()}
    graph = {n: {t if t in modules else f"{t}.__init__" for t in ts} for n, ts in graph.items()}
    # a package's __init__ re-exporting its own sub-modules is not a cycle through them
    done: set[str] = set()

    def visit(node: str, path: tuple[str, ...]) -> None:
        if node in path:
            cycle = path[path.index(node):] + (node,)
            if not _is_package_reexport(cycle):
                raise AssertionError(f"import cycle: {' -> '.join(cycle)}")
            return
        if node in done:
            return
        for nxt in graph.get(node, ()):
            visit(nxt, path + (node,))
        done.add(node)

    for name in graph:
        visit(name, ())


def _is_package_reexport(cycle: tuple[str, ...]) -> bool:
    """A cycle that only passes through a package's own ``__init__`` and its sub-modules."""
    inits = [m for m in cycle if m.endswith(".__init__")]
    if not inits:
        return False
    package = inits[0].removesuffix(".__init__")
    return all(m.startswith(package + ".") or m == package for m in cycle)


def test_cem_gd_reads_in_three_files() -> None:
    """Algorithm 1 reads in planners/cem_gd.py, loop.py and gradient.py (docs/ARCHITECTURE.md,
    'Reading CEM-GD'), about 400 lines together: they take from other modules only the frame
    every planner shares (base, the sampling loop), the memory-saving evaluation (chunking),
    the contract and the names below: the settings (planners/settings.py: the dataclasses
    and their checks) and one call into each module of options beyond the paper."""
    reading = {"cemgd.planners.cem_gd", "cemgd.planners.loop", "cemgd.planners.gradient"}
    shared = {"cemgd.planners.base", "cemgd.planners.sampling", "cemgd.planners.chunking",
              "cemgd.problem", "cemgd.validate"}
    beside = {("cemgd.planners.cem", "ReturnMean"),
              *(("cemgd.planners.settings", n) for n in (
                  "CEMSettings", "GradientSettings", "Truncation")),
              *(("cemgd.planners.cem_gd_options", n) for n in ("check_config", "with_options")),
              *(("cemgd.planners.objectives", n) for n in ("gradient_objective", "rescores")),
              *(("cemgd.planners.gradient_options", n) for n in (
                  "ascent_rule", "next_eta", "parallel_trials", "rule_init"))}
    lines = sum(len((SRC / "planners" / f"{name.rsplit('.', 1)[1]}.py").read_text().splitlines())
                for name in reading)
    assert lines <= 420, f"CEM-GD's reading path is {lines} lines, about 400 expected"
    modules = _modules()
    assert "Reading CEM-GD" in ARCHITECTURE.read_text()
    outside = [f"{name} <- {node.module}.{alias.name}" for name in sorted(reading)
               for node in ast.walk(modules[name])
               if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("cemgd")
               and node.module not in reading | shared
               for alias in node.names if (node.module, alias.name) not in beside]
    assert not outside, f"CEM-GD's reading path leaves its three files: {outside}"
