"""Tests of the tasks with known, differentiable dynamics (cemgd.tasks)."""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cemgd.problem import Problem
from cemgd.tasks import TASKS, Barrier2D, Scaling, Task, make_task

KEY = jax.random.PRNGKey(0)
SMALL = {"barrier2d": {}, "cartpole-swingup": {}, "scaling": {"action_dim": 3}}


@pytest.fixture(params=sorted(TASKS))
def task(request) -> Task:
    return make_task(request.param, **SMALL[request.param])


def _random_actions(task: Task, key, shape: tuple[int, ...], scale: float = 1.0):
    return scale * jax.random.normal(key, (*shape, task.action_dim))


@functools.cache
def _ascender(task: Task, iters: int):
    """Jitted projected gradient ascent with backtracking: ``[T, A] -> [T, A]``."""

    def value(a):
        return task.true_rollout(jnp.asarray(task.reset(KEY)), a[None], None)[0]

    value_and_grad = jax.value_and_grad(value)

    def body(_, carry):
        a, eta = carry
        current, grad = value_and_grad(a)

        def too_long(trial):
            return (value(task.clip(a + trial[0] * grad)) <= current) & (trial[1] < 30)

        eta, _ = jax.lax.while_loop(too_long, lambda c: (0.5 * c[0], c[1] + 1), (2.0 * eta, 0))
        proposal = task.clip(a + eta * grad)
        better = value(proposal) > current
        return jnp.where(better, proposal, a), jnp.where(better, eta, 0.05)

    return jax.jit(lambda a: jax.lax.fori_loop(0, iters, body, (a, jnp.float32(0.05)))[0])


def _ascend(task: Task, actions, iters: int):
    """Climb from ``actions: [T, A]`` (from ``task.reset``); returns (actions, return)."""
    out = _ascender(task, iters)(jnp.asarray(actions, dtype=jnp.float32))
    return out, float(task.true_rollout(task.reset(KEY), out[None])[0])


# ------------------------------------------------------------------------- registry, errors
def test_registry_names_and_types():
    assert set(TASKS) == {"barrier2d", "cartpole-swingup", "scaling"}
    for name in TASKS:
        built = make_task(name)
        assert isinstance(built, Task)
        assert built.name == name


def test_unknown_task_names_the_argument_and_lists_known():
    with pytest.raises(ValueError, match=r"^name:.*barrier2d.*cartpole-swingup.*scaling"):
        make_task("pendulum")


def test_unknown_argument_is_named():
    with pytest.raises(ValueError, match=r"^horizon: not an argument of task 'scaling'"):
        make_task("scaling", horizon=3)


@pytest.mark.parametrize(
    ("name", "field", "value"),
    [
        ("barrier2d", "episode_length", 0),
        ("barrier2d", "barrier_radius", -0.1),
        ("barrier2d", "barrier_power", 1.0),
        ("barrier2d", "max_step", float("nan")),
        ("barrier2d", "action_cost", -1.0),
        ("barrier2d", "goal", (1.0, 2.0, 3.0)),
        ("barrier2d", "barrier_center", (0.0, float("inf"))),
        ("cartpole-swingup", "dt", 0.0),
        ("cartpole-swingup", "substeps", 1.5),
        ("cartpole-swingup", "pole_length", "long"),
        ("cartpole-swingup", "init_noise", -0.1),
        ("scaling", "action_dim", 0),
        ("scaling", "action_dim", 5000),
        ("scaling", "action_dim", True),
        ("scaling", "local_height", 1.0),
        ("scaling", "width", 0),
    ],
)
def test_bad_constructor_values_name_the_field(name, field, value):
    with pytest.raises(ValueError, match=rf"^{field}:"):
        make_task(name, **{field: value})


