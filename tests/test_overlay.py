"""GIF frames of ``--video`` carry a caption (trial, step, return) for PIL and MuJoCo tasks."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cemgd import make_planner
from cemgd.problem import Info, Problem
from cemgd.tasks.overlay import band_height, caption, overlay


def test_overlay_changes_the_band_only() -> None:
    rng = np.random.default_rng(0)
    frame = rng.integers(60, 255, (120, 160, 3), dtype=np.uint8)
    before = frame.copy()
    out = overlay(frame, caption(2, 5, 100, -12.34))
    band = band_height(120)
    assert out.shape == frame.shape and out.dtype == np.uint8
    assert np.array_equal(out[band:], frame[band:])
    assert not np.array_equal(out[:band], frame[:band])
    # the band is shaded to <= 0.35 of the scene; the text is bright on it
    assert out[:band].max() > 200 and (out[:band].min(axis=-1) > 150).sum() > 20
    assert np.array_equal(frame, before)  # the input is not modified
    other = overlay(frame, caption(2, 6, 100, -13.0))
    assert not np.array_equal(other[:band], out[:band])  # the text is drawn, not just a band
    assert caption(2, 5, 100, -12.34) == "trial 2  step 5/100  return -12.3"
    with pytest.raises(ValueError, match=r"frame: expected shape \[H, W, 3\]"):
        overlay(frame[..., 0], "x")


@pytest.mark.parametrize("task_name", ["cartpole-swingup", "halfcheetah"])
def test_episode_frames_carry_the_caption(task_name: str) -> None:
    pytest.importorskip("gymnasium")
    if task_name == "halfcheetah":
        pytest.importorskip("mujoco")
    from cemgd import pets
    from cemgd.tasks import make_env_task

    task = make_env_task(task_name, episode_length=3)

    def zero_plan(state, obs, params):  # [T, A] zeros: the frames, not the plan, matter
        return jnp.zeros((2, task.action_dim)), state, Info()

    planner = make_planner("cem-50")
    state0 = planner.initial_state(
        Problem(lambda o, a, k: jnp.zeros(a.shape[0]), 2, task.action_low, task.action_high),
        jax.random.key(0))
    episode = pets.run_episode(task, pets.Controller(zero_plan, None, state0),
                               pets.EpisodeSeeds.paired(7), frames=pets.Frames(4))
    env = task.make_env(seed=7, render_mode="rgb_array")
    env.reset()
    raw = np.asarray(env.render())
    env.close()
    first = episode.frames[0]
    band = band_height(raw.shape[0])
    assert len(episode.frames) == 4 and first.shape == raw.shape
    assert np.array_equal(first[band:], raw[band:])  # the scene is untouched below the band
    assert not np.array_equal(first[:band], raw[:band])
    assert np.array_equal(first, overlay(raw, caption(4, 0, 3, 0.0)))
    last = episode.frames[-1]
    total = float(np.sum(episode.rewards))
    assert not np.array_equal(last[:band], first[:band])
    assert caption(4, 3, 3, total).endswith(f"return {total:.1f}")
