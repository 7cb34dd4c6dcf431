import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hydra import compose, initialize_config_dir

from ued.agents import PPOConfig, maze_agent
from ued.buffers import plr_buffer, sfl_buffer
from ued.curricula import accel, paired, plr, robust_plr, sfl
from ued.curricula.paired import build_levels
from ued.envs.maze import edit_distance, is_valid_level, maze_level_space
from ued.loop import make_train
from ued.rollout import make_rollout
from ued.scores import learnability, paired_regret
from ued.run.config import CONF_DIR, Components, ConfigError, component_names
from ued.types import Student

SPACE = maze_level_space(max_steps=16, num_edits=3)


def tiny_trainer(curriculum, **kw):
    agent = maze_agent(SPACE.env.action_space, hidden=16)
    return make_train(SPACE, curriculum, agent, PPOConfig(), num_envs=8, num_steps=32, num_updates=20,
                      updates_per_chunk=1, **kw)


def fake_student(rollout_fn=None, update=0):
    return Student(params=None, rollout=rollout_fn, update=jnp.int32(update), init_agent=None, train=None)


def test_robust_plr_trains_only_on_replayed_levels():
    cur = robust_plr(SPACE, 8, buffer=plr_buffer(capacity=16, min_fill=0.5), replay_prob=1.0)
    trainer = tiny_trainer(cur)
    state = jax.jit(trainer.init)(jax.random.key(0))
    chunk = jax.jit(trainer.chunk)
    seen = set()
    for i in range(6):
        new, metrics, _ = chunk(state, jnp.int32(i))
        replayed = bool(metrics["curriculum/replay"][0])
        changed = any(not np.array_equal(a, b) for a, b in zip(jax.tree.leaves(new.params), jax.tree.leaves(state.params)))
        assert changed == replayed, (i, replayed)
        seen.add(replayed)
        state = new
    assert seen == {False, True}  # fresh levels first (buffer filling), replays once ready


def test_plr_replays_higher_scores_more_often():
    buf = plr_buffer(capacity=8, temperature=1.0, staleness_coef=0.0, min_fill=0.0)
    cur = plr(SPACE, 8, buffer=buf, replay_prob=1.0)
    state = cur.init(jax.random.key(0))
    levels = jax.vmap(SPACE.generator.sample)(jax.random.split(jax.random.key(1), 8))
    scores = jnp.arange(8, dtype=jnp.float32)  # level i has score i
    state = state.replace(buffer=buf.insert(state.buffer, levels, scores, {"max_return": jnp.zeros(8)}))
    top = jax.jit(cur.top_levels, static_argnums=1)(state, 3)  # what the curriculum shows: its best stored levels
    assert np.asarray(top.scores).tolist() == [7.0, 6.0, 5.0] and np.asarray(top.valid).all()
    propose = jax.jit(lambda s, k: cur.propose(s, k, fake_student()))
    counts = np.zeros(8)
    for i in range(200):
        _, _, proposal = propose(state, jax.random.key(i))
        assert bool(proposal.data.branch == 1)
        counts += np.bincount(np.asarray(proposal.data.indices), minlength=8)
    ranked = np.asarray(state.buffer.scores).argsort()[::-1]  # slots from best to worst score
    freq = counts[ranked] / counts.sum()
    expected = (1 / np.arange(1, 9)) / (1 / np.arange(1, 9)).sum()  # rank prioritisation, T = 1
    np.testing.assert_allclose(freq, expected, atol=0.03)
    assert freq[0] > 3 * freq[-1]


def test_accel_children_are_valid_and_close_to_their_parents():
    cur = accel(SPACE, 8, buffer=plr_buffer(capacity=16))
    state = cur.init(jax.random.key(0))
    parents = jax.vmap(SPACE.generator.sample)(jax.random.split(jax.random.key(1), 8))
    state = state.replace(parents=parents, mutate_next=jnp.array(True))
    _, children, proposal = jax.jit(lambda s, k: cur.propose(s, k, fake_student()))(state, jax.random.key(2))
    assert int(proposal.data.branch) == 2
    assert float(proposal.train_weights.sum()) == 0.0  # robust form: no gradient on children
    dist = np.asarray(jax.vmap(edit_distance)(parents, children))
    assert dist.max() <= 3 and dist.sum() > 0
    assert bool(jnp.all(jax.vmap(is_valid_level)(children)))
    explore = accel(SPACE, 8, buffer=plr_buffer(capacity=16), exploratory_grad_updates=True)
    _, _, p2 = explore.propose(state, jax.random.key(2), fake_student())
    assert float(p2.train_weights.sum()) == 8.0


def synthetic_rollout(params, levels, key, steps):
    """A deterministic 'policy': level with goal column g succeeds in episodes e where e % 5 < g % 5."""
    b = levels.goal_pos.shape[0]
    t = jnp.arange(steps)[:, None]
    dones = (t % 4) == 3  # an episode every 4 steps
    episode = t // 4
    success = (episode % 5) < (levels.goal_pos[None, :, 0] % 5)
    solved = dones & success
    rewards = solved.astype(jnp.float32)
    ro = make_rollout(rewards, jnp.broadcast_to(dones, (steps, b)), jnp.zeros((steps, b)), jnp.zeros(b), solved, 0.99, 0.95)
    return ro, {}


