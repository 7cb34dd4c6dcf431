"""The wrapper that continues episodes after ``done`` for any ``LevelEnv``: ``auto_replay``
(the curricula's rollouts replay the proposed level), written for ``jax.vmap`` (a select of the
reset and the stepped state, no conditional)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ued.types import LevelEnv


def tree_select(pred: jax.Array, on_true, on_false):
    """``jnp.where(pred, a, b)`` over matching pytrees, with a scalar predicate."""
    return jax.tree.map(lambda a, b: jnp.where(pred, a, b), on_true, on_false)


def episode_end(done, num_agents: int):
    """Whether environments' episodes ended: ``done`` itself for one agent, else (a trailing agent
    axis ``N``, ``done`` equal over the agents of a level) the first agent's. One environment
    (``(N,)``) or a batch (``(B, N)``)."""
    return done if num_agents == 1 else done[..., 0]


def auto_replay(env: LevelEnv) -> LevelEnv:
    """On ``done``, resets to the same level (the level the state holds).

    The returned observation and state are those of the fresh episode; reward, done and
    info are those of the step that ended the old one.

    Args:
        env: the environment to wrap.

    Returns:
        A ``LevelEnv`` with the same levels, params and action space.
    """

    def step(key, state, action, params):
        k_step, k_reset = jax.random.split(key)
        obs, state, reward, done, info = env.step(k_step, state, action, params)
        obs_reset, state_reset = env.reset_to_level(k_reset, env.get_level(state), params)
        end = episode_end(done, env.num_agents)
        return (tree_select(end, obs_reset, obs), tree_select(end, state_reset, state),
                reward, done, info)

    return env._replace(step=step, name=f"auto_replay({env.name})")
