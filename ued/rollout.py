"""The rollout pytree that scores consume, GAE, and per-episode aggregation.

Rollouts are time-major: arrays are ``(T, B)`` for ``T`` steps of ``B`` levels (one
environment per level, auto-replaying the level within the rollout).

Step ``t`` means: the agent observed ``s_t``, the critic gave ``values[t] = V(s_t)``, the agent
acted and received ``rewards[t]``, and ``dones[t]`` says the episode ended with that step.
The value after the last step is ``last_value = V(s_T)``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct


@struct.dataclass
class Rollout:
    """A batch of rollouts, one column per level.

    Attributes:
        rewards: float32 ``(T, B)``.
        dones: bool ``(T, B)``, True on the last step of an episode.
        values: float32 ``(T, B)``, ``V(s_t)``.
        last_value: float32 ``(B,)``, the bootstrap value ``V(s_T)``.
        advantages: float32 ``(T, B)``, GAE(gamma, lambda) of the run (``gae``).
        solved: bool ``(T, B)``, the env's ``info["solved"]`` flag.
        logits: float32 ``(T, B, A)`` policy logits, or None (needed by the policy-based
            scores only).
    """

    rewards: jax.Array
    dones: jax.Array
    values: jax.Array
    last_value: jax.Array
    advantages: jax.Array
    solved: jax.Array
    logits: jax.Array | None = None


def td_errors(rewards, values, dones, last_value, gamma):
    """One-step TD errors ``delta_t = r_t + gamma * V(s_{t+1}) * (1 - done_t) - V(s_t)``.

    Args:
        rewards, values: float32 ``(T, B)``.
        dones: bool ``(T, B)``.
        last_value: float32 ``(B,)``.
        gamma: discount.

    Returns:
        float32 ``(T, B)``.
    """
    next_values = jnp.concatenate([values[1:], last_value[None]], axis=0)
    return rewards + gamma * next_values * (1.0 - dones.astype(jnp.float32)) - values


def gae(rewards, values, dones, last_value, gamma: float, lam: float):
    """Generalised advantage estimation (Schulman et al. 2016), truncated at episode ends.

    ``A_t = delta_t + gamma * lam * (1 - done_t) * A_{t+1}``, with ``A_T = 0``.

    Args:
        rewards, values: float32 ``(T, B)``.
        dones: bool ``(T, B)``.
        last_value: float32 ``(B,)``.
        gamma: discount.
        lam: GAE lambda.

    Returns:
        ``(advantages, targets)``, each float32 ``(T, B)``; ``targets = advantages + values``.
    """
    deltas = td_errors(rewards, values, dones, last_value, gamma)
    not_done = 1.0 - dones.astype(jnp.float32)

    def back(carry, x):
        delta, nd = x
        adv = delta + gamma * lam * nd * carry
        return adv, adv

    _, adv = jax.lax.scan(back, jnp.zeros_like(last_value), (deltas, not_done), reverse=True)
    return adv, adv + values


def make_rollout(rewards, dones, values, last_value, solved, gamma: float, lam: float,
                 logits=None) -> Rollout:
    """Builds a ``Rollout``, computing the advantages with ``gae``."""
    rewards = jnp.asarray(rewards, jnp.float32)
    values = jnp.asarray(values, jnp.float32)
    dones = jnp.asarray(dones, jnp.bool_)
    last_value = jnp.asarray(last_value, jnp.float32)
    adv, _ = gae(rewards, values, dones, last_value, gamma, lam)
    return Rollout(rewards=rewards, dones=dones, values=values, last_value=last_value,
                   advantages=adv, solved=jnp.asarray(solved, jnp.bool_), logits=logits)


def episode_index(dones):
    """Index of the episode each step belongs to, counted from the rollout's start.

    Args:
        dones: bool ``(T, B)``.

    Returns:
        int32 ``(T, B)``: the number of episodes that ended strictly before step ``t``.
    """
    d = dones.astype(jnp.int32)
    return jnp.cumsum(d, axis=0) - d


def per_episode(x, dones, reduce: str = "sum"):
    """Reduces ``x`` over the steps of each *completed* episode of every column.

    The trailing steps after the last ``done`` (an episode still running when the rollout
    stopped) are left out.

    Args:
        x: ``(T, B)`` values (bool is cast to float32).
        dones: bool ``(T, B)``.
        reduce: ``"sum"``, ``"mean"`` or ``"max"`` over the steps of an episode.

    Returns:
        ``(values, mask)``: float32 ``(T, B)`` with episode ``e``'s reduction in row ``e``,
        and bool ``(T, B)`` True for the completed episodes (rows ``e < number done``).
    """
    if reduce not in ("sum", "mean", "max"):
        raise ValueError(f"reduce must be 'sum', 'mean' or 'max', got {reduce!r}")
    t = x.shape[0]
    x = x.astype(jnp.float32)
    ep = episode_index(dones)
    n_done = dones.sum(axis=0)

    def column(xc, epc, nd):
        completed = epc < nd
        seg = jnp.where(completed, epc, t)  # the trailing partial episode goes to a dropped segment
        if reduce == "max":
            out = jax.ops.segment_max(jnp.where(completed, xc, -jnp.inf), seg, num_segments=t + 1)[:t]
        else:
            out = jax.ops.segment_sum(xc, seg, num_segments=t + 1)[:t]
            if reduce == "mean":
                counts = jax.ops.segment_sum(jnp.ones_like(xc), seg, num_segments=t + 1)[:t]
                out = out / jnp.maximum(counts, 1.0)
        mask = jnp.arange(t) < nd
        return jnp.where(mask, out, 0.0), mask

    return jax.vmap(column, in_axes=(1, 1, 0), out_axes=1)(x, ep, n_done)


def masked_mean(values, mask, axis=0):
    """Mean of ``values`` where ``mask``; 0 where the mask is empty."""
    mask = mask.astype(jnp.float32)
    return jnp.sum(values * mask, axis=axis) / jnp.maximum(jnp.sum(mask, axis=axis), 1.0)
