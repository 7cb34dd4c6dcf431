"""Score-weighted domain randomisation: fresh random levels every update, each level's gradient
weight set from a score of that update's own training rollout (no second rollout).

Not a published method: an example of ``Observed.train_weights``, the loop's rollout -> observe
-> update order. With its default score, learnability ``p (1 - p)`` (Rutherford et al., "No
Regrets: Investigating and Improving Regret Approximations for Curriculum Discovery", NeurIPS
2024), it weights DR's levels the way SFL ranks them, inside the update instead of by a sampling
pass. No reference implementation.

A level's weight is ``(1 - mix) + mix * s / mean(s)``: ``s`` the level's score in the batch
(0 where the score is not ``valid``: no completed episode), ``mean(s)`` over the batch; the
weights average 1, so the gradient keeps DR's scale, and a batch whose scores are all 0 trains
as DR does. ``mix = 0`` is DR; ``mix = 1`` weights by the score alone.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from ued.curricula.base import check_score, level_metrics
from ued.curricula.dr import dr
from ued.scores import learnability
from ued.types import Curriculum, LevelSpace, Observed, Score
from ued.utils import check_positive_int, tile

__all__ = ["score_weights", "score_weighted_dr"]


def score_weights(scores: jax.Array, valid: jax.Array, mix: float) -> jax.Array:
    """Gradient weights from a batch's scores.

    Args:
        scores: float32 ``(B,)``.
        valid: bool ``(B,)``; an invalid level counts as score 0.
        mix: in ``[0, 1]``, the share of the weight that follows the score.

    Returns:
        float32 ``(B,)``, non-negative, mean 1.
    """
    s = jnp.where(valid, jnp.maximum(scores, 0.0), 0.0)
    mean = jnp.mean(s)
    rel = jnp.where(mean > 0, s / jnp.where(mean > 0, mean, 1.0), 1.0)
    return ((1.0 - mix) + mix * rel).astype(jnp.float32)


def _observe(state, key, levels, proposal, rollout, student, *, level_space: LevelSpace, score: Score,
             num_levels: int, mix: float):
    result = score.compute(rollout, levels, tile(score.init_extra(), num_levels))
    weights = score_weights(result.scores, result.valid, mix)
    valid = result.valid.astype(jnp.float32)
    metrics = {**level_metrics(level_space.level_stats, levels),
               "batch_score_mean": jnp.sum(result.scores * valid) / jnp.maximum(valid.sum(), 1.0),
               "weight_max": jnp.max(weights), "weight_min": jnp.min(weights)}
    return Observed(state, metrics, jnp.zeros((), jnp.int32), train_weights=weights)


def score_weighted_dr(level_space: LevelSpace, num_levels: int, score: Score | None = None,
                      mix: float = 0.5) -> Curriculum:
    """DR whose PPO update weights each level by its score on this update's rollout.

    Args:
        level_space: the ``LevelSpace`` (its generator and level statistics are used).
        num_levels: levels per update (the number of parallel environments).
        score: a student-rollout ``Score`` (default: learnability).
        mix: in ``[0, 1]``; 0 is DR, 1 weights by the score alone.

    Returns:
        A ``Curriculum`` that sets ``Observed.train_weights`` ``(num_levels,)``; it spends no
        env steps beyond training and keeps no levels.
    """
    check_positive_int(num_levels, "score_weighted_dr: num_levels")
    if not isinstance(mix, (int, float)) or not 0.0 <= mix <= 1.0:
        raise ValueError(f"score_weighted_dr: mix must be in [0, 1], got {mix!r}")
    score = check_score(score, "score_weighted_dr", level_space, learnability)
    return dr(level_space, num_levels)._replace(  # DR's levels; its own observe
        observe=functools.partial(_observe, level_space=level_space, score=score, num_levels=num_levels,
                                  mix=float(mix)))
