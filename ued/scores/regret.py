"""Regret approximations computed from the agent's own rollouts.

Shared convention for the value-loss family (L1 value loss, PVL, MaxMC): a per-step quantity
is averaged over the steps of each *completed* episode, then over the completed episodes of
the rollout. The steps of an episode still running when the rollout stopped are left out.
A level with no completed episode is not ``valid`` (score 0): buffers neither insert it nor
re-score it, so it never wins prioritisation by accident.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ued.rollout import Rollout, level_any, level_episodes, level_mean, masked_mean, td_errors
from ued.scores.base import episode_mean_score
from ued.types import Score, ScoreResult


def _episode_average(x, rollout):
    means, mask = level_episodes(x, rollout, "mean")
    valid = mask.any(axis=0)
    return masked_mean(means, mask), valid


def l1_value_loss() -> Score:
    """L1 value loss: the mean absolute GAE advantage, ``mean_t |A_t|``.

    Source: Jiang, Grefenstette and Rocktäschel, "Prioritized Level Replay", ICML 2021.

    Returns:
        A memoryless ``Score``; ``scores`` ``(B,)`` >= 0.
    """
    return episode_mean_score("l1_value_loss", lambda r: jnp.abs(r.advantages))


def positive_value_loss() -> Score:
    """Positive value loss (PVL): ``mean_t max(A_t, 0)`` of the GAE advantages.

    Source: Jiang, Dennis, Parker-Holder, Foerster, Grefenstette and Rocktäschel,
    "Replay-Guided Adversarial Environment Design" (Robust PLR), NeurIPS 2021.

    Returns:
        A memoryless ``Score``; ``scores`` ``(B,)`` >= 0.
    """
    return episode_mean_score("positive_value_loss", lambda r: jnp.maximum(r.advantages, 0.0))


def _broadcast_extra(extra, rollout, default):
    """``extra`` for the ``B`` levels, or ``default`` broadcast when ``extra`` is None/empty."""
    b = rollout.num_levels
    if not extra:
        return {k: jnp.full((b,), v, jnp.float32) for k, v in default.items()}
    return extra


def _columns(x, rollout: Rollout):
    """A per-level value ``(B,)`` for each of the levels' agent columns ``(B * S,)``."""
    return x if rollout.agents == 1 else jnp.repeat(x, rollout.agents, axis=0)


def _max_return_update(rollout: Rollout, extra):
    """The best completed-episode return ever seen per level: ``max(stored, new)`` (a level with
    several agents: the mean of its agents' returns in an episode)."""
    returns, mask = level_episodes(rollout.rewards, rollout, "sum")
    best_new = jnp.max(jnp.where(mask, returns, -jnp.inf), axis=0)
    return jnp.maximum(extra["max_return"], best_new), mask.any(axis=0)


def max_mc() -> Score:
    """MaxMC: ``mean_t (R_max - V(s_t))``, with ``R_max`` the best return ever achieved on the level.

    ``R_max`` is per-level memory (``extra["max_return"]``, ``-inf`` for a new level) that the
    buffer keeps; it is updated as ``max(stored, best completed-episode return of this
    rollout)`` before scoring.

    Source: Jiang, Dennis, Parker-Holder, Foerster, Grefenstette and Rocktäschel,
    "Replay-Guided Adversarial Environment Design", NeurIPS 2021.

    Returns:
        A ``Score`` with memory ``{"max_return": float32 ()}``.
    """

    def compute(rollout: Rollout, levels=None, extra=None) -> ScoreResult:
        extra = _broadcast_extra(extra, rollout, {"max_return": -jnp.inf})
        r_max, completed = _max_return_update(rollout, extra)
        score, valid = _episode_average(_columns(r_max, rollout)[None, :] - rollout.values, rollout)
        valid = valid & completed
        return ScoreResult(jnp.where(valid, score, 0.0), valid, {"max_return": r_max})

    def per_step(rollout: Rollout, levels=None, extra=None):
        """``R_max - V(s_t)`` at every step; 0 on a level no episode of which has completed."""
        r_max, _ = _max_return_update(rollout, _broadcast_extra(extra, rollout, {"max_return": -jnp.inf}))
        r_max = _columns(r_max, rollout)
        known = jnp.isfinite(r_max)[None, :]
        return jnp.where(known, r_max[None, :] - rollout.values, 0.0)

    return Score(compute=compute, init_extra=lambda: {"max_return": jnp.float32(-jnp.inf)}, name="max_mc",
                 per_step=per_step)


