"""The documentation site (mkdocs.yml) lists every guide and results page, its API
pages document importable modules, and ``mkdocs build --strict`` passes (.ci/run runs
the build too)."""

from __future__ import annotations

import importlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _nav_pages() -> list[str]:
    yaml = pytest.importorskip("yaml")  # mkdocs' own dependency (the docs extra)
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))

    def walk(node: object) -> list[str]:
        if isinstance(node, str):
            return [node]
        if isinstance(node, dict):
            return [p for value in node.values() for p in walk(value)]
        if isinstance(node, list):
            return [p for item in node for p in walk(item)]
        return []

    return walk(config["nav"])


def test_nav_lists_every_guide_page_and_every_study():
    nav = _nav_pages()
    assert all((DOCS / page).is_file() for page in nav), [p for p in nav
                                                          if not (DOCS / p).is_file()]
    guide = {f"guide/{p.name}" for p in (DOCS / "guide").glob("*.md")}
    assert guide <= set(nav), sorted(guide - set(nav))
    studies = {f"results/{p.parent.name}/README.md"
               for p in (DOCS / "results").glob("*/README.md")}
    assert studies <= set(nav), sorted(studies - set(nav))
    assert {"index.md", "results/README.md", "ARCHITECTURE.md"} <= set(nav)


def test_api_pages_document_importable_modules():
    pages = sorted((DOCS / "reference").glob("*.md"))
    assert len(pages) >= 10
    for page in pages:
        names = re.findall(r"^::: ([\w.]+)$", page.read_text(encoding="utf-8"), re.M)
        assert names, f"{page.name}: no ::: directive"
        for name in names:
            importlib.import_module(name)
    nav = _nav_pages()
    assert {f"reference/{p.name}" for p in pages} <= set(nav)


@pytest.mark.slow
def test_mkdocs_build_strict(tmp_path: Path):
    pytest.importorskip("mkdocstrings")
    if shutil.which("mkdocs") is None and importlib.util.find_spec("mkdocs") is None:
        pytest.skip("mkdocs is not installed (pip install -e '.[docs]')")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict",
                           "--site-dir", str(tmp_path / "site")], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (tmp_path / "site" / "reference" / "planners" / "index.html").is_file()