# ------------------------------------------------------------------------- contract, shapes
def test_shapes_and_problem(task):
    obs = task.reset(KEY)
    assert obs.shape == (task.obs_dim,) and obs.dtype == jnp.float32
    assert task.action_low.shape == task.action_high.shape == (task.action_dim,)
    assert np.all(task.action_low < task.action_high)
    next_obs, reward = task.step(obs, jnp.zeros(task.action_dim))
    assert next_obs.shape == obs.shape and reward.shape == ()
    returns = task.true_rollout(obs, _random_actions(task, KEY, (5, 7)), KEY)
    assert returns.shape == (5,) and bool(jnp.all(jnp.isfinite(returns)))
    traj, rewards = task.episode(obs, _random_actions(task, KEY, (7,)))
    assert traj.shape == (8, task.obs_dim) and rewards.shape == (7,)
    np.testing.assert_array_equal(traj[0], obs)
    problem = task.problem(12)
    assert isinstance(problem, Problem)
    assert problem.horizon == 12 and problem.obs_shape == (task.obs_dim,)
    np.testing.assert_array_equal(problem.action_low, task.action_low)
    np.testing.assert_array_equal(problem.action_high, task.action_high)
    assert problem.rollout(obs, jnp.zeros((2, 12, task.action_dim)), KEY).shape == (2,)


def test_bad_shapes_name_the_argument(task):
    obs = task.reset(KEY)
    with pytest.raises(ValueError, match=r"^actions: expected shape \[B, T,"):
        task.true_rollout(obs, jnp.zeros((4, task.action_dim)), KEY)
    with pytest.raises(ValueError, match=r"^actions: expected shape \[B, T,"):
        task.true_rollout(obs, jnp.zeros((2, 4, task.action_dim + 1)), KEY)
    with pytest.raises(ValueError, match=r"^obs: expected shape"):
        task.true_rollout(jnp.zeros(task.obs_dim + 1), jnp.zeros((2, 4, task.action_dim)), KEY)
    with pytest.raises(ValueError, match=r"^actions: expected shape \[T,"):
        task.episode(obs, jnp.zeros((2, 4, task.action_dim)))


def test_true_rollout_matches_python_loop_and_jit(task):
    obs = task.reset(jax.random.PRNGKey(3))
    actions = _random_actions(task, jax.random.PRNGKey(4), (3, 9), scale=1.5)  # some clipped
    step = jax.jit(task.step)
    expected = []
    for sequence in np.asarray(actions):
        state, total = obs, 0.0
        for action in sequence:
            state, reward = step(state, jnp.asarray(action))
            total += float(reward)
        expected.append(total)
    np.testing.assert_allclose(task.true_rollout(obs, actions, KEY), expected, rtol=1e-5, atol=1e-5)
    jitted = jax.jit(task.true_rollout)(obs, actions, KEY)
    np.testing.assert_allclose(jitted, expected, rtol=1e-5, atol=1e-5)
    _, rewards = task.episode(obs, actions[1])
    np.testing.assert_allclose(float(rewards.sum()), expected[1], rtol=1e-5, atol=1e-5)


def test_returns_depend_only_on_own_sequence(task):
    obs = task.reset(KEY)
    actions = _random_actions(task, jax.random.PRNGKey(5), (3, 6), scale=0.5)
    before = task.true_rollout(obs, actions, KEY)
    after = task.true_rollout(obs, actions.at[1].add(0.3), KEY)
    np.testing.assert_array_equal(before[jnp.array([0, 2])], after[jnp.array([0, 2])])
    assert abs(float(before[1] - after[1])) > 1e-6


def test_step_clips_the_action(task):
    obs = task.reset(KEY)
    big = jnp.full((task.action_dim,), 7.0)
    np.testing.assert_array_equal(task.step(obs, big)[0], task.step(obs, task.action_high)[0])
    assert float(task.step(obs, big)[1]) == float(task.step(obs, task.action_high)[1])


def test_gradients_finite_and_informative(task):
    obs = task.reset(KEY)
    actions = _random_actions(task, jax.random.PRNGKey(6), (2, 10), scale=0.5)
    grad = jax.grad(lambda a: task.true_rollout(obs, a, KEY).sum())(actions)
    assert grad.shape == actions.shape
    assert bool(jnp.all(jnp.isfinite(grad)))
    assert float(jnp.abs(grad).max()) > 1e-4


