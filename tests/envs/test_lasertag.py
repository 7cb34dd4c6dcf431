"""LaserTag by hand: beams, tags, moves, observations, zero-sum outcomes and symmetry under swapping
the players; generator, mutator, arenas and statistics."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ued.envs.lasertag import (ARENAS, FORWARD, LEFT, STAY, TAG, TagLevel, beam_hits, lasertag_level_space,
                               lasertag_level_stats, parse_arena, valid_tag_level)

SPACE = lasertag_level_space(max_steps=20)
ENV = SPACE.env
STEP = jax.jit(ENV.step)
PARAMS = ENV.default_params


def play(level, actions):
    """Plays ``[(a0, a1), ...]`` from the level's start; returns the (obs, state, reward, done, info) of every step."""
    obs, state = ENV.reset_to_level(jax.random.key(0), level, PARAMS)
    out = []
    for a in actions:
        obs, state, r, d, info = STEP(jax.random.key(1), state, jnp.array(a), PARAMS)
        out.append((obs, state, np.asarray(r), np.asarray(d), {k: np.asarray(v) for k, v in info.items()}))
    return out


def arena(rows, dirs=(0, 2)):
    level = parse_arena(rows)
    return level.replace(agent_dir=jnp.array(dirs, jnp.int32))


CORRIDOR = ["0...1", "#####", ".....", ".....", "....."]
WALLED = ["0.#.1", "#####", ".....", ".....", "....."]


def test_a_tag_ends_the_episode_with_plus_and_minus_one():
    [(_, _, r, d, info)] = play(arena(CORRIDOR), [(TAG, STAY)])
    np.testing.assert_array_equal(r, [1.0, -1.0])
    assert d.all() and info["solved"].tolist() == [True, False] and info["tagged"].tolist() == [False, True]
    np.testing.assert_array_equal(info["episode_return"], [1.0, -1.0])


def test_a_wall_stops_the_beam():
    [(_, _, r, d, info)] = play(arena(WALLED), [(TAG, TAG)])
    np.testing.assert_array_equal(r, [0.0, 0.0])
    assert not d.any() and not info["solved"].any()
    walls = jnp.asarray(np.array([list(r) for r in WALLED]) == "#")
    assert not bool(beam_hits(walls, jnp.array([0, 0]), jnp.int32(0), jnp.array([4, 0])))
    assert bool(beam_hits(walls, jnp.array([0, 0]), jnp.int32(0), jnp.array([1, 0])))  # before the wall
    assert not bool(beam_hits(walls, jnp.array([0, 0]), jnp.int32(2), jnp.array([1, 0])))  # facing away


def test_both_tagging_at_once_is_a_draw_and_the_time_limit_too():
    [(_, _, r, d, info)] = play(arena(CORRIDOR), [(TAG, TAG)])
    np.testing.assert_array_equal(r, [0.0, 0.0])
    assert d.all() and not info["solved"].any() and info["tagged"].all()
    steps = play(arena(WALLED), [(STAY, STAY)] * 20)
    assert not any(s[3].any() for s in steps[:-1]) and steps[-1][3].all()
    np.testing.assert_array_equal(steps[-1][4]["episode_return"], [0.0, 0.0])
    assert steps[-1][4]["episode_length"].tolist() == [20, 20]


def test_moves_are_blocked_by_walls_the_edge_and_the_other_player():
    level = arena(["0.1..", ".....", ".....", ".....", "....."])  # 0 at (0, 0) facing east, 1 at (2, 0) facing west
    [(_, state, *_)] = play(level, [(FORWARD, FORWARD)])  # both into (1, 0): neither moves
    np.testing.assert_array_equal(state.agent_pos, [[0, 0], [2, 0]])
    [(_, state, *_)] = play(level, [(FORWARD, STAY)])  # 0 moves next to 1
    np.testing.assert_array_equal(state.agent_pos, [[1, 0], [2, 0]])
    _, state, *_ = play(level, [(FORWARD, STAY), (FORWARD, STAY)])[-1]  # into the other's cell: stays
    np.testing.assert_array_equal(state.agent_pos, [[1, 0], [2, 0]])
    _, state, *_ = play(level.replace(agent_dir=jnp.array([3, 2])), [(FORWARD, LEFT)])[-1]  # north: the edge
    np.testing.assert_array_equal(state.agent_pos, [[0, 0], [2, 0]])
    np.testing.assert_array_equal(state.agent_dir, [3, 1])


