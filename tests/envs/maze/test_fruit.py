"""The fruit maze (SAMPLR's level space): dynamics, rewards and the aleatoric part by hand."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ued.envs.maze import ACTION_FORWARD, ACTION_LEFT
from ued.envs.maze.fruit import (APPLE, BANANA, fruit_aleatoric, fruit_generator, fruit_level_space, fruit_mutator,
                                 is_valid_fruit_level, make_fruit_level, make_fruit_maze, render_fruit_level)

MAX = 20
ENV = make_fruit_maze(max_steps=MAX)
PARAMS = ENV.default_params


def corridor(banana_good):
    """A 1x5 corridor: banana at x=0, agent at x=2 facing east, apple at x=4."""
    return make_fruit_level(np.zeros((1, 5), bool), (4, 0), (0, 0), (2, 0), 0, banana_good)


def play(level, actions):
    key = jax.random.key(0)
    obs, state = ENV.reset_to_level(key, level, PARAMS)
    out = []
    for a in actions:
        obs, state, reward, done, info = jax.jit(ENV.step)(key, state, jnp.int32(a), PARAMS)
        out.append((float(reward), bool(done), bool(info["solved"]), int(info["fruit"])))
    return out, obs, state


@pytest.mark.parametrize("banana_good", [False, True])
def test_eating_a_fruit_ends_the_episode_and_only_the_good_one_rewards(banana_good):
    steps, _, _ = play(corridor(banana_good), [ACTION_FORWARD, ACTION_FORWARD])  # x=3, then eats the apple
    assert steps[0] == (0.0, False, False, -1)
    reward, done, solved, fruit = steps[1]
    assert done and fruit == APPLE and solved == (not banana_good)
    assert reward == pytest.approx(0.0 if banana_good else 1 - 0.9 * 2 / MAX)
    steps, _, _ = play(corridor(banana_good), [ACTION_LEFT, ACTION_LEFT, ACTION_FORWARD, ACTION_FORWARD])
    reward, done, solved, fruit = steps[-1]
    assert done and fruit == BANANA and solved == banana_good
    assert reward == pytest.approx(1 - 0.9 * 4 / MAX if banana_good else 0.0)


def test_the_view_shows_both_fruits_but_not_which_rewards():
    images = [ENV.reset_to_level(jax.random.key(0), corridor(g), PARAMS)[0].image for g in (False, True)]
    np.testing.assert_array_equal(images[0], images[1])  # the aleatoric parameter is hidden
    # facing east along the corridor: the apple 2 cells ahead (row 2 of the 5x5 view, centre
    # column), the banana 2 cells behind is out of view; a left turn shows neither (walls)
    img = np.asarray(images[0])
    assert tuple(img[2, 2]) == (6, 0, 0) and tuple(img[3, 2]) == (1, 0, 0)
    steps, obs, _ = play(corridor(False), [ACTION_LEFT, ACTION_LEFT])  # facing west: the banana
    assert tuple(np.asarray(obs.image)[2, 2]) == (6, 4, 0)


def test_walls_block_and_the_time_limit_ends_without_reward():
    walls = np.zeros((1, 5), bool)
    walls[0, 3] = True
    level = make_fruit_level(walls, (4, 0), (0, 0), (2, 0), 0, False)
    steps, _, state = play(level, [ACTION_FORWARD] * MAX)
    assert int(state.agent_pos[0]) == 2  # never passed the wall
    assert [s[1] for s in steps] == [False] * (MAX - 1) + [True]
    assert all(s[0] == 0.0 and not s[2] for s in steps)


def test_the_posterior_is_the_prior_whatever_the_level_holds_and_leaves_the_rest_alone():
    """Nothing seen before eating depends on banana_good, so its exact posterior in an unfinished
    episode is the prior: 20,000 draws from states of levels holding either value, at different
    times, have the prior's frequency (within 4.5 standard errors), and nothing else changes."""
    prob, n = 0.3, 20_000
    al = fruit_aleatoric(prob)
    for banana_good, steps in ((True, 0), (False, 3)):
        _, _, state = play(corridor(banana_good), [ACTION_LEFT] * steps)
        drawn = jax.jit(jax.vmap(al.posterior, in_axes=(0, None)))(jax.random.split(jax.random.key(steps), n), state)
        freq = float(np.mean(np.asarray(drawn.level.banana_good)))
        assert abs(freq - prob) < 4.5 * np.sqrt(prob * (1 - prob) / n)
        same = jax.tree.map(lambda a: a[0], drawn).replace(level=state.level)
        for x, y in zip(jax.tree.leaves(same), jax.tree.leaves(state)):
            np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    levels = jax.vmap(al.prior, in_axes=(0, None))(jax.random.split(jax.random.key(9), n), corridor(True))
    assert abs(float(np.mean(np.asarray(levels.banana_good))) - prob) < 4.5 * np.sqrt(prob * (1 - prob) / n)
    np.testing.assert_array_equal(np.asarray(al.of_level(corridor(True))), [1.0])


