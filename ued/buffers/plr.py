"""The prioritised level replay buffer (PLR, Robust PLR, ACCEL).

Source: Jiang, Grefenstette and Rocktäschel, "Prioritized Level Replay", ICML 2021 (rank and
proportional prioritisation, staleness mixing); Jiang et al., "Replay-Guided Adversarial
Environment Design", NeurIPS 2021 (the replay buffer of robust PLR). Its operations follow
JaxUED's ``LevelSampler`` (Coward et al. 2024) operation for operation; the test
``tests/buffers/test_plr_reference.py`` replays traces recorded from it
(``experiments/record_references.py``).

Sampling distribution over the stored levels::

    P = (1 - rho) * P_score + rho * P_staleness

    rank:          P_score(i) ∝ (1 / rank(S_i)) ^ (1 / T)     rank 1 = highest score
    topk:          P_score(i) ∝ 1 on the k highest scores (``topk_mode="uniform"``), or
                   ∝ exp(S_i / T) on them (``topk_mode="softmax"``; JaxUED's top-k at T = 1), 0 elsewhere
    proportional:  P_score(i) ∝ max(S_i, 0) ^ (1 / T)
    staleness:     P_staleness(i) ∝ clock - last_sampled(i)

The clock counts episodes, as in the PLR paper: every level sampled (the draws of a batch one
after another, each moving the staleness the next one sees) and every level offered to
``insert`` (stored or not) advances it by one, and stamps the level it touched. Empty slots get
probability 0; a distribution with no mass falls back to uniform over the stored levels. NaN
scores are never stored (such levels count as not ``valid``), and infinite scores are handled
(``+inf`` ranks first, ``-inf`` last; proportional weights are computed relative to the largest
score), so the weights are never NaN.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from flax import struct

from ued.types import LevelBuffer
from ued.utils import assert_scored_batch, check_positive_int, tile

PRIORITISATIONS = ("rank", "topk", "proportional")
TOPK_MODES = ("uniform", "softmax")
EVICTIONS = ("weight", "score")


@struct.dataclass
class PLRBufferState:
    """State of a ``plr_buffer`` of capacity ``C``.

    Attributes:
        levels: the stored levels, leaves with leading axis ``C``.
        scores: float32 ``(C,)``.
        last_sampled: int32 ``(C,)``, the clock when each level was last sampled or inserted.
        filled: bool ``(C,)``, which slots hold a level.
        extras: per-level score memory (e.g. ``{"max_return": (C,)}``).
        clock: int32 ``()``, the episode count: one per level sampled or offered to ``insert``.
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


def _normalise(w, filled):
    """``w`` over the stored levels as a distribution (uniform over them when ``w`` has no mass)."""
    w = jnp.where(filled & (w > 0) & jnp.isfinite(w), w, 0.0)
    total = jnp.sum(w)
    uniform = filled / jnp.maximum(jnp.sum(filled), 1)
    return jnp.where(total > 0, w / jnp.where(total > 0, total, 1.0), uniform)


def score_weights(state: PLRBufferState, *, prioritisation: str, temperature: float, top_k: int,
                  topk_mode: str) -> jax.Array:
    """``P_score``, float32 ``(C,)`` summing to 1 over the stored levels (0 on empty slots)."""
    capacity = state.scores.shape[0]
    s = jnp.where(state.filled, state.scores, -jnp.inf)
    if prioritisation == "rank":
        return rank_weights(ranks_of(s), state.filled, temperature)
    if prioritisation == "topk":
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


def ranks_of(s: jax.Array) -> jax.Array:
    """float32 ``(C,)`` ranks of the effective scores ``s`` (empty slots at -inf): 1 is the highest,
    ties by slot (the references' stable ``argsort(-s)``)."""
    capacity = s.shape[0]
    order = jnp.argsort(-s, stable=True)
    return jnp.zeros((capacity,), jnp.float32).at[order].set(jnp.arange(1, capacity + 1, dtype=jnp.float32))


def rank_weights(ranks: jax.Array, filled: jax.Array, temperature: float) -> jax.Array:
    """Rank prioritisation's ``P_score`` from the ranks."""
    return _normalise((1.0 / ranks) ** (1.0 / temperature), filled)


def rerank(ranks: jax.Array, s: jax.Array, k, new) -> jax.Array:
    """``ranks_of`` after slot ``k``'s effective score changes from ``s[k]`` to ``new``, in O(C)
    instead of a sort: the slots it passes move by one, and it takes its place among them."""
    idx = jnp.arange(s.shape[0])
    old = s[k]
    before_old = (old > s) | ((old == s) & (k < idx))
    before_new = (new > s) | ((new == s) & (k < idx))
    moved = ranks - before_old.astype(jnp.float32) + before_new.astype(jnp.float32)
    ahead = ((s > new) | ((s == new) & (idx < k))) & (idx != k)
    return moved.at[k].set(1.0 + jnp.sum(ahead).astype(jnp.float32))