# ------------------------------------------------------------------------- barrier2d
def _waypoint_actions(task: Barrier2D, horizon: int, waypoint_y: float) -> np.ndarray:
    """Full speed to ``(centre_x, waypoint_y)``, then to the goal (test helper, numpy)."""
    position = np.asarray(task.start, dtype=np.float64)
    targets = [np.array([task.barrier_center[0], waypoint_y]), np.asarray(task.goal)]
    actions = []
    for _ in range(horizon):
        if len(targets) > 1 and np.linalg.norm(targets[0] - position) < task.max_step:
            targets.pop(0)
        delta = targets[0] - position
        distance = float(np.linalg.norm(delta))
        action = delta / max(distance, 1e-9) * min(1.0, distance / task.max_step)
        actions.append(action)
        position = position + task.max_step * action
    return np.asarray(actions, dtype=np.float32)


@pytest.fixture(scope="module")
def barrier_optima():
    task = Barrier2D()
    horizon = 40
    obs = task.reset(KEY)
    out = {}
    for side, waypoint_y in (("above", 0.9), ("below", -0.6)):
        start = _waypoint_actions(task, horizon, waypoint_y)
        start_return = float(task.true_rollout(obs, start[None], KEY)[0])
        actions, value = _ascend(task, start, iters=1500)
        out[side] = (start, start_return, actions, value)
    return task, obs, out


def test_barrier_both_sides_are_local_optima_and_below_is_better(barrier_optima):
    task, obs, out = barrier_optima
    for side, expected in (("above", 1), ("below", -1)):
        start, start_return, actions, value = out[side]
        assert int(task.crossing_side(task.episode(obs, start)[0])) == expected
        traj, _ = task.episode(obs, actions)
        # Gradient ascent improved a lot but stayed on its side, and ends at the goal.
        assert value > start_return + 3.0
        assert int(task.crossing_side(traj)) == expected
        np.testing.assert_allclose(traj[-1], task.goal, atol=0.1)
        # Converged: no small projected perturbation does better.
        noise = 0.03 * jax.random.normal(jax.random.PRNGKey(7), (64, *actions.shape))
        perturbed = task.true_rollout(obs, task.clip(actions[None] + noise), KEY)
        assert float(perturbed.max()) <= value + 1e-2
    assert out["below"][3] > out["above"][3] + 1.0


def test_barrier_straight_line_is_pushed_below(barrier_optima):
    task, obs, _ = barrier_optima
    straight = _waypoint_actions(task, 40, 0.0)
    actions, _ = _ascend(task, straight, iters=400)
    assert bool(task.passes_below(task.episode(obs, actions)[0]))


def test_barrier_step_and_reward_by_hand():
    task = Barrier2D()
    obs, action = jnp.array([-0.3, 0.2]), jnp.array([0.5, -1.0])
    next_obs, reward = task.step(obs, action)
    np.testing.assert_allclose(next_obs, [-0.25, 0.1], atol=1e-7)
    distance = math.sqrt(1.25**2 + 0.1**2 + task.goal_eps**2)
    bump = task.barrier_strength * math.exp(-math.log(2.0) * (0.25 / task.barrier_radius) ** 8)
    expected = -distance - bump - task.action_cost * 1.25
    np.testing.assert_allclose(float(reward), expected, rtol=1e-5)


def test_barrier_penalty_is_a_round_bump():
    task = Barrier2D()
    centre, radius = task.barrier
    np.testing.assert_allclose(task.barrier_penalty(jnp.asarray(centre)), task.barrier_strength)
    on_circle = centre + radius * np.array([[1.0, 0.0], [0.0, -1.0], [-0.6, 0.8]])
    np.testing.assert_allclose(
        task.barrier_penalty(jnp.asarray(on_circle)), task.barrier_strength / 2, rtol=1e-5
    )
    assert float(task.barrier_penalty(jnp.asarray(centre + [0.0, 1.5 * radius]))) < 0.01
    grad = jax.grad(lambda p: task.reward(p, jnp.zeros(2)))(jnp.asarray(centre))
    assert bool(jnp.all(jnp.isfinite(grad)))


