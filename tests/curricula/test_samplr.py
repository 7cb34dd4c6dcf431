"""SAMPLR (Jiang et al. 2022) and the loop's step hooks: fictitious transitions and their
targets by hand, the real rollout untouched, the refusal of a level space without chance."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ued.agents import maze_agent
from ued.curricula import fictitious_transitions, samplr
from ued.envs.maze import ACTION_FORWARD, maze_level_space
from ued.envs.maze.fruit import fruit_level_space, make_fruit_level
from ued.envs.wrappers import auto_replay
from ued.rollout import gae, make_rollout_fn, transition_gae
from ued.types import StepContext

MAX = 20
GAMMA, LAM = 0.9, 0.8


def test_transition_gae_is_gae_on_the_real_transitions():
    rng = np.random.default_rng(0)
    values, rewards = rng.normal(size=(2, 12, 3)).astype(np.float32)
    dones = rng.random((12, 3)) < 0.3
    last = rng.normal(size=3).astype(np.float32)
    next_values = np.concatenate([values[1:], last[None]])
    a, t = gae(rewards, values, dones, last, GAMMA, LAM)
    b, u = transition_gae(values, rewards, dones, next_values, ~dones, GAMMA, LAM)
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(t, u, rtol=1e-6, atol=1e-6)


def test_transition_gae_by_hand():
    """Three steps of one environment: each transition bootstraps from its own next value,
    and the chain is cut where asked."""
    values = np.array([[1.0], [2.0], [3.0]], np.float32)
    rewards = np.array([[0.5], [0.0], [1.0]], np.float32)
    dones = np.array([[False], [False], [True]])
    next_values = np.array([[10.0], [20.0], [30.0]], np.float32)
    chain = np.array([[True], [False], [True]])
    adv, targets = transition_gae(values, rewards, dones, next_values, chain, GAMMA, LAM)
    d2 = 1.0 - 3.0  # done: no bootstrap
    d1 = 0.0 + GAMMA * 20.0 - 2.0
    d0 = 0.5 + GAMMA * 10.0 - 1.0
    a2, a1 = d2, d1  # the chain is cut after step 1
    a0 = d0 + GAMMA * LAM * a1
    np.testing.assert_allclose(np.asarray(adv)[:, 0], [a0, a1, a2], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(targets), np.asarray(adv) + values, rtol=1e-6)


def corridor(banana_good):
    return make_fruit_level(np.zeros((1, 5), bool), (4, 0), (0, 0), (2, 0), 0, banana_good)


def test_a_fictitious_transition_by_hand():
    """One step from a state facing the apple, the banana the rewarding fruit, under a prior in
    which the apple always rewards: the real transition eats the apple for 0, the fictitious one
    for the apple's reward; the rollout continues from the real one."""
    space = fruit_level_space(height=1, width=5, n_walls=0, banana_prob=0.0, max_steps=MAX)
    env = auto_replay(space.env)
    level = jax.tree.map(lambda x: jnp.stack([x, x]), corridor(True))
    _, states = jax.vmap(space.env.reset_to_level, in_axes=(0, 0, None))(jax.random.split(jax.random.key(0), 2), level,
                                                                           space.env.default_params)
    states = states.replace(agent_pos=jnp.array([[3, 0], [2, 0]]), time=jnp.array([4, 0]))  # env 0 faces the apple

    def env_step(key, s, a):
        return jax.vmap(env.step, in_axes=(0, 0, 0, None))(jax.random.split(key, 2), s, a, space.env.default_params)

    hook = fictitious_transitions(space.aleatoric)
    actions = jnp.array([ACTION_FORWARD, ACTION_FORWARD])
    _, out = hook.step(None, jax.random.key(1), StepContext(states=states, actions=actions, values=jnp.zeros(2),
                                                             env_step=env_step))
    obs, new_states, reward, done, info = out.transition
    np.testing.assert_allclose(np.asarray(reward), [0.0, 0.0])
    np.testing.assert_array_equal(np.asarray(done), [True, False])
    assert bool(new_states.level.banana_good.all())  # the real levels keep their chance outcome
    np.testing.assert_allclose(np.asarray(out.train.reward), [1 - 0.9 * 5 / MAX, 0.0], rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(out.train.done), [True, False])
    for x, y in zip(jax.tree.leaves(out.train.obs), jax.tree.leaves(obs)):  # the outcome is hidden: same views
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_the_rollout_scores_the_real_transitions_and_trains_on_the_fictitious_ones():
    """Levels whose banana rewards, a prior in which the apple always does: with the hook the
    Rollout (what scores read) equals the hook-free rollout on those levels, and the PPO
    targets equal the hook-free targets on the same mazes with the apple rewarding (the
    outcome is unseen, so both play the same actions)."""
    space = fruit_level_space(height=3, width=3, n_walls=0, banana_prob=0.0, max_steps=MAX)
    agent = maze_agent(space.env.action_space, hidden=16)
    rollout = make_rollout_fn(space.env, agent, GAMMA, LAM)
    levels = jax.vmap(space.generator.sample)(jax.random.split(jax.random.key(0), 16))
    banana, apple = levels.replace(banana_good=jnp.ones(16, bool)), levels.replace(banana_good=jnp.zeros(16, bool))
    obs, _ = space.env.reset_to_level(jax.random.key(0), corridor(False), space.env.default_params)
    params = agent.init(jax.random.key(1), obs)
    key = jax.random.key(2)
    cur = samplr(space, 16)
    run = jax.jit(rollout, static_argnames=("num_steps", "hook"))
    hooked, h_traj, _ = run(params, banana, key, num_steps=64, hook=cur.hook, hook_input=(None, None))
    real, r_traj, _ = run(params, banana, key, num_steps=64)
    grounded, g_traj, _ = run(params, apple, key, num_steps=64)
    assert int(hooked.dones.sum()) > 16 and float(grounded.rewards.sum()) > 0  # episodes end on both fruits
    for name in ("rewards", "dones", "values", "advantages", "solved"):
        np.testing.assert_array_equal(np.asarray(getattr(hooked, name)), np.asarray(getattr(real, name)))
    np.testing.assert_array_equal(np.asarray(h_traj.actions), np.asarray(g_traj.actions))
    np.testing.assert_allclose(np.asarray(h_traj.targets), np.asarray(g_traj.targets), rtol=1e-5, atol=1e-5)
    assert not np.allclose(np.asarray(h_traj.targets), np.asarray(r_traj.targets))


