"""Sampling For Learnability (SFL).

Source: Rutherford, Beukman, Willi, Lacerda, Hawes and Foerster, "No Regrets: Investigating
and Improving Regret Approximations for Curriculum Discovery", NeurIPS 2024.

Every ``refresh_every`` updates (and at the first), SFL samples ``num_samples`` fresh levels,
rolls the current policy out on each for ``rollout_steps`` steps (in batches of
``sample_batch`` levels, so memory stays bounded; all inside jit), scores them (learnability
``p (1 - p)`` by default) and keeps the top ``K`` in its buffer. Each training batch takes
``round(rho * num_levels)`` levels uniformly from the buffer and the rest fresh.
The sampling pass's env steps are returned by ``observe`` (``Observed.env_steps``): the loop
counts them as ``curriculum_env_steps``, apart from the training env steps.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from flax import struct

from ued.buffers import sfl_batch_split, sfl_buffer
from ued.curricula.base import buffer_metrics, check_buffer, check_score, level_metrics, sample_levels, top_stored_levels
from ued.scores import learnability
from ued.types import Curriculum, LevelSpace, Observed, Proposal, Score, TopKBuffer
from ued.utils import check_positive_int, tile


@struct.dataclass
class SFLState:
    """State of the SFL curriculum.

    Attributes:
        buffer: the SFL buffer's state (the top-K levels and their scores).
        refreshes: int32 ``()``, sampling passes done.
    """

    buffer: object
    refreshes: jax.Array


@struct.dataclass
class SFLChoice:
    """What SFL's ``propose`` hands to ``observe`` (``Proposal.data``).

    Attributes:
        refreshed: bool ``()``, this update ran the sampling pass.
    """

    refreshed: jax.Array


INT32_MAX = 2**31 - 1


def _score_batch(key, student, generator, score: Score, sample_batch: int, rollout_steps: int):
    """``sample_batch`` fresh levels, rolled out ``rollout_steps`` steps with the student's current
    policy and scored: ``(levels, scores, valid, extra)``, each with leading axis ``sample_batch``."""
    k_levels, k_roll = jax.random.split(key)
    levels = sample_levels(generator, k_levels, sample_batch)
    rollout, _ = student.rollout(student.params, levels, k_roll, rollout_steps)
    result = score.compute(rollout, levels, tile(score.init_extra(), sample_batch))
    return levels, result.scores, result.valid, result.extra


def _refresh(buf, key, student, generator, score: Score, buffer: TopKBuffer, sample_batch: int, num_batches: int,
             rollout_steps: int):
    """SFL's refresh: ``num_batches x sample_batch`` levels sampled and scored with the current
    policy, a batch at a time (``lax.map``); the buffer keeps the top K of them."""
    one_batch = functools.partial(_score_batch, student=student, generator=generator, score=score,
                                  sample_batch=sample_batch, rollout_steps=rollout_steps)
    levels, scores, valid, extras = jax.lax.map(one_batch, jax.random.split(key, num_batches))
    flat = lambda x: x.reshape((num_batches * sample_batch,) + x.shape[2:])  # noqa: E731
    return buffer.refill(buf, jax.tree.map(flat, levels), flat(scores), jax.tree.map(flat, extras), flat(valid))


def _check_sizes(rho: float, **sizes: int):
    """Refuses a size that is not a positive integer, a ``sample_batch`` that does not divide
    ``num_samples`` and a ``rho`` outside [0, 1] (one-line errors naming the parameter)."""
    for name, v in sizes.items():
        check_positive_int(v, f"sfl: {name}")
    if sizes["num_samples"] % sizes["sample_batch"]:
        raise ValueError(f"sfl: sample_batch={sizes['sample_batch']} must divide num_samples={sizes['num_samples']}")
    if not 0.0 <= rho <= 1.0:
        raise ValueError(f"sfl: rho must be in [0, 1], got {rho}")


def sfl(level_space: LevelSpace, num_levels: int, score: Score | None = None, buffer: TopKBuffer | None = None,
        num_samples: int = 25_000, sample_batch: int = 5_000, rollout_steps: int = 2_000, refresh_every: int = 100,
        rho: float = 0.5) -> Curriculum:
    """The SFL curriculum.

    Args:
        level_space: the level space.
        num_levels: levels per update (parallel environments).
        score: how sampled levels are ranked (default learnability, as in the paper).
        buffer: the ``TopKBuffer`` (default ``sfl_buffer(capacity=1000)``); its capacity is K.
        num_samples: N, levels sampled per refresh (maze: 25,000).
        sample_batch: levels rolled out at once (maze: 5,000); must divide ``num_samples``.
        rollout_steps: L, steps per sampled level (maze: 2,000).
        refresh_every: T, updates between refreshes (maze: 100).
        rho: fraction of each training batch drawn from the buffer, in [0, 1] (maze: 0.5).

    Returns:
        A ``Curriculum`` over ``SFLState``.

    Raises:
        TypeError: ``score`` is not a ``Score`` or ``buffer`` not a ``TopKBuffer`` (a prioritised
            replay buffer has other semantics: use ``buffer=sfl``).
        ValueError: naming a bad hyperparameter and its valid range, or sizes that do not fit
            together (``K > num_samples``).
    """
    _check_sizes(num_levels=num_levels, num_samples=num_samples, sample_batch=sample_batch,
                 rollout_steps=rollout_steps, refresh_every=refresh_every, rho=rho)
    score = check_score(score, "sfl", level_space, learnability)
    buffer = check_buffer(buffer, "sfl", TopKBuffer, sfl_buffer)
    if buffer.capacity > num_samples:
        raise ValueError(f"sfl: the buffer keeps K={buffer.capacity} levels but a refresh samples only "
                         f"num_samples={num_samples}; raise curriculum.num_samples or lower buffer.capacity")
    if num_samples * rollout_steps > INT32_MAX:
        raise ValueError(f"sfl: num_samples x rollout_steps = {num_samples * rollout_steps:,} env steps per refresh "
                         f"exceeds {INT32_MAX:,}; lower one of them")
    n_buffer, n_fresh = sfl_batch_split(num_levels, rho)
    num_batches = num_samples // sample_batch

    def init(key, student=None):
        placeholder = level_space.generator.sample(key)
        return SFLState(buffer=buffer.init(placeholder, score.init_extra()), refreshes=jnp.zeros((), jnp.int32))

    refresh = functools.partial(_refresh, generator=level_space.generator, score=score, buffer=buffer,
                                sample_batch=sample_batch, num_batches=num_batches, rollout_steps=rollout_steps)

    def propose(state: SFLState, key, student):
        k_refresh, k_buffer, k_fresh = jax.random.split(key, 3)
        due = (student.update % refresh_every) == 0
        buf = jax.lax.cond(due, lambda b: refresh(b, k_refresh, student), lambda b: b, state.buffer)
        parts = []
        if n_buffer:
            buf, _, from_buffer = buffer.sample(buf, k_buffer, n_buffer)
            parts.append(from_buffer)
        if n_fresh:
            parts.append(sample_levels(level_space.generator, k_fresh, n_fresh))
        levels = jax.tree.map(lambda *xs: jnp.concatenate(xs), *parts)
        replayed = jnp.arange(num_levels) < n_buffer
        proposal = Proposal(train_weights=jnp.ones((num_levels,), jnp.float32), replayed=replayed,
                            data=SFLChoice(refreshed=due))
        return state.replace(buffer=buf, refreshes=state.refreshes + due), levels, proposal

    def observe(state: SFLState, key, levels, proposal: Proposal, rollout, student):
        refreshed = proposal.data.refreshed
        metrics = {
            **buffer_metrics(state.buffer),
            "refreshed": refreshed.astype(jnp.float32),
            **level_metrics(level_space.level_stats, levels),
        }
        return Observed(state, metrics, refreshed.astype(jnp.int32) * (num_samples * rollout_steps))

    def top_levels(state: SFLState, count: int):
        return top_stored_levels(state.buffer, count)

    return Curriculum(init=init, propose=propose, observe=observe, top_levels=top_levels)
