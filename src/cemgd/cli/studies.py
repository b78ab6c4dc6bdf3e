"""``cemgd barrier``, ``cemgd scaling``, ``cemgd bench``: the studies of the paper's figures.

Each study is a module with a ``Config`` dataclass (whose fields become the flags),
``quick(config) -> config`` (a tiny version for smoke tests) and
``run(config, out) -> list[dict]``, which writes CSV and PNG into ``out`` and prints a
summary table.
"""

from __future__ import annotations

import argparse
import importlib
from types import ModuleType

from cemgd.cli.base import Context, Subparsers, add_command
from cemgd.cli.flags import add_config_arguments, config_from_args
from cemgd.cli.paths import check_out
from cemgd.runtime import enable_compilation_cache

#: Study name -> (module, one line of help).
STUDIES: dict[str, tuple[str, str]] = {
    "barrier": ("cemgd.experiments.barrier", "Figure 2: how often CEM-GD passes below the barrier"),
    "scaling": ("cemgd.experiments.scaling", "return of CEM vs CEM-GD as action dimension grows"),
    "bench": ("cemgd.experiments.bench", "plan-step time and memory per planner, with a roofline"),
}


def _module(name: str) -> ModuleType:
    return importlib.import_module(STUDIES[name][0])


def register(sub: Subparsers) -> None:
    """Add one sub-command per study."""
    for name, (_, help_text) in STUDIES.items():
        module = _module(name)
        p = add_command(sub, name, _run, help=help_text, description=module.__doc__)
        p.add_argument("--out", default=f"runs/{name}", help="results folder (%(default)s)")
        p.add_argument("--quick", action="store_true", help="tiny configuration, a smoke test")
        add_config_arguments(p, module.Config)


def _run(args: argparse.Namespace, ctx: Context) -> int:
    module = _module(args.command)
    out = check_out(args.out)
    base = module.quick(module.Config()) if args.quick else module.Config()
    config = config_from_args(module.Config, args, base)
    enable_compilation_cache(ctx.cache_dir)
    module.run(config, str(out))
    return 0
