import collections
import functools

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ued.envs.maze import distance_map, parse_level, random_maze_generator, solve
from ued.envs.maze.level import DIR_TO_VEC
from ued.envs.maze.solver import UNREACHABLE

SHAPES = [(4, 4), (5, 7)]


def bfs(walls, goal, start):
    """Plain breadth-first search over poses with left, right and forward."""
    h, w = walls.shape
    dist = {start: 0}
    queue = collections.deque([start])
    while queue:
        x, y, d = pose = queue.popleft()
        dx, dy = DIR_TO_VEC[d]
        fx, fy = x + dx, y + dy
        if (fx, fy) == goal:
            return dist[pose] + 1
        nexts = [(x, y, (d + 3) % 4), (x, y, (d + 1) % 4)]
        if 0 <= fx < w and 0 <= fy < h and not walls[fy, fx]:
            nexts.append((fx, fy, d))
        for n in nexts:
            if n not in dist:
                dist[n] = dist[pose] + 1
                queue.append(n)
    return None


@functools.lru_cache(maxsize=None)
def batch_solver(shape):
    gen = random_maze_generator(*shape, n_walls=shape[0] * shape[1] // 2, sample_n_walls=True)

    @jax.jit
    def run(key):
        levels = jax.vmap(gen.sample)(jax.random.split(key, 32))
        return levels, jax.vmap(solve)(levels), jax.vmap(distance_map)(levels)

    return run


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**30), shape_index=st.integers(0, len(SHAPES) - 1))
def test_solver_agrees_with_breadth_first_search(seed, shape_index):
    levels, sol, dists = jax.device_get(batch_solver(SHAPES[shape_index])(jax.random.key(seed)))
    for i in range(32):
        walls = np.asarray(levels.wall_map[i])
        goal = tuple(int(v) for v in levels.goal_pos[i])
        start = (int(levels.agent_pos[i][0]), int(levels.agent_pos[i][1]), int(levels.agent_dir[i]))
        expected = bfs(walls, goal, start)
        if expected is None:
            assert not sol.is_solvable[i] and np.isinf(sol.min_steps[i])
            assert sol.optimal_return[i] == 0
        else:
            assert sol.is_solvable[i] and sol.min_steps[i] == expected
            np.testing.assert_allclose(sol.optimal_return[i], 1 - 0.9 * expected / 250, rtol=1e-6)
        # Every pose of the distance map, not only the start.
        h, w = walls.shape
        for y in range(h):
            for x in range(w):
                for d in range(4):
                    got = int(dists[i][y, x, d])
                    if walls[y, x] or (x, y) == goal:
                        assert got == UNREACHABLE
                        continue
                    want = bfs(walls, goal, (x, y, d))
                    assert got == (UNREACHABLE if want is None else want)


def test_unsolvable_and_over_time_limit():
    walled_in = parse_level(">#G")
    sol = solve(walled_in)
    assert not bool(sol.is_solvable) and float(sol.min_steps) == float("inf")
    far = parse_level(">........G")
    assert float(solve(far).min_steps) == 9
    assert float(solve(far, max_steps=8).optimal_return) == 0.0  # solvable, but not in time
    np.testing.assert_allclose(float(solve(far, max_steps=9).optimal_return), 0.1, rtol=1e-6)


def test_turning_counts_as_steps():
    level = parse_level("""
        <.
        .G
    """)
    # Facing west at (0,0): turn left (south), forward to (0,1), turn left (east), forward into the goal.
    assert float(solve(level).min_steps) == 4
