import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ued.envs import auto_replay
from ued.envs.maze import (
    ACTION_FORWARD,
    ACTION_LEFT,
    ACTION_RIGHT,
    distance_map,
    make_maze,
    named_level_names,
    named_levels,
    optimal_action,
    pad_level,
    parse_level,
    random_maze_generator,
    solve,
)
from ued.envs.maze.env import OBS_SCALE
from ued.utils import CompileCounter

ENV = make_maze()
PARAMS = ENV.default_params
KEY = jax.random.key(0)


@functools.partial(jax.jit, static_argnums=1)
def optimal_rollout(levels, num_steps):
    """Walks the solver's optimal policy on a batch of levels; returns per-step rewards/dones."""

    def one(level):
        dist = distance_map(level)
        _, state = ENV.reset_to_level(KEY, level, PARAMS)

        def step(state, _):
            action = optimal_action(dist, state.agent_pos, state.agent_dir)
            _, state, reward, done, info = ENV.step(KEY, state, action, PARAMS)
            return state, (reward, done, info["solved"], info["episode_return"])

        return jax.lax.scan(step, state, None, length=num_steps)[1]

    return jax.vmap(one)(levels)


def test_optimal_walk_solves_every_named_level_with_the_expected_reward():
    names = named_level_names()
    levels = named_levels(names, height=13, width=13)
    sol = jax.vmap(solve)(levels)
    assert bool(jnp.all(sol.is_solvable))
    rewards, dones, solved, returns = optimal_rollout(levels, 250)
    steps = np.asarray(sol.min_steps).astype(int)
    for i, name in enumerate(names):
        first_done = int(np.argmax(np.asarray(dones[i])))
        assert first_done + 1 == steps[i], name  # done exactly on the min_steps-th step
        assert bool(solved[i, first_done]), name
        expected = 1.0 - 0.9 * steps[i] / 250
        assert float(rewards[i, first_done]) == pytest.approx(expected, abs=1e-6), name
        assert float(returns[i, first_done]) == pytest.approx(expected, abs=1e-6), name
        assert float(jnp.sum(rewards[i, :first_done])) == 0.0, name
        assert float(sol.optimal_return[i]) == pytest.approx(expected, abs=1e-6), name


def test_trivial_maze_reward_by_hand():
    level = parse_level(">.G")
    _, s = ENV.reset_to_level(KEY, level, PARAMS)
    _, s, r, d, info = ENV.step(KEY, s, ACTION_FORWARD, PARAMS)
    assert s.agent_pos.tolist() == [1, 0] and float(r) == 0.0 and not bool(d)
    _, s, r, d, info = ENV.step(KEY, s, ACTION_FORWARD, PARAMS)
    assert s.agent_pos.tolist() == [1, 0]  # does not step onto the goal
    assert bool(d) and bool(info["solved"])
    assert float(r) == pytest.approx(1 - 0.9 * 2 / 250)
    assert int(info["episode_length"]) == 2


def test_walls_border_and_turns():
    level = parse_level("""
        ^#.
        ..G
    """)
    _, s = ENV.reset_to_level(KEY, level, PARAMS)
    _, s, *_ = ENV.step(KEY, s, ACTION_FORWARD, PARAMS)  # north is the border
    assert s.agent_pos.tolist() == [0, 0]
    _, s, *_ = ENV.step(KEY, s, ACTION_RIGHT, PARAMS)
    assert int(s.agent_dir) == 0
    _, s, *_ = ENV.step(KEY, s, ACTION_FORWARD, PARAMS)  # east is a wall
    assert s.agent_pos.tolist() == [0, 0]
    _, s, *_ = ENV.step(KEY, s, ACTION_LEFT, PARAMS)
    _, s, *_ = ENV.step(KEY, s, ACTION_LEFT, PARAMS)
    assert int(s.agent_dir) == 2
    _, s, *_ = ENV.step(KEY, s, ACTION_FORWARD, PARAMS)  # west is the border
    assert s.agent_pos.tolist() == [0, 0]
    for noop in range(3, 7):
        _, s2, r, d, _ = ENV.step(KEY, s, noop, PARAMS)
        assert s2.agent_pos.tolist() == [0, 0] and int(s2.agent_dir) == 2 and float(r) == 0 and not bool(d)
    assert int(s2.time) == int(s.time) + 1


def test_padding_behaves_as_walls():
    level = parse_level(">.G")
    _, s = ENV.reset_to_level(KEY, pad_level(level, 5, 5), PARAMS)
    _, s, *_ = ENV.step(KEY, s, ACTION_RIGHT, PARAMS)  # face south, into the padding
    _, s, *_ = ENV.step(KEY, s, ACTION_FORWARD, PARAMS)
    assert s.agent_pos.tolist() == [0, 0]


def test_episode_times_out():
    env = make_maze(max_steps=7)
    level = parse_level("^#G")
    _, s = env.reset_to_level(KEY, level, env.default_params)
    for t in range(7):
        _, s, r, d, info = env.step(KEY, s, ACTION_FORWARD, env.default_params)
        assert float(r) == 0.0
        assert bool(d) == (t == 6)
    assert int(info["episode_length"]) == 7 and not bool(info["solved"])
    # max_steps is a dynamic param: a different limit needs no new env
    params = env.default_params.replace(max_steps=jnp.int32(3))
    _, s = env.reset_to_level(KEY, level, params)
    dones = []
    for _ in range(3):
        _, s, _, d, _ = env.step(KEY, s, ACTION_FORWARD, params)
        dones.append(bool(d))
    assert dones == [False, False, True]


