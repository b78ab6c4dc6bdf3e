"""No committed text names a path of the machine that wrote it.

A home folder, a temporary folder or the checkout's own absolute path in a report, an
example command or a docstring is true only on one machine: the docs, examples,
benchmarks, sources and the README use relative folders (``runs/x``), and the result
files record paths as the user gave them.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ("README.md", "docs", "examples", "benchmarks", "src")

#: An absolute path of a home (``/root``, ``/home/NAME``, ``/Users/NAME``, ``C:\\Users``), a
#: temporary folder (``/tmp``, ``/var/tmp``, macOS's ``/private/var/folders``) or a
#: checkout (``/work/...``). The look-behind keeps URLs and relative paths out
#: (``example.com/tmp/``, ``runs/tmp/``).
MACHINE_PATH = re.compile(
    r"(?<![\w.~/-])(?:/root/|/home/\w|/Users/\w|/tmp/|/var/tmp/|/private/var/|/work/)"
    r"|\b[A-Za-z]:\\Users\\"
)


def committed_files() -> list[Path]:
    """The scanned files git tracks, or every file under the scanned paths without git."""
    try:
        out = subprocess.run(["git", "ls-files", "-z", "--", *SCANNED], cwd=ROOT,
                             capture_output=True, check=True).stdout
        files = [ROOT / name for name in out.decode().split("\0") if name]
    except (OSError, subprocess.CalledProcessError):
        files = []
    if not files:
        files = [p for name in SCANNED for p in
                 ([ROOT / name] if (ROOT / name).is_file() else (ROOT / name).rglob("*"))
                 if p.is_file() and "__pycache__" not in p.parts]
    return [p for p in files if p.is_file()]


def text_of(path: Path) -> str | None:
    """The file's text, or None for a binary file (an image, an archive)."""
    data = path.read_bytes()
    if b"\0" in data[:8192]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def test_the_pattern_finds_machine_paths_and_spares_relative_ones():
    for bad in ("Run `/work/main/runs/cartpole-paper`", '"run_dir": "/root/x"',
                "--out /tmp/verify", "/home/ann/cemgd", "C:\\Users\\ann"):
        assert MACHINE_PATH.search(bad), bad
    for good in ("runs/cartpole-paper", "https://example.com/tmp/x", "docs/results/tmp/",
                 "~/.cache/cemgd/jax", "/proc/PID/autogroup", "network/work/x"):
        assert not MACHINE_PATH.search(good), good


def test_no_committed_file_holds_a_machine_path():
    files = committed_files()
    assert any(p.name == "README.md" for p in files)
    found = []
    for path in files:
        text = text_of(path)
        if text is None:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            match = MACHINE_PATH.search(line)
            if match:
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:120]}")
    assert not found, "absolute machine paths (use relative folders):\n" + "\n".join(found)
