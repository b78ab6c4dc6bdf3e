"""The user guide (docs/guide) stays true: its code runs, its commands parse, its
generated pages are current and every name its API page lists exists."""

from __future__ import annotations

import importlib
import importlib.util
import re
import shlex
import sys
from pathlib import Path
from types import ModuleType

import pytest

from cemgd.cli import build_parser
from cemgd.planners import PLANNERS
from cemgd.runs import METRIC_COLUMNS
from cemgd.tasks import ENV_TASKS

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "guide"
PAGES = sorted(GUIDE.glob("*.md"))
_BLOCK = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)


def blocks(page: Path, language: str) -> list[str]:
    """The fenced code blocks of ``page`` in ``language``, in order."""
    return [code for lang, code in _BLOCK.findall(page.read_text(encoding="utf-8"))
            if lang == language]


def _gen_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_planner_docs",
                                                  ROOT / "scripts" / "gen_planner_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_guide_has_its_pages_and_the_index_links_them():
    names = {page.name for page in PAGES}
    assert {"README.md", "quickstart.md", "own-dynamics.md", "tasks.md", "own-model.md",
            "own-planner.md", "pets.md", "sweeps.md", "reproduce.md", "planners.md",
            "api.md"} <= names
    index = (GUIDE / "README.md").read_text(encoding="utf-8")
    for name in names - {"README.md"}:
        assert f"]({name})" in index, f"README.md does not link {name}"


# ------------------------------------------------------------------------- python blocks
@pytest.mark.parametrize("page", [p.name for p in PAGES if blocks(p, "python")])
def test_python_blocks_run(page: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Each page's python blocks, in order, in one namespace, in an empty folder."""
    pytest.importorskip("gymnasium")  # the guide's tasks are gymnasium environments
    pytest.importorskip("mujoco")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    registered = set(ENV_TASKS)
    planners = set(PLANNERS)
    # A real module as the namespace (dataclasses look their module up), and no
    # inherited ``from __future__`` flags: the blocks run as a user's script would.
    module = ModuleType(f"guide_{Path(page).stem.replace('-', '_')}")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    try:
        for i, code in enumerate(blocks(GUIDE / page, "python")):
            where = f"docs/guide/{page} (python block {i + 1})"
            exec(compile(code, where, "exec", dont_inherit=True), module.__dict__)
    finally:
        sys.modules.pop("my_tasks", None)
        for name in set(ENV_TASKS) - registered:
            ENV_TASKS.pop(name)
        for name in set(PLANNERS) - planners:  # own-planner.md registers one
            PLANNERS.pop(name)


# ------------------------------------------------------------------------- shell commands
def _split(lines: list[str]) -> list[list[str]]:
    commands = []
    for line in lines:
        words = shlex.split(line, comments=True)
        while words and re.match(r"^[A-Z_]+=", words[0]):  # PYTHONPATH=. cemgd ...
            words = words[1:]
        if words:
            commands.append(words)
    return commands


def _command_lines(page: Path) -> list[list[str]]:
    """Every command line of the page's bash blocks, split into words."""
    lines = []
    for code in blocks(page, "bash"):
        lines += code.replace("\\\n", " ").splitlines()
    return _split(lines)


def _inline_commands(page: Path) -> list[list[str]]:
    """Every inline `cemgd ...` span outside code blocks (a mention, maybe partial)."""
    text = _BLOCK.sub("", page.read_text(encoding="utf-8"))
    return _split(re.findall(r"`(cemgd [^`]*)`", text))


def _check_mention(words: list[str]) -> None:
    """An inline mention: the sub-command exists and takes every ``--flag`` named."""
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")  # the sub-parsers
    if len(words) < 2 or words[1].startswith("-"):
        return
    assert words[1] in sub.choices, f"{' '.join(words)}: no sub-command {words[1]}"
    options = sub.choices[words[1]]._option_string_actions
    for word in words[2:]:
        flag = word.split("=", 1)[0]
        if flag.startswith("--") and not flag.startswith(("--planner.", "--train.")):
            assert flag in options, f"{' '.join(words)}: cemgd {words[1]} has no {flag}"


def _check_cemgd(argv: list[str]) -> None:
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
    except SystemExit as exit_:
        if exit_.code == 0 and ("--help" in argv or "--version" in argv):
            return
        raise AssertionError(f"cemgd {' '.join(argv)}: does not parse") from None
    assert not extra or args.accepts_extra, f"cemgd {' '.join(argv)}: unknown {extra}"
    bad_planner_flags = [w for w in extra if w.startswith("--") and not w.startswith(
        ("--planner.", "--train."))]
    assert not bad_planner_flags, f"cemgd {' '.join(argv)}: unknown {bad_planner_flags}"


@pytest.mark.parametrize("page", [p.name for p in PAGES
                                  if _command_lines(p) or _inline_commands(p)])
def test_commands_parse(page: str):
    """Every ``cemgd`` command parses with the real parser; scripts and modules exist."""
    for words in _inline_commands(GUIDE / page):
        _check_mention(words)
    for words in _command_lines(GUIDE / page):
        program, argv = words[0], words[1:]
        if program == "cemgd":
            _check_cemgd(argv)
        elif program == "python" and argv[:1] == ["-m"]:
            module = argv[1]
            assert importlib.util.find_spec(module) is not None, f"{page}: no module {module}"
        elif program == "python":
            assert (ROOT / argv[0]).is_file(), f"{page}: no file {argv[0]}"
        else:
            assert program in ("pip", "ray"), f"{page}: unchecked command {' '.join(words)}"


# ------------------------------------------------------------------------- generated parts
def test_generated_pages_are_current():
    """planners.md and the metrics table of pets.md match the code (else: regenerate)."""
    script = _gen_script()
    for path, text in script.pages().items():
        assert path.read_text(encoding="utf-8") == text, (
            f"{path.name} is stale: run python scripts/gen_planner_docs.py")
    assert script.main(["--check"]) == 0


def test_planner_page_lists_every_planner_and_setting():
    from cemgd.planners import PLANNERS, PRESETS, planner_settings

    page = (GUIDE / "planners.md").read_text(encoding="utf-8")
    for name in PLANNERS:
        section = page.split(f"## `{name}`\n", 1)[1].split("\n## ", 1)[0]
        for setting in planner_settings(name):
            assert f"| `{setting.name}` |" in section, (name, setting.name)
    for preset in PRESETS:
        assert f"| `{preset}` |" in page
    prose = _BLOCK.sub("", page)
    assert "``" not in prose and ":class:" not in prose  # no reST markup


def test_metrics_table_lists_every_column_in_order():
    page = (GUIDE / "pets.md").read_text(encoding="utf-8")
    table = page.split("<!-- metrics:begin", 1)[1].split("<!-- metrics:end -->", 1)[0]
    assert tuple(re.findall(r"^\| `(\w+)` \|", table, re.M)) == tuple(METRIC_COLUMNS)


def test_api_page_names_exist():
    module = None
    checked = 0
    for line in (GUIDE / "api.md").read_text(encoding="utf-8").splitlines():
        heading = re.match(r"## `([\w.]+)`", line)
        if heading:
            module = importlib.import_module(heading.group(1))
            continue
        item = re.match(r"- (.*?):", line)
        if item and module is not None:
            for name in re.findall(r"`(\w+)`", item.group(1)):
                assert hasattr(module, name), f"{module.__name__}.{name} does not exist"
                checked += 1
    assert checked > 50
