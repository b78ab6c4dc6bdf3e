"""Planner specs: parse, format, label, config, presets, settings and the quick table."""

from __future__ import annotations

import dataclasses
import pickle

import pytest

from cemgd.planners import (
    PLANNERS,
    PRESETS,
    PlannerSpec,
    make_planner,
    planner_settings,
    quick_config,
)
from cemgd.planners.cem import CEMConfig
from cemgd.planners.cem_gd import CEMGDConfig
from cemgd.planners.spec import QUICK_CAPS


@pytest.mark.parametrize("text", [
    "cem", "cem-500", "cem-gd:n_replan=20,line_search=parallel",
    "gd:step_size=0.5,warm_start=true", "cem-500:alpha=0.5", "icem:beta=1.0,keep_elites=0.0",
    "mppi:temperature=0.25", "random-shooting:num_samples=7", "gradcem:inner_steps=2",
])
def test_round_trip(text):
    spec = PlannerSpec.parse(text)
    assert spec.format() == text
    assert PlannerSpec.parse(spec.format()) == spec
    assert hash(PlannerSpec.parse(text)) == hash(spec)


def test_the_text_as_given_is_kept_beside_the_canonical_text():
    given = "gd: step-size = 1"
    spec = PlannerSpec.parse(given)
    assert (spec.text, spec.given, str(spec)) == (given, given, "gd:step_size=1.0")
    made = PlannerSpec("gd", {"step_size": 1.0})  # made from its parts: no text was given
    assert spec == made and hash(spec) == hash(made) and made.text == "gd:step_size=1.0"
    assert pickle.loads(pickle.dumps(spec)).text == given  # worker processes see it too
    assert spec.with_settings(grad_steps=2).text == "gd:step_size=1.0,grad_steps=2"


def test_values_are_typed_by_the_config():
    spec = PlannerSpec.parse("gd: step-size = 1 , warm_start=FALSE, grad_steps=3")
    assert spec.settings == {"step_size": 1.0, "warm_start": False, "grad_steps": 3}
    assert type(spec.settings["step_size"]) is float
    assert type(spec.settings["grad_steps"]) is int
    assert spec.format() == "gd:step_size=1.0,warm_start=false,grad_steps=3"
    assert PlannerSpec.parse(spec.format()) == spec


def test_presets_resolve_and_settings_override_them():
    spec = PlannerSpec.parse("cem-500")
    assert spec.family == "cem" and spec.settings == {}
    assert spec.config() == CEMConfig(num_samples=100, num_iterations=5)
    spec = PlannerSpec.parse("cem-5000:num_iterations=2")
    assert spec.config() == CEMConfig(num_samples=100, num_iterations=2)
    for preset, (family, settings) in PRESETS.items():
        config = PlannerSpec.parse(preset).config()
        assert isinstance(config, PLANNERS[family].Config)
        assert all(getattr(config, k) == v for k, v in settings.items())


def test_make_planner_accepts_specs_presets_and_strings():
    assert make_planner("cem:num_samples=10").config.num_samples == 10
    assert make_planner("cem-500").config == CEMConfig(num_samples=100, num_iterations=5)
    spec = PlannerSpec("cem-gd", {"n_replan": 20})
    assert make_planner(spec).config == CEMGDConfig(n_replan=20)
    # overrides win over the spec
    assert make_planner("cem:num_samples=10", num_samples=12).config.num_samples == 12
    with pytest.raises(ValueError, match="name: unknown planner 'nope'"):
        make_planner("nope")
    with pytest.raises(ValueError, match="num_sample"):
        make_planner("cem:num_sample=10")


def test_labels():
    assert PlannerSpec.parse("cem-500").label == "CEM 500 (100x5)"
    assert PlannerSpec.parse("cem-gd:n_replan=50,line_search=parallel").label == (
        "CEM-GD 50 parallel")
    assert PlannerSpec.parse("gd:step_size=0.1").label == "GD step_size=0.1"
    assert PlannerSpec.parse("random-shooting").label == "RANDOM-SHOOTING 500"


@pytest.mark.parametrize(("text", "named"), [
    ("nope", "unknown planner 'nope'"),
    ("cem:num_samples", "key=value"),
    ("cem:num_sample=3", "'num_sample' is not a setting of planner 'cem'"),
    ("cem:num_samples=many", "num_samples: expected a value of type int"),
    ("cem:num_samples=0", "num_samples"),
    ("cem-gd:line_search=fast", "line_search: expected one of"),
    ("gd:warm_start=yes", "warm_start"),
    ("cem-gd:n_replan=7", "n_replan"),
])
def test_bad_spec_names_the_setting(text, named):
    with pytest.raises(ValueError, match="planners") as err:
        PlannerSpec.parse(text, where="planners")
    assert named in str(err.value)


def test_planner_settings_have_types_defaults_and_plain_docs():
    for name in [*PLANNERS, *PRESETS]:
        settings = planner_settings(name)
        family = PlannerSpec(name).family
        assert [s.name for s in settings] == [
            f.name for f in dataclasses.fields(PLANNERS[family].Config)]
        for s in settings:
            assert s.doc, (name, s.name)
            assert "``" not in s.doc and ":func:" not in s.doc and "`" not in s.doc
            assert s.default == getattr(PlannerSpec(name).config(), s.name)
    by_name = {s.name: s for s in planner_settings("cem-gd")}
    assert by_name["line_search"].choices == ("sequential", "parallel")
    assert by_name["step_size"].type is float and by_name["step_size"].default == 0.01
    assert {s.name: s.default for s in planner_settings("cem-500")}["num_samples"] == 100
    with pytest.raises(ValueError, match="unknown planner"):
        planner_settings("nope")


@pytest.mark.parametrize("name", [*PLANNERS, *PRESETS])
def test_quick_config_caps_every_size_and_stays_valid(name):
    config = PlannerSpec(name).config()
    small = quick_config(config)
    assert type(small) is type(config)
    for f in dataclasses.fields(small):
        value = getattr(small, f.name)
        if f.name in QUICK_CAPS:
            assert value <= QUICK_CAPS[f.name]
            assert value <= getattr(config, f.name)
    make_planner(PlannerSpec(name, dataclasses.asdict(small)))  # valid
    kept = quick_config(config, keep=[f.name for f in dataclasses.fields(config)])
    assert kept == config


def test_quick_config_rounds_cem_gd_counts_to_its_iterations():
    small = quick_config(CEMGDConfig(n_init=50, n_replan=15, num_iterations=5, top_k=3))
    assert small.num_iterations == 2 and small.n_init == 50 and small.n_replan == 10
    small = quick_config(CEMGDConfig(n_init=9, n_replan=3, num_iterations=1, top_k=3),
                         keep=["num_iterations"])
    assert small.num_iterations == 1 and small.n_replan == 3 and small.top_k == 3
