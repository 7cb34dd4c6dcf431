"""DEGen (Mead et al. 2026): the generator writes only cells of the student's view not generated
yet and at most one goal, its rewards are the student's per-step MNA terms credited to the
generator step before each student step (by hand), its PPO learns from its own steps only."""

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ued.agents import PPOConfig, Trajectory, maze_agent
from ued.agents.ppo import ppo_loss
from ued.curricula import degen
from ued.curricula.degen import generator_rewards
from ued.envs.maze import maze_level_space
from ued.envs.maze.env import view_offsets
from ued.envs.maze.dynamic import TILE_GOAL, dynamic_maze_level_space
from ued.rollout import make_rollout, make_rollout_fn
from ued.scores import learnability, mna, positive_value_loss

H = W = 7
T, B = 40, 6
GAMMA, LAM = 0.9, 0.8
SPACE = dynamic_maze_level_space(height=H, width=W, n_walls=5, max_steps=12, held_out=())


@pytest.fixture(scope="module")
def hooked():
    """A fresh generator and student: ``B`` blank levels, ``T`` student steps (several episodes),
    the state each step acts in recorded."""
    cur = degen(SPACE, B, generator_hidden=16, generator_head=16, generator_conv=8, generator_minibatches=2)
    agent = maze_agent(SPACE.env.action_space, hidden=8)
    k_agent, k_cur, k_prop, k_roll = jax.random.split(jax.random.key(0), 4)
    params = agent.init(k_agent, SPACE.env.reset_to_level(k_agent, SPACE.generator.sample(k_agent),
                                                            SPACE.env.default_params)[0])
    state = cur.init(k_cur, None)
    state, levels, proposal = cur.propose(state, k_prop, None)
    rollout = make_rollout_fn(SPACE.env, agent, GAMMA, LAM)
    record = lambda s: {"generated": s.level.generated, "walls": s.level.maze.wall_map, "placed": s.level.goal_placed,
                        "goal": s.level.maze.goal_pos, "pos": s.agent_pos, "dir": s.agent_dir}
    run = jax.jit(lambda p, lv, k, st, pr: rollout(p, lv, k, T, record=record, hook=cur.hook, hook_input=(st, pr)))
    ro, traj, info = run(params, levels, k_roll, state, proposal)
    return cur, state, levels, proposal, ro, info


def view_cells(pos, direction):
    """The in-grid cells (x, y) of a 5x5 view."""
    off = view_offsets(5)[direction].reshape(-1, 2) + np.asarray(pos)
    return {(int(x), int(y)) for x, y in off if 0 <= x < W and 0 <= y < H}


def test_the_generator_writes_only_cells_of_the_view_not_generated_yet_and_one_goal(hooked):
    cur, state, levels, proposal, ro, info = hooked
    rec = jax.tree.map(np.asarray, info["record"])
    last = jax.tree.map(np.asarray, info["last_record"])
    seq = {k: np.concatenate([rec[k], last[k][None]]) for k in rec}
    start = np.asarray(levels.generated)
    assert int(ro.dones.sum()) >= B  # auto-replay: the students' later episodes replay what was generated
    for b in range(B):
        before = start[b]
        for t in range(T + 1):
            gen = seq["generated"][t, b]
            view = view_cells(seq["pos"][t, b], seq["dir"][t, b])
            new = {(int(x), int(y)) for y, x in zip(*np.nonzero(gen & ~before))}
            assert new <= view, (b, t)  # written only inside the view of the state the student acts in
            assert all(gen[y, x] for x, y in view)  # ... which the student never sees ungenerated
            assert (gen | ~before).all()  # nothing is un-generated
            if t:  # what was generated never changes, and a goal once placed stays where it is
                prev = seq["generated"][t - 1, b]
                np.testing.assert_array_equal(seq["walls"][t, b][prev], seq["walls"][t - 1, b][prev])
                if seq["placed"][t - 1, b]:
                    assert seq["placed"][t, b] and (seq["goal"][t, b] == seq["goal"][t - 1, b]).all()
            before = gen
    ep = ro.hook_carry.episode
    count = np.asarray(ep.count)
    # each generator step generates one cell: its steps are the generated cells less the start cell
    np.testing.assert_array_equal(count, seq["generated"][-1].sum(axis=(1, 2)) - 1)
    actions = np.asarray(ep.actions)
    live = np.arange(actions.shape[0])[:, None] < count[None]
    assert ((actions[..., 1] == TILE_GOAL) & live).sum(axis=0).max() <= 1  # at most one goal per level
    cell_mask = np.asarray(ep.obs[0].cell_mask)  # the chosen cells were allowed ones
    chosen = np.take_along_axis(cell_mask, actions[..., :1].astype(int), axis=-1)[..., 0]
    assert chosen[live].all()
    # credit: the last generator step before each student step (its generated cells less two)
    credit = np.asarray(ro.hook["credit"])
    np.testing.assert_array_equal(credit, seq["generated"][:-1].sum(axis=(2, 3)) - 2)
    np.testing.assert_array_equal(ro.hook_carry.levels.generated, seq["generated"][-1])


