"""The bookkeeping every adapter of another package shares: the state it plays (the package's
own state, the level and this episode's counters), the start of an episode and the tail of
every step (counters, the ``info`` a rollout reads, and the refusal of invalid levels).

An adapter (XLand, NAVIX, gymnax, JaxNav, Craftax, Kinetix) writes only what is its package's:
building the package's state from a level, calling the package's step, reading ``done`` and
``solved`` from it, and saying whether a level is valid. The tail is written once here::

    def reset_to_level(key, level, params):
        inner = package.reset(key, level)
        return observe(inner), begin_episode(inner, level)

    def step(key, state, action, params):
        inner, reward, done = package.step(key, state.inner, action)
        state, reward, done, info = end_step(state, inner, reward, done, solved=..., valid=valid_level(state.level))
        return observe(inner), state, reward, done, info

A level that is not valid is not played: its first step ends the episode with reward 0, not
solved, and ``info["invalid_level"]`` True (a compiled step cannot raise; levels from a user are
checked where they enter, with a one-line error).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct


@struct.dataclass
class EpisodeState:
    """One environment of an adapted package being played.

    Attributes:
        inner: the package's own state (its ``EnvState`` or ``TimeStep``), any pytree.
        level: the level being played (what auto-replay resets to).
        episode_return: float32 ``()`` (or ``(N,)`` for ``N`` agents), reward so far this episode.
        episode_length: int32 ``()`` (or ``(N,)``), steps so far this episode.
    """

    inner: object
    level: object
    episode_return: jax.Array
    episode_length: jax.Array


def begin_episode(inner, level, num_agents: int = 1) -> EpisodeState:
    """The state of a fresh episode of ``level`` whose package state is ``inner``.

    Args:
        inner: the package's state after its reset.
        level: the level.
        num_agents: agents per environment (counters ``()`` for one, ``(N,)`` for several).
    """
    shape = () if num_agents == 1 else (num_agents,)
    return EpisodeState(inner=inner, level=level, episode_return=jnp.zeros(shape, jnp.float32),
                        episode_length=jnp.zeros(shape, jnp.int32))


def end_step(state: EpisodeState, inner, reward, done, solved, valid=True, **extra):
    """The tail of an adapter's ``step``: counters, refusal of an invalid level, ``info``.

    Args:
        state: the state the step started from.
        inner: the package's state after the step.
        reward: float ``()`` or ``(N,)``, the package's reward.
        done: bool, ``()`` or ``(N,)``, the episode ended (terminated or timed out).
        solved: bool like ``done``, the level's task was achieved on this step.
        valid: bool ``()``, whether ``state.level`` is valid; when False the step pays 0, ends
            the episode and is not solved.
        **extra: further ``info`` entries of the package (e.g. JaxNav's ``collision``).

    Returns:
        ``(state, reward, done, info)``: ``reward`` float32, ``done`` bool, and ``info`` with
        ``solved``, ``episode_return`` and ``episode_length`` (the finished episode's where
        ``done``, else 0), ``invalid_level`` (shaped like ``done``) and ``extra``.
    """
    valid = jnp.asarray(valid, jnp.bool_)
    reward = jnp.where(valid, jnp.asarray(reward, jnp.float32), 0.0)
    done = jnp.asarray(done, jnp.bool_) | ~valid
    ret = state.episode_return + reward
    length = state.episode_length + 1
    info = {"solved": jnp.asarray(solved, jnp.bool_) & valid, "episode_return": jnp.where(done, ret, 0.0),
            "episode_length": jnp.where(done, length, 0), "invalid_level": jnp.broadcast_to(~valid, done.shape),
            **extra}
    return state.replace(inner=inner, episode_return=ret, episode_length=length), reward, done, info


def same_dtypes(new, old):
    """``new`` with every leaf cast to the dtype of ``old``'s (a package whose step changes dtypes
    would otherwise not fit a ``scan`` carry)."""
    return jax.tree.map(lambda a, b: jnp.asarray(a, jnp.asarray(b).dtype), new, old)


def all_finite(tree) -> jax.Array:
    """bool ``()``: every floating leaf of ``tree`` is finite (True when it has none)."""
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)
              if jnp.issubdtype(jnp.asarray(x).dtype, jnp.floating)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.bool_(True)


__all__ = ["EpisodeState", "all_finite", "begin_episode", "end_step", "same_dtypes"]
