import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ued.envs.maze import (
    check_level,
    edit_distance,
    is_valid_level,
    maze_mutator,
    named_level,
    pad_level,
    random_maze_generator,
)

SHAPES = [(3, 3), (6, 9), (13, 13)]


@functools.lru_cache(maxsize=None)
def sampler(shape, n_walls, sample_n_walls):
    gen = random_maze_generator(*shape, n_walls=n_walls, sample_n_walls=sample_n_walls)
    return jax.jit(jax.vmap(gen.sample))


@functools.lru_cache(maxsize=None)
def mutate_batch(num_edits, move_agent):
    mut = maze_mutator(num_edits=num_edits, move_agent=move_agent)
    return jax.jit(jax.vmap(mut.mutate))


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), shape_index=st.integers(0, 2), sample_n=st.booleans())
def test_generated_levels_are_valid(seed, shape_index, sample_n):
    h, w = SHAPES[shape_index]
    n_walls = h * w - 2  # the densest allowed: still always room for agent and goal
    levels = sampler((h, w), n_walls, sample_n)(jax.random.split(jax.random.key(seed), 64))
    assert levels.wall_map.shape == (64, h, w)
    assert bool(jnp.all(jax.vmap(is_valid_level)(levels)))
    check_level(jax.tree.map(lambda x: x[0], levels))


def test_wall_count_with_replacement():
    levels = sampler((13, 13), 25, False)(jax.random.split(jax.random.key(0), 256))
    walls = np.asarray(levels.wall_map).sum(axis=(1, 2))
    assert walls.max() <= 25 and walls.min() >= 15
    assert (walls < 25).any()  # sampled with replacement, so some placements collide
    sampled = sampler((13, 13), 25, True)(jax.random.split(jax.random.key(0), 256))
    counts = np.asarray(sampled.wall_map).sum(axis=(1, 2))
    assert counts.min() <= 3 and counts.max() <= 25 and counts.std() > 4  # 0..25 placements
    dirs = np.bincount(np.asarray(levels.agent_dir), minlength=4)
    assert (dirs > 30).all()  # every direction appears


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), num_edits=st.sampled_from([1, 5, 20]), move_agent=st.booleans())
def test_mutations_are_valid_and_bounded(seed, num_edits, move_agent):
    k_gen, k_mut = jax.random.split(jax.random.key(seed))
    parents = sampler((13, 13), 25, False)(jax.random.split(k_gen, 64))
    children = mutate_batch(num_edits, move_agent)(jax.random.split(k_mut, 64), parents)
    assert bool(jnp.all(jax.vmap(is_valid_level)(children)))
    dist = np.asarray(jax.vmap(edit_distance)(parents, children))
    assert dist.max() <= num_edits
    assert dist.mean() > 0.5 * min(num_edits, 1)  # mutations do change levels
    if not move_agent:
        np.testing.assert_array_equal(children.agent_pos, parents.agent_pos)
    np.testing.assert_array_equal(children.agent_dir, parents.agent_dir)


def test_mutator_respects_padding():
    level = pad_level(named_level("TrivialMaze2"), 13, 13)
    batch = jax.tree.map(lambda x: jnp.broadcast_to(x, (32,) + x.shape), level)
    children = mutate_batch(20, True)(jax.random.split(jax.random.key(3), 32), batch)
    # Nothing outside the 5x5 interior changes, and positions stay inside it.
    assert bool(jnp.all(children.wall_map[:, 5:, :])) and bool(jnp.all(children.wall_map[:, :, 5:]))
    assert int(children.goal_pos.max()) < 5 and int(children.agent_pos.max()) < 5


def test_bad_generator_and_mutator_arguments():
    with pytest.raises(ValueError, match=r"n_walls must be an integer in \[0, 167\] for a 13x13 maze, got 168"):
        random_maze_generator(n_walls=168)
    with pytest.raises(ValueError, match="height must be a positive integer, got 0"):
        random_maze_generator(height=0)
    with pytest.raises(ValueError, match="num_edits must be a positive integer, got 0"):
        maze_mutator(num_edits=0)
