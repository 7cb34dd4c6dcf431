"""PPO (Schulman et al. 2017) for recurrent agents: losses and the epoch/minibatch update.

Minibatches are taken over environments, keeping whole time sequences so that the recurrent
state can be replayed from the start of the rollout. Every environment (level) carries a
gradient weight: the curriculum sets it to 0 for levels the agent must not learn from (robust
PLR's fresh levels), and the losses are weighted means over the remaining ones.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct

from ued.agents.networks import Agent


@struct.dataclass
class PPOConfig:
    """PPO hyperparameters (static). Defaults follow the maze UED literature.

    Attributes:
        lr: Adam learning rate (1e-4).
        gamma: discount (0.995).
        gae_lambda: GAE lambda (0.98).
        clip_eps: policy and value clipping (0.2).
        ent_coef: entropy bonus (1e-3).
        vf_coef: value loss coefficient (0.5).
        max_grad_norm: global gradient-norm clip (0.5).
        update_epochs: epochs per update (5).
        num_minibatches: minibatches per epoch, over environments (1).
        anneal_lr: decay the learning rate linearly to 0 over the run.
        normalize_advantages: standardise advantages in each minibatch.
    """

    lr: float = struct.field(pytree_node=False, default=1e-4)
    gamma: float = struct.field(pytree_node=False, default=0.995)
    gae_lambda: float = struct.field(pytree_node=False, default=0.98)
    clip_eps: float = struct.field(pytree_node=False, default=0.2)
    ent_coef: float = struct.field(pytree_node=False, default=1e-3)
    vf_coef: float = struct.field(pytree_node=False, default=0.5)
    max_grad_norm: float = struct.field(pytree_node=False, default=0.5)
    update_epochs: int = struct.field(pytree_node=False, default=5)
    num_minibatches: int = struct.field(pytree_node=False, default=1)
    anneal_lr: bool = struct.field(pytree_node=False, default=True)
    normalize_advantages: bool = struct.field(pytree_node=False, default=True)

    def validate(self, num_envs: int) -> None:
        """Raises ``ValueError`` naming the first bad hyperparameter and what is allowed."""
        import math

        def number(x):
            return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)

        def count(x):
            return isinstance(x, int) and not isinstance(x, bool) and x >= 1

        checks = [
            ("lr", lambda x: number(x) and x > 0, "a finite number > 0"),
            ("gamma", lambda x: number(x) and 0 <= x <= 1, "a number in [0, 1]"),
            ("gae_lambda", lambda x: number(x) and 0 <= x <= 1, "a number in [0, 1]"),
            ("clip_eps", lambda x: number(x) and x > 0, "a finite number > 0"),
            ("ent_coef", lambda x: number(x) and x >= 0, "a finite number >= 0"),
            ("vf_coef", lambda x: number(x) and x >= 0, "a finite number >= 0"),
            ("max_grad_norm", lambda x: number(x) and x > 0, "a finite number > 0"),
            ("update_epochs", count, "a positive integer"),
            ("num_minibatches", count, "a positive integer"),
            ("anneal_lr", lambda x: isinstance(x, bool), "true or false"),
            ("normalize_advantages", lambda x: isinstance(x, bool), "true or false"),
        ]
        for name, ok, allowed in checks:
            if not ok(getattr(self, name)):
                raise ValueError(f"agent.ppo.{name} must be {allowed}, got {getattr(self, name)!r}")
        if num_envs % self.num_minibatches:
            raise ValueError(
                f"agent.ppo.num_minibatches={self.num_minibatches} must divide num_envs={num_envs} "
                "(minibatches are taken over environments)"
            )


@struct.dataclass
class Trajectory:
    """What PPO trains on, time-major ``(T, B)``.

    Attributes:
        obs: observations with leading axes ``(T, B)``.
        resets: bool ``(T, B)``, step ``t`` starts a new episode (True at ``t = 0``).
        actions: ``(T, B)`` (or ``(T, B, ...)`` for continuous actions).
        log_probs: float32 ``(T, B)``, under the behaviour policy.
        values: float32 ``(T, B)``.
        advantages: float32 ``(T, B)``.
        targets: float32 ``(T, B)``, value targets (advantages + values).
    """

    obs: Any
    resets: jax.Array
    actions: jax.Array
    log_probs: jax.Array
    values: jax.Array
    advantages: jax.Array
    targets: jax.Array


def make_optimizer(cfg: PPOConfig, num_updates: int) -> optax.GradientTransformation:
    """Global-norm clipping then Adam, with the learning rate annealed linearly to 0 if asked."""
    steps = max(1, num_updates * cfg.update_epochs * cfg.num_minibatches)
    lr = optax.linear_schedule(cfg.lr, 0.0, steps) if cfg.anneal_lr else cfg.lr
    return optax.chain(optax.clip_by_global_norm(cfg.max_grad_norm), optax.adam(lr, eps=1e-5))


def learning_rate(cfg: PPOConfig, num_updates: int, opt_state) -> jax.Array:
    """The learning rate the optimizer is at (reads Adam's step count)."""
    count = opt_state[1][0].count
    steps = max(1, num_updates * cfg.update_epochs * cfg.num_minibatches)
    if not cfg.anneal_lr:
        return jnp.float32(cfg.lr)
    return jnp.float32(cfg.lr) * jnp.clip(1.0 - count / steps, 0.0, 1.0)


def _wmean(x, w):
    return jnp.sum(x * w) / jnp.maximum(jnp.sum(w), 1e-8)


def ppo_loss(agent: Agent, cfg: PPOConfig, params, batch: Trajectory, weights):
    """The clipped PPO loss on a ``(T, b)`` minibatch with per-environment ``weights`` ``(b,)``
    (or per-step ones ``(T, b)``: a generator's episodes of different lengths, padded).

    Returns:
        ``(loss, metrics)``: ``loss = policy + vf_coef * value - ent_coef * entropy``, where the
        value loss is ``0.5 * max((V - target)^2, (V_clipped - target)^2)`` and the policy loss
        ``-min(ratio * A, clip(ratio, 1 +- eps) * A)``, all weighted means.
    """
    t, b = batch.resets.shape
    w = (weights if weights.ndim == 2 else jnp.broadcast_to(weights[None, :], (t, b))).astype(jnp.float32)
    _, dist, values = agent.apply(params, agent.initial_carry(b), batch.obs, batch.resets)
    log_probs = agent.log_prob(dist, batch.actions)
    entropy = _wmean(agent.entropy(dist), w)

    adv = batch.advantages
    if cfg.normalize_advantages:
        mean = _wmean(adv, w)
        std = jnp.sqrt(_wmean((adv - mean) ** 2, w))
        adv = (adv - mean) / (std + 1e-8)
    ratio = jnp.exp(log_probs - batch.log_probs)
    pg = -jnp.minimum(ratio * adv, jnp.clip(ratio, 1 - cfg.clip_eps, 1 + cfg.clip_eps) * adv)
    policy_loss = _wmean(pg, w)

    v_clipped = batch.values + jnp.clip(values - batch.values, -cfg.clip_eps, cfg.clip_eps)
    v_loss = 0.5 * jnp.maximum((values - batch.targets) ** 2, (v_clipped - batch.targets) ** 2)
    value_loss = _wmean(v_loss, w)

    loss = policy_loss + cfg.vf_coef * value_loss - cfg.ent_coef * entropy
    metrics = {
        "loss": loss,
        "policy_loss": policy_loss,
        "value_loss": value_loss,
        "entropy": entropy,
        "approx_kl": _wmean((ratio - 1) - jnp.log(ratio), w),
        "clip_frac": _wmean((jnp.abs(ratio - 1) > cfg.clip_eps).astype(jnp.float32), w),
    }
    return loss, metrics


def ppo_update(agent: Agent, cfg: PPOConfig, optimizer: optax.GradientTransformation):
    """Builds ``update(params, opt_state, batch, key, weights) -> (params, opt_state, metrics)``.

    ``batch`` is a ``Trajectory`` of ``(T, B)``; ``weights`` ``(B,)`` per-environment gradient
    weights, or ``(T, B)`` per-step ones. Runs ``update_epochs`` epochs of ``num_minibatches`` minibatches over a fresh
    permutation of the environments; metrics are averaged over all minibatches, plus the
    global gradient norm (before clipping).
    """

    def update(params, opt_state, batch: Trajectory, key, weights):
        num_envs = batch.resets.shape[1]
        per_mb = num_envs // cfg.num_minibatches

        def minibatch(carry, idx):
            params, opt_state = carry
            sub = jax.tree.map(lambda x: x[:, idx], batch)
            w = weights[:, idx] if weights.ndim == 2 else weights[idx]
            grad_fn = jax.value_and_grad(lambda p: ppo_loss(agent, cfg, p, sub, w), has_aux=True)
            (_, metrics), grads = grad_fn(params)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            params = optax.apply_updates(params, updates)
            metrics["grad_norm"] = optax.tree.norm(grads)
            return (params, opt_state), metrics

        def epoch(carry, key):
            perm = jax.random.permutation(key, num_envs).reshape(cfg.num_minibatches, per_mb)
            return jax.lax.scan(minibatch, carry, perm)

        (params, opt_state), metrics = jax.lax.scan(epoch, (params, opt_state), jax.random.split(key, cfg.update_epochs))
        return params, opt_state, jax.tree.map(jnp.mean, metrics)

    return update