def mna_terms_by_hand(rewards, values, dones, last_value, gamma, lam):
    """MNA's ``M_t`` for one column from its definition: ``B_k = min(B_{k-1} + gamma^k delta_{t+k}, 0)``
    while ``t + k`` is in ``t``'s episode and the rollout, ``M_t = (1 - lam) sum_k lam^k B_k +
    lam^K B_{K-1}``."""
    n = len(rewards)
    nxt = list(values[1:]) + [last_value]
    delta = [rewards[i] + gamma * nxt[i] * (1 - dones[i]) - values[i] for i in range(n)]
    out = []
    for t in range(n):
        b, acc, k = 0.0, 0.0, 0
        while t + k < n:
            b = min(b + gamma ** k * delta[t + k], 0.0)
            acc += (1 - lam) * lam ** k * b
            k += 1
            if dones[t + k - 1]:
                break
        out.append(acc + lam ** k * b)
    return out


def test_the_generator_rewards_are_the_students_mna_terms_shifted_to_the_generator_step_before():
    """Five student steps of two levels; the generator acted before steps 0, 2 and 3 of level 0
    (steps 0, 1, 2 of its episode) and only before step 0 of level 1."""
    rewards = np.array([[0, 0], [0, 0], [0.8, 0], [0, 0], [0, 0]], np.float32)
    dones = np.array([[0, 0], [0, 0], [1, 0], [0, 0], [0, 0]], bool)
    values = np.array([[0.5, 0.2], [0.6, 0.1], [0.3, 0.3], [0.2, 0.4], [0.4, 0.2]], np.float32)
    last = np.array([0.1, 0.3], np.float32)
    ro = make_rollout(rewards, dones, values, last, rewards > 0, GAMMA, LAM)
    credit = np.array([[0, 0], [0, 0], [1, 0], [2, 0], [2, 0]], np.int32)
    count = np.array([3, 1], np.int32)
    got = np.asarray(generator_rewards(mna(GAMMA, LAM), ro, None, credit, count, capacity=4))
    m0 = mna_terms_by_hand(rewards[:, 0], values[:, 0], dones[:, 0], last[0], GAMMA, LAM)
    # level 0 was solved (reward 0.8): its terms are -M_t; level 1 never was: its terms are 0
    expected = np.zeros((4, 2), np.float32)
    expected[0, 0] = -(m0[0] + m0[1])
    expected[1, 0] = -m0[2]
    expected[2, 0] = -(m0[3] + m0[4])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert expected[:, 0].sum() > 0
    # the sum over the generator's steps is the level's MNA score
    np.testing.assert_allclose(got.sum(axis=0), mna(GAMMA, LAM).compute(ro, None, None).scores, rtol=1e-5, atol=1e-6)
    # a student step before any generator step (credit -1) credits nothing
    np.testing.assert_allclose(generator_rewards(mna(GAMMA, LAM), ro, None, credit - 1, count, 4)[:2, 0],
                               [expected[1, 0], expected[2, 0]], rtol=1e-5)
    # a score without per-step terms gives its level score at the generator's last step
    sparse = np.asarray(generator_rewards(learnability(), ro, None, credit, count, 4))
    assert sparse[2, 0] == pytest.approx(0.0) and np.count_nonzero(sparse) == 0  # p = 1 on level 0: p (1 - p) = 0
    pvl = np.asarray(generator_rewards(positive_value_loss(), ro, None, credit, count, 4))
    np.testing.assert_allclose(pvl[0, 0], np.maximum(np.asarray(ro.advantages)[:2, 0], 0).sum(), rtol=1e-6)


def test_per_step_weights_of_ppo_mask_steps():
    """PPO with per-step weights: steps of weight 0 (a generator's padding) change nothing, and
    all-ones per-step weights are the per-environment ones."""
    space = maze_level_space(height=5, width=5, n_walls=2, held_out=())
    agent = maze_agent(space.env.action_space, hidden=8)
    obs, _ = space.env.reset_to_level(jax.random.key(0), space.generator.sample(jax.random.key(0)),
                                      space.env.default_params)
    params = agent.init(jax.random.key(1), obs)
    t, b = 6, 3
    rng = np.random.default_rng(0)
    batch = Trajectory(obs=jax.tree.map(lambda x: jnp.broadcast_to(x, (t, b) + x.shape), obs),
                       resets=jnp.zeros((t, b), bool).at[0].set(True), actions=jnp.asarray(rng.integers(0, 7, (t, b))),
                       log_probs=jnp.full((t, b), -2.0), values=jnp.asarray(rng.normal(size=(t, b)), jnp.float32),
                       advantages=jnp.asarray(rng.normal(size=(t, b)), jnp.float32),
                       targets=jnp.asarray(rng.normal(size=(t, b)), jnp.float32))
    cfg = PPOConfig()
    a, _ = ppo_loss(agent, cfg, params, batch, jnp.ones((b,)))
    c, _ = ppo_loss(agent, cfg, params, batch, jnp.ones((t, b)))
    assert float(a) == pytest.approx(float(c), rel=1e-6)
    w = jnp.ones((t, b)).at[4:].set(0.0)
    noisy = batch.replace(advantages=batch.advantages.at[4:].set(1e3), targets=batch.targets.at[4:].set(-1e3))
    x, _ = ppo_loss(agent, cfg, params, batch, w)
    y, _ = ppo_loss(agent, cfg, params, noisy, w)
    assert float(x) == pytest.approx(float(y), rel=1e-6)


