"""Pieces shared by every curriculum."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct


@struct.dataclass
class Proposal:
    """How a batch of proposed levels is to be used.

    Attributes:
        train_weights: float32 ``(B,)``, the gradient weight of each level's rollout
            (0: the agent does not learn from it, as for robust PLR's fresh levels).
        replayed: bool ``(B,)``, which levels came from a buffer (for metrics).
        data: curriculum-private data passed from ``propose`` to ``observe`` (e.g. buffer
            indices); any pytree.
    """

    train_weights: jax.Array
    replayed: jax.Array
    data: object = None


def sample_levels(generator, key, num: int):
    """``num`` fresh levels from a generator (vmapped)."""
    return jax.vmap(generator.sample)(jax.random.split(key, num))


def level_metrics(level_stats, levels, prefix: str = "level") -> dict:
    """Means of a level space's per-level statistics, ignoring NaN (e.g. unsolvable paths)."""
    out = {}
    for name, values in level_stats(levels).items():
        finite = jnp.isfinite(values)
        out[f"{prefix}_{name}"] = jnp.sum(jnp.where(finite, values, 0.0)) / jnp.maximum(jnp.sum(finite), 1)
    return out