def test_a_player_sees_the_other_in_its_view():
    obs, _ = ENV.reset_to_level(jax.random.key(0), arena(["0.1..", ".....", ".....", ".....", "....."]), PARAMS)
    image = np.asarray(obs.image)
    assert image.shape == (2, 5, 5, 3)
    # player 0 faces east: the other, two cells ahead, is at row V-1-2, the centre column, with its direction 2
    np.testing.assert_array_equal(image[0, 2, 2], [10, 0, 2])
    np.testing.assert_array_equal(image[1, 2, 2], [10, 0, 0])  # and player 1 sees player 0 likewise
    assert (image[0, 4, 0] == [2, 5, 0]).all()  # outside the grid (north of player 0, on its left) reads as wall


def swap(level: TagLevel) -> TagLevel:
    return level.replace(agent_pos=level.agent_pos[::-1], agent_dir=level.agent_dir[::-1])


def test_the_game_is_zero_sum_and_symmetric_under_swapping_the_players():
    levels = jax.vmap(SPACE.generator.sample)(jax.random.split(jax.random.key(3), 16))
    actions = jax.random.randint(jax.random.key(4), (16, 20, 2), 0, 5)

    def episode(level, acts):
        obs, state = ENV.reset_to_level(jax.random.key(0), level, PARAMS)

        def body(state, a):
            obs, state, r, d, info = ENV.step(jax.random.key(0), state, a, PARAMS)
            return state, (r, d, info["solved"], obs.image)

        return jax.lax.scan(body, state, acts)[1]

    run = jax.jit(jax.vmap(episode))
    r, d, won, img = run(levels, actions)
    r2, d2, won2, img2 = run(jax.vmap(swap)(levels), actions[..., ::-1])
    np.testing.assert_array_equal(np.asarray(r).sum(-1), 0.0)  # zero-sum at every step
    np.testing.assert_array_equal(r2, np.asarray(r)[..., ::-1])
    np.testing.assert_array_equal(d2, d)
    np.testing.assert_array_equal(won2, np.asarray(won)[..., ::-1])
    np.testing.assert_array_equal(img2, np.asarray(img)[:, :, ::-1])


def test_generator_mutator_arenas_and_stats():
    levels = jax.jit(jax.vmap(SPACE.generator.sample))(jax.random.split(jax.random.key(5), 128))
    walls = np.asarray(levels.wall_map)
    assert (walls.sum(axis=(1, 2)) == 15).all()
    for w, pos in zip(walls, np.asarray(levels.agent_pos)):
        assert not w[pos[0, 1], pos[0, 0]] and not w[pos[1, 1], pos[1, 0]] and (pos[0] != pos[1]).any()
    children = jax.jit(jax.vmap(SPACE.mutator.mutate))(jax.random.split(jax.random.key(6), 128), levels)
    for w, pos in zip(np.asarray(children.wall_map), np.asarray(children.agent_pos)):
        assert not w[pos[0, 1], pos[0, 0]] and not w[pos[1, 1], pos[1, 0]] and (pos[0] != pos[1]).any()
    assert (np.asarray(children.wall_map) != walls).any(axis=(1, 2)).mean() > 0.5
    stats = lasertag_level_stats(SPACE.held_out)
    assert SPACE.held_out_names == tuple(ARENAS) and (np.asarray(stats["solvable"]) == 1).all()
    assert float(stats["distance"][0]) == 16  # Open: corner to corner of a 9x9 grid
    boxed = arena(["0#...", "##...", "....1", ".....", "....."])
    assert float(lasertag_level_stats(jax.tree.map(lambda x: x[None], boxed))["solvable"][0]) == 0
    assert SPACE.render(jax.tree.map(lambda x: x[0], SPACE.held_out)).shape == (108, 108, 3)
    with pytest.raises(ValueError, match="unknown LaserTag arena 'Nope'; choose from Open"):
        lasertag_level_space(held_out=["Nope"])


@pytest.mark.parametrize("change", ["same cell", "on a wall", "outside", "bad direction"])
def test_an_invalid_level_is_not_played(change):
    level = arena(CORRIDOR)
    level = {"same cell": lambda lv: lv.replace(agent_pos=jnp.array([[0, 0], [0, 0]], jnp.int32)),
             "on a wall": lambda lv: lv.replace(agent_pos=jnp.array([[0, 1], [4, 0]], jnp.int32)),
             "outside": lambda lv: lv.replace(agent_pos=jnp.array([[0, 0], [5, 0]], jnp.int32)),
             "bad direction": lambda lv: lv.replace(agent_dir=jnp.array([0, 4], jnp.int32))}[change](level)
    assert not bool(valid_tag_level(level)) and bool(valid_tag_level(arena(CORRIDOR)))
    [(_, state, r, d, info)] = play(level, [(TAG, FORWARD)])  # a tag that would hit, were the level played
    assert d.all() and (r == 0).all() and info["invalid_level"].all() and not info["solved"].any()
    np.testing.assert_array_equal(state.agent_pos, level.agent_pos)
