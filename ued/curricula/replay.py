"""Replay-based curricula: PLR, robust PLR and ACCEL, as one composition.

Each update takes one of three branches (chosen inside ``propose`` with ``lax.switch``):

- **new**: ``num_levels`` fresh levels from the generator;
- **replay**: ``num_levels`` levels sampled from the prioritised buffer (only once the
  buffer is ``ready``, with probability ``replay_prob``);
- **mutate** (ACCEL only): the levels replayed in the previous update, edited by the level
  space's mutator.

``observe`` scores the rollout with the score; replayed levels are re-scored in the buffer,
new and mutated levels are inserted (a duplicate of a stored level gets its stored score
memory, e.g. MaxMC's best return). Gradient weights: PLR trains on every branch; robust PLR
and ACCEL (robust form) only on replay, unless ``exploratory_grad_updates``.

Sources: Jiang, Grefenstette and Rocktäschel, "Prioritized Level Replay", ICML 2021;
Jiang, Dennis, Parker-Holder, Foerster, Grefenstette and Rocktäschel, "Replay-Guided
Adversarial Environment Design", NeurIPS 2021 (robust PLR); Parker-Holder, Jiang, Dennis,
Samvelyan, Foerster, Grefenstette and Rocktäschel, "Evolving Curricula with Regret-Based
Environment Design", ICML 2022 (ACCEL).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from ued.buffers import find_levels, plr_buffer
from ued.curricula.base import buffer_metrics, check_buffer, check_score, level_metrics, sample_levels, top_stored_levels
from ued.scores import max_mc
from ued.types import Curriculum, LevelBuffer, LevelSpace, Observed, Proposal, Score
from ued.utils import check_positive_int, tile

NEW, REPLAY, MUTATE = 0, 1, 2
BRANCH_NAMES = ("new", "replay", "mutate")


@struct.dataclass
class ReplayState:
    """State of a replay-based curriculum.

    Attributes:
        buffer: the level buffer's state.
        parents: the levels of the last replay (ACCEL mutates them next), leading axis ``B``.
        mutate_next: bool ``()``, the next update mutates ``parents`` (ACCEL).
        branch_counts: int32 ``(3,)``, updates taken in each branch (new, replay, mutate).
    """

    buffer: object
    parents: object
    mutate_next: jax.Array
    branch_counts: jax.Array


@struct.dataclass
class ReplayChoice:
    """What a replay curriculum's ``propose`` hands to ``observe`` (``Proposal.data``).

    Attributes:
        branch: int32 ``()``, 0 new, 1 replay, 2 mutate.
        indices: int32 ``(B,)``, the buffer slots replayed (0 outside the replay branch).
    """

    branch: jax.Array
    indices: jax.Array


def replay_curriculum(level_space: LevelSpace, num_levels: int, score: Score | None = None,
                      buffer: LevelBuffer | None = None, replay_prob: float = 0.8, robust: bool = False,
                      mutate: bool = False, exploratory_grad_updates: bool = False,
                      name: str | None = None) -> Curriculum:
    """The general replay curriculum; ``plr``, ``robust_plr`` and ``accel`` set its switches.

    Args:
        level_space: the level space (generator, mutator, level statistics).
        num_levels: levels per update (the number of parallel environments).
        score: the level score (default: MaxMC).
        buffer: the level buffer (default: ``plr_buffer()`` with the maze papers' settings).
        replay_prob: probability of a replay update once the buffer is ready, in [0, 1].
        robust: gradient steps only on replayed levels.
        mutate: after each replay update, mutate the replayed levels (ACCEL).
        exploratory_grad_updates: with ``robust``, also train on new and mutated levels.
        name: the curriculum's name in messages (default from the switches).

    On a level space with an aleatoric part, ``observe`` also logs ``replay_<parameter>``: each
    aleatoric parameter's mean under the buffer's replay distribution (its drift from the prior
    is the curriculum-induced covariate shift of Jiang et al. 2022).

    Returns:
        A ``Curriculum`` over ``ReplayState``.

    Raises:
        TypeError: ``score`` or ``buffer`` is not a component of the kind needed.
        ValueError: for ``replay_prob`` outside [0, 1], or ``mutate`` without a mutator.
    """
    name = name or ("accel" if mutate else "robust_plr" if robust else "plr")
    check_positive_int(num_levels, f"{name}: num_levels")
    if not 0.0 <= replay_prob <= 1.0:
        raise ValueError(f"replay_prob must be in [0, 1], got {replay_prob}")
    if mutate and level_space.mutator is None:
        raise ValueError(f"the {level_space.name} level space has no mutator, which ACCEL needs")
    score = check_score(score, name, level_space, max_mc)
    buffer = check_buffer(buffer, name, LevelBuffer, plr_buffer)
    trains_on = jnp.array([not robust or exploratory_grad_updates, True, not robust or exploratory_grad_updates])

    def init(key, student=None):
        placeholder = level_space.generator.sample(key)
        parents = tile(placeholder, num_levels)
        return ReplayState(buffer=buffer.init(placeholder, score.init_extra()), parents=parents,
                           mutate_next=jnp.array(False), branch_counts=jnp.zeros((3,), jnp.int32))

    def propose(state: ReplayState, key, student):
        k_choice, k_branch = jax.random.split(key)
        replay = buffer.ready(state.buffer) & (jax.random.uniform(k_choice) < replay_prob)
        branch = jnp.where(state.mutate_next, MUTATE, jnp.where(replay, REPLAY, NEW)) if mutate else \
            jnp.where(replay, REPLAY, NEW)
        no_indices = jnp.zeros((num_levels,), jnp.int32)

        def new(args):
            buf, parents = args
            return buf, sample_levels(level_space.generator, k_branch, num_levels), no_indices

        def replay_levels(args):
            buf, parents = args
            buf, indices, levels = buffer.sample(buf, k_branch, num_levels)
            return buf, levels, indices.astype(jnp.int32)

        def mutate_levels(args):
            buf, parents = args
            children = jax.vmap(level_space.mutator.mutate)(jax.random.split(k_branch, num_levels), parents)
            return buf, children, no_indices

        branches = [new, replay_levels] + ([mutate_levels] if mutate else [])
        buf, levels, indices = jax.lax.switch(branch, branches, (state.buffer, state.parents))
        weight = trains_on[branch].astype(jnp.float32)
        proposal = Proposal(train_weights=jnp.full((num_levels,), weight),
                            replayed=jnp.full((num_levels,), branch == REPLAY),
                            data=ReplayChoice(branch=branch, indices=indices))
        return state.replace(buffer=buf), levels, proposal

    def observe(state: ReplayState, key, levels, proposal: Proposal, rollout, student):
        branch, indices = proposal.data.branch, proposal.data.indices
        is_replay = branch == REPLAY
        stored_extra = jax.tree.map(lambda a: a[indices], state.buffer.extras)
        fresh_extra = tile(score.init_extra(), num_levels)
        if jax.tree.leaves(fresh_extra):
            found, found_at = find_levels(state.buffer, levels)  # duplicates keep their memory
            known = jax.tree.map(lambda a: a[found_at], state.buffer.extras)
            fresh_extra = jax.tree.map(
                lambda k, f: jnp.where(found.reshape((-1,) + (1,) * (f.ndim - 1)), k, f), known, fresh_extra)
        extra = jax.tree.map(lambda s, f: jnp.where(is_replay, s, f), stored_extra, fresh_extra)
        result = score.compute(rollout, levels, extra)

        buf = jax.lax.cond(
            is_replay,
            lambda b: buffer.update(b, indices, result.scores, result.extra, result.valid),
            lambda b: buffer.insert(b, levels, result.scores, result.extra, result.valid),
            state.buffer)
        state = state.replace(
            buffer=buf,
            parents=jax.tree.map(lambda p, l: jnp.where(is_replay, l, p), state.parents, levels),
            mutate_next=jnp.asarray(mutate) & is_replay,
            branch_counts=state.branch_counts.at[branch].add(1),
        )
        valid = result.valid.astype(jnp.float32)
        metrics = {
            **buffer_metrics(buf),
            "batch_score_mean": jnp.sum(result.scores * valid) / jnp.maximum(valid.sum(), 1.0),
            "replay": is_replay.astype(jnp.float32),
            "mutate": (branch == MUTATE).astype(jnp.float32),
            **level_metrics(level_space.level_stats, levels),
            **replay_aleatoric(buf),
        }
        return Observed(state, metrics, jnp.zeros((), jnp.int32))  # every level it plays is a training env

    def replay_aleatoric(buf) -> dict:
        if level_space.aleatoric is None:
            return {}
        params = jax.vmap(level_space.aleatoric.of_level)(buf.levels)  # (capacity, P)
        mean = buffer.weights(buf) @ params
        return {f"replay_{n}": mean[i] for i, n in enumerate(level_space.aleatoric.names)}

    def top_levels(state: ReplayState, count: int):
        return top_stored_levels(state.buffer, count)

    return Curriculum(init=init, propose=propose, observe=observe, top_levels=top_levels)


def plr(level_space: LevelSpace, num_levels: int, score: Score | None = None, buffer: LevelBuffer | None = None,
        replay_prob: float = 0.8) -> Curriculum:
    """Prioritized Level Replay (Jiang et al. 2021): replay or new levels; trains on both."""
    return replay_curriculum(level_space, num_levels, score, buffer, replay_prob, robust=False)


def robust_plr(level_space: LevelSpace, num_levels: int, score: Score | None = None,
               buffer: LevelBuffer | None = None, replay_prob: float = 0.8) -> Curriculum:
    """Robust PLR (PLR-perp, Jiang et al. 2021): gradient steps only on replayed levels."""
    return replay_curriculum(level_space, num_levels, score, buffer, replay_prob, robust=True)


def accel(level_space: LevelSpace, num_levels: int, score: Score | None = None, buffer: LevelBuffer | None = None,
          replay_prob: float = 0.8, exploratory_grad_updates: bool = False) -> Curriculum:
    """ACCEL (Parker-Holder et al. 2022): robust PLR plus mutation of the replayed levels.

    The number of edits is the level space's mutator setting (``env.num_edits``).
    """
    return replay_curriculum(level_space, num_levels, score, buffer, replay_prob, robust=True, mutate=True,
                             exploratory_grad_updates=exploratory_grad_updates)