def mix_staleness(state: PLRBufferState, p_score: jax.Array, *, staleness_coef: float) -> jax.Array:
    """``(1 - rho) * p_score + rho * P_staleness``, float32 ``(C,)``."""
    if staleness_coef == 0.0:
        return p_score
    p_stale = _normalise((state.clock - state.last_sampled).astype(jnp.float32), state.filled)
    return (1.0 - staleness_coef) * p_score + staleness_coef * p_stale


def replay_weights(state: PLRBufferState, *, score_fn, staleness_coef: float) -> jax.Array:
    """The replay distribution ``P``, float32 ``(C,)``."""
    return mix_staleness(state, score_fn(state), staleness_coef=staleness_coef)


def _eviction_slot(state: PLRBufferState, ranks, *, eviction: str, weights_fn, temperature, staleness_coef):
    """The slot a new level goes to: the first empty one, else the lowest replay weight
    (``eviction="weight"``, the references') or the lowest score (``"score"``). With rank
    prioritisation the weights come from the ranks carried through the batch (``rerank``)."""
    if eviction == "score":
        lowest = jnp.argmin(state.scores)
    elif temperature is None:
        lowest = jnp.argmin(weights_fn(state))
    else:  # elementwise work only: no branch, no sort
        lowest = jnp.argmin(mix_staleness(state, rank_weights(ranks, state.filled, temperature),
                                          staleness_coef=staleness_coef))
    return jnp.where(jnp.all(state.filled), lowest, jnp.argmin(state.filled)).astype(jnp.int32)


def _insert_one(carry, item, *, deduplicate: bool, eviction: str, weights_fn, temperature, staleness_coef):
    """Offers one level: a stored duplicate is re-scored and stamped; otherwise the level takes an
    empty slot or the evicted one if its score is higher. The clock advances either way.
    ``carry`` is ``(state, ranks)``; the ranks follow every score written (rank prioritisation)."""
    state, ranks = carry
    level, score, extra, ok = item
    clock = state.clock + 1
    if deduplicate:
        match = _levels_equal(state.levels, level) & state.filled
        is_dup, dup_slot = jnp.any(match), jnp.argmax(match).astype(jnp.int32)
    else:
        is_dup, dup_slot = jnp.array(False), jnp.int32(0)
    new_slot = _eviction_slot(state, ranks, eviction=eviction, weights_fn=weights_fn, temperature=temperature,
                              staleness_coef=staleness_coef)
    slot = jnp.where(is_dup, dup_slot, new_slot)
    effective = jnp.where(state.filled, state.scores, -jnp.inf)
    beats = score > effective[slot]
    write = ok & (is_dup | beats)
    new_level = write & ~is_dup

    def put(arr, value, when=write):
        return arr.at[slot].set(jnp.where(when, value, arr[slot]))

    if temperature is not None:
        ranks = jnp.where(write, rerank(ranks, effective, slot, score), ranks)
    state = state.replace(
        levels=jax.tree.map(lambda a, v: put(a, v, new_level), state.levels, level),
        scores=put(state.scores, score),
        extras=jax.tree.map(put, state.extras, extra),
        last_sampled=put(state.last_sampled, clock),
        filled=put(state.filled, True),
        clock=clock,
    )
    return (state, ranks), None


def _batch_defaults(state, n, scores, extras, valid):
    if extras is None or not jax.tree.leaves(state.extras):
        extras = jax.tree.map(lambda x: jnp.broadcast_to(x[0], (n,) + x.shape[1:]), state.extras)
    valid = jnp.ones((n,), jnp.bool_) if valid is None else jnp.asarray(valid, jnp.bool_)
    scores = jnp.asarray(scores, jnp.float32)
    return extras, valid & ~jnp.isnan(scores), scores


def plr_insert(state: PLRBufferState, levels, scores, extras=None, valid=None, *, deduplicate: bool,
               eviction: str, weights_fn, temperature=None, staleness_coef: float = 0.0) -> PLRBufferState:
    """Offers a batch of ``B`` levels one after another (``_insert_one``). ``temperature`` is rank
    prioritisation's (None for the others): the ranks are sorted once per batch and then kept
    up to date level by level, so a full buffer's weight eviction costs no sort per level."""
    assert_scored_batch(levels, scores, valid, extras)
    extras, valid, scores = _batch_defaults(state, scores.shape[0], scores, extras, valid)
    one = functools.partial(_insert_one, deduplicate=deduplicate, eviction=eviction, weights_fn=weights_fn,
                            temperature=temperature, staleness_coef=staleness_coef)
    ranks = (ranks_of(jnp.where(state.filled, state.scores, -jnp.inf)) if temperature is not None
             else jnp.zeros(state.scores.shape, jnp.float32))
    (state, _), _ = jax.lax.scan(one, (state, ranks), (levels, scores, extras, valid))
    return state