def test_degen_trains_its_generator_on_its_own_steps(hooked):
    cur, state, levels, proposal, ro, info = hooked
    out = jax.jit(cur.observe)(state, jax.random.key(5), levels, proposal, ro, None)
    m = {k: float(v) for k, v in out.metrics.items()}
    assert m["generator_steps"] == pytest.approx(float(np.mean(np.asarray(ro.hook_carry.episode.count))))
    assert 0 < m["level_generated"] <= 1 and int(out.env_steps) == 0
    assert all(np.isfinite(v) for v in m.values())
    changed = [not np.array_equal(x, y) for x, y in zip(jax.tree.leaves(out.state.generator),
                                                        jax.tree.leaves(state.generator))]
    assert any(changed)
    for x, y in zip(jax.tree.leaves(out.played), jax.tree.leaves(ro.hook_carry.levels)):  # the levels as generated
        np.testing.assert_array_equal(x, y)


def test_the_loop_returns_the_levels_as_generated_with_several_seeds():
    """What a training chunk returns (and media shows) are the generated levels, not the blank
    proposals; two vmapped seeds run the generator's while loop."""
    from ued.loop import make_train

    cur = degen(SPACE, 4, generator_hidden=8, generator_head=8, generator_conv=4)
    trainer = make_train(SPACE, cur, maze_agent(SPACE.env.action_space, hidden=8), PPOConfig(), num_envs=4,
                         num_steps=16, num_updates=2, updates_per_chunk=2, num_seeds=2)
    state = jax.jit(trainer.init)(jax.random.split(jax.random.key(0), 2))
    state, metrics, levels = jax.jit(trainer.chunk)(state, 0)
    generated = np.asarray(levels.generated).sum(axis=(-2, -1))  # (seeds, envs)
    assert generated.shape == (2, 4) and (generated > 1).all()
    np.testing.assert_allclose(np.asarray(metrics["curriculum/level_generated"])[:, -1], generated.mean(axis=1) / (H * W),
                               rtol=1e-5)


def test_degen_needs_a_level_space_generated_while_played():
    with pytest.raises(ValueError, match="degen needs a level space whose levels are generated while they are "
                                         "played .* maze has none; choose env=dynamic_maze"):
        degen(maze_level_space(), 4)
    with pytest.raises(ValueError, match="degen: curriculum.generator_minibatches=4 must divide num_envs=6"):
        degen(SPACE, 6)
    with pytest.raises(ValueError, match="degen: curriculum.generator_lr must be a finite number > 0"):
        degen(SPACE, 4, generator_lr=0.0)


def test_degen_runs_from_the_command_line_on_its_own_level_space(tmp_path):
    """``curriculum=degen`` alone selects the dynamic maze; two updates run at 9x9 and the
    generator's metrics are logged; ``env=maze`` is refused before anything runs."""
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    tiny = ["num_envs=4", "num_steps=16", "num_updates=2", "updates_per_chunk=1", "eval.every=1", "eval.attempts=1",
            "eval.random_levels=2", "agent.network.hidden=8", "progress=false", "env.height=9", "env.width=9",
            "env.held_out=[]", "env.max_steps=12", "curriculum.generator_hidden=8", "curriculum.generator_head=8"]
    run_dir = tmp_path / "run"
    out = subprocess.run([sys.executable, "-m", "ued.train", "curriculum=degen", *tiny, f"run_dir={run_dir}"],
                         cwd=repo, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "dynamic_maze_level_space" in (run_dir / "config.yaml").read_text()
    rows = [json.loads(line) for line in open(run_dir / "metrics.jsonl")]
    assert [r["update"] for r in rows] == [1, 2]
    assert all(r["curriculum/generator_steps"] > 0 and 0 < r["curriculum/level_generated"] <= 1 for r in rows)
    assert all(r["curriculum_env_steps"] == 0 for r in rows)
    bad = subprocess.run([sys.executable, "-m", "ued.train", "curriculum=degen", "env=maze",
                          f"run_dir={tmp_path / 'bad'}"], cwd=repo, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2
    assert "degen needs a level space whose levels are generated while they are played" in bad.stderr
