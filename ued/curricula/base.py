"""Pieces shared by every curriculum: component checks, level sampling, metrics."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ued.types import LevelBuffer, LevelSpace, Observed, Proposal, Score, TopKBuffer, TopLevels

__all__ = ["Observed", "Proposal", "buffer_metrics", "check_buffer", "check_score", "level_metrics", "sample_levels",
           "top_stored_levels"]

_BUFFER_CONFIG = {LevelBuffer: "buffer=plr (ued.buffers.plr_buffer)", TopKBuffer: "buffer=sfl (ued.buffers.sfl_buffer)"}


def _describe(value) -> str:
    kind = type(value).__name__
    name = getattr(value, "name", None) or getattr(value, "__name__", None)
    return f"{kind} {name!r}" if isinstance(name, str) else kind


def check_score(score, curriculum: str, level_space: LevelSpace, default, rollouts: str = "student") -> Score:
    """The curriculum's score, checked and bound to the level space.

    Args:
        score: a ``Score``, or None for the curriculum's own default.
        curriculum: the curriculum's name (for messages).
        level_space: the level space (``Score.bind`` completes scores that need it).
        default: ``() -> Score``, the curriculum's default.
        rollouts: what the curriculum can score (``Score.rollouts``).

    Raises:
        TypeError: ``score`` is neither a ``Score`` nor None.
        ValueError: the score needs other rollouts, or cannot work on this level space.
    """
    if score is None:
        score = default()
    if not isinstance(score, Score):
        raise TypeError(f"{curriculum}: score must be a ued.types.Score (e.g. ued.scores.max_mc()) or None, "
                        f"got {_describe(score)}")
    if score.rollouts != rollouts:
        raise ValueError(f"{curriculum}: the {score.name} score needs {score.rollouts!r} rollouts, and {curriculum} "
                         f"gives {rollouts!r} ones; choose another score")
    return score.bind(level_space) if score.bind is not None else score


def check_buffer(buffer, curriculum: str, kind: type, default):
    """The curriculum's level buffer, checked to be of the ``kind`` it needs.

    Raises:
        TypeError: ``buffer`` is not a ``kind`` (nor None), naming the configuration to use.
    """
    if buffer is None:
        return default()
    if not isinstance(buffer, kind):
        fix = _BUFFER_CONFIG.get(kind, kind.__name__)
        raise TypeError(f"{curriculum}: buffer must be a {kind.__name__} ({fix}), got {_describe(buffer)}")
    return buffer


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


def top_stored_levels(buffer_state, count: int) -> TopLevels:
    """The ``count`` highest-scoring levels of a buffer state with ``levels``, ``scores`` and
    ``filled`` (both buffer kinds), best first; empty slots come last with ``valid`` False."""
    ranked = jnp.where(buffer_state.filled, buffer_state.scores, -jnp.inf)
    count = min(count, ranked.shape[0])
    _, order = jax.lax.top_k(ranked, count)
    return TopLevels(levels=jax.tree.map(lambda x: x[order], buffer_state.levels),
                     scores=jnp.where(buffer_state.filled[order], buffer_state.scores[order], 0.0),
                     valid=buffer_state.filled[order])


def buffer_metrics(buffer_state) -> dict:
    """Fill and score statistics of a buffer state with ``scores`` and ``filled``."""
    filled = buffer_state.filled
    size = jnp.sum(filled)
    return {
        "buffer_fill": size / filled.shape[0],
        "buffer_score_mean": jnp.sum(jnp.where(filled, buffer_state.scores, 0.0)) / jnp.maximum(size, 1),
        "buffer_score_max": jnp.where(size > 0, jnp.max(jnp.where(filled, buffer_state.scores, -jnp.inf)), 0.0),
    }
