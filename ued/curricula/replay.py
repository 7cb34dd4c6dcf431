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
from ued.curricula.base import Proposal, level_metrics, sample_levels
from ued.scores import max_mc
from ued.types import Curriculum, LevelBuffer, LevelSpace, Score
from ued.utils import tile

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


def _default(component, kind, fallback):
    """A curriculum's own default when the config says ``score=default`` / ``buffer=default``."""
    return component if isinstance(component, kind) else fallback()


def check_single_agent_score(score: Score, curriculum: str) -> None:
    """Scores computed from the student's rollout alone; PAIRED's regret needs an antagonist."""
    if score.name == "paired_regret":
        raise ValueError(f"{curriculum}: score=paired needs an antagonist's rollout; use curriculum=paired, or a "
                         "single-agent score (max_mc, pvl, l1_value_loss, mna, learnability, oracle, entropy, "
                         "least_confidence)")


def replay_curriculum(level_space: LevelSpace, num_levels: int, score: Score | None = None,
                      buffer: LevelBuffer | None = None, replay_prob: float = 0.8, robust: bool = False,
                      mutate: bool = False, exploratory_grad_updates: bool = False) -> Curriculum:
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

    Returns:
        A ``Curriculum`` over ``ReplayState``.

    Raises:
        ValueError: for ``replay_prob`` outside [0, 1], or ``mutate`` without a mutator.
    """
    if not 0.0 <= replay_prob <= 1.0:
        raise ValueError(f"replay_prob must be in [0, 1], got {replay_prob}")
    if mutate and level_space.mutator is None:
        raise ValueError(f"the {level_space.name} level space has no mutator, which ACCEL needs")
    score = _default(score, Score, max_mc)
    check_single_agent_score(score, "accel" if mutate else "robust_plr" if robust else "plr")
    buffer = _default(buffer, LevelBuffer, plr_buffer)
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
                            data={"branch": branch, "indices": indices})
        return state.replace(buffer=buf), levels, proposal

    def observe(state: ReplayState, key, levels, proposal: Proposal, rollout, student):
        branch, indices = proposal.data["branch"], proposal.data["indices"]
        is_replay = branch == REPLAY
        stored_extra = jax.tree.map(lambda a: a[indices], state.buffer.extras)
        fresh_extra = tile(score.init_extra(), num_levels)
        if hasattr(state.buffer, "filled") and jax.tree.leaves(fresh_extra):
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
        filled = buf.filled
        stored = jnp.where(filled, buf.scores, 0.0)
        size = jnp.sum(filled)
        valid = result.valid.astype(jnp.float32)
        metrics = {
            "buffer_fill": size / filled.shape[0],
            "buffer_score_mean": jnp.sum(stored) / jnp.maximum(size, 1),
            "buffer_score_max": jnp.max(jnp.where(filled, buf.scores, -jnp.inf)),
            "batch_score_mean": jnp.sum(result.scores * valid) / jnp.maximum(valid.sum(), 1.0),
            "replay": is_replay.astype(jnp.float32),
            "mutate": (branch == MUTATE).astype(jnp.float32),
            **level_metrics(level_space.level_stats, levels),
        }
        metrics["buffer_score_max"] = jnp.where(size > 0, metrics["buffer_score_max"], 0.0)
        return state, metrics

    return Curriculum(init=init, propose=propose, observe=observe)


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