def test_crossing_side_batch():
    task = Barrier2D()
    xs = np.linspace(-1.0, 1.0, 11)
    above = np.stack([xs, 0.5 * np.ones(11)], -1)
    below = np.stack([xs, -0.5 * np.ones(11)], -1)
    short = np.stack([np.linspace(-1.0, -0.5, 11), np.zeros(11)], -1)
    # Crosses x = 0 going from y = 0.0 (below the centre) to y = 0.3 (above): interpolated 0.15.
    steep = np.array([[-0.2, 0.0], [-0.1, 0.0], [0.1, 0.3], [0.4, 0.3]])
    steep = np.concatenate([steep, np.repeat(steep[-1:], 7, axis=0)])
    batch = jnp.asarray(np.stack([above, below, short, steep]))
    np.testing.assert_array_equal(task.crossing_side(batch), [1, -1, 0, 1])
    np.testing.assert_array_equal(task.passes_below(batch), [False, True, False, False])
    lower = Barrier2D(barrier_center=(0.0, 0.2))
    assert int(lower.crossing_side(jnp.asarray(steep))) == -1


# ------------------------------------------------------------------------- scaling
@pytest.mark.parametrize("dim", [1, 2, 8, 64])
def test_scaling_shapes(dim):
    task = make_task("scaling", action_dim=dim)
    obs = task.reset(KEY)
    assert obs.shape == (dim,) and task.obs_dim == dim and task.action_dim == dim
    np.testing.assert_allclose(obs, task.start)
    returns = task.true_rollout(obs, jnp.zeros((4, 5, dim)), KEY)
    assert returns.shape == (4,)
    standing = 5 * dim * float(task.landscape(jnp.float32(task.start)))
    np.testing.assert_allclose(returns, standing, rtol=1e-5)


def test_scaling_step_by_hand():
    task = Scaling(action_dim=2)
    next_obs, reward = task.step(jnp.array([-0.3, 0.5]), jnp.array([1.0, -3.0]))  # 2nd clipped
    np.testing.assert_allclose(next_obs, [-0.3 + task.max_step, 0.5 - task.max_step], atol=1e-6)
    scale = 2 * task.width**2
    g = [
        math.exp(-((x - 1) ** 2) / scale) + task.local_height * math.exp(-((x + 1) ** 2) / scale)
        for x in next_obs
    ]
    np.testing.assert_allclose(float(reward), sum(g) - 2 * task.action_cost, rtol=1e-5)


def test_scaling_replicated_actions_give_d_times_the_1d_return():
    one = Scaling(action_dim=1)
    actions = jax.random.uniform(KEY, (4, 12, 1), minval=-1.0, maxval=1.0)
    base = one.true_rollout(one.reset(KEY), actions, KEY)
    for dim in (2, 5, 16):
        many = Scaling(action_dim=dim)
        replicated = jnp.repeat(actions, dim, axis=-1)
        np.testing.assert_allclose(
            many.true_rollout(many.reset(KEY), replicated, KEY), dim * base, rtol=1e-5
        )


def test_scaling_dimensions_are_independent():
    task = Scaling(action_dim=4)
    actions = jax.random.uniform(KEY, (1, 10, 4), minval=-1.0, maxval=1.0)
    one = Scaling(action_dim=1)
    obs = one.reset(KEY)
    per_dim = [float(one.true_rollout(obs, actions[..., i : i + 1])[0]) for i in range(4)]
    total = float(task.true_rollout(task.reset(KEY), actions)[0])
    np.testing.assert_allclose(total, sum(per_dim), rtol=1e-5)


