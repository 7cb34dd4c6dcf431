"""Domain randomisation: fresh random levels every update."""

from __future__ import annotations

import jax.numpy as jnp
from flax import struct

from ued.curricula.base import level_metrics, sample_levels
from ued.types import Curriculum, LevelSpace, Observed, Proposal
from ued.utils import check_positive_int


@struct.dataclass
class DRState:
    """DR keeps no state beyond a counter of proposed levels."""

    num_proposed: jnp.ndarray  # int32 ()


def dr(level_space: LevelSpace, num_levels: int) -> Curriculum:
    """Domain randomisation: every update trains on ``num_levels`` fresh levels from the
    level space's generator (the baseline of every UED paper; e.g. Tobin et al. 2017).

    Args:
        level_space: the ``LevelSpace`` (its generator and level statistics are used).
        num_levels: levels per update (the number of parallel environments).

    Returns:
        A ``Curriculum`` (it spends no env steps beyond training and keeps no levels).
    """
    check_positive_int(num_levels, "dr: num_levels")

    def init(key, student=None):
        return DRState(num_proposed=jnp.zeros((), jnp.int32))

    def propose(state, key, student):
        levels = sample_levels(level_space.generator, key, num_levels)
        proposal = Proposal(train_weights=jnp.ones((num_levels,), jnp.float32),
                            replayed=jnp.zeros((num_levels,), jnp.bool_))
        return state.replace(num_proposed=state.num_proposed + num_levels), levels, proposal

    def observe(state, key, levels, proposal, rollout, student):
        return Observed(state, level_metrics(level_space.level_stats, levels), jnp.zeros((), jnp.int32))

    return Curriculum(init=init, propose=propose, observe=observe)
