"""The prioritised level replay buffer (PLR, Robust PLR, ACCEL).

Source: Jiang, Grefenstette and Rocktäschel, "Prioritized Level Replay", ICML 2021 (rank and
proportional prioritisation, staleness mixing); Jiang et al., "Replay-Guided Adversarial
Environment Design", NeurIPS 2021 (the replay buffer of robust PLR).

Sampling distribution over the stored levels::

    P = (1 - rho) * P_score + rho * P_staleness

    rank:          P_score(i) ∝ (1 / rank(S_i)) ^ (1 / T)     rank 1 = highest score
    topk:          P_score(i) ∝ 1 on the k highest scores (``topk_mode="uniform"``), or
                   ∝ exp(S_i / T) on them (``topk_mode="softmax"``), 0 elsewhere
    proportional:  P_score(i) ∝ max(S_i, 0) ^ (1 / T)
    staleness:     P_staleness(i) ∝ clock - last_sampled(i)

Empty slots get probability 0; a distribution with no mass falls back to uniform over the
stored levels. NaN scores are never stored (such levels count as not ``valid``), and
infinite scores are handled (``+inf`` ranks first, ``-inf`` last; proportional weights are
computed relative to the largest score), so the weights are never NaN.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from ued.types import LevelBuffer
from ued.utils import assert_scored_batch, tile

PRIORITISATIONS = ("rank", "topk", "proportional")
TOPK_MODES = ("uniform", "softmax")


@struct.dataclass
class PLRBufferState:
    """State of a ``plr_buffer`` of capacity ``C``.

    Attributes:
        levels: the stored levels, leaves with leading axis ``C``.
        scores: float32 ``(C,)``.
        last_sampled: int32 ``(C,)``, the clock when each level was last sampled or inserted.
        filled: bool ``(C,)``, which slots hold a level.
        extras: per-level score memory (e.g. ``{"max_return": (C,)}``).
        clock: int32 ``()``, advanced by one at each ``insert`` and ``sample``.
    """

    levels: object
    scores: jax.Array
    last_sampled: jax.Array
    filled: jax.Array
    extras: object
    clock: jax.Array

    @property
    def size(self) -> jax.Array:
        """int32 ``()``, the number of stored levels."""
        return jnp.sum(self.filled).astype(jnp.int32)


def _levels_equal(stored, level):
    """bool ``(C,)``: which stored levels equal ``level`` in every leaf."""
    eq = [jnp.all((a == b[None]).reshape(a.shape[0], -1), axis=1)
          for a, b in zip(jax.tree.leaves(stored), jax.tree.leaves(level))]
    return jnp.all(jnp.stack(eq), axis=0)


def plr_buffer(capacity: int = 4000, prioritisation: str = "rank", temperature: float = 0.3,
               staleness_coef: float = 0.3, min_fill: float = 0.5, top_k: int = 1,
               topk_mode: str = "uniform", deduplicate: bool = True) -> LevelBuffer:
    """A fixed-capacity prioritised level replay buffer.

    Insertion (``insert``) goes level by level: a level equal to a stored one (with
    ``deduplicate``) updates that entry's score and memory instead of being stored twice;
    otherwise it fills an empty slot; in a full buffer it replaces the level with the lowest
    score (the lowest score-weight under every prioritisation) only if its own score is
    higher. Levels that are not ``valid`` (or have a NaN score) are skipped.

    Args:
        capacity: number of levels (default 4000, as in the maze papers).
        prioritisation: ``"rank"``, ``"topk"`` or ``"proportional"``.
        temperature: ``T`` > 0 (default 0.3).
        staleness_coef: ``rho`` in [0, 1] (default 0.3).
        min_fill: replay only once ``size >= min_fill * capacity`` (``ready``), in [0, 1];
            an empty buffer is never ready.
        top_k: ``k`` for ``"topk"``, in [1, capacity].
        topk_mode: ``"uniform"`` or ``"softmax"`` over the k best.
        deduplicate: detect levels already stored.

    Returns:
        A ``LevelBuffer`` over ``PLRBufferState``.

    Raises:
        ValueError: naming the bad hyperparameter and its valid range.
    """
    if not isinstance(capacity, int) or capacity <= 0:
        raise ValueError(f"plr_buffer: capacity must be a positive integer, got {capacity!r}")
    if prioritisation not in PRIORITISATIONS:
        raise ValueError(f"plr_buffer: unknown prioritisation {prioritisation!r}; choose one of {', '.join(PRIORITISATIONS)}")
    if not temperature > 0:
        raise ValueError(f"plr_buffer: temperature must be > 0, got {temperature}")
    if not 0.0 <= staleness_coef <= 1.0:
        raise ValueError(f"plr_buffer: staleness_coef (rho) must be in [0, 1], got {staleness_coef}")
    if not 0.0 <= min_fill <= 1.0:
        raise ValueError(f"plr_buffer: min_fill must be in [0, 1], got {min_fill}")
    if not isinstance(top_k, int) or not 1 <= top_k <= capacity:
        raise ValueError(f"plr_buffer: top_k must be an integer in [1, capacity={capacity}], got {top_k!r}")
    if topk_mode not in TOPK_MODES:
        raise ValueError(f"plr_buffer: unknown topk_mode {topk_mode!r}; choose one of {', '.join(TOPK_MODES)}")

    def init(level, extra=None) -> PLRBufferState:
        return PLRBufferState(
            levels=tile(level, capacity),
            scores=jnp.zeros((capacity,), jnp.float32),
            last_sampled=jnp.zeros((capacity,), jnp.int32),
            filled=jnp.zeros((capacity,), jnp.bool_),
            extras=tile({} if extra is None else extra, capacity),
            clock=jnp.zeros((), jnp.int32),
        )

    def _normalise(w, filled):
        w = jnp.where(filled & (w > 0) & jnp.isfinite(w), w, 0.0)
        total = jnp.sum(w)
        uniform = filled / jnp.maximum(jnp.sum(filled), 1)
        return jnp.where(total > 0, w / jnp.where(total > 0, total, 1.0), uniform)

    def score_weights(state: PLRBufferState):
        s = jnp.where(state.filled, state.scores, -jnp.inf)
        if prioritisation == "rank":
            order = jnp.argsort(-s, stable=True)
            ranks = jnp.zeros((capacity,), jnp.float32).at[order].set(jnp.arange(1, capacity + 1, dtype=jnp.float32))
            w = (1.0 / ranks) ** (1.0 / temperature)
        elif prioritisation == "topk":
            _, top = jax.lax.top_k(s, top_k)
            in_top = jnp.zeros((capacity,), jnp.bool_).at[top].set(True) & state.filled
            if topk_mode == "uniform":
                w = in_top.astype(jnp.float32)
            else:
                finite = jnp.where(in_top & jnp.isfinite(s), s, -jnp.inf)
                z = (finite - jnp.max(finite)) / temperature
                w = jnp.where(in_top, jnp.exp(jnp.nan_to_num(z, nan=-jnp.inf)), 0.0)
                w = jnp.where(jnp.any(w > 0), w, in_top.astype(jnp.float32))
        else:  # proportional
            s = jnp.clip(jnp.where(state.filled, state.scores, 0.0), 0.0, jnp.finfo(jnp.float32).max)
            w = (s / jnp.maximum(jnp.max(s), jnp.finfo(jnp.float32).tiny)) ** (1.0 / temperature)
        return _normalise(w, state.filled)

    def weights(state: PLRBufferState):
        p_score = score_weights(state)
        if staleness_coef == 0.0:
            return p_score
        stale = (state.clock - state.last_sampled).astype(jnp.float32)
        p_stale = _normalise(stale, state.filled)
        return (1.0 - staleness_coef) * p_score + staleness_coef * p_stale

    def _defaults(n, scores, extras, valid, state):
        if extras is None or not jax.tree.leaves(state.extras):
            extras = jax.tree.map(lambda x: jnp.broadcast_to(x[0], (n,) + x.shape[1:]), state.extras)
        valid = jnp.ones((n,), jnp.bool_) if valid is None else jnp.asarray(valid, jnp.bool_)
        scores = jnp.asarray(scores, jnp.float32)
        return extras, valid & ~jnp.isnan(scores), scores

    def insert(state: PLRBufferState, levels, scores, extras=None, valid=None) -> PLRBufferState:
        assert_scored_batch(levels, scores, valid, extras)
        n = scores.shape[0]
        extras, valid, scores = _defaults(n, scores, extras, valid, state)
        clock = state.clock + 1

        def one(state, item):
            level, score, extra, ok = item
            if deduplicate:
                match = _levels_equal(state.levels, level) & state.filled
                is_dup = jnp.any(match)
                dup_slot = jnp.argmax(match)
            else:
                is_dup, dup_slot = jnp.array(False), jnp.array(0)
            has_empty = ~jnp.all(state.filled)
            empty_slot = jnp.argmin(state.filled)
            low_slot = jnp.argmin(jnp.where(state.filled, state.scores, jnp.inf))
            beats = score > state.scores[low_slot]
            slot = jnp.where(is_dup, dup_slot, jnp.where(has_empty, empty_slot, low_slot))
            write = ok & (is_dup | has_empty | beats)
            new_level = ok & ~is_dup & write

            def put(arr, value):
                return arr.at[slot].set(jnp.where(write, value, arr[slot]))

            state = state.replace(
                levels=jax.tree.map(lambda a, v: a.at[slot].set(jnp.where(new_level, v, a[slot])), state.levels, level),
                scores=put(state.scores, score),
                extras=jax.tree.map(put, state.extras, extra),
                last_sampled=state.last_sampled.at[slot].set(
                    jnp.where(new_level, clock, state.last_sampled[slot])),
                filled=state.filled.at[slot].set(state.filled[slot] | write),
            )
            return state, None

        state, _ = jax.lax.scan(one, state, (levels, scores, extras, valid))
        return state.replace(clock=clock)

    def update(state: PLRBufferState, indices, scores, extras=None, valid=None) -> PLRBufferState:
        assert_scored_batch(None, scores, valid, extras, indices=indices)
        n = indices.shape[0]
        extras, valid, scores = _defaults(n, scores, extras, valid, state)
        keep = lambda old, new: jnp.where(valid.reshape((n,) + (1,) * (new.ndim - 1)), new, old[indices])
        return state.replace(
            scores=state.scores.at[indices].set(keep(state.scores, scores)),
            extras=jax.tree.map(lambda a, v: a.at[indices].set(keep(a, v)), state.extras, extras),
        )

    def sample(state: PLRBufferState, key, num: int):
        p = weights(state)
        indices = jax.random.choice(key, capacity, (num,), replace=True, p=p)
        clock = state.clock + 1
        state = state.replace(last_sampled=state.last_sampled.at[indices].set(clock), clock=clock)
        return state, indices, jax.tree.map(lambda a: a[indices], state.levels)

    need = max(1, int(-(-min_fill * capacity // 1)))  # ceil(min_fill * capacity), and never an empty buffer

    def ready(state: PLRBufferState):
        return state.size >= need

    return LevelBuffer(init=init, insert=insert, update=update, sample=sample, weights=weights, ready=ready,
                       capacity=capacity)


def find_levels(state, levels):
    """Looks a batch of levels up among the stored ones.

    Use it before scoring fresh levels to give duplicates their stored memory (e.g. the best
    return MaxMC keeps): ``insert`` replaces a duplicate's score and memory with the new ones.

    Args:
        state: a ``PLRBufferState`` (or any state with ``levels`` and ``filled``).
        levels: leaves with leading axis ``B``.

    Returns:
        ``(found, indices)``: bool ``(B,)`` and int32 ``(B,)`` (0 where not found).
    """
    match = jax.vmap(lambda lv: _levels_equal(state.levels, lv) & state.filled)(levels)  # (B, C)
    return jnp.any(match, axis=1), jnp.argmax(match, axis=1).astype(jnp.int32)
