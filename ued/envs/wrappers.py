"""Wrappers that continue episodes after ``done``, for any ``LevelEnv``.

Both are written for use under ``jax.vmap``: a ``lax.cond`` inside a vmapped function
evaluates both branches, so "generate a level only when the episode ends" would in fact
generate one on every step of every environment. ``auto_reset`` instead draws the next level
from a pool of pre-generated levels carried in its params (one gather per step), and the
caller refreshes the pool as often as it likes (e.g. once per training update).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from ued.types import EnvParams, Level, LevelEnv, LevelGenerator


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


@struct.dataclass
class AutoResetParams:
    """Params of an ``auto_reset`` environment.

    Attributes:
        env: the wrapped environment's params.
        levels: a batch of levels (leading axis ``P``) that new episodes are drawn from
            uniformly; build it with ``make_level_pool``.
    """

    env: EnvParams
    levels: Level = None


def make_level_pool(generator: LevelGenerator, key: jax.Array, size: int) -> Level:
    """Samples ``size`` levels from a generator (vmapped), e.g. the reset pool of ``auto_reset``.

    Returns:
        A batch of levels with leading axis ``size``.
    """
    if size <= 0:
        raise ValueError(f"pool size must be positive, got {size}")
    return jax.vmap(generator.sample)(jax.random.split(key, size))


def auto_reset(env: LevelEnv) -> LevelEnv:
    """On ``done``, resets to a level drawn uniformly from a pre-generated pool.

    Params are ``AutoResetParams(env=inner_params, levels=pool)``; the pool is shared by all
    environments of a vmapped batch (``in_axes=None`` for params), so it costs one gather per
    step rather than a level generation.

    Args:
        env: the environment to wrap.

    Returns:
        A ``LevelEnv`` whose params are ``AutoResetParams``.
    """

    def check(params):
        if not isinstance(params, AutoResetParams) or params.levels is None:
            raise ValueError(
                "auto_reset needs params=AutoResetParams(env=..., levels=pool) with a pool of "
                "levels, e.g. levels=make_level_pool(generator, key, size)"
            )

    def reset_to_level(key, level, params):
        check(params)
        return env.reset_to_level(key, level, params.env)

    def step(key, state, action, params):
        check(params)
        k_step, k_pick, k_reset = jax.random.split(key, 3)
        obs, state, reward, done, info = env.step(k_step, state, action, params.env)
        pool_size = jax.tree.leaves(params.levels)[0].shape[0]
        index = jax.random.randint(k_pick, (), 0, pool_size)
        level = jax.tree.map(lambda x: x[index], params.levels)
        obs_reset, state_reset = env.reset_to_level(k_reset, level, params.env)
        end = episode_end(done, env.num_agents)
        return (tree_select(end, obs_reset, obs), tree_select(end, state_reset, state),
                reward, done, info)

    return env._replace(
        reset_to_level=reset_to_level,
        step=step,
        default_params=AutoResetParams(env=env.default_params),
        name=f"auto_reset({env.name})",
    )
