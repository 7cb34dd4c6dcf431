"""The shared shape of memoryless per-step scores."""

from __future__ import annotations

import jax.numpy as jnp

from ued.rollout import Rollout, level_episodes, masked_mean
from ued.types import Score, ScoreResult


def episode_mean_score(name, per_step, bind=None):
    """A memoryless score: a per-step quantity averaged over each completed episode, then over
    the level's completed episodes (on a level with several agents, each agent's episode means
    averaged over the agents)."""

    def compute(rollout: Rollout, levels=None, extra=None) -> ScoreResult:
        means, mask = level_episodes(per_step(rollout), rollout, "mean")
        valid = mask.any(axis=0)
        return ScoreResult(jnp.where(valid, masked_mean(means, mask), 0.0), valid, {})

    return Score(compute=compute, init_extra=lambda: {}, name=name, bind=bind,
                 per_step=lambda rollout, levels=None, extra=None: per_step(rollout))