def mna_per_step(rollout: Rollout, gamma: float, lam: float) -> jax.Array:
    """Per-step maximised negative advantage terms (before negation), ``(T, B)``.

    For every start step ``t`` and horizon ``k = 0, 1, ...`` (while ``t + k`` is in the same
    episode and inside the rollout)::

        B_{-1} = 0
        B_k    = min(B_{k-1} + gamma^k * delta_{t+k}, 0)

    ``B_k`` equals the ``(k+1)``-step return from ``t`` minus the best ``n``-step return
    (``n = 0..k+1``, the 0-step one being ``V(s_t)``) seen so far along the trajectory, so
    it is <= 0. The terms are combined with GAE's lambda weights::

        M_t = (1 - lam) * sum_{k=0}^{K-1} lam^k B_k + lam^K B_{K-1}

    where ``K`` is the number of steps available from ``t`` (to the episode's end or the
    rollout's end, bootstrapping from ``last_value`` there), i.e. ``B`` stays at its last
    value beyond the truncation, exactly as GAE truncates its n-step advantages. Without
    the ``min(., 0)`` clip, ``M_t`` is the GAE advantage.

    Cost: a ``lax.scan`` over ``k`` of ``(T, B)`` vector operations, O(T^2 B) time and
    O(T B) memory.
    """
    deltas = td_errors(rollout.rewards, rollout.values, rollout.dones, rollout.last_value, gamma)
    t_len = deltas.shape[0]
    d = rollout.dones.astype(jnp.int32)
    ep = jnp.cumsum(d, axis=0) - d
    pad_d = jnp.concatenate([deltas, jnp.zeros_like(deltas)], axis=0)
    pad_ep = jnp.concatenate([ep, jnp.full_like(ep, -1)], axis=0)

    def body(carry, k):
        b, acc = carry
        dk = jax.lax.dynamic_slice_in_dim(pad_d, k, t_len, axis=0)
        same = jax.lax.dynamic_slice_in_dim(pad_ep, k, t_len, axis=0) == ep
        b = jnp.minimum(b + jnp.where(same, (gamma ** k) * dk, 0.0), 0.0)
        acc = acc + (1.0 - lam) * (lam ** k) * b
        return (b, acc), None

    zeros = jnp.zeros_like(deltas)
    (b, acc), _ = jax.lax.scan(body, (zeros, zeros), jnp.arange(t_len))
    return acc + (lam ** t_len) * b


def mna(gamma: float = 0.995, lam: float = 0.98) -> Score:
    """Maximised negative advantage (MNA).

    ``score = -sum_t M_t * solved``, with ``M_t`` from ``mna_per_step`` summed over every step
    of the rollout, and ``solved`` = 1 if the level was ever solved (its best return,
    ``extra["max_return"]`` updated with this rollout, is > 0, or ``solved`` was flagged in
    this rollout), else 0. Always ``valid``; ``scores`` >= 0.

    Source: Mead, Lacerda, Foerster and Hawes, "Improving Regret Approximation for
    Unsupervised Dynamic Environment Generation", 2026 (arXiv:2601.14957).

    Args:
        gamma: discount; use the run's (default: the maze literature's 0.995).
        lam: lambda of the weighting; use the run's GAE lambda (default 0.98).

    Returns:
        A ``Score`` with memory ``{"max_return": float32 ()}``.

    Raises:
        ValueError: for gamma or lam outside [0, 1].
    """
    for name, v in (("gamma", gamma), ("lam", lam)):
        if not 0.0 <= v <= 1.0:
            raise ValueError(f"mna: {name} must be in [0, 1], got {v}")

    def terms(rollout: Rollout, extra):
        """``(-M_t * solved (T, B), best return (B,), solved (B,))``."""
        extra = _broadcast_extra(extra, rollout, {"max_return": -jnp.inf})
        r_max, _ = _max_return_update(rollout, extra)
        solved = (r_max > 0) | level_any(rollout.solved.any(axis=0), rollout)
        return -mna_per_step(rollout, gamma, lam) * _columns(solved, rollout)[None, :], r_max, solved

    def compute(rollout: Rollout, levels=None, extra=None) -> ScoreResult:
        per_step, r_max, solved = terms(rollout, extra)  # per column; a level's agents averaged
        return ScoreResult(level_mean(jnp.sum(per_step, axis=0), rollout), jnp.ones_like(solved),
                           {"max_return": r_max})

    return Score(compute=compute, init_extra=lambda: {"max_return": jnp.float32(-jnp.inf)}, name="mna",
                 per_step=lambda rollout, levels=None, extra=None: terms(rollout, extra)[0])


