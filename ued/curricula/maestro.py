"""MAESTRO and the population baselines (SP, FSP, PFSP) as one composition over co-players.

MAESTRO (Samvelyan, Khan, Dennis, Jiang, Parker-Holder, Foerster, Raileanu and Rocktäschel,
"MAESTRO: Open-Ended Environment Design for Multi-Agent Reinforcement Learning", ICLR 2023) trains
a student in a two-player zero-sum game with a curriculum over (level, co-player) pairs: it keeps a
population of co-players (past snapshots of the student), one prioritised level buffer per
co-player holding the levels on which the student's regret *against that co-player* was high, and
samples the pairs jointly by that regret. No public code exists; this is built from the paper.

One update:

1. every ``snapshot_every`` updates the student's parameters join the population (at most
   ``population_size``; when full the oldest member, or the one whose buffer's best score is
   lowest, is dropped with its buffer);
2. a replay decision as in PLR (probability ``replay_prob`` once a member's buffer is ready);
3. ``coplayers_per_update`` co-players ``M`` are drawn from the population: on replay by
   ``coplayer_sampling`` restricted to members whose buffers are ready, otherwise by the same rule
   over all members, except MAESTRO's ``"regret"``, which draws uniformly for new levels; the
   ``B`` levels are ``M`` groups, group ``m`` replayed from co-player ``m``'s buffer or fresh;
4. the student plays its slots against the co-players in theirs (``Proposal.coplayers``); PPO
   trains on every level (as PLR does);
5. ``observe`` scores each level from the student's rollout against its group's co-player and
   inserts (new) or re-scores (replay) it in *that co-player's* buffer only, and updates the
   student's win rate against each co-player played (an exponential moving average).

``coplayer_sampling``: ``"regret"`` (MAESTRO: rank prioritisation, at ``coplayer_temperature``,
of each member's highest stored score), ``"uniform"`` (fictitious self-play, FSP; Heinrich et al.
2015), ``"pfsp"`` (prioritised FSP, Vinyals et al. 2019: ``(1 - w)^p`` with ``w`` the student's
win rate against the member), or ``"latest"`` (self-play, SP: the newest member; with
``snapshot_every=1`` the co-player is the student itself as it was at the update's start). With
``replay_prob=0`` the levels are domain randomisation (the baselines' "+DR"), otherwise PLR over
levels kept per co-player (the baselines' "+PLR" keep one buffer per co-player too, a departure
from the paper's single-buffer baselines).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from ued.buffers import plr_buffer
from ued.curricula.base import check_buffer, check_score, level_metrics, sample_levels
from ued.scores import max_mc
from ued.scores.learnability import success_rate
from ued.types import Curriculum, LevelBuffer, LevelSpace, Observed, Proposal, Score, TopLevels
from ued.utils import check_number, check_positive_int, tile

SAMPLINGS = ("regret", "uniform", "pfsp", "latest")
EVICTIONS = ("oldest", "lowest")


@struct.dataclass
class PopulationState:
    """State of a population curriculum with ``P`` member slots.

    Attributes:
        population: the members' parameters, leaves with leading axis ``P``.
        members: bool ``(P,)``, which slots hold a member.
        born: int32 ``(P,)``, the update at which each member joined.
        buffers: one level buffer state per slot (leaves with leading axis ``P``).
        win_rate: float32 ``(P,)``, the student's recent win rate against each member.
        replays: int32 ``()``, replay updates so far.
    """

    population: object
    members: jax.Array
    born: jax.Array
    buffers: object
    win_rate: jax.Array
    replays: jax.Array


@struct.dataclass
class CoplayerChoice:
    """What ``propose`` hands to ``observe`` (``Proposal.data``).

    Attributes:
        replay: bool ``()``, the levels come from the co-players' buffers.
        coplayers: int32 ``(M,)``, the population slots playing the ``M`` level groups.
        indices: int32 ``(B,)``, the buffer slots replayed (0 for new levels).
    """

    replay: jax.Array
    coplayers: jax.Array
    indices: jax.Array


def _take(tree, i):
    return jax.tree.map(lambda x: x[i], tree)


def _put(tree, i, value):
    return jax.tree.map(lambda x, v: x.at[i].set(v), tree, value)


def population_curriculum(level_space: LevelSpace, num_levels: int, score: Score | None = None,
                          buffer: LevelBuffer | None = None, population_size: int = 8, snapshot_every: int = 50,
                          coplayers_per_update: int = 4, coplayer_sampling: str = "regret", replay_prob: float = 0.5,
                          evict: str = "oldest", pfsp_power: float = 2.0, win_rate_step: float = 0.1,
                          coplayer_temperature: float = 0.3, name: str = "maestro") -> Curriculum:
    """A curriculum over levels and co-players from a population of the student's past selves.

    Args:
        level_space: a level space with co-player slots (``LevelEnv.coplayer_slots > 0``).
        num_levels: levels per update (``coplayers_per_update`` must divide it).
        score: the level score against the chosen co-player (default MaxMC, as MAESTRO's).
        buffer: the per-co-player level buffer (default ``plr_buffer()``).
        population_size: member slots ``P``.
        snapshot_every: updates between snapshots of the student.
        coplayers_per_update: co-players ``M`` per update (drawn with replacement).
        coplayer_sampling: ``"regret"``, ``"uniform"``, ``"pfsp"`` or ``"latest"`` (see the module).
        replay_prob: probability of a replay update once a member's buffer is ready (0: DR levels).
        evict: ``"oldest"`` or ``"lowest"`` (the member whose buffer's best score is lowest).
        pfsp_power: ``p`` of PFSP's weighting ``(1 - w)^p``.
        win_rate_step: step of the win-rate moving average.
        coplayer_temperature: temperature of the rank prioritisation over co-players (``"regret"``;
            0.3, PLR's rank temperature).
        name: the curriculum's name in messages.

    Raises:
        ValueError: a level space without co-player slots, or a bad setting (naming the choices).
        TypeError: ``score`` or ``buffer`` of the wrong kind.
    """
    if level_space.env.coplayer_slots < 1:
        raise ValueError(f"{name}: the {level_space.name} level space has no co-player slots; {name} needs a "
                         "two-player game (env=lasertag)")
    for key, value in (("num_levels", num_levels), ("population_size", population_size),
                       ("snapshot_every", snapshot_every), ("coplayers_per_update", coplayers_per_update)):
        check_positive_int(value, f"{name}: {key}")
    if num_levels % coplayers_per_update:
        raise ValueError(f"{name}: coplayers_per_update={coplayers_per_update} must divide num_envs={num_levels} "
                         "(each co-player plays a group of levels)")
    if coplayer_sampling not in SAMPLINGS:
        raise ValueError(f"{name}: coplayer_sampling must be one of {', '.join(SAMPLINGS)}, got {coplayer_sampling!r}")
    if evict not in EVICTIONS:
        raise ValueError(f"{name}: evict must be one of {', '.join(EVICTIONS)}, got {evict!r}")
    check_number(replay_prob, f"{name}: replay_prob", 0.0, 1.0)
    check_number(pfsp_power, f"{name}: pfsp_power", 0.0)  # (1 - w)^p: a negative p inverts the weights
    check_number(win_rate_step, f"{name}: win_rate_step", 0.0, 1.0, low_open=True)
    score = check_score(score, name, level_space, max_mc)
    buffer = check_buffer(buffer, name, LevelBuffer, plr_buffer)
    p_size, m, group = population_size, coplayers_per_update, num_levels // coplayers_per_update
    check_number(coplayer_temperature, f"{name}: coplayer_temperature", 0.0, low_open=True)

    def fresh_buffer(placeholder):
        return buffer.init(placeholder, score.init_extra())

    def init(key, student):
        placeholder = level_space.generator.sample(key)
        return PopulationState(population=tile(student.params, p_size),
                               members=jnp.arange(p_size) == 0, born=jnp.zeros((p_size,), jnp.int32),
                               buffers=tile(fresh_buffer(placeholder), p_size),
                               win_rate=jnp.full((p_size,), 0.5, jnp.float32),
                               replays=jnp.zeros((), jnp.int32))

    def best_scores(state):
        """The highest stored score of each slot's buffer (-inf where empty or not a member)."""
        best = jnp.max(jnp.where(state.buffers.filled, state.buffers.scores, -jnp.inf), axis=1)
        return jnp.where(state.members, best, -jnp.inf)

    def snapshot(state: PopulationState, student):
        full = jnp.all(state.members)
        if evict == "oldest":
            victim = jnp.argmin(jnp.where(state.members, state.born, jnp.iinfo(jnp.int32).max))
        else:
            victim = jnp.argmin(jnp.where(state.members, best_scores(state), jnp.inf))
        slot = jnp.where(full, victim, jnp.argmin(state.members))  # the first empty slot while not full
        empty = fresh_buffer(_take(state.buffers.levels, (0, 0)))
        return state.replace(population=_put(state.population, slot, student.params),
                             members=state.members.at[slot].set(True), born=state.born.at[slot].set(student.update),
                             buffers=_put(state.buffers, slot, empty), win_rate=state.win_rate.at[slot].set(0.5))

    def rank_weights(values, allowed):
        order = jnp.argsort(jnp.argsort(-jnp.where(allowed, values, -jnp.inf)))  # 0 = highest
        w = jnp.where(allowed, (1.0 / (order + 1.0)) ** (1.0 / coplayer_temperature), 0.0)
        return w / jnp.maximum(w.sum(), 1e-12)

    def coplayer_weights(state, allowed, replay):
        uniform = allowed.astype(jnp.float32) / jnp.maximum(allowed.sum(), 1)
        if coplayer_sampling == "uniform":
            return uniform
        if coplayer_sampling == "latest":
            return (jnp.arange(p_size) == jnp.argmax(jnp.where(allowed, state.born, -1))).astype(jnp.float32)
        if coplayer_sampling == "pfsp":
            w = jnp.where(allowed, (1.0 - state.win_rate) ** pfsp_power, 0.0)
            return jnp.where(w.sum() > 0, w / jnp.maximum(w.sum(), 1e-12), uniform)
        return jnp.where(replay, rank_weights(best_scores(state), allowed), uniform)  # MAESTRO

    def propose(state: PopulationState, key, student):
        state = jax.lax.cond((student.update > 0) & (student.update % snapshot_every == 0),
                             lambda s: snapshot(s, student), lambda s: s, state)
        k_replay, k_who, k_levels = jax.random.split(key, 3)
        ready = jax.vmap(buffer.ready)(state.buffers) & state.members
        replay = jnp.any(ready) & (jax.random.uniform(k_replay) < replay_prob)
        allowed = jnp.where(replay, ready, state.members)
        probs = coplayer_weights(state, allowed, replay)
        who = jax.random.choice(k_who, p_size, (m,), p=probs).astype(jnp.int32)

        def replayed(bufs):
            chosen = _take(bufs, who)
            chosen, idx, levels = jax.vmap(lambda b, k: buffer.sample(b, k, group))(chosen, jax.random.split(k_levels, m))
            return _put(bufs, who, chosen), jax.tree.map(lambda x: x.reshape((num_levels,) + x.shape[2:]), levels), \
                idx.reshape(num_levels).astype(jnp.int32)

        def new(bufs):
            return bufs, sample_levels(level_space.generator, k_levels, num_levels), jnp.zeros((num_levels,), jnp.int32)

        bufs, levels, indices = jax.lax.cond(replay, replayed, new, state.buffers)
        proposal = Proposal(train_weights=jnp.ones((num_levels,), jnp.float32),
                            replayed=jnp.full((num_levels,), replay),
                            data=CoplayerChoice(replay=replay, coplayers=who, indices=indices),
                            coplayers=_take(state.population, who))
        return state.replace(buffers=bufs), levels, proposal

    def observe(state: PopulationState, key, levels, proposal: Proposal, rollout, student):
        choice = proposal.data
        grouped = lambda x: x.reshape((m, group) + x.shape[1:])
        chosen = _take(state.buffers, choice.coplayers)  # (M, ...) the co-players' buffers
        idx = grouped(choice.indices)
        stored = jax.vmap(lambda b, i: _take(b.extras, i))(chosen, idx)
        fresh = jax.tree.map(lambda x: jnp.broadcast_to(x, (m, group) + jnp.shape(x)), score.init_extra())
        extra = jax.tree.map(lambda s, f: jnp.where(choice.replay, s, f), stored, fresh)
        flat = jax.tree.map(lambda x: x.reshape((num_levels,) + x.shape[2:]), extra)
        result = score.compute(rollout, levels, flat)

        def fill(b, lv, s, e, v, i):
            return jax.lax.cond(choice.replay, lambda bb: buffer.update(bb, i, s, e, v),
                                lambda bb: buffer.insert(bb, lv, s, e, v), b)

        chosen = jax.vmap(fill)(chosen, jax.tree.map(grouped, levels), grouped(result.scores),
                                jax.tree.map(grouped, result.extra), grouped(result.valid), idx)
        # the student's win rate against each co-player played (their groups' mean success)
        wins, episodes = success_rate(rollout)
        group_wins = jnp.sum(grouped(wins * (episodes > 0)), axis=1) / jnp.maximum(jnp.sum(grouped(episodes > 0), 1), 1)
        played = jnp.sum(grouped(episodes > 0), axis=1) > 0
        rate = state.win_rate[choice.coplayers]
        new_rate = jnp.where(played, (1 - win_rate_step) * rate + win_rate_step * group_wins, rate)
        state = state.replace(buffers=_put(state.buffers, choice.coplayers, chosen),
                              win_rate=state.win_rate.at[choice.coplayers].set(new_rate),
                              replays=state.replays + choice.replay.astype(jnp.int32))
        valid = result.valid.astype(jnp.float32)
        fill_frac = jnp.sum(state.buffers.filled, axis=1) / state.buffers.filled.shape[1]
        members = state.members.astype(jnp.float32)
        metrics = {
            "population": members.sum(),
            "win_rate_mean": jnp.sum(state.win_rate * members) / jnp.maximum(members.sum(), 1.0),
            "win_rate_min": jnp.min(jnp.where(state.members, state.win_rate, 1.0)),
            "buffer_fill": jnp.sum(fill_frac * members) / jnp.maximum(members.sum(), 1.0),
            "batch_score_mean": jnp.sum(result.scores * valid) / jnp.maximum(valid.sum(), 1.0),
            "replay": choice.replay.astype(jnp.float32),
            "coplayer_age": jnp.mean(student.update - state.born[choice.coplayers]).astype(jnp.float32),
            **level_metrics(level_space.level_stats, levels),
        }
        return Observed(state, metrics, jnp.zeros((), jnp.int32))  # every level it plays is a training env

    def top_levels(state: PopulationState, count: int):
        bufs = state.buffers
        flat = lambda x: x.reshape((-1,) + x.shape[2:])
        filled = flat(bufs.filled & state.members[:, None])
        ranked = jnp.where(filled, flat(bufs.scores), -jnp.inf)
        count = min(count, ranked.shape[0])
        _, order = jax.lax.top_k(ranked, count)
        return TopLevels(levels=jax.tree.map(lambda x: flat(x)[order], bufs.levels),
                         scores=jnp.where(filled[order], flat(bufs.scores)[order], 0.0), valid=filled[order])

    return Curriculum(init=init, propose=propose, observe=observe, top_levels=top_levels)


def maestro(level_space: LevelSpace, num_levels: int, score: Score | None = None, buffer: LevelBuffer | None = None,
            population_size: int = 8, snapshot_every: int = 50, coplayers_per_update: int = 4,
            replay_prob: float = 0.5, evict: str = "oldest", coplayer_temperature: float = 0.3) -> Curriculum:
    """MAESTRO (Samvelyan et al., ICLR 2023): joint (level, co-player) sampling by regret over a
    population of past students, one level buffer per co-player."""
    return population_curriculum(level_space, num_levels, score, buffer, population_size, snapshot_every,
                                 coplayers_per_update, "regret", replay_prob, evict,
                                 coplayer_temperature=coplayer_temperature, name="maestro")


def fsp(level_space: LevelSpace, num_levels: int, score: Score | None = None, buffer: LevelBuffer | None = None,
        population_size: int = 8, snapshot_every: int = 50, coplayers_per_update: int = 4,
        replay_prob: float = 0.0) -> Curriculum:
    """Fictitious self-play (Heinrich, Lanctot and Silver, ICML 2015) over past students, co-players
    uniform; DR levels (``replay_prob=0``) or PLR levels per co-player."""
    return population_curriculum(level_space, num_levels, score, buffer, population_size, snapshot_every,
                                 coplayers_per_update, "uniform", replay_prob, name="fsp")


def pfsp(level_space: LevelSpace, num_levels: int, score: Score | None = None, buffer: LevelBuffer | None = None,
         population_size: int = 8, snapshot_every: int = 50, coplayers_per_update: int = 4,
         replay_prob: float = 0.0, pfsp_power: float = 2.0) -> Curriculum:
    """Prioritised fictitious self-play (Vinyals et al., Nature 2019, AlphaStar): co-players weighted
    by ``(1 - w)^p``, ``w`` the student's win rate against them; DR or PLR levels."""
    return population_curriculum(level_space, num_levels, score, buffer, population_size, snapshot_every,
                                 coplayers_per_update, "pfsp", replay_prob, pfsp_power=pfsp_power, name="pfsp")


def sp(level_space: LevelSpace, num_levels: int, score: Score | None = None, buffer: LevelBuffer | None = None,
       replay_prob: float = 0.0) -> Curriculum:
    """Self-play: the co-player is the student as it was at the start of the update (a population of
    one, refreshed every update), in the co-player's slot; DR or PLR levels."""
    return population_curriculum(level_space, num_levels, score, buffer, population_size=1, snapshot_every=1,
                                 coplayers_per_update=1, coplayer_sampling="latest", replay_prob=replay_prob,
                                 name="sp")


__all__ = ["CoplayerChoice", "PopulationState", "fsp", "maestro", "pfsp", "population_curriculum", "sp"]
