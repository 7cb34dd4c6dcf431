"""ACCEL's maze mutator against JaxUED's (``make_level_mutator_minimax``), edit distribution for
edit distribution.

``tests/data/maze_mutator_jaxued.npz`` (``experiments/record_references.py mutator``) holds 3,000
of JaxUED's 13x13, 25-wall mazes and, for 5 and 20 edits, each child's statistics. ued mutates the
same parents with its own keys; the distributions must agree within sampling noise.
"""

import functools
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ued.envs.maze.generators import maze_mutator
from ued.envs.maze.level import MazeLevel

DATA = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "data", "maze_mutator_jaxued.npz")


@functools.lru_cache(maxsize=None)
def recording():
    with np.load(DATA) as f:
        return {k: f[k] for k in f.files}


def parents() -> MazeLevel:
    r = recording()
    n = r["parent_goal"].shape[0]
    walls = np.unpackbits(r["parent_walls"], axis=1)[:, :169].reshape(n, 13, 13).astype(bool)
    return MazeLevel(wall_map=jnp.asarray(walls), goal_pos=jnp.asarray(r["parent_goal"]),
                     agent_pos=jnp.asarray(r["parent_agent"]), agent_dir=jnp.asarray(r["parent_dir"]),
                     width=jnp.full((n,), 13, jnp.int32), height=jnp.full((n,), 13, jnp.int32))


def stats(parent: MazeLevel, child: MazeLevel) -> dict:
    n = parent.goal_pos.shape[0]
    pw, cw = np.asarray(parent.wall_map).reshape(n, -1), np.asarray(child.wall_map).reshape(n, -1)
    return {"walls_changed": (pw != cw).sum(1), "wall_delta": cw.sum(1) - pw.sum(1),
            "goal_moved": np.any(np.asarray(child.goal_pos) != np.asarray(parent.goal_pos), axis=1),
            "agent_moved": np.any(np.asarray(child.agent_pos) != np.asarray(parent.agent_pos), axis=1),
            "dir_changed": np.asarray(child.agent_dir) != np.asarray(parent.agent_dir)}


def total_variation(a, b) -> float:
    lo, hi = min(a.min(), b.min()), max(a.max(), b.max())
    pa = np.bincount(a - lo, minlength=hi - lo + 1) / len(a)
    pb = np.bincount(b - lo, minlength=hi - lo + 1) / len(b)
    return 0.5 * float(np.abs(pa - pb).sum())


@pytest.mark.parametrize("case", ["edits5", "edits20"])
def test_maze_mutator_edits_are_distributed_as_jaxueds(case):
    r = recording()
    n_edits = int(r[f"{case}/num_edits"])
    ref = {k: r[f"{case}/{k}"] for k in ("walls_changed", "wall_delta", "goal_moved", "agent_moved", "dir_changed")}
    lv = parents()
    n = lv.goal_pos.shape[0]
    mutate = jax.jit(jax.vmap(maze_mutator(num_edits=n_edits).mutate))
    ours = stats(lv, mutate(jax.random.split(jax.random.key(5), n), lv))
    # the counts of changed walls and the wall count's change: same histograms within sampling noise
    # (two samples of 3,000 from one distribution differ by about 0.03-0.05 in total variation here)
    for k in ("walls_changed", "wall_delta"):
        assert total_variation(ours[k], ref[k]) < 0.08, (k, np.bincount(ours[k] - ours[k].min())[:12],
                                                         np.bincount(ref[k] - ref[k].min())[:12])
        se = np.sqrt(ours[k].var() / n + ref[k].var() / n)
        assert abs(ours[k].mean() - ref[k].mean()) < 4 * se, (k, ours[k].mean(), ref[k].mean())
    p, q = ours["goal_moved"].mean(), ref["goal_moved"].mean()
    assert abs(p - q) < 4 * np.sqrt(p * (1 - p) / n + q * (1 - q) / n + 1e-12), (p, q)
    assert not ours["agent_moved"].any() and not ref["agent_moved"].any()  # neither moves the agent
    assert not ours["dir_changed"].any() and not ref["dir_changed"].any()


def test_without_noop_edits_the_distribution_differs_from_jaxueds():
    """The option that drops the no-op kind (every edit changes the level) is distinguishable by the
    same statistics, so the test above can fail."""
    r = recording()
    lv = parents()
    n = lv.goal_pos.shape[0]
    mutate = jax.jit(jax.vmap(maze_mutator(num_edits=5, noop_edits=False).mutate))
    ours = stats(lv, mutate(jax.random.split(jax.random.key(5), n), lv))
    se = np.sqrt(ours["walls_changed"].var() / n + r["edits5/walls_changed"].var() / n)
    assert ours["walls_changed"].mean() - r["edits5/walls_changed"].mean() > 8 * se
