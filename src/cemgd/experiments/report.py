"""Moved to :mod:`cemgd.report` (a package: load, tables, stats, claims, figures,
markdown); this module keeps the old import path working."""

from __future__ import annotations

from cemgd.report import *  # noqa: F403
from cemgd.report import __all__, __doc__  # noqa: F401