def test_samplr_needs_a_level_space_with_chance_and_counts_its_fictitious_steps():
    with pytest.raises(ValueError, match="samplr needs a level space with an aleatoric part .* maze has none; "
                                         "choose env=fruit_maze"):
        samplr(maze_level_space(), 4)
    assert fruit_level_space().aleatoric.names == ("banana_good",)
    assert samplr(fruit_level_space(), 4).hook is not None


def test_samplr_runs_from_the_command_line_on_its_own_level_space(tmp_path):
    """``curriculum=samplr`` alone selects the fruit maze; two updates run, the fictitious env
    steps are counted, and the replay distribution of the chance parameter is logged;
    ``env=maze`` is refused before anything runs."""
    import json
    import os
    import subprocess
    import sys

    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    tiny = ["num_envs=4", "num_steps=16", "num_updates=2", "updates_per_chunk=1", "eval.every=1", "eval.attempts=1",
            "eval.random_levels=2", "agent.network.hidden=8", "progress=false", "buffer.capacity=16"]
    run_dir = tmp_path / "run"
    out = subprocess.run([sys.executable, "-m", "ued.train", "curriculum=samplr", *tiny, f"run_dir={run_dir}"],
                         cwd=repo, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "fruit_level_space" in (run_dir / "config.yaml").read_text()
    rows = [json.loads(line) for line in open(run_dir / "metrics.jsonl")]
    assert [r["update"] for r in rows] == [1, 2]
    assert all(r["curriculum_env_steps"] == r["env_steps"] == 4 * 16 * r["update"] for r in rows)  # one fictitious step per rollout step
    assert all(0.0 <= r["curriculum/replay_banana_good"] <= 1.0 for r in rows)
    assert any(name.startswith("proposed_") for name in os.listdir(run_dir / "media"))
    bad = subprocess.run([sys.executable, "-m", "ued.train", "curriculum=samplr", "env=maze",
                          f"run_dir={tmp_path / 'bad'}"], cwd=repo, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2
    assert "samplr needs a level space with an aleatoric part" in bad.stderr and "env=fruit_maze" in bad.stderr


@pytest.mark.slow
def test_trained_on_a_shifted_chance_outcome_the_policy_follows_the_shift_and_samplr_the_prior():
    """The covariate shift SAMPLR exists for, in its smallest form: a curriculum that always
    trains on the corridor whose banana rewards, while the real prior is P(banana) = 0.3. The
    apple is two steps ahead, the banana behind the agent (two turns, two steps). Trained on the
    real transitions the agent learns to go to the banana (right for the curriculum, wrong under
    the prior: expected reward 0.3 x 0.55 against the apple's 0.7 x 0.775); trained on the
    fictitious transitions (the same levels, the same curriculum) it learns the apple."""
    from ued.agents import PPOConfig
    from ued.curricula import dr
    from ued.envs.maze.fruit import APPLE, BANANA
    from ued.loop import make_train
    from ued.types import LevelGenerator

    space = fruit_level_space(height=1, width=5, n_walls=0, banana_prob=0.3, max_steps=8)
    shifted = jax.tree.map(jnp.asarray, corridor(True))
    space = space._replace(generator=LevelGenerator(sample=lambda key: shifted))  # the curriculum's shift
    agent = maze_agent(space.env.action_space, hidden=16)
    ppo = PPOConfig(lr=3e-3, gamma=0.99, gae_lambda=0.95, ent_coef=0.01, update_epochs=4, anneal_lr=False)
    eaten = {}
    for name, hook in (("real", None), ("fictitious", fictitious_transitions(space.aleatoric))):
        cur = dr(space, 8)._replace(hook=hook)
        trainer = make_train(space, cur, agent, ppo, num_envs=8, num_steps=32, num_updates=150, updates_per_chunk=150)
        state, _, _ = jax.jit(trainer.chunk)(jax.jit(trainer.init)(jax.random.key(0)), 0)
        ro, _, info = jax.jit(make_rollout_fn(space.env, agent, 0.99, 0.95), static_argnames=("num_steps", "greedy",
                                                                                              "replay"))(
            state.params, jax.tree.map(lambda x: x[None], shifted), jax.random.key(1), num_steps=8, greedy=True,
            replay=False)
        end = int(np.argmax(np.asarray(ro.dones)[:, 0]))  # the greedy episode's last step
        ate = bool(ro.dones[end, 0]) and int(info["episode_length"][end, 0]) < 8  # a fruit, not the time limit
        eaten[name] = -1 if not ate else BANANA if float(ro.rewards[end, 0]) > 0 else APPLE  # the banana rewards here
    assert eaten == {"real": BANANA, "fictitious": APPLE}, eaten
