"""Moved to :mod:`cemgd.sweep`; this name re-exports it for scripts written before."""

from cemgd.sweep import *  # noqa: F403
from cemgd.sweep import __all__  # noqa: F401
