"""JaxNav through jaxmarl: dynamics match the package, generator/mutator/solvability, training."""

import collections
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.extras import require

require("jaxmarl", "jaxnav")

from jaxmarl.environments.jaxnav import jaxnav_singletons  # noqa: E402
from jaxmarl.environments.jaxnav.jaxnav_env import JaxNav  # noqa: E402

from ued.envs.jaxnav import (HELD_OUT, JaxNavLevel, grid_distance, jaxnav_level_space,  # noqa: E402
                             jaxnav_level_stats)

SPACE = jaxnav_level_space(max_steps=60)
PARAMS = SPACE.env.default_params


@pytest.fixture(scope="module")
def levels():
    return jax.jit(jax.vmap(SPACE.generator.sample))(jax.random.split(jax.random.key(0), 256))


def test_reset_and_step_match_the_package_on_the_same_level():
    pkg = JaxNav(num_agents=1, act_type="Continuous", map_id="Grid-Rand-Poly",
                 map_params={"map_size": (11, 11), "fill": 0.5}, max_steps=60, lidar_num_beams=200)
    reset, step = jax.jit(SPACE.env.reset_to_level), jax.jit(SPACE.env.step)
    pkg_step = jax.jit(pkg.step)
    compared = 0
    for seed in range(3):
        pkg_obs, pkg_state = pkg.reset(jax.random.key(seed))  # the package's own random level
        level = JaxNavLevel(map_data=pkg_state.map_data, agent_pos=pkg_state.pos[0], agent_theta=pkg_state.theta[0],
                            goal_pos=pkg_state.goal[0])
        obs, state = reset(jax.random.key(99), level, PARAMS)
        np.testing.assert_allclose(obs, pkg_obs["agent_0"], rtol=1e-6)
        actions = jax.random.uniform(jax.random.key(seed + 10), (40, 2), minval=jnp.array([0.0, -0.6]),
                                     maxval=jnp.array([1.0, 0.6]))
        for t, a in enumerate(actions):
            k = jax.random.fold_in(jax.random.key(seed), t)
            pkg_obs, pkg_next, pkg_rew, pkg_done, pkg_info = pkg_step(k, pkg_state, {"agent_0": a})
            obs, state, rew, done, info = step(k, state, a, PARAMS)
            compared += 1
            assert bool(done) == bool(pkg_done["__all__"])
            if done:  # the package's step auto-resets to a random level here; ued's does not
                assert float(rew) == pytest.approx(float(pkg_rew["agent_0"]), abs=1e-6)
                assert bool(info["solved"]) == bool(pkg_info["GoalR"][0])
                assert int(info["episode_length"]) == t + 1
                break
            np.testing.assert_allclose(obs, pkg_obs["agent_0"], rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(state.inner.pos, pkg_next.pos, rtol=1e-6)
            assert float(rew) == pytest.approx(float(pkg_rew["agent_0"]), abs=1e-6)
            assert not bool(info["solved"])
            pkg_state = pkg_next
    assert compared >= 40


def test_driving_to_the_goal_solves_the_level():
    level = JaxNavLevel(map_data=jnp.ones((11, 11), jnp.int32).at[1:-1, 1:-1].set(0), agent_pos=jnp.array([1.5, 1.5]),
                        agent_theta=jnp.float32(0.0), goal_pos=jnp.array([4.5, 1.5]))
    obs, state = SPACE.env.reset_to_level(jax.random.key(0), level, PARAMS)
    step = jax.jit(SPACE.env.step)
    for t in range(60):
        obs, state, rew, done, info = step(jax.random.key(t), state, jnp.array([1.0, 0.0]), PARAMS)
        if done:
            break
    assert bool(done) and bool(info["solved"]) and float(rew) > 1.0  # the goal reward (4) minus step costs
    assert 20 < int(info["episode_length"]) < 40  # 2.5 m at <= 1 m/s, dt 0.1 s, from standstill


def test_generated_levels_are_valid(levels):
    m = np.asarray(levels.map_data)
    assert m.shape == (256, 11, 11)
    assert (m[:, 0] == 1).all() and (m[:, -1] == 1).all() and (m[:, :, 0] == 1).all() and (m[:, :, -1] == 1).all()
    blocks = m[:, 1:-1, 1:-1].sum(axis=(1, 2))
    assert blocks.max() <= int(0.6 * 81) and blocks.min() >= 0 and len(np.unique(blocks)) > 20
    for lv_map, start, goal in zip(m, np.asarray(levels.agent_pos), np.asarray(levels.goal_pos)):
        s, g = np.floor(start[::-1]).astype(int), np.floor(goal[::-1]).astype(int)
        assert lv_map[s[0], s[1]] == 0 and lv_map[g[0], g[1]] == 0 and (s != g).any()


def python_bfs(grid, start, goal):
    h, w = grid.shape
    dist = {tuple(start): 0}
    queue = collections.deque([tuple(start)])
    while queue:
        r, c = queue.popleft()
        if (r, c) == tuple(goal):
            return dist[(r, c)]
        for dr, dc in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            n = (r + dr, c + dc)
            if 0 <= n[0] < h and 0 <= n[1] < w and grid[n] == 0 and n not in dist:
                dist[n] = dist[(r, c)] + 1
                queue.append(n)
    return -1


def test_the_solvability_filter_matches_a_python_bfs(levels):
    stats = jax.device_get(jax.jit(jaxnav_level_stats)(levels))
    solvable = 0
    for i in range(64):
        grid = np.asarray(levels.map_data[i])
        s = np.floor(np.asarray(levels.agent_pos[i])[::-1]).astype(int)
        g = np.floor(np.asarray(levels.goal_pos[i])[::-1]).astype(int)
        expected = python_bfs(grid, s, g)
        assert stats["solvable"][i] == (expected >= 0)
        if expected >= 0:
            solvable += 1
            assert stats["shortest_path"][i] == expected
        else:
            assert np.isnan(stats["shortest_path"][i])
    assert 10 < solvable < 64  # both kinds occur
    assert int(grid_distance(jnp.zeros((5, 5), jnp.int32), jnp.array([0, 0]), jnp.array([4, 4]))) == 8


def test_mutations_stay_valid_and_within_the_edit_budget(levels):
    children = jax.jit(jax.vmap(SPACE.mutator.mutate))(jax.random.split(jax.random.key(1), 256), levels)
    changed = np.asarray(children.map_data != levels.map_data).sum(axis=(1, 2))
    moved = np.any(np.asarray(children.goal_pos != levels.goal_pos), axis=1)
    assert changed.max() <= 5 and (changed > 0).mean() > 0.5 and moved.mean() > 0.3
    m = np.asarray(children.map_data)
    assert (m[:, 0] == 1).all() and (m[:, :, -1] == 1).all()  # the border is never edited
    for lv_map, start, goal in zip(m, np.asarray(children.agent_pos), np.asarray(children.goal_pos)):
        s, g = np.floor(start[::-1]).astype(int), np.floor(goal[::-1]).astype(int)
        assert lv_map[s[0], s[1]] == 0 and lv_map[g[0], g[1]] == 0
    np.testing.assert_array_equal(children.agent_pos, levels.agent_pos)


def test_the_packages_test_cases_are_the_named_levels():
    assert SPACE.held_out_names == HELD_OUT
    for i, name in enumerate(HELD_OUT):
        case = getattr(jaxnav_singletons, name)(num_agents=1)
        h, w = np.asarray(case.map_data).shape
        np.testing.assert_array_equal(SPACE.held_out.map_data[i, :h, :w], case.map_data)
        assert (np.asarray(SPACE.held_out.map_data[i, h:]) == 1).all()
        np.testing.assert_allclose(SPACE.held_out.agent_pos[i], np.asarray(case.start_pose)[0, :2])
        np.testing.assert_allclose(SPACE.held_out.goal_pos[i], np.asarray(case.goal_pose)[0, :2])
    assert (np.asarray(jaxnav_level_stats(SPACE.held_out)["solvable"]) == 1).all()


def test_a_missing_package_names_the_install_command(monkeypatch):
    import ued.envs.jaxnav as mod

    monkeypatch.setitem(sys.modules, "jaxmarl.environments.jaxnav", None)
    with pytest.raises(ImportError, match=r"pip install -e '.\[jaxnav\]'"):
        mod.jaxnav_level_space()


def test_the_paired_editor_builds_valid_levels():
    from ued.curricula.paired import build_levels

    editor = SPACE.editor
    assert (editor.height, editor.width) == (9, 9)
    # goal at interior cell 80 (x 8, y 8), agent at 0, walls at 40 (the centre) and 80 (the goal: ignored)
    actions = jnp.array([[80], [0], [40], [80]])
    level = jax.tree.map(lambda x: x[0], build_levels(editor, actions, jax.random.split(jax.random.key(0), 1)))
    m = np.asarray(level.map_data)
    assert m.shape == (11, 11) and m[1:-1, 1:-1].sum() == 1 and m[5, 5] == 1
    assert (m[0] == 1).all() and (m[:, 0] == 1).all() and (m[-1] == 1).all() and (m[:, -1] == 1).all()
    np.testing.assert_allclose(level.agent_pos, [1.5, 1.5])
    np.testing.assert_allclose(level.goal_pos, [9.5, 9.5])
    assert float(jaxnav_level_stats(jax.tree.map(lambda x: x[None], level))["shortest_path"][0]) == 16


@pytest.mark.parametrize("change", ["start on a block", "goal outside", "start not finite"])
def test_an_invalid_level_is_not_played(levels, change):
    from ued.envs.jaxnav import valid_level

    level = jax.tree.map(lambda x: x[0], levels)
    assert bool(valid_level(level))
    level = {"start on a block": lambda lv: lv.replace(agent_pos=jnp.array([0.5, 0.5])),  # the border
             "goal outside": lambda lv: lv.replace(goal_pos=jnp.array([11.5, 3.5])),
             "start not finite": lambda lv: lv.replace(agent_theta=jnp.float32(jnp.inf))}[change](level)
    _, state = SPACE.env.reset_to_level(jax.random.key(0), level, PARAMS)
    _, _, r, done, info = jax.jit(SPACE.env.step)(jax.random.key(1), state, jnp.array([1.0, 0.0]), PARAMS)
    assert not bool(valid_level(level)) and bool(done) and float(r) == 0.0
    assert bool(info["invalid_level"]) and not bool(info["solved"]) and int(info["episode_length"]) == 1
