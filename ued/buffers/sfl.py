"""The sampling-for-learnability (SFL) buffer.

Source: Rutherford, Beukman, Willi, Lacerda, Hawes and Foerster, "No Regrets: Investigating
and Improving Regret Approximations for Curriculum Discovery", NeurIPS 2024.

Every ``T`` updates SFL samples ``N`` fresh levels, estimates each one's learnability from
rollouts of the current policy, and keeps the top ``K``; training batches then take a
fraction ``rho`` of their levels uniformly from the buffer and the rest fresh. The rollout
part lives with the curricula; this module holds the buffer: ``insert`` *replaces* the
contents with the top ``K`` of the batch it is given, and ``sample`` draws uniformly.

Paper defaults: maze ``N = 25,000`` (5 batches of 5,000), ``L = 2,000`` steps, ``K = 1,000``,
``T = 100`` updates, ``rho = 0.5``; JaxNav ``N = 5,000``, ``L = 1,000``, ``K = 100``, ``T = 50``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from ued.types import LevelBuffer
from ued.utils import tile


@struct.dataclass
class SFLBufferState:
    """State of an ``sfl_buffer`` of capacity ``K``.

    Attributes:
        levels: leaves with leading axis ``K``.
        scores: float32 ``(K,)``, the learnability of each stored level when selected.
        filled: bool ``(K,)``.
        extras: per-level memory (leading axis ``K``).
    """

    levels: object
    scores: jax.Array
    filled: jax.Array
    extras: object

    @property
    def size(self) -> jax.Array:
        return jnp.sum(self.filled).astype(jnp.int32)


def sfl_batch_split(num_levels: int, rho: float) -> tuple[int, int]:
    """How many of ``num_levels`` come from the buffer (``round(rho * num_levels)``) and how many fresh."""
    from_buffer = int(round(rho * num_levels))
    return from_buffer, num_levels - from_buffer


def sfl_buffer(capacity: int = 1000, rho: float = 0.5) -> LevelBuffer:
    """The SFL top-K buffer.

    Args:
        capacity: ``K``, the number of levels kept (default 1,000, the maze setting).
        rho: fraction of each training batch drawn from the buffer, in [0, 1] (default 0.5).
            Stored for the curriculum (``sfl_batch_split``); ``sample`` draws what it is asked.

    Returns:
        A ``LevelBuffer`` over ``SFLBufferState``: ``insert(state, levels, scores, extras,
        valid)`` keeps the ``K`` highest-scoring valid levels of the given batch (invalid
        levels rank below every valid one and are never kept), ``update`` re-scores stored
        levels, ``sample`` is uniform over the stored levels, ``ready`` once it holds any.

    Raises:
        ValueError: for a non-positive capacity or rho outside [0, 1].
    """
    if not isinstance(capacity, int) or capacity <= 0:
        raise ValueError(f"sfl_buffer: capacity must be a positive integer, got {capacity!r}")
    if not 0.0 <= rho <= 1.0:
        raise ValueError(f"sfl_buffer: rho must be in [0, 1], got {rho}")

    def init(level, extra=None) -> SFLBufferState:
        return SFLBufferState(
            levels=tile(level, capacity),
            scores=jnp.zeros((capacity,), jnp.float32),
            filled=jnp.zeros((capacity,), jnp.bool_),
            extras=tile({} if extra is None else extra, capacity),
        )

    def insert(state: SFLBufferState, levels, scores, extras=None, valid=None) -> SFLBufferState:
        n = scores.shape[0]
        if n < capacity:
            raise ValueError(f"sfl_buffer: insert needs at least capacity={capacity} candidate levels, got {n}")
        scores = jnp.asarray(scores, jnp.float32)
        valid = jnp.ones((n,), jnp.bool_) if valid is None else jnp.asarray(valid, jnp.bool_)
        valid = valid & ~jnp.isnan(scores)
        ranked = jnp.where(valid, scores, -jnp.inf)
        top_scores, top = jax.lax.top_k(ranked, capacity)
        take = lambda a: a[top]
        if extras is None or not jax.tree.leaves(state.extras):
            new_extras = state.extras
        else:
            new_extras = jax.tree.map(take, extras)
        return SFLBufferState(
            levels=jax.tree.map(take, levels),
            scores=jnp.where(valid[top], top_scores, 0.0),
            filled=valid[top],
            extras=new_extras,
        )

    def update(state: SFLBufferState, indices, scores, extras=None, valid=None) -> SFLBufferState:
        n = indices.shape[0]
        valid = jnp.ones((n,), jnp.bool_) if valid is None else jnp.asarray(valid, jnp.bool_)
        scores = jnp.asarray(scores, jnp.float32)
        valid = valid & ~jnp.isnan(scores)
        return state.replace(scores=state.scores.at[indices].set(jnp.where(valid, scores, state.scores[indices])))

    def weights(state: SFLBufferState):
        return state.filled / jnp.maximum(state.size, 1)

    def sample(state: SFLBufferState, key, num: int):
        indices = jax.random.choice(key, capacity, (num,), replace=True, p=weights(state))
        return state, indices, jax.tree.map(lambda a: a[indices], state.levels)

    def ready(state: SFLBufferState):
        return state.size > 0

    buffer = LevelBuffer(init=init, insert=insert, update=update, sample=sample, weights=weights, ready=ready)
    return buffer
