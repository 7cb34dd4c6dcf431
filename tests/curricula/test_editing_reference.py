"""PAIRED's maze editing (``ued.curricula.editing``, protocol ``jaxued``) against JaxUED's
``MazeEditor``: ``tests/data/maze_editor_jaxued.npz`` (``experiments/record_references.py editor``)
holds 400 action sequences of 50 steps and the 13x13 levels JaxUED's editor built from them; the
same actions must build the same levels (walls, goal, agent, heading). Where a sequence put the
agent on the goal's cell both editors move it to a random other cell (their keys differ), so
there the agent's cell is only checked to be free and off the goal.
"""

import functools
import os

import jax
import jax.numpy as jnp
import numpy as np

from ued.curricula import editing
from ued.envs.maze import maze_level_space

DATA = os.path.join(os.path.dirname(__file__), os.pardir, "data", "maze_editor_jaxued.npz")


@functools.lru_cache(maxsize=None)
def recording():
    with np.load(DATA) as f:
        return {k: f[k] for k in f.files}


def test_the_same_actions_build_the_same_levels_as_jaxueds_editor():
    r = recording()
    editor = maze_level_space(height=13, width=13, held_out=()).editor
    actions = jnp.asarray(r["actions"].T, jnp.int32)  # (S, B)
    n = actions.shape[1]
    levels, _ = jax.jit(functools.partial(editing.design, editor, protocol="jaxued"))(
        actions, jax.random.split(jax.random.key(0), n))
    ref_walls = np.unpackbits(r["wall_map"], axis=1)[:, :169].reshape(n, 13, 13).astype(bool)
    moved = r["actions"][:, 2] == r["actions"][:, 0]  # the agent asked for the goal's cell
    np.testing.assert_array_equal(np.asarray(levels.goal_pos), r["goal_pos"])
    np.testing.assert_array_equal(np.asarray(levels.agent_dir), r["agent_dir"])
    np.testing.assert_array_equal(np.asarray(levels.agent_pos)[~moved], r["agent_pos"][~moved])
    walls = np.asarray(levels.wall_map)
    # walls: equal wherever neither editor's randomly placed agent stands (JaxUED toggles nothing there)
    agent_cells = np.zeros_like(walls)
    for pos in (np.asarray(levels.agent_pos), r["agent_pos"]):
        agent_cells[np.arange(n), pos[:, 1], pos[:, 0]] = True
    keep = ~(agent_cells & moved[:, None, None])
    np.testing.assert_array_equal(walls[keep], ref_walls[keep])
    assert (walls.reshape(n, -1).sum(1) > 0).all() and moved.any() and (~moved).any()
    ag = np.asarray(levels.agent_pos)[moved]
    assert not walls[moved][np.arange(moved.sum()), ag[:, 1], ag[:, 0]].any()
    assert (ag != np.asarray(levels.goal_pos)[moved]).any(axis=1).all()


def test_the_dcd_protocol_places_walls_instead_of_toggling():
    editor = maze_level_space(height=3, width=3, n_walls=1, held_out=()).editor
    # goal at cell 8, agent at 0, then walls at 4, 4 (placed twice: stays), 8 (the goal: ignored)
    actions = jnp.array([[8], [0], [4], [4], [8]])
    keys = jax.random.split(jax.random.key(0), 1)
    dcd = jax.tree.map(lambda x: x[0], editing.design(editor, actions, keys, protocol="dcd")[0])
    assert dcd.goal_pos.tolist() == [2, 2] and dcd.agent_pos.tolist() == [0, 0]
    assert np.asarray(dcd.wall_map).sum() == 1 and bool(dcd.wall_map[1, 1])
    # jaxued: goal 8, heading 3 (action 7 % 4), agent 0, then toggles at 4, 4 (off again), 5
    actions = jnp.array([[8], [7], [0], [4], [4], [5]])
    jx = jax.tree.map(lambda x: x[0], editing.design(editor, actions, keys, protocol="jaxued")[0])
    assert jx.goal_pos.tolist() == [2, 2] and jx.agent_pos.tolist() == [0, 0] and int(jx.agent_dir) == 3
    assert np.asarray(jx.wall_map).sum() == 1 and bool(jx.wall_map[1, 2])