def plr_update(state: PLRBufferState, indices, scores, extras=None, valid=None) -> PLRBufferState:
    """Re-scores stored levels (``indices`` ``(B,)``); the clock does not move. Where an index
    repeats, the last valid entry wins, as a sequential update would have it."""
    assert_scored_batch(None, scores, valid, extras, indices=indices)
    n, capacity = indices.shape[0], state.scores.shape[0]
    extras, valid, scores = _batch_defaults(state, n, scores, extras, valid)
    same = (indices[:, None] == indices[None, :]) & valid[None, :]
    later = jnp.any(jnp.triu(same, k=1), axis=1)  # a later valid entry writes the same slot
    target = jnp.where(valid & ~later, indices, capacity)  # out of range: dropped
    return state.replace(
        scores=state.scores.at[target].set(scores, mode="drop"),
        extras=jax.tree.map(lambda a, v: a.at[target].set(v, mode="drop"), state.extras, extras),
    )


def plr_sample(state: PLRBufferState, key, num: int, *, score_fn, staleness_coef: float):
    """``num`` levels drawn one after another from the replay distribution, each draw stamping
    its level and advancing the clock before the next (``jax.random.split(key, num)``, one key a
    draw). Returns ``(state, indices (num,), levels)``."""
    capacity = state.scores.shape[0]
    p_score = score_fn(state)  # scores do not change while sampling

    def draw(state, k):
        p = mix_staleness(state, p_score, staleness_coef=staleness_coef)
        idx = jax.random.choice(k, capacity, p=p).astype(jnp.int32)
        clock = state.clock + 1
        return state.replace(last_sampled=state.last_sampled.at[idx].set(clock), clock=clock), idx

    state, indices = jax.lax.scan(draw, state, jax.random.split(key, num))
    return state, indices, jax.tree.map(lambda a: a[indices], state.levels)


def plr_init(level, extra=None, *, capacity: int) -> PLRBufferState:
    """An empty buffer of ``capacity`` slots shaped like ``level`` (and the score memory ``extra``)."""
    return PLRBufferState(
        levels=tile(level, capacity),
        scores=jnp.zeros((capacity,), jnp.float32),
        last_sampled=jnp.zeros((capacity,), jnp.int32),
        filled=jnp.zeros((capacity,), jnp.bool_),
        extras=tile({} if extra is None else extra, capacity),
        clock=jnp.zeros((), jnp.int32),
    )


def plr_ready(state: PLRBufferState, *, need: int) -> jax.Array:
    """bool ``()``: at least ``need`` levels are stored."""
    return state.size >= need


def _check_plr(capacity, prioritisation, temperature, staleness_coef, min_fill, top_k, topk_mode, eviction):
    check_positive_int(capacity, "plr_buffer: capacity")
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
    if eviction not in EVICTIONS:
        raise ValueError(f"plr_buffer: unknown eviction {eviction!r}; choose one of {', '.join(EVICTIONS)}")


def plr_buffer(capacity: int = 4000, prioritisation: str = "rank", temperature: float = 0.3,
               staleness_coef: float = 0.3, min_fill: float = 0.5, top_k: int = 1,
               topk_mode: str = "uniform", deduplicate: bool = True, eviction: str = "weight") -> LevelBuffer:
    """A fixed-capacity prioritised level replay buffer.

    Insertion (``insert``) goes level by level: a level equal to a stored one (with
    ``deduplicate``) updates that entry's score and memory and refreshes its staleness instead
    of being stored twice; otherwise it fills an empty slot; in a full buffer it replaces the
    level with the lowest replay weight (``eviction="weight"``: score and staleness mixed, as
    JaxUED's ``LevelSampler`` and dcd's robust PLR buffer do) only if its own score is higher
    than that level's. ``eviction="score"`` replaces the lowest-scoring level instead (ued's
    rule before it followed the references: a full buffer then keeps the highest scores seen,
    whatever their staleness). Levels that are not ``valid`` (or have a NaN score) are not
    stored but still count as episodes on the clock.

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
        eviction: ``"weight"`` (default) or ``"score"``: which level a full buffer gives up.

    Returns:
        A ``LevelBuffer`` over ``PLRBufferState``.

    Raises:
        ValueError: naming the bad hyperparameter and its valid range.
    """
    _check_plr(capacity, prioritisation, temperature, staleness_coef, min_fill, top_k, topk_mode, eviction)
    score_fn = functools.partial(score_weights, prioritisation=prioritisation, temperature=temperature,
                                 top_k=top_k, topk_mode=topk_mode)
    weights = functools.partial(replay_weights, score_fn=score_fn, staleness_coef=staleness_coef)
    need = max(1, int(-(-min_fill * capacity // 1)))  # ceil(min_fill * capacity), and never an empty buffer
    return LevelBuffer(
        init=functools.partial(plr_init, capacity=capacity),
        insert=functools.partial(plr_insert, deduplicate=deduplicate, eviction=eviction, weights_fn=weights,
                                 temperature=temperature if prioritisation == "rank" and eviction == "weight" else None,
                                 staleness_coef=staleness_coef),
        update=plr_update,
        sample=functools.partial(plr_sample, score_fn=score_fn, staleness_coef=staleness_coef),
        weights=weights,
        ready=functools.partial(plr_ready, need=need),
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
