"""Learnability and the cheap policy-based scores."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ued.rollout import Rollout, level_episodes, masked_mean
from ued.scores.base import episode_mean_score
from ued.types import Discrete, Score, ScoreResult
from ued.utils import check_positive_int


def success_rate(rollout: Rollout, max_episodes: int | None = None):
    """Fraction of completed episodes in which the level was solved (on a level with several
    agents: the fraction of its agents' episodes in which the agent reached its goal).

    Args:
        rollout: ``(T, B)`` rollout.
        max_episodes: use at most the first this many completed episodes per level.

    Returns:
        ``(p, count)``: float32 ``(B,)`` success rates (0 where no episode completed) and
        int32 ``(B,)`` numbers of episodes used.
    """
    solved, mask = level_episodes(rollout.solved, rollout, "max")
    if max_episodes is not None:
        mask = mask & (jnp.arange(mask.shape[0])[:, None] < max_episodes)
    return masked_mean(solved, mask), mask.sum(axis=0).astype(jnp.int32)


def learnability(max_episodes: int = 10) -> Score:
    """Learnability ``p (1 - p)``, with ``p`` the level's success rate in the rollout.

    ``p`` is the fraction of the level's completed episodes (at most the first
    ``max_episodes``) in which the env flagged ``solved``. A level with no completed episode
    is not ``valid`` (score 0), so it never ranks first.

    Source: Rutherford, Beukman, Willi, Lacerda, Hawes and Foerster, "No Regrets:
    Investigating and Improving Regret Approximations for Curriculum Discovery" (Sampling
    For Learnability, SFL), NeurIPS 2024.

    Args:
        max_episodes: episodes per level used to estimate ``p`` (default 10).

    Returns:
        A memoryless ``Score``; ``scores`` in ``[0, 0.25]``.

    Raises:
        ValueError: if ``max_episodes`` is not a positive integer.
    """
    check_positive_int(max_episodes, "learnability: max_episodes")

    def compute(rollout: Rollout, levels=None, extra=None) -> ScoreResult:
        p, count = success_rate(rollout, max_episodes)
        valid = count > 0
        return ScoreResult(jnp.where(valid, p * (1.0 - p), 0.0), valid, {})

    return Score(compute=compute, init_extra=lambda: {}, name="learnability")


def policy_entropy() -> Score:
    """Mean policy entropy over the steps of completed episodes, from ``rollout.entropy`` (the
    agent's own entropy: categorical and Gaussian policies alike).

    Source: Jiang, Grefenstette and Rocktäschel, "Prioritized Level Replay", ICML 2021.

    Returns:
        A memoryless ``Score``.
    """

    def entropy(rollout: Rollout):
        if rollout.entropy is None:
            raise ValueError("policy_entropy needs the policy's entropy: build the Rollout with entropy=(T, B)")
        return rollout.entropy

    return episode_mean_score("policy_entropy", entropy)


def _needs_categorical(level_space):
    if not isinstance(level_space.env.action_space, Discrete):
        raise ValueError(f"least_confidence scores a categorical policy (1 - max action probability); the "
                         f"{level_space.name} level space's actions are continuous ({type(level_space.env.action_space).__name__}): "
                         "use score=entropy, pvl, max_mc, l1_value_loss, mna or learnability")
    return least_confidence()._replace(bind=None)


def least_confidence() -> Score:
    """Mean least confidence ``1 - max_a pi(a|s)`` over the steps of completed episodes.

    Defined for categorical policies only: a curriculum built with it on a level space with a
    continuous action space refuses it (``ValueError``) before compiling.

    Source: Jiang, Grefenstette and Rocktäschel, "Prioritized Level Replay", ICML 2021.

    Returns:
        A memoryless ``Score`` (reads ``rollout.dist_params`` as categorical logits).
    """

    def confidence(rollout: Rollout):
        if rollout.dist_params is None:
            raise ValueError("least_confidence needs the policy logits: build the Rollout with dist_params=(T, B, A) logits")
        return 1.0 - jnp.exp(jnp.max(jax.nn.log_softmax(rollout.dist_params), axis=-1))

    return episode_mean_score("least_confidence", confidence, bind=_needs_categorical)