def test_optimal_return_goes_to_the_good_fruit_around_the_other():
    space = fruit_level_space(max_steps=MAX)
    assert float(space.optimal_return(corridor(False))) == pytest.approx(1 - 0.9 * 2 / MAX)
    assert float(space.optimal_return(corridor(True))) == pytest.approx(1 - 0.9 * 4 / MAX)
    # the apple between the agent and the banana: the banana is unreachable without eating it
    blocked = make_fruit_level(np.zeros((1, 5), bool), (1, 0), (0, 0), (2, 0), 2, True)
    assert float(space.optimal_return(blocked)) == 0.0
    stats = space.level_stats(jax.tree.map(lambda *x: jnp.stack(x), corridor(False), corridor(True), blocked))
    np.testing.assert_allclose(np.asarray(stats["shortest_path"])[:2], [2, 4])
    np.testing.assert_array_equal(np.asarray(stats["solvable"]), [1, 1, 0])
    np.testing.assert_array_equal(np.asarray(stats["banana_good"]), [0, 1, 1])


def test_generator_and_mutator_keep_levels_valid_and_the_mutator_never_flips_the_fruit():
    gen = fruit_generator(height=5, width=5, n_walls=6, banana_prob=0.3)
    levels = jax.jit(jax.vmap(gen.sample))(jax.random.split(jax.random.key(0), 4000))
    assert bool(jnp.all(jax.vmap(is_valid_fruit_level)(levels)))
    freq = float(jnp.mean(levels.banana_good))
    assert abs(freq - 0.3) < 4.5 * np.sqrt(0.21 / 4000)
    mut = fruit_mutator(num_edits=5)
    children = jax.jit(jax.vmap(mut.mutate))(jax.random.split(jax.random.key(1), 4000), levels)
    assert bool(jnp.all(jax.vmap(is_valid_fruit_level)(children)))
    np.testing.assert_array_equal(np.asarray(children.banana_good), np.asarray(levels.banana_good))
    changed = jnp.any(children.maze.wall_map != levels.maze.wall_map, axis=(1, 2)) | \
        jnp.any(children.banana_pos != levels.banana_pos, axis=1) | jnp.any(children.apple_pos != levels.apple_pos, axis=1)
    assert float(jnp.mean(changed)) > 0.95


def test_render_marks_the_fruits_and_the_good_one():
    a, b = (np.asarray(render_fruit_level(corridor(g), tile_size=8)) for g in (False, True))
    assert a.shape == (3 * 8, 7 * 8, 3)
    apple, banana = a[8 + 4, 5 * 8 + 4], a[8 + 4, 1 * 8 + 4]  # centres of the apple (x=4) and banana (x=0) cells
    assert tuple(apple) == (220, 30, 30) and tuple(banana) == (240, 220, 40)
    assert tuple(a[8 + 0, 5 * 8 + 0]) == (0, 200, 0) and tuple(b[8 + 0, 1 * 8 + 0]) == (0, 200, 0)  # green frames
    assert tuple(a[8 + 0, 1 * 8 + 0]) == (0, 0, 0)


@pytest.mark.parametrize("kwargs,message", [
    (dict(banana_prob=1.5), "banana_prob .* must be a number in \\[0, 1\\], got 1.5"),
    (dict(height=1, width=2), "no room for the agent and two fruits"),
    (dict(height=3, width=3, n_walls=7), "n_walls must be an integer in \\[0, 6\\]"),
    (dict(max_steps=0), "max_steps must be a positive integer"),
    (dict(num_edits=0), "num_edits must be a positive integer"),
])
def test_bad_settings_are_one_line_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        fruit_level_space(**kwargs)
