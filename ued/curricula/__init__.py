"""Curricula: compositions of generators, mutators, scores and buffers into a ``Curriculum``.

Each factory takes ``(level_space, num_levels, **hyperparameters)``; the YAML in
``conf/curriculum/`` gives the hyperparameters with ``_partial_: true`` and the training
loop supplies the level space and the number of parallel environments.
"""

from ued.curricula.base import (Observed, Proposal, buffer_metrics, check_buffer, check_score, level_metrics,
                                sample_levels, top_stored_levels)
from ued.curricula.degen import degen
from ued.curricula.dr import dr
from ued.curricula.maestro import fsp, maestro, pfsp, population_curriculum, sp
from ued.curricula.paired import paired
from ued.curricula.replay import accel, plr, replay_curriculum, robust_plr
from ued.curricula.samplr import fictitious_transitions, samplr
from ued.curricula.sfl import sfl
from ued.curricula.weighted import score_weighted_dr

__all__ = ["Observed", "Proposal", "accel", "buffer_metrics", "check_buffer", "check_score", "degen", "dr",
           "fictitious_transitions", "fsp", "level_metrics", "maestro", "paired", "pfsp", "plr", "population_curriculum",
           "replay_curriculum", "robust_plr", "sample_levels", "samplr", "score_weighted_dr", "sfl", "sp",
           "top_stored_levels"]