def _family_best(task: Scaling, horizon: int) -> float:
    """Best of 'full speed right for k steps, one step at speed s, then stop' (numpy)."""
    k = np.arange(horizon + 1)[:, None, None]
    s = np.linspace(0.0, 1.0, 501)[None, :, None]
    t = np.arange(horizon)[None, None, :]
    actions = np.where(t < k, 1.0, np.where(t == k, s, 0.0))
    x = task.start + task.max_step * np.cumsum(actions, axis=-1)
    g = np.exp(-((x - 1) ** 2) / (2 * task.width**2))
    g += task.local_height * np.exp(-((x + 1) ** 2) / (2 * task.width**2))
    return float((g.sum(-1) - task.action_cost * (actions**2).sum(-1)).max())


def test_scaling_optimal_return_is_exact_at_d1():
    task = Scaling(action_dim=1)
    horizon = 30
    best = task.optimal_return(horizon)
    family = _family_best(task, horizon)
    assert family <= best + 1e-3
    assert best <= family * (1 + 1e-3)
    assert best > 1.5 * task.local_return(horizon)  # crossing pays off clearly
    actions = task.optimal_actions(horizon)
    assert actions.shape == (horizon, 1)
    achieved = float(task.true_rollout(task.reset(KEY), jnp.asarray(actions)[None])[0])
    np.testing.assert_allclose(achieved, best, rtol=1e-5)
    final = task.start + task.max_step * actions.sum()
    np.testing.assert_allclose(final, 1.0, atol=0.05)  # ends on the global peak
    # No start, random or not, climbs above it.
    starts = jax.random.uniform(jax.random.PRNGKey(8), (8, horizon, 1), minval=-1.0, maxval=1.0)
    climbed = jax.vmap(_ascender(task, 300))(starts)
    assert float(task.true_rollout(task.reset(KEY), climbed).max()) <= best + 1e-3


@pytest.mark.slow  # over 25 s on 2 cores; run with -m slow
def test_scaling_optimum_scales_with_d_and_normalizes():
    horizon = 30
    one = Scaling(action_dim=1)
    for dim in (1, 4, 64):
        task = Scaling(action_dim=dim)
        np.testing.assert_allclose(task.optimal_return(horizon), dim * one.optimal_return(horizon))
        assert task.optimal_actions(horizon).shape == (horizon, dim)
        np.testing.assert_allclose(task.normalized(task.optimal_return(horizon), horizon), 1.0)
        local = task.normalized(task.local_return(horizon), horizon)
        np.testing.assert_allclose(local, one.local_return(horizon) / one.optimal_return(horizon))
        assert 0.45 < float(local) < 0.6
    np.testing.assert_allclose(one.normalized(np.zeros(3), horizon), 0.0)


def test_scaling_zero_sequence_climbs_to_the_local_peak():
    task = Scaling(action_dim=3)
    horizon = 30
    obs = task.reset(KEY)
    zero = jnp.zeros((1, horizon, 3))
    grad = jax.grad(lambda a: task.true_rollout(obs, a).sum())(zero)
    assert bool(jnp.all(grad < 0.0))  # every dimension is pulled towards the local peak
    local = task.local_actions(horizon)
    assert local.shape == (horizon, 3)
    final = task.start + task.max_step * local.sum(0)
    np.testing.assert_allclose(final, -1.0, atol=0.05)
    value = float(task.true_rollout(obs, jnp.asarray(local)[None])[0])
    np.testing.assert_allclose(value, task.local_return(horizon), rtol=1e-5)
    # A strict local optimum: small perturbations do worse, and climbing from near zero
    # (independently of the cached solver) lands on it.
    noise = 0.03 * jax.random.normal(KEY, (64, horizon, 3))
    assert float(task.true_rollout(obs, task.clip(local[None] + noise)).max()) < value
    _, climbed = _ascend(task, 0.02 * jax.random.normal(KEY, (horizon, 3)), iters=300)
    np.testing.assert_allclose(climbed, value, rtol=2e-3)
