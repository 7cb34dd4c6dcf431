"""The maze against JaxUED's ``Maze``, step for step: ``tests/data/maze_env_jaxued.npz``
(``experiments/record_references.py maze``) holds 64 of JaxUED's 13x13, 25-wall levels, 300 random
actions on each (an episode restarts on its level when it ends) and every step's egocentric
image, direction, reward and done; ued's maze must give the same (the image transposed: ued's rows
are the distance ahead, JaxUED's array is indexed as MiniGrid's ``(x, y)``)."""

import os

import jax
import jax.numpy as jnp
import numpy as np

from ued.envs.maze import maze_level_space
from ued.envs.maze.level import MazeLevel

DATA = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "data", "maze_env_jaxued.npz")


def test_the_maze_steps_as_jaxueds():
    with np.load(DATA) as f:
        r = {k: f[k] for k in f.files}
    n = r["goal_pos"].shape[0]
    walls = np.unpackbits(r["wall_map"], axis=1)[:, :169].reshape(n, 13, 13).astype(bool)
    levels = MazeLevel(wall_map=jnp.asarray(walls), goal_pos=jnp.asarray(r["goal_pos"]),
                       agent_pos=jnp.asarray(r["agent_pos"]), agent_dir=jnp.asarray(r["agent_dir"]),
                       width=jnp.full((n,), 13, jnp.int32), height=jnp.full((n,), 13, jnp.int32))
    env = maze_level_space(held_out=()).env  # ued's defaults: 13x13, view 5, 250 steps
    params = env.default_params

    def run(level, acts, key):
        obs, state = env.reset_to_level(key, level, params)

        def step(carry, a):
            obs, state = carry
            o2, s2, rew, done, _ = env.step(key, state, a, params)
            o3, s3 = env.reset_to_level(key, level, params)
            new = jax.tree.map(lambda x, y: jnp.where(done, x, y), (o3, s3), (o2, s2))
            return new, (obs.image, obs.agent_dir, rew, done)

        return jax.lax.scan(step, (obs, state), acts)[1]

    images, dirs, rewards, dones = jax.jit(jax.vmap(run, in_axes=(0, 1, 0)))(
        levels, jnp.asarray(r["actions"], jnp.int32), jax.random.split(jax.random.key(0), n))
    assert r["dones"].sum() > n and (r["rewards"] > 0).sum() > 10  # episodes end, by the goal and the time limit
    np.testing.assert_array_equal(np.asarray(dones), r["dones"])
    np.testing.assert_allclose(np.asarray(rewards), r["rewards"], rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(dirs), r["dirs"])
    # the view holds the same cells; JaxUED's array is MiniGrid's (x, y) order, the transpose of
    # ued's rows-ahead image (documented in ued/envs/maze/env.py)
    np.testing.assert_array_equal(np.swapaxes(np.asarray(images), 2, 3), r["images"])
