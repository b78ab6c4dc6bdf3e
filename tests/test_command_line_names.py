"""The one allow-list of code a command line named, shared by the task registry
(``only_named_code``) and the planner registry (``only_named_planners``)."""

from __future__ import annotations

import pytest

from cemgd.planners.registry import named_planners, only_named_planners
from cemgd.tasks import CodeNotNamed, check_code_named, named_tasks, only_named_code
from cemgd.validate import CommandLineNames


def test_names_nest_and_are_restored_even_after_an_error():
    names = CommandLineNames()
    assert names.names is None and names.allows("anything")  # outside a command line
    with names.within(["a"]):
        assert names.allows("a") and not names.allows("b")
        with pytest.raises(RuntimeError), names.within(["b"]):
            assert names.allows("b") and not names.allows("a")
            raise RuntimeError
        assert names.names == frozenset({"a"})
    assert names.names is None


def test_tasks_and_planners_keep_their_own_lists():
    with only_named_code(["mine.py:make"]):
        assert named_tasks() == frozenset({"mine.py:make"})
        assert named_planners() is None
        check_code_named("mine.py:make", "config.json")
        check_code_named("cartpole-swingup", "config.json")  # a registered name: no code
        with pytest.raises(CodeNotNamed, match="config.json names the task 'other.py:make'"):
            check_code_named("other.py:make", "config.json")
        with only_named_planners(["cem"]):
            assert named_planners() == frozenset({"cem"})
    assert named_tasks() is None and named_planners() is None
    check_code_named("other.py:make", "config.json")  # a library caller names its own code
