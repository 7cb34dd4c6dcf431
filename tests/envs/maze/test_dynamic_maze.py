"""The dynamic maze (DEGen's level space): full levels play as the maze; tile writes by hand."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ued.envs.maze import ACTION_FORWARD, ACTION_LEFT, make_level, make_maze, random_maze_generator, render_level
from ued.envs.maze.dynamic import (TILE_EMPTY, TILE_GOAL, TILE_WALL, UNSEEN_RGB, blank_level, dynamic_maze_level_space,
                                   full_level, make_dynamic_maze, render_gen_level)

MAX = 20
SPACE = dynamic_maze_level_space(height=5, width=5, n_walls=4, max_steps=MAX, held_out=())
DYN = SPACE.dynamic
ENV = SPACE.env
PARAMS = ENV.default_params
V = 5  # the view's side
AGENT_CELL = (V - 1) * V + V // 2  # the agent's own cell in the flattened view


def start(level):
    return ENV.reset_to_level(jax.random.key(0), level, PARAMS)


def blank_at(x, y, direction):
    """A 5x5 blank level with the agent at (x, y) facing ``direction``."""
    level = blank_level(jax.random.key(0), 5, 5)
    pos = jnp.array([x, y], jnp.int32)
    return level.replace(maze=level.maze.replace(agent_pos=pos, goal_pos=pos, agent_dir=jnp.int32(direction)),
                         generated=jnp.zeros((5, 5), bool).at[y, x].set(True))


def view_cell(forward, right):
    """The flattened view index of the cell ``forward`` ahead and ``right`` to the right."""
    return (V - 1 - forward) * V + V // 2 + right


def test_a_fully_generated_level_plays_exactly_as_the_maze():
    maze_env = make_maze(max_steps=MAX)
    levels = jax.vmap(random_maze_generator(5, 5, 4).sample)(jax.random.split(jax.random.key(3), 8))
    actions = jax.random.randint(jax.random.key(4), (30, 8), 0, 7)

    def play(env, lv):
        obs, state = jax.vmap(env.reset_to_level, in_axes=(0, 0, None))(jax.random.split(jax.random.key(0), 8), lv, PARAMS)

        def step(state, a):
            obs, state, r, d, info = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
                jax.random.split(jax.random.key(1), 8), state, a, PARAMS)
            return state, (obs.image, r, d, info["solved"])

        return obs.image, jax.lax.scan(step, state, actions)[1]

    first_a, steps_a = play(maze_env, levels)
    first_b, steps_b = play(ENV, full_level(levels))
    np.testing.assert_array_equal(first_a, first_b)
    for a, b in zip(steps_a, steps_b):
        np.testing.assert_array_equal(a, b)
    assert bool(steps_a[3].any())  # some episodes reach the goal


def test_a_blank_level_has_only_the_start_cell_generated_and_no_goal():
    levels = jax.vmap(DYN.blank)(jax.random.split(jax.random.key(0), 16))
    assert (np.asarray(levels.generated).sum(axis=(1, 2)) == 1).all()
    ax, ay = np.asarray(levels.maze.agent_pos).T
    assert np.asarray(levels.generated)[np.arange(16), ay, ax].all()
    assert not np.asarray(levels.goal_placed).any()
    stats = SPACE.level_stats(levels)
    np.testing.assert_allclose(stats["generated"], 1 / 25)
    assert (np.asarray(stats["solvable"]) == 0).all() and (np.asarray(stats["goal_placed"]) == 0).all()


def test_writes_generate_only_cells_of_the_view_not_generated_yet_and_one_goal():
    obs, state = start(blank_at(2, 4, 3))  # bottom row, facing north: the view covers rows 0..4, columns 0..4
    g = DYN.observe(state)
    assert g.cell_mask.sum() == 24 and not g.cell_mask[AGENT_CELL]
    assert g.tile_mask.tolist() == [True, True, True]
    # the cell ahead becomes a wall, the one two ahead the goal
    obs, state = DYN.write(state, jnp.int32(view_cell(1, 0)), jnp.int32(TILE_WALL))
    obs, state = DYN.write(state, jnp.int32(view_cell(2, 0)), jnp.int32(TILE_GOAL))
    level = state.level
    assert bool(level.maze.wall_map[3, 2]) and bool(level.generated[3, 2])
    assert bool(level.goal_placed) and level.maze.goal_pos.tolist() == [2, 2]
    assert obs.image[V - 2, V // 2].tolist() == [2, 5, 0] and obs.image[V - 3, V // 2].tolist() == [8, 1, 0]
    assert obs.image[0, 0].tolist() == [0, 0, 0]  # not generated yet: unseen
    # a second goal, an already generated cell and the agent's own cell are refused
    before = state
    for cell, tile in ((view_cell(3, 1), TILE_GOAL), (view_cell(1, 0), TILE_EMPTY), (AGENT_CELL, TILE_WALL)):
        _, after = DYN.write(before, jnp.int32(cell), jnp.int32(tile))
        for x, y in zip(jax.tree.leaves(after), jax.tree.leaves(before)):
            np.testing.assert_array_equal(x, y)
    assert DYN.observe(state).tile_mask.tolist() == [True, True, False]
    assert int(DYN.observe(state).cell_mask.sum()) == 22


def test_cells_outside_the_grid_cannot_be_written():
    _, state = start(blank_at(0, 0, 0))  # top-left corner facing east: the view's left part is outside
    g = DYN.observe(state)
    outside = np.asarray(g.image[..., 4]).reshape(-1) > 0
    assert outside.sum() == 10  # two columns of five to the agent's left (north of row 0)
    assert not np.asarray(g.cell_mask)[outside].any()
    _, after = DYN.write(state, jnp.int32(view_cell(2, -2)), jnp.int32(TILE_WALL))
    np.testing.assert_array_equal(after.level.generated, state.level.generated)


def test_a_cell_not_generated_blocks_and_the_goal_rewards_only_once_placed():
    _, state = start(blank_at(2, 4, 3))
    _, moved, reward, done, _ = ENV.step(jax.random.key(0), state, jnp.int32(ACTION_FORWARD), PARAMS)
    assert moved.agent_pos.tolist() == [2, 4] and float(reward) == 0.0  # ahead is not generated
    _, state = DYN.write(state, jnp.int32(view_cell(1, 0)), jnp.int32(TILE_EMPTY))
    _, moved, *_ = ENV.step(jax.random.key(0), state, jnp.int32(ACTION_FORWARD), PARAMS)
    assert moved.agent_pos.tolist() == [2, 3]
    # the unplaced goal's placeholder cell (the start cell) does not reward: the agent walks onto it
    back = moved
    for action in (ACTION_LEFT, ACTION_LEFT, ACTION_FORWARD):
        _, back, reward, done, info = ENV.step(jax.random.key(0), back, jnp.int32(action), PARAMS)
    assert back.agent_pos.tolist() == [2, 4] and float(reward) == 0.0 and not bool(info["solved"])
    _, state = DYN.write(state, jnp.int32(view_cell(2, 0)), jnp.int32(TILE_GOAL))
    _, s1, r1, d1, i1 = ENV.step(jax.random.key(0), state, jnp.int32(ACTION_FORWARD), PARAMS)
    _, s2, r2, d2, i2 = ENV.step(jax.random.key(0), s1, jnp.int32(ACTION_FORWARD), PARAMS)
    assert float(r1) == 0.0 and not bool(d1)
    assert bool(d2) and bool(i2["solved"]) and float(r2) == pytest.approx(1 - 0.9 * 2 / MAX)


def test_the_level_space_components_keep_levels_fully_generated():
    key = jax.random.key(0)
    level = SPACE.generator.sample(key)
    assert bool(level.generated.all()) and bool(level.goal_placed)
    child = SPACE.mutator.mutate(key, level)
    assert bool(child.generated.all()) and bool(child.goal_placed)
    built = SPACE.editor.build(jnp.zeros((5, 5), bool), jnp.array([4, 4]), jnp.array([0, 0]), key, jnp.int32(-1))
    assert bool(built.generated.all()) and float(SPACE.optimal_return(built)) > 0
    assert float(SPACE.optimal_return(blank_at(2, 2, 0))) == 0.0
    held = dynamic_maze_level_space(height=13, width=13, held_out=("SixteenRooms",)).held_out
    assert held.generated.shape == (1, 13, 13) and bool(held.goal_placed.all())


def test_rendering_marks_cells_not_generated():
    _, state = start(blank_at(2, 4, 3))
    _, state = DYN.write(state, jnp.int32(view_cell(1, 0)), jnp.int32(TILE_WALL))
    image = np.asarray(render_gen_level(state.level, tile_size=4))
    assert image.shape == (28, 28, 3)
    tile = lambda x, y: image[(y + 1) * 4:(y + 2) * 4, (x + 1) * 4:(x + 2) * 4]
    assert (tile(0, 0) == UNSEEN_RGB).all()  # not generated
    assert not (tile(2, 3) == UNSEEN_RGB).all(axis=-1).any()  # the generated wall
    assert not (tile(2, 4) == UNSEEN_RGB).all(axis=-1).any()  # the agent's (generated) start cell
    maze = make_level(np.zeros((5, 5), bool), (4, 4), (0, 0), 0)
    np.testing.assert_array_equal(render_gen_level(full_level(maze), 4), render_level(maze, 4))  # as the maze


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="agent_view_size must be an odd integer"):
        make_dynamic_maze(agent_view_size=4)
    with pytest.raises(ValueError, match="held-out levels are 13x13 but the level space is 9x9"):
        dynamic_maze_level_space(height=9, width=9)
