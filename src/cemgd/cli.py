"""Command line: ``cemgd <study> [--out DIR] [--quick] [--<setting> VALUE ...]``.

Each study is a module in :mod:`cemgd.experiments` with a ``Config`` dataclass
(whose fields become the flags), ``quick(config) -> config`` (a tiny version for
smoke tests) and ``run(config, out) -> list[dict]``, which writes CSV and PNG
into ``out`` and prints a summary table.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from cemgd.experiments.common import add_config_arguments, config_from_args

STUDIES: dict[str, tuple[str, str]] = {
    "barrier": ("cemgd.experiments.barrier", "Figure 2: how often CEM-GD passes below the barrier"),
    "scaling": ("cemgd.experiments.scaling", "return of CEM vs CEM-GD as action dimension grows"),
    "bench": ("cemgd.experiments.bench", "plan-step time and memory per planner, with a roofline"),
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one sub-command per study."""
    parser = argparse.ArgumentParser(prog="cemgd", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="study", required=True)
    for name, (module_name, help_text) in STUDIES.items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=help_text, description=module.__doc__)
        p.add_argument("--out", default=f"runs/{name}", help="results folder (%(default)s)")
        p.add_argument("--quick", action="store_true", help="tiny configuration, under a minute")
        add_config_arguments(p, module.Config)
    return parser


def enable_compilation_cache() -> str | None:
    """Turn on JAX's persistent compilation cache (``CEMGD_CACHE_DIR``; empty disables).

    Compiling a planning step takes seconds; with the cache a second run of the
    same configuration starts planning at once.
    """
    import jax

    path = os.environ.get("CEMGD_CACHE_DIR", os.path.expanduser("~/.cache/cemgd/jax"))
    if not path:
        return None
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cemgd`` command."""
    args = build_parser().parse_args(argv)
    enable_compilation_cache()
    module = importlib.import_module(STUDIES[args.study][0])
    base = module.quick(module.Config()) if args.quick else module.Config()
    try:
        config = config_from_args(module.Config, args, base)
    except ValueError as err:
        print(f"cemgd {args.study}: {err}", file=sys.stderr)
        return 2
    module.run(config, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