def paired_regret() -> Score:
    """PAIRED regret estimate: max antagonist return minus mean protagonist return.

    Both over the completed episodes of each agent on the same level.

    Source: Dennis, Jaques, Vinitsky, Bayen, Russell, Critch and Levine, "Emergent
    Complexity and Zero-shot Transfer via Unsupervised Environment Design", NeurIPS 2020.

    Returns:
        A memoryless ``Score`` whose ``compute`` takes ``rollout = (protagonist, antagonist)``,
        two ``Rollout``s on the same ``B`` levels. ``valid`` where both completed an episode.
    """

    def compute(rollout, levels=None, extra=None) -> ScoreResult:
        protagonist, antagonist = rollout
        p_ret, p_mask = level_episodes(protagonist.rewards, protagonist, "sum")
        a_ret, a_mask = level_episodes(antagonist.rewards, antagonist, "sum")
        valid = p_mask.any(axis=0) & a_mask.any(axis=0)
        best = jnp.max(jnp.where(a_mask, a_ret, -jnp.inf), axis=0)
        regret = best - masked_mean(p_ret, p_mask)
        return ScoreResult(jnp.where(valid, regret, 0.0), valid, {})

    return Score(compute=compute, init_extra=lambda: {}, name="paired_regret", rollouts="pair")


def oracle_regret(optimal_return=None) -> Score:
    """Oracle regret: the optimal return minus the mean return achieved.

    For level spaces that can compute the optimal return (``LevelSpace.optimal_return``: the
    maze's solver); a diagnostic score and a reference to check the approximations against.
    The mean is over the completed episodes of the rollout.

    Source: regret as defined by Dennis et al., "Emergent Complexity and Zero-shot Transfer
    via Unsupervised Environment Design", NeurIPS 2020, with the true optimum in place of an
    estimate.

    Args:
        optimal_return: ``level -> float32 ()``; None (the default, and the YAML's) takes the
            level space's ``optimal_return`` when a curriculum is built with the score, and
            refuses a level space without one (``ValueError``, before compiling).

    Returns:
        A memoryless ``Score``; ``valid`` where an episode completed.
    """

    def bind(level_space):
        if level_space.optimal_return is None:
            raise ValueError(f"oracle_regret needs the optimal return of a level, which the {level_space.name} "
                             "level space does not provide (LevelSpace.optimal_return; the maze does): "
                             "choose another score")
        return oracle_regret(level_space.optimal_return)

    def compute(rollout: Rollout, levels=None, extra=None) -> ScoreResult:
        if optimal_return is None:
            raise ValueError("oracle_regret has no optimal return: build it with oracle_regret(fn) or bind it to a "
                             "level space (score.bind(level_space))")
        if levels is None:
            raise ValueError("oracle_regret needs the levels played: compute(rollout, levels, extra)")
        returns, mask = level_episodes(rollout.rewards, rollout, "sum")
        valid = mask.any(axis=0)
        regret = jax.vmap(optimal_return)(levels) - masked_mean(returns, mask)
        return ScoreResult(jnp.where(valid, regret, 0.0), valid, {})

    return Score(compute=compute, init_extra=lambda: {}, name="oracle_regret",
                 bind=bind if optimal_return is None else None)
