"""Shortest paths in the maze with the three movement actions (left, right, forward).

The search runs backwards from the goal over *poses* (cell and direction): ``dist[y, x, d]``
is the minimum number of actions that solve the level from pose ``(x, y, d)``, counting the
final forward step into the goal. It is a jittable fixed-point iteration (a breadth-first
search done in parallel over all poses), so it vmaps over batches of levels.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from ued.envs.maze.env import ACTION_FORWARD, ACTION_LEFT, ACTION_RIGHT
from ued.envs.maze.level import DIR_TO_VEC, MazeLevel

UNREACHABLE = jnp.iinfo(jnp.int32).max // 2  # sentinel distance of an unsolvable pose


class Solution(NamedTuple):
    """The solver's answer for one level (batched under vmap).

    Attributes:
        min_steps: float32 ``()``, the minimum number of steps to solve the level from its
            start pose; ``inf`` when unsolvable.
        optimal_return: float32 ``()``, ``1 - 0.9 * min_steps / max_steps`` when
            ``min_steps <= max_steps``, else 0.
        is_solvable: bool ``()``, whether the goal can be reached at all.
    """

    min_steps: jax.Array
    optimal_return: jax.Array
    is_solvable: jax.Array


def _front(grid: jax.Array, d: int, fill) -> jax.Array:
    """``out[y, x] = grid[y + dy, x + dx]`` for direction ``d``, ``fill`` outside the array."""
    dx, dy = (int(v) for v in DIR_TO_VEC[d])
    padded = jnp.pad(grid, 1, constant_values=fill)
    h, w = grid.shape
    return jax.lax.dynamic_slice(padded, (1 + dy, 1 + dx), (h, w))


def distance_map(level: MazeLevel) -> jax.Array:
    """Minimum steps to solve a single level from every pose.

    Args:
        level: a single level.

    Returns:
        int32 ``(H, W, 4)``; ``UNREACHABLE`` for poses that cannot reach the goal and for
        wall and goal cells (the agent never stands on either).
    """
    h, w = level.wall_map.shape
    ys, xs = jnp.arange(h)[:, None], jnp.arange(w)[None, :]
    blocked = level.wall_map | (xs >= level.width) | (ys >= level.height)
    is_goal = jnp.zeros((h, w), jnp.bool_).at[level.goal_pos[1], level.goal_pos[0]].set(True)
    no_stand = blocked | is_goal
    front_goal = jnp.stack([_front(is_goal, d, False) for d in range(4)], axis=-1)  # (H, W, 4)

    def relax(dist):
        ahead = jnp.stack([_front(dist[..., d], d, UNREACHABLE) for d in range(4)], axis=-1)
        forward = jnp.where(front_goal, 1, jnp.minimum(ahead + 1, UNREACHABLE))
        turns = jnp.minimum(jnp.roll(dist, 1, axis=-1), jnp.roll(dist, -1, axis=-1))
        new = jnp.minimum(dist, jnp.minimum(forward, jnp.minimum(turns + 1, UNREACHABLE)))
        return jnp.where(no_stand[..., None], UNREACHABLE, new)

    def cond(carry):
        dist, prev_changed, i = carry
        return prev_changed & (i < 4 * h * w + 1)

    def body(carry):
        dist, _, i = carry
        new = relax(dist)
        return new, jnp.any(new != dist), i + 1

    init = jnp.full((h, w, 4), UNREACHABLE, jnp.int32)
    dist, _, _ = jax.lax.while_loop(cond, body, (init, jnp.array(True), jnp.array(0)))
    return dist


def solve(level: MazeLevel, max_steps=250) -> Solution:
    """Solves a single level from its start pose.

    Args:
        level: a single level (vmap for a batch).
        max_steps: the episode time limit used for the optimal return.

    Returns:
        A ``Solution``.
    """
    dist = distance_map(level)
    d = dist[level.agent_pos[1], level.agent_pos[0], level.agent_dir]
    solvable = d < UNREACHABLE
    steps = jnp.where(solvable, d.astype(jnp.float32), jnp.inf)
    max_steps = jnp.asarray(max_steps, jnp.float32)
    ret = jnp.where(steps <= max_steps, 1.0 - 0.9 * steps / max_steps, 0.0)
    return Solution(min_steps=steps, optimal_return=ret.astype(jnp.float32), is_solvable=solvable)


def optimal_action(dist: jax.Array, pos: jax.Array, direction: jax.Array) -> jax.Array:
    """An optimal action from pose ``(pos, direction)`` given ``distance_map``'s output.

    Returns:
        int32 ``()``: forward when it reaches the goal or shortens the path, else the better
        turn (left on ties). From an unsolvable pose it returns forward.
    """
    x, y = pos[0], pos[1]
    here = dist[y, x, direction]
    h, w, _ = dist.shape
    front = pos + jnp.asarray(DIR_TO_VEC)[direction]
    fx, fy = front[0], front[1]
    inside = (fx >= 0) & (fx < w) & (fy >= 0) & (fy < h)
    ahead = jnp.where(inside, dist[jnp.clip(fy, 0, h - 1), jnp.clip(fx, 0, w - 1), direction], UNREACHABLE)
    left = dist[y, x, (direction + 3) % 4]
    right = dist[y, x, (direction + 1) % 4]
    go_forward = (here == 1) | (ahead == here - 1) | (here >= UNREACHABLE)
    turn = jnp.where(left <= right, ACTION_LEFT, ACTION_RIGHT)
    return jnp.where(go_forward, ACTION_FORWARD, turn).astype(jnp.int32)


def optimal_return_fn(max_steps: int = 250):
    """``level -> optimal return`` for ``ued.scores.oracle_regret`` (0 for unsolvable levels)."""
    return lambda level: solve(level, max_steps).optimal_return
