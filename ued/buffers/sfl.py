"""The sampling-for-learnability (SFL) buffer.

Source: Rutherford, Beukman, Willi, Lacerda, Hawes and Foerster, "No Regrets: Investigating
and Improving Regret Approximations for Curriculum Discovery", NeurIPS 2024.

Every ``T`` updates SFL samples ``N`` fresh levels, estimates each one's learnability from
rollouts of the current policy, and keeps the top ``K``; training batches then take a
fraction ``rho`` of their levels uniformly from the buffer and the rest fresh. The rollout
part lives with the curricula; this module holds the buffer: ``refill`` *replaces* the
contents with the top ``K`` of the batch it is given, and ``sample`` draws uniformly. It is a
``TopKBuffer``, not a ``LevelBuffer``: the replay curricula refuse it, and SFL refuses a
prioritised replay buffer.

Paper defaults: maze ``N = 25,000`` (5 batches of 5,000), ``L = 2,000`` steps, ``K = 1,000``,
``T = 100`` updates, ``rho = 0.5``; JaxNav ``N = 5,000``, ``L = 1,000``, ``K = 100``, ``T = 50``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from ued.types import TopKBuffer
from ued.utils import assert_scored_batch, check_positive_int, tile


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


def sfl_buffer(capacity: int = 1000) -> TopKBuffer:
    """The SFL top-K buffer.

    Args:
        capacity: ``K``, the number of levels kept (default 1,000, the maze setting).

    Returns:
        A ``TopKBuffer`` over ``SFLBufferState``: ``refill(state, levels, scores, extras,
        valid)`` keeps the ``K`` highest-scoring valid levels of the ``N >= K`` given, as the SFL
        code's ``argsort(learnability)[-K:]`` does (equal scores: the later candidates; stored
        lowest first; ``tests/buffers/test_sfl_reference.py``) (invalid
        levels rank below every valid one and are never kept), ``sample`` is uniform over the
        stored levels, ``ready`` once it holds any. The fraction of each training batch drawn
        from it (``rho``) is the SFL curriculum's setting.

    Raises:
        ValueError: for a non-positive capacity.
    """
    check_positive_int(capacity, "sfl_buffer: capacity")

    def init(level, extra=None) -> SFLBufferState:
        return SFLBufferState(
            levels=tile(level, capacity),
            scores=jnp.zeros((capacity,), jnp.float32),
            filled=jnp.zeros((capacity,), jnp.bool_),
            extras=tile({} if extra is None else extra, capacity),
        )

    def refill(state: SFLBufferState, levels, scores, extras=None, valid=None) -> SFLBufferState:
        assert_scored_batch(levels, scores, valid, extras)
        n = scores.shape[0]
        if n < capacity:
            raise ValueError(f"sfl_buffer: refill needs at least capacity={capacity} candidate levels, got {n}")
        scores = jnp.asarray(scores, jnp.float32)
        valid = jnp.ones((n,), jnp.bool_) if valid is None else jnp.asarray(valid, jnp.bool_)
        valid = valid & ~jnp.isnan(scores)
        ranked = jnp.where(valid, scores, -jnp.inf)
        # the SFL code's argsort(scores)[-K:]: the K highest, ties to the later candidate, lowest first
        top = jnp.argsort(ranked, stable=True)[-capacity:]
        top_scores = ranked[top]
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

    def weights(state: SFLBufferState):
        return state.filled / jnp.maximum(state.size, 1)

    def sample(state: SFLBufferState, key, num: int):
        indices = jax.random.choice(key, capacity, (num,), replace=True, p=weights(state))
        return state, indices, jax.tree.map(lambda a: a[indices], state.levels)

    def ready(state: SFLBufferState):
        return state.size > 0

    return TopKBuffer(init=init, refill=refill, sample=sample, weights=weights, ready=ready, capacity=capacity)