def test_egocentric_observation_encoding():
    level = parse_level("""
        .....
        ..G..
        .#...
        ..^..
    """)
    obs, _ = ENV.reset_to_level(KEY, level, PARAMS)
    img = np.asarray(obs.image)
    assert img.shape == (5, 5, 3) and img.dtype == np.uint8
    # Facing north: the agent stands at row 4, column 2; the row ahead (y=2) is row 3.
    expected_objects = np.array([
        [2, 2, 2, 2, 2],  # y = -1: outside the grid reads as walls
        [1, 1, 1, 1, 1],  # y = 0
        [1, 1, 8, 1, 1],  # y = 1: goal straight ahead two cells further
        [1, 2, 1, 1, 1],  # y = 2: the wall is ahead-left
        [1, 1, 1, 1, 1],  # y = 3: the agent's own row (the agent is not drawn)
    ])
    np.testing.assert_array_equal(img[..., 0], expected_objects)
    np.testing.assert_array_equal(img[1, 2], [1, 0, 0])
    np.testing.assert_array_equal(img[0, 0], [2, 5, 0])
    np.testing.assert_array_equal(img[2, 2], [8, 1, 0])
    assert int(obs.agent_dir) == 3


def test_observation_rotates_with_the_agent():
    # Facing east from (0, 1): ahead is +x, the agent's left is north (-y).
    level = parse_level("""
        .#...
        >...G
        .....
    """)
    obs, _ = ENV.reset_to_level(KEY, level, PARAMS)
    objects = np.asarray(obs.image[..., 0])
    assert objects[4, 2] == 1  # the agent's own cell
    assert objects[3, 1] == 2  # one ahead, one to the left: the wall at (1, 0)
    assert objects[0, 2] == 8  # four ahead: the goal at (4, 1)
    assert (objects[:, 0] == 2).all()  # two to the left: y = -1, outside
    assert (objects[:, 3] == 1).all()  # one to the right: y = 2, all empty
    assert (objects[:, 4] == 2).all()  # two to the right: y = 3, outside the 3-row grid


def test_full_and_normalised_observations():
    level = parse_level(">.G")
    obs, _ = make_maze(full_obs=True).reset_to_level(KEY, level, PARAMS)
    img = np.asarray(obs.image)
    assert img.shape == (3, 5, 3)  # a 1x3 interior plus the border
    np.testing.assert_array_equal(img[0, :, 0], [2] * 5)
    np.testing.assert_array_equal(img[1], [[2, 5, 0], [10, 0, 0], [1, 0, 0], [8, 1, 0], [2, 5, 0]])
    obs_n, _ = make_maze(normalize_obs=True).reset_to_level(KEY, level, PARAMS)
    obs_u, _ = ENV.reset_to_level(KEY, level, PARAMS)
    assert obs_n.image.dtype == jnp.float32
    assert float(obs_n.image.max()) <= 1.0
    np.testing.assert_allclose(obs_n.image, np.asarray(obs_u.image) / OBS_SCALE, rtol=1e-6)


def test_bad_env_arguments():
    with pytest.raises(ValueError, match="agent_view_size must be an odd integer >= 3, got 4"):
        make_maze(agent_view_size=4)
    with pytest.raises(ValueError, match="max_steps must be a positive integer, got 0"):
        make_maze(max_steps=0)


def test_auto_replay_restarts_the_same_level():
    env = auto_replay(ENV)
    level = parse_level(">G.")
    _, s = env.reset_to_level(KEY, level, PARAMS)
    _, s, r, d, info = env.step(KEY, s, ACTION_FORWARD, PARAMS)
    assert bool(d) and bool(info["solved"]) and float(r) > 0
    assert s.agent_pos.tolist() == [0, 0] and int(s.time) == 0 and float(s.episode_return) == 0
    _, s, r, d, _ = env.step(KEY, s, ACTION_RIGHT, PARAMS)
    assert int(s.time) == 1 and not bool(d)


def test_vmap_over_levels_and_no_recompilation():
    gen = random_maze_generator()
    step = jax.jit(jax.vmap(auto_replay(ENV).step, in_axes=(0, 0, 0, None)))
    reset = jax.jit(jax.vmap(ENV.reset_to_level, in_axes=(0, 0, None)))
    sample = jax.jit(jax.vmap(gen.sample))

    def run(seed):
        keys = jax.random.split(jax.random.key(seed), 64)
        levels = sample(keys)
        obs, s = reset(keys, levels, PARAMS)
        actions = jax.random.randint(jax.random.key(seed + 1), (64,), 0, 7)
        return step(keys, s, actions, PARAMS)

    out = run(0)
    assert out[0].image.shape == (64, 5, 5, 3) and out[2].shape == (64,)
    with CompileCounter() as cc:
        run(1)
        run(2)
    assert cc.count == 0
