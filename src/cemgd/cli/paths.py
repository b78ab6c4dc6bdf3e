"""Output folders a user names on the command line, checked before anything is written."""

from __future__ import annotations

from pathlib import Path

from cemgd.runs import check_out_path


def check_out(value: str | None, flag: str = "--out") -> Path:
    """``value`` as a folder that exists or can be created and written, else ValueError.

    Checks, without writing (:func:`cemgd.runs.check_out_path`): not empty; not a file;
    no file on the way to it; the nearest existing folder on the way is writable.

    Raises:
        ValueError: ``"--out: ..."`` naming the path and what is wrong.
    """
    if value is None:
        raise ValueError(f"{flag}: expected a folder path")
    return check_out_path(Path(value).expanduser() if str(value).strip() else value, flag)
