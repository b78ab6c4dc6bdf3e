"""The one error of a run folder."""

from __future__ import annotations


class RunError(ValueError):
    """A run folder that cannot be used as asked; the folder is left as it was.

    The message starts with the argument (``out: ...``) or the file it is about.
    """