def test_sfl_keeps_exactly_the_top_k_of_the_sampled_set():
    n, batch, steps, k = 64, 16, 40, 8
    cur = sfl(SPACE, 8, buffer=sfl_buffer(capacity=k), num_samples=n, sample_batch=batch, rollout_steps=steps,
              refresh_every=10, rho=0.5)
    assert cur.top_levels is not None
    state = cur.init(jax.random.key(0))
    key = jax.random.key(3)
    new, levels, proposal = jax.jit(lambda s, kk: cur.propose(s, kk, fake_student(synthetic_rollout, 0)))(state, key)
    assert bool(proposal.data.refreshed)
    # Recreate the sampled set: propose splits its key in 3, the first for the sampling pass.
    k_refresh = jax.random.split(key, 3)[0]
    sampled = [jax.vmap(SPACE.generator.sample)(jax.random.split(jax.random.split(bk)[0], batch))
               for bk in jax.random.split(k_refresh, n // batch)]
    goal_cols = np.concatenate([np.asarray(s.goal_pos[:, 0]) for s in sampled])
    scores = np.asarray(learnability().compute(synthetic_rollout(None, jax.tree.map(lambda *x: jnp.concatenate(x), *sampled),
                                                                  None, steps)[0], None, {}).scores)
    kept = np.sort(np.asarray(new.buffer.scores))
    np.testing.assert_allclose(kept, np.sort(scores)[-k:], rtol=1e-6)
    assert set(np.asarray(new.buffer.levels.goal_pos[:, 0]).tolist()) <= set(goal_cols.tolist())
    # Half the batch came from the buffer; no refresh when not due.
    assert np.asarray(proposal.replayed).tolist() == [True] * 4 + [False] * 4
    _, _, later = cur.propose(new, key, fake_student(synthetic_rollout, 5))
    assert not bool(later.data.refreshed)
    # the sampling pass is spent beyond the training rollout and returned by observe
    assert int(cur.observe(new, key, levels, proposal, None, None).env_steps) == n * steps
    assert int(cur.observe(new, key, levels, later, None, None).env_steps) == 0


def test_paired_rewards_the_adversary_with_the_regret_of_its_level():
    cur = paired(SPACE, 8, n_walls=5)
    trainer = tiny_trainer(cur)
    state = jax.jit(trainer.init)(jax.random.key(0))
    # Observe with known rollouts: the antagonist's comes from a fake train().
    pro = synthetic_rollout(None, jax.vmap(SPACE.generator.sample)(jax.random.split(jax.random.key(1), 8)), None, 40)[0]
    ant = pro.replace(rewards=pro.rewards * 0 + pro.dones * 0.9)

    def fake_train(params, opt_state, levels, key):
        return params, opt_state, ant, {"return": jnp.float32(0), "solve_rate": jnp.float32(0)}

    student = Student(params=None, rollout=None, update=jnp.int32(0), init_agent=None, train=fake_train)
    cs, levels, proposal = cur.propose(state.curriculum, jax.random.key(2), student)
    observed = cur.observe(cs, jax.random.key(3), levels, proposal, pro, student)
    metrics, env_steps = observed.metrics, observed.env_steps
    assert int(env_steps) == ant.rewards.size  # the antagonist's rollout is counted (one agent: a step a column)
    expected = paired_regret().compute((pro, ant), levels, {})
    np.testing.assert_allclose(metrics["regret"], np.mean(np.where(expected.valid, expected.scores, 0)), rtol=1e-6)
    assert float(metrics["regret"]) > 0
    assert bool(jnp.all(jax.vmap(is_valid_level)(levels)))


def test_build_levels_by_hand():
    # 3x3, JaxUED's protocol: goal at cell 8 (2,2), heading 1, agent asked for the goal's cell (moved to a
    # random other cell), then toggles at 4, 8 (the goal: nothing) and 4 again (off): no walls
    editor = maze_level_space(height=3, width=3, n_walls=1, held_out=()).editor
    actions = jnp.array([[8], [1], [8], [4], [8], [4]])
    level = jax.tree.map(lambda x: x[0], build_levels(editor, actions, jax.random.split(jax.random.key(0), 1)))
    assert level.goal_pos.tolist() == [2, 2] and level.agent_pos.tolist() != [2, 2] and int(level.agent_dir) == 1
    assert np.asarray(level.wall_map).sum() == 0


SCORES = component_names("score")


def cfg(*overrides):
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


@pytest.mark.parametrize("score", [s for s in SCORES if s != "paired"])
def test_every_score_traces_inside_plr(score):
    parts = Components(cfg("curriculum=plr", f"score={score}", "num_envs=4", "num_steps=8", "agent.network.hidden=8",
                           "buffer.capacity=8", "buffer.min_fill=0.0", "updates_per_chunk=1", "eval.every=0"))
    state = jax.eval_shape(parts.trainer.init, jax.random.key(0))
    out = jax.eval_shape(parts.trainer.chunk, state, jnp.int32(0))
    assert out[1]["curriculum/batch_score_mean"].shape == (1,)
