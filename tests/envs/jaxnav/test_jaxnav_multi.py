"""Multi-robot JaxNav through jaxmarl: steps equal the package's, the package's test cases as named
levels, generator/mutator/path check for every robot, and the agent axis through scores and the
evaluators (a level's success is the fraction of its robots that reach their goals)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.envs.jaxnav.test_jaxnav import python_bfs
from tests.extras import require

require("jaxmarl", "jaxnav")

from jaxmarl.environments.jaxnav import jaxnav_singletons  # noqa: E402
from jaxmarl.environments.jaxnav.jaxnav_env import JaxNav  # noqa: E402

from ued.envs.jaxnav import (JaxNavLevel, jaxnav_multi_level_space, jaxnav_multi_level_stats,  # noqa: E402
                             make_jaxnav_multi)

N = 4
SPACE = jaxnav_multi_level_space(num_agents=N, max_steps=60)
PARAMS = SPACE.env.default_params
cell = lambda xy: tuple(np.floor(np.asarray(xy)[::-1]).astype(int))  # (x, y) -> (row, col)


@pytest.fixture(scope="module")
def levels():
    return jax.jit(jax.vmap(SPACE.generator.sample))(jax.random.split(jax.random.key(0), 256))


def compare_steps(pkg, pkg_state, level, seed, steps=40):
    """Steps ued's env and the package's ``step_env`` with the same random actions from the same
    level; returns how many steps were compared."""
    reset, step = jax.jit(SPACE.env.reset_to_level), jax.jit(SPACE.env.step)
    pkg_step = jax.jit(pkg.step_env)
    obs, state = reset(jax.random.key(99), level, PARAMS)
    assert obs.shape == (N, 205)
    actions = jax.random.uniform(jax.random.key(seed + 10), (steps, N, 2), minval=jnp.array([0.0, -0.6]),
                                 maxval=jnp.array([1.0, 0.6]))
    for t, a in enumerate(actions):
        k = jax.random.fold_in(jax.random.key(seed), t)
        pkg_obs, pkg_state, pkg_rew, pkg_done, pkg_info = pkg_step(k, pkg_state, {f"agent_{i}": a[i] for i in range(N)})
        obs, state, rew, done, info = step(k, state, a, PARAMS)
        for i in range(N):
            np.testing.assert_allclose(obs[i], pkg_obs[f"agent_{i}"], rtol=1e-5, atol=1e-6)
            assert float(rew[i]) == pytest.approx(float(pkg_rew[f"agent_{i}"]), abs=1e-6)
            assert bool(done[i]) == bool(pkg_done["__all__"])
        np.testing.assert_array_equal(info["solved"], np.asarray(pkg_info["GoalR"]).astype(bool))
        np.testing.assert_allclose(state.inner.pos, pkg_state.pos, rtol=1e-6)
        if bool(pkg_done["__all__"]):
            np.testing.assert_array_equal(info["episode_length"], t + 1)
            return t + 1
    return steps


def test_steps_match_the_package_on_its_random_levels():
    pkg = JaxNav(num_agents=N, act_type="Continuous", map_id="Grid-Rand-Poly",
                 map_params={"map_size": (11, 11), "fill": 0.5}, max_steps=60, lidar_num_beams=200)
    compared = 0
    for seed in range(3):
        _, pkg_state = pkg.reset(jax.random.key(seed))  # the package's own random 4-robot level
        level = JaxNavLevel(map_data=pkg_state.map_data, agent_pos=pkg_state.pos, agent_theta=pkg_state.theta,
                            goal_pos=pkg_state.goal)
        compared += compare_steps(pkg, pkg_state, level, seed)
    assert compared >= 40


@pytest.mark.parametrize("name", ["BlankCross4", "Corridor4", "Layby4"])
def test_steps_match_the_package_on_its_test_cases(name):
    """The package's singleton env of a test case (its own map size) against ued's padded named level."""
    i = SPACE.held_out_names.index(name)
    level = jax.tree.map(lambda x: x[i], SPACE.held_out)
    rew_lambda = float(make_jaxnav_multi(N, max_steps=60)[1].rew_lambda)  # the singletons default to 0
    case = getattr(jaxnav_singletons, name)(num_agents=N, max_steps=60, act_type="Continuous", map_id="Grid-Rand-Poly",
                                            fixed_lambda=True, rew_lambda=rew_lambda)
    _, pkg_state = case.reset(jax.random.key(0))
    np.testing.assert_allclose(level.agent_pos, pkg_state.pos)
    np.testing.assert_allclose(level.goal_pos, pkg_state.goal)
    assert compare_steps(case, pkg_state, level, seed=3) >= 10


def test_every_robot_driving_to_its_goal_solves_the_level():
    """Four robots in lanes, each driving straight at its goal: every one reaches it, the episode
    ends when the last does (a robot that arrived keeps its outcome while the others drive on)."""
    open_map = jnp.ones((11, 11), jnp.int32).at[1:-1, 1:-1].set(0)
    rows = jnp.array([1.5, 3.5, 5.5, 7.5])
    level = JaxNavLevel(map_data=open_map, agent_pos=jnp.stack([jnp.full(4, 1.5), rows], 1),
                        agent_theta=jnp.zeros(4), goal_pos=jnp.stack([jnp.array([3.5, 4.5, 5.5, 6.5]), rows], 1))
    obs, state = SPACE.env.reset_to_level(jax.random.key(0), level, PARAMS)
    step = jax.jit(SPACE.env.step)
    reached = np.full(N, -1)
    for t in range(60):
        obs, state, rew, done, info = step(jax.random.key(t), state, jnp.tile(jnp.array([[1.0, 0.0]]), (N, 1)), PARAMS)
        for i in np.nonzero(np.asarray(info["solved"]))[0]:
            assert reached[i] < 0  # flagged once, on the step the robot arrives
            reached[i] = t
        if bool(done[0]):
            break
    assert bool(np.all(done)) and (reached >= 0).all()
    assert (np.diff(reached) > 0).all()  # farther goals are reached later
    assert reached.max() == t and (np.asarray(info["episode_length"]) == t + 1).all()


def test_generated_levels_place_every_robot_on_distinct_free_cells(levels):
    m = np.asarray(levels.map_data)
    assert m.shape == (256, 11, 11) and levels.agent_pos.shape == (256, N, 2) and levels.agent_theta.shape == (256, N)
    blocks = m[:, 1:-1, 1:-1].sum(axis=(1, 2))
    assert blocks.max() <= int(0.6 * 81) and len(np.unique(blocks)) > 20
    for lv_map, starts, goals in zip(m, np.asarray(levels.agent_pos), np.asarray(levels.goal_pos)):
        cells = [cell(p) for p in np.concatenate([starts, goals])]
        assert len(set(cells)) == 2 * N and all(lv_map[c] == 0 for c in cells)


def test_the_path_check_covers_every_robot(levels):
    stats = jax.device_get(jax.jit(jaxnav_multi_level_stats)(levels))
    kinds = set()
    for i in range(64):
        grid = np.asarray(levels.map_data[i])
        d = [python_bfs(grid, np.array(cell(s)), np.array(cell(g)))
             for s, g in zip(np.asarray(levels.agent_pos[i]), np.asarray(levels.goal_pos[i]))]
        reach = np.mean([x >= 0 for x in d])
        assert stats["reachable"][i] == pytest.approx(reach)
        assert stats["solvable"][i] == (reach == 1)
        if reach == 1:
            assert stats["shortest_path"][i] == pytest.approx(np.mean(d))
        else:
            assert np.isnan(stats["shortest_path"][i])
        kinds.add(0 if reach == 0 else 2 if reach == 1 else 1)
    assert kinds == {0, 1, 2}  # none, some and every robot with a path all occur


def test_mutations_keep_starts_and_goals_free_and_move_one_goal_at_a_time(levels):
    mutate = jax.jit(jax.vmap(SPACE.mutator.mutate))
    children = mutate(jax.random.split(jax.random.key(1), 256), levels)
    changed = np.asarray(children.map_data != levels.map_data).sum(axis=(1, 2))
    goals_moved = np.asarray(np.any(children.goal_pos != levels.goal_pos, axis=2)).sum(axis=1)
    assert changed.max() <= 5 and (changed > 0).mean() > 0.5 and (goals_moved > 0).mean() > 0.3
    np.testing.assert_array_equal(children.agent_pos, levels.agent_pos)
    for lv_map, starts, goals in zip(np.asarray(children.map_data), np.asarray(children.agent_pos),
                                     np.asarray(children.goal_pos)):
        cells = [cell(p) for p in np.concatenate([starts, goals])]
        assert len(set(cells)) == 2 * N and all(lv_map[c] == 0 for c in cells)
    from ued.envs.jaxnav.multi import jaxnav_multi_mutator  # a single edit moves at most one robot's goal

    single = jax.jit(jax.vmap(jaxnav_multi_mutator(num_edits=1).mutate))(jax.random.split(jax.random.key(2), 256), levels)
    assert np.asarray(np.any(single.goal_pos != levels.goal_pos, axis=2)).sum(axis=1).max() == 1


def test_the_packages_test_cases_are_the_named_levels():
    assert SPACE.held_out_names == ("BlankCross4", "Corridor4", "Layby4")
    for i, name in enumerate(SPACE.held_out_names):
        case = getattr(jaxnav_singletons, name)(num_agents=N)
        h, w = np.asarray(case.map_data).shape
        np.testing.assert_array_equal(SPACE.held_out.map_data[i, :h, :w], case.map_data)
        assert (np.asarray(SPACE.held_out.map_data[i, h:]) == 1).all()
        np.testing.assert_allclose(SPACE.held_out.agent_pos[i], np.asarray(case.start_pose)[:, :2])
        np.testing.assert_allclose(SPACE.held_out.agent_theta[i], np.asarray(case.start_pose)[:, 2])
        np.testing.assert_allclose(SPACE.held_out.goal_pos[i], np.asarray(case.goal_pose)[:, :2])
    assert (np.asarray(jaxnav_multi_level_stats(SPACE.held_out)["solvable"]) == 1).all()
    with pytest.raises(ValueError, match="not drawn for 4 robots"):
        jaxnav_multi_level_space(num_agents=N, held_out=["BlankCross2"])
    with pytest.raises(ValueError, match="8 free cells"):
        jaxnav_multi_level_space(num_agents=N, map_size=4)


def test_the_paired_editor_places_robot_zero_and_the_others_on_free_cells():
    from ued.curricula.paired import build_levels

    actions = jnp.array([[80], [0], [40], [80]])  # goal at interior (8, 8), robot 0 at (0, 0), a wall at the centre
    level = jax.tree.map(lambda x: x[0], build_levels(SPACE.editor, actions, jax.random.split(jax.random.key(0), 1)))
    m = np.asarray(level.map_data)
    assert m[1:-1, 1:-1].sum() == 1 and m[5, 5] == 1
    np.testing.assert_allclose(level.agent_pos[0], [1.5, 1.5])
    np.testing.assert_allclose(level.goal_pos[0], [9.5, 9.5])
    cells = [cell(p) for p in np.concatenate([level.agent_pos, level.goal_pos])]
    assert len(set(cells)) == 2 * N and all(m[c] == 0 for c in cells)


def straight_agent():
    """An ``Agent`` that drives every robot straight ahead at full speed (deterministically)."""
    from ued.agents.networks import Agent

    def apply(params, carry, obs, resets):
        t, b = resets.shape
        return carry, (jnp.broadcast_to(jnp.array([1.0, 0.0]), (t, b, 2)), jnp.full((t, b, 2), -20.0)), jnp.zeros((t, b))

    return Agent(init=lambda key, obs: {}, initial_carry=lambda b: (), apply=apply,
                 sample=lambda key, dist: dist[0], greedy=lambda dist: dist[0],
                 log_prob=lambda dist, a: jnp.zeros(a.shape[:-1]), entropy=lambda dist: jnp.zeros(dist[0].shape[:-1]))


def lanes(blocked_lanes=()):
    """Four robots in lanes of an open map driving east to goals two to five cells ahead; a block
    right in front of the robots of ``blocked_lanes``."""
    rows = jnp.array([1.5, 3.5, 5.5, 7.5])
    m = jnp.ones((11, 11), jnp.int32).at[1:-1, 1:-1].set(0)
    for lane in blocked_lanes:
        m = m.at[int(rows[lane]), 2].set(1)
    return JaxNavLevel(map_data=m, agent_pos=jnp.stack([jnp.full(4, 1.5), rows], 1), agent_theta=jnp.zeros(4),
                       goal_pos=jnp.stack([jnp.array([3.5, 4.5, 5.5, 6.5]), rows], 1))


def test_the_agent_axis_through_rollout_scores_and_evaluators():
    """The robots of a level are folded level-major into the rollout's columns; a level's success
    is the fraction of its robots that reached their goals, in the rollout's scores, the held-out
    evaluator and the CVaR evaluator alike."""
    from ued.evaluate.cvar import make_success_evaluator
    from ued.evaluate.heldout import make_level_evaluator
    from ued.rollout import make_rollout_fn
    from ued.scores import learnability

    agent = straight_agent()
    levels = jax.tree.map(lambda *x: jnp.stack(x), lanes(), lanes(blocked_lanes=(2, 3)))
    ro, traj, info = jax.jit(make_rollout_fn(SPACE.env, agent, 0.99, 0.95), static_argnums=3)({}, levels,
                                                                                                jax.random.key(0), 60)
    assert ro.agents == N and ro.rewards.shape == (60, 2 * N) and traj.obs.shape == (60, 2 * N, 205)
    first_episode = np.cumsum(np.asarray(ro.dones), axis=0) - np.asarray(ro.dones) == 0
    reached = (np.asarray(ro.solved) & first_episode).any(axis=0)
    np.testing.assert_array_equal(reached, [True] * 4 + [True, True, False, False])
    np.testing.assert_allclose(learnability().compute(ro, levels, {}).scores, [0.0, 0.25])

    solve = make_level_evaluator(SPACE.env, agent, num_attempts=2)({}, levels, jax.random.key(1))
    np.testing.assert_allclose(solve["greedy"]["solve_rate"], [1.0, 0.5])
    assert "trace" not in solve  # episode renders are for one-agent grid levels
    success = jax.jit(make_success_evaluator(SPACE.env, agent, num_episodes=3, parallel_episodes=4))
    np.testing.assert_allclose(success({}, levels, jax.random.key(2)), [1.0, 0.5])


def test_a_level_with_one_robot_on_a_block_is_not_played(levels):
    level = jax.tree.map(lambda x: x[0], levels)
    bad = level.replace(agent_pos=level.agent_pos.at[N - 1].set(jnp.array([0.5, 0.5])))  # the border
    for lv, invalid in ((level, False), (bad, True)):
        _, state = SPACE.env.reset_to_level(jax.random.key(0), lv, PARAMS)
        _, _, r, done, info = jax.jit(SPACE.env.step)(jax.random.key(1), state, jnp.zeros((N, 2)), PARAMS)
        assert np.asarray(info["invalid_level"]).tolist() == [invalid] * N
        if invalid:
            assert np.all(np.asarray(done)) and np.all(np.asarray(r) == 0) and not np.any(np.asarray(info["solved"]))
