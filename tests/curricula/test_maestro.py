"""MAESTRO and the population baselines: co-players seated in their slots (one vmapped forward pass),
buffers per co-player, snapshots and eviction, and a student that learns to beat a frozen co-player."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ued.agents import PPOConfig, maze_agent
from ued.agents.networks import Agent
from ued.agents.seats import act, initial_carry, seats_of
from ued.curricula import fsp, maestro, population_curriculum, sp
from ued.envs.lasertag import FORWARD, STAY, TAG, lasertag_level_space
from ued.envs.maze import maze_level_space
from ued.loop import make_train
from ued.rollout import make_rollout, make_rollout_fn
from ued.types import Proposal, Student

SPACE = lasertag_level_space(size=5, n_walls=3, max_steps=10, held_out=None)


def fixed_agent():
    """An ``Agent`` whose every action is ``params["a"]`` (logits one-hot at it)."""

    def apply(params, carry, obs, resets):
        t, b = resets.shape
        logits = 50.0 * jax.nn.one_hot(jnp.broadcast_to(params["a"], (t, b)), 5)
        return carry, logits, jnp.zeros((t, b))

    logp = lambda logits: jax.nn.log_softmax(logits)
    return Agent(init=lambda key, obs: {"a": jnp.int32(0)}, initial_carry=lambda b: (), apply=apply,
                 sample=lambda key, logits: jnp.argmax(logits, -1), greedy=lambda logits: jnp.argmax(logits, -1),
                 log_prob=lambda logits, a: jnp.take_along_axis(logp(logits), a[..., None], -1)[..., 0],
                 entropy=lambda logits: -jnp.sum(jnp.exp(logp(logits)) * logp(logits), -1))


def test_coplayers_take_their_slots_group_by_group():
    agent = fixed_agent()
    coplayers = {"a": jnp.array([TAG, STAY], jnp.int32)}  # M = 2 co-players for B = 4 levels
    seat = seats_of(SPACE.env, coplayers, 4)
    assert (seat.agents, seat.student, seat.coplayers) == (2, 1, 2)
    obs, _ = jax.vmap(SPACE.env.reset_to_level, in_axes=(0, 0, None))(
        jax.random.split(jax.random.key(0), 4), jax.vmap(SPACE.generator.sample)(jax.random.split(jax.random.key(1), 4)),
        SPACE.env.default_params)
    _, env_actions, (mine, _, values) = act(agent, {"a": jnp.int32(FORWARD)}, coplayers,
                                            initial_carry(agent, seat, 4), obs, jnp.ones(4, bool),
                                            jax.random.key(2), False, seat)
    np.testing.assert_array_equal(env_actions, [[FORWARD, TAG], [FORWARD, TAG], [FORWARD, STAY], [FORWARD, STAY]])
    assert mine.shape == (4,) and values.shape == (4,)  # the student's columns only
    # the rollout keeps the student's slot: one column per level, and only the student's actions
    ro, traj, _ = make_rollout_fn(SPACE.env, agent, 0.99, 0.95)({"a": jnp.int32(FORWARD)},
                                                                jax.vmap(SPACE.generator.sample)(
                                                                    jax.random.split(jax.random.key(3), 4)),
                                                                jax.random.key(4), 6, coplayers=coplayers)
    assert ro.agents == 1 and ro.rewards.shape == (6, 4) and (np.asarray(traj.actions) == FORWARD).all()
    with pytest.raises(ValueError, match="3 co-players must divide the 4 environments"):
        seats_of(SPACE.env, {"a": jnp.zeros(3, jnp.int32)}, 4)
    with pytest.raises(ValueError, match="no co-player slots"):
        seats_of(maze_level_space().env, coplayers, 4)


def student(params, update):
    return Student(params=params, rollout=None, update=jnp.int32(update), init_agent=None, train=None)


def fake_rollout(levels_scores):
    """A one-column-per-level rollout whose MaxMC-free score (PVL) is the given value per level."""
    b = len(levels_scores)
    rewards = np.zeros((4, b), np.float32)
    rewards[1] = levels_scores
    dones = np.zeros((4, b), bool)
    dones[1] = True
    return make_rollout(rewards, dones, np.zeros((4, b)), np.zeros(b), dones, 0.99, 0.95)


def test_a_coplayers_buffer_holds_only_the_levels_played_against_it():
    from ued.buffers import plr_buffer
    from ued.scores import positive_value_loss

    cur = population_curriculum(SPACE, 4, positive_value_loss(), plr_buffer(capacity=8, min_fill=0.0),
                                population_size=3, coplayers_per_update=2, replay_prob=0.0)
    state = cur.init(jax.random.key(0), student({"w": jnp.zeros(2)}, 0))
    state = state.replace(members=jnp.ones(3, bool))
    levels = jax.vmap(SPACE.generator.sample)(jax.random.split(jax.random.key(1), 4))
    from ued.curricula.maestro import CoplayerChoice

    choice = CoplayerChoice(replay=jnp.bool_(False), coplayers=jnp.array([2, 0], jnp.int32),
                            indices=jnp.zeros(4, jnp.int32))
    proposal = Proposal(train_weights=jnp.ones(4), replayed=jnp.zeros(4, bool), data=choice)
    out = cur.observe(state, jax.random.key(2), levels, proposal, fake_rollout([1.0, 2.0, 3.0, 4.0]),
                      student({"w": jnp.zeros(2)}, 1))
    bufs = out.state.buffers
    expected = np.asarray(positive_value_loss().compute(fake_rollout([1.0, 2.0, 3.0, 4.0]), None, {}).scores)
    assert np.asarray(bufs.filled).sum(axis=1).tolist() == [2, 0, 2]  # co-player 1 played nothing
    np.testing.assert_allclose(np.sort(np.asarray(bufs.scores[2])[np.asarray(bufs.filled[2])]), expected[:2])
    np.testing.assert_allclose(np.sort(np.asarray(bufs.scores[0])[np.asarray(bufs.filled[0])]), expected[2:])
    stored = np.asarray(bufs.levels.wall_map[2])[np.asarray(bufs.filled[2])]
    assert {stored[0].tobytes(), stored[1].tobytes()} == {np.asarray(levels.wall_map[i]).tobytes() for i in (0, 1)}
    # on replay, a co-player's levels come from its own buffer, and re-scoring touches only that buffer
    state = out.state
    cur = population_curriculum(SPACE, 4, positive_value_loss(), plr_buffer(capacity=8, min_fill=0.0),
                                population_size=3, coplayers_per_update=2, replay_prob=1.0,
                                coplayer_sampling="uniform")
    for seed in range(5):
        new_state, lv, prop = cur.propose(state, jax.random.key(10 + seed), student({"w": jnp.zeros(2)}, 1))
        who = np.asarray(prop.data.coplayers)
        assert bool(prop.data.replay) and set(who) <= {0, 2}  # only members with a ready buffer
        for g, c in enumerate(who):
            for i in range(2):
                slot = int(prop.data.indices[2 * g + i])
                np.testing.assert_array_equal(lv.wall_map[2 * g + i], state.buffers.levels.wall_map[c, slot])


def test_snapshots_fill_the_population_and_evict_the_oldest_or_the_lowest():
    cur = maestro(SPACE, 4, population_size=3, snapshot_every=2, coplayers_per_update=2)
    state = cur.init(jax.random.key(0), student({"w": jnp.float32(0.0)}, 0))
    assert np.asarray(state.members).tolist() == [True, False, False]
    for update in range(1, 9):
        state, _, prop = cur.propose(state, jax.random.key(update), student({"w": jnp.float32(update)}, update))
        assert set(np.asarray(prop.coplayers["w"]).tolist()) <= set(np.asarray(state.population["w"])[np.asarray(state.members)].tolist())
    # snapshots at updates 2, 4, 6, 8: the population (3 slots) keeps the three newest
    assert np.asarray(state.members).all()
    assert sorted(np.asarray(state.population["w"]).tolist()) == [4.0, 6.0, 8.0]
    assert sorted(np.asarray(state.born).tolist()) == [4, 6, 8]
    # "lowest": the member whose buffer's best score is lowest leaves, and its buffer is emptied
    cur = population_curriculum(SPACE, 4, population_size=2, snapshot_every=1, coplayers_per_update=2,
                                evict="lowest")
    state = cur.init(jax.random.key(0), student({"w": jnp.float32(0.0)}, 0))
    state = state.replace(members=jnp.array([True, True]), population={"w": jnp.array([10.0, 20.0])},
                          born=jnp.array([0, 5]),
                          buffers=state.buffers.replace(filled=state.buffers.filled.at[:, 0].set(True),
                                                        scores=state.buffers.scores.at[:, 0].set(jnp.array([5.0, 1.0]))))
    state, _, _ = cur.propose(state, jax.random.key(1), student({"w": jnp.float32(30.0)}, 7))
    assert np.asarray(state.population["w"]).tolist() == [10.0, 30.0]  # the younger but lower-regret one left
    assert not bool(state.buffers.filled[1].any()) and bool(state.buffers.filled[0, 0])


def test_factories_refuse_bad_settings_before_compiling():
    with pytest.raises(ValueError, match="no co-player slots; maestro needs a two-player game"):
        maestro(maze_level_space(), 4)
    with pytest.raises(ValueError, match="coplayers_per_update=3 must divide num_envs=4"):
        fsp(SPACE, 4, coplayers_per_update=3)
    with pytest.raises(ValueError, match="coplayer_sampling must be one of regret, uniform, pfsp, latest"):
        population_curriculum(SPACE, 4, coplayer_sampling="best")
    with pytest.raises(ValueError, match="evict must be one of oldest, lowest"):
        population_curriculum(SPACE, 4, evict="random")
    with pytest.raises(TypeError, match="sp: buffer must be a LevelBuffer"):
        from ued.buffers import sfl_buffer
        sp(SPACE, 4, buffer=sfl_buffer())


@pytest.mark.slow
def test_the_student_learns_to_tag_a_frozen_random_coplayer_on_an_open_arena():
    """FSP whose population never grows keeps the student's random initial policy as the co-player;
    on an open 5x5 arena the student learns to tag it (its win rate rises well above the start's)."""
    ls = lasertag_level_space(size=5, n_walls=0, max_steps=20, held_out=None)
    agent = maze_agent(ls.env.action_space, hidden=32, recurrent=False)
    ppo = PPOConfig(lr=1e-3, update_epochs=4, num_minibatches=2, gamma=0.95, gae_lambda=0.9, ent_coef=0.01)
    cur = fsp(ls, 32, population_size=1, snapshot_every=10_000, coplayers_per_update=1)
    updates, chunk_size = 60, 30
    trainer = make_train(ls, cur, agent, ppo, num_envs=32, num_steps=64, num_updates=updates,
                         updates_per_chunk=chunk_size)
    state = jax.jit(trainer.init)(jax.random.key(0))
    frozen = jax.tree.map(lambda x: x[:1], state.curriculum.population)
    rollout = jax.jit(lambda p, k: trainer.rollout(p, jax.vmap(ls.generator.sample)(jax.random.split(k, 256)), k, 64,
                                                   coplayers=frozen)[0])

    def win_rate(params, key):
        ro = rollout(params, key)
        return float(np.asarray(ro.solved).sum() / max(np.asarray(ro.dones).sum(), 1))

    before = win_rate(state.params, jax.random.key(1))
    chunk = jax.jit(trainer.chunk)
    for i in range(updates // chunk_size):
        state, metrics, _ = chunk(state, jnp.int32(chunk_size * i))
    after = win_rate(state.params, jax.random.key(2))
    assert np.asarray(state.curriculum.members).sum() == 1  # the co-player stayed the initial policy
    print(f"win rate against the frozen co-player: before {before:.3f}, after {after:.3f}")
    assert after > max(0.6, before + 0.3), (before, after)
