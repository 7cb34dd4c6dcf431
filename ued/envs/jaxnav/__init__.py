"""JaxNav (single robot) as a ued level space, through the ``jaxmarl`` package (``pip install -e '.[jaxnav]'``).

JaxNav (Rutherford et al., 2024, "No Regrets") is continuous-action robot navigation: a
differential-drive robot with a 200-beam LiDAR drives to a goal on an occupancy grid. A
level is the grid (``H x W``, border blocked, interior blocks), the start pose and the goal.

What we use from jaxmarl 0.2.0: the ``JaxNav`` environment's own dynamics, observations and
rewards (``step_env``), and its environment-instance mechanism (``set_env_instance`` with an
``EnvInstance``) to reset to a level. Its ``reset_to_level`` is broken in 0.2.0 (it builds a
``State`` without ``goal_reached``/``move_term``) and its ``step`` auto-resets to a *random*
level, so neither is used; ued's ``auto_replay`` wrapper resets to the same level instead.
The named held-out levels are the package's single-robot test cases (``BlankTest``,
``MiddleTest``, ``SingleNav1``-``3``), padded with blocks to the generator's grid size.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from ued.envs.episodes import EpisodeState, begin_episode, end_step
from ued.types import Box, GridEditor, LevelEnv, LevelGenerator, LevelSpace, Mutator
from ued.utils import check_positive_int, repeated_edits

INSTALL = "pip install -e '.[jaxnav]'  (or: pip install jaxmarl==0.2.0)"
HELD_OUT = ("BlankTest", "MiddleTest", "SingleNav1", "SingleNav2", "SingleNav3")


def _jaxmarl():
    try:
        from jaxmarl.environments.jaxnav import jaxnav_singletons
        from jaxmarl.environments.jaxnav.jaxnav_env import EnvInstance, JaxNav
    except ImportError as e:
        raise ImportError(f"env=jaxnav needs the jaxmarl package, which is not installed: {INSTALL}") from e
    return JaxNav, EnvInstance, jaxnav_singletons


@struct.dataclass
class JaxNavLevel:
    """A JaxNav level.

    Attributes:
        map_data: int32 ``(H, W)``, 1 where a cell is blocked (the border always is).
        agent_pos: float32 ``(2,)``, start ``(x, y)`` in cell units (cell ``(r, c)`` spans
            ``x in [c, c+1)``, ``y in [r, r+1)``).
        agent_theta: float32 ``()``, start heading in radians.
        goal_pos: float32 ``(2,)``, goal ``(x, y)``.
    """

    map_data: jax.Array
    agent_pos: jax.Array
    agent_theta: jax.Array
    goal_pos: jax.Array


JaxNavState = EpisodeState  # ``inner``: the package's ``State``; ``level``: a ``JaxNavLevel``


def valid_level(level: JaxNavLevel) -> jax.Array:
    """bool ``()``: positions and heading finite, every start and goal inside the map on a free
    cell (one robot's ``(2,)`` or several robots' ``(N, 2)``)."""
    h, w = level.map_data.shape

    def free(pos):  # (..., 2) (x, y) -> (...,)
        x, y = pos[..., 0], pos[..., 1]
        inside = jnp.isfinite(x) & jnp.isfinite(y) & (x >= 0) & (x < w) & (y >= 0) & (y < h)
        r = jnp.clip(jnp.floor(y), 0, h - 1).astype(jnp.int32)
        c = jnp.clip(jnp.floor(x), 0, w - 1).astype(jnp.int32)
        return inside & (level.map_data[r, c] == 0)

    return (jnp.all(free(jnp.asarray(level.agent_pos, jnp.float32))) & jnp.all(free(jnp.asarray(level.goal_pos, jnp.float32)))
            & jnp.all(jnp.isfinite(level.agent_theta)))


@struct.dataclass
class JaxNavParams:
    """``max_steps`` is the package env's time limit (static: it is set when the env is built)."""

    max_steps: int = struct.field(pytree_node=False, default=500)


def _cell(pos):
    return jnp.floor(pos[::-1]).astype(jnp.int32)  # (x, y) -> (row, col)


def _centre(index, width: int):
    """The ``(x, y)`` centre of the cell with this flat (row-major) index."""
    return jnp.stack([index % width, index // width]).astype(jnp.float32) + 0.5


def grid_distance(map_data, start_cell, goal_cell):
    """Shortest 4-connected path length in cells between two free cells, or -1 (jittable).

    A robot of radius 0.3 cannot squeeze diagonally between blocks that touch at a corner, so
    4-connectivity is the path-existence test used to filter evaluation levels.
    """
    h, w = map_data.shape
    free = map_data == 0
    reached = jnp.zeros((h, w), bool).at[start_cell[0], start_cell[1]].set(True) & free

    def grow(r):
        n = r
        n = n | jnp.pad(r[1:], ((0, 1), (0, 0))) | jnp.pad(r[:-1], ((1, 0), (0, 0)))
        n = n | jnp.pad(r[:, 1:], ((0, 0), (0, 1))) | jnp.pad(r[:, :-1], ((0, 0), (1, 0)))
        return n & free

    def body(c):
        r, d, found = c
        hit = r[goal_cell[0], goal_cell[1]]
        found = jnp.where((found < 0) & hit, d, found)
        return grow(r), d + 1, found

    def cond(c):
        return (c[2] < 0) & (c[1] <= h * w)

    return jax.lax.while_loop(cond, body, (reached, jnp.int32(0), jnp.int32(-1)))[2]


def map_capacity(map_size: int, fill: float) -> int:
    """The most interior blocks a random map of this size and fill has, ``floor(fill * (map_size - 2)^2)``.

    Raises:
        ValueError: a map size below 4 or a fill outside [0, 1).
    """
    if not isinstance(map_size, int) or map_size < 4:
        raise ValueError(f"map_size must be an integer >= 4, got {map_size!r}")
    if not 0.0 <= fill < 1.0:
        raise ValueError(f"fill must be in [0, 1), got {fill!r}")
    return int(np.floor(fill * (map_size - 2) ** 2))


def random_map(k_count, k_cells, map_size: int, max_blocks: int):
    """int32 ``(map_size, map_size)``: the border blocked and a uniformly random number of interior
    blocks in ``[0, max_blocks]`` at uniformly random cells (the SFL paper's map distribution)."""
    inner = (map_size - 2) ** 2
    n = jax.random.randint(k_count, (), 0, max_blocks + 1)
    blocks = (jax.random.permutation(k_cells, inner) < n).reshape(map_size - 2, map_size - 2)
    return jnp.ones((map_size, map_size), jnp.int32).at[1:-1, 1:-1].set(blocks.astype(jnp.int32))


def jaxnav_generator(map_size: int = 11, fill: float = 0.6) -> LevelGenerator:
    """Random JaxNav levels (domain randomisation), after the SFL paper's setting.

    The ``(map_size - 2)^2`` interior gets a uniformly random number of blocks in
    ``[0, floor(fill * interior)]`` at random cells; start and goal are distinct free cells
    (at cell centres), the heading is uniform. Levels are not filtered for solvability (DR
    includes unsolvable levels; the evaluator filters with ``level_stats``).
    """
    max_blocks = map_capacity(map_size, fill)

    def sample(key):
        k_n, k_perm, k_start, k_goal, k_theta = jax.random.split(key, 5)
        map_data = random_map(k_n, k_perm, map_size, max_blocks)
        free = (map_data == 0).reshape(-1)
        start = jax.random.categorical(k_start, jnp.where(free, 0.0, -jnp.inf))
        goal = jax.random.categorical(k_goal, jnp.where(free & (jnp.arange(free.size) != start), 0.0, -jnp.inf))
        return JaxNavLevel(map_data=map_data, agent_pos=_centre(start, map_size),
                           agent_theta=jax.random.uniform(k_theta, (), jnp.float32, -jnp.pi, jnp.pi),
                           goal_pos=_centre(goal, map_size))

    return LevelGenerator(sample=sample)


def jaxnav_mutator(num_edits: int = 5) -> Mutator:
    """ACCEL edits: each of ``num_edits`` edits flips an interior cell (never the start or
    goal cell) or moves the goal to a random free cell, with equal probability."""
    check_positive_int(num_edits, "num_edits")

    def edit(level: JaxNavLevel, key):
        h, w = level.map_data.shape
        k_kind, k_cell, k_goal = jax.random.split(key, 3)
        start, goal = _cell(level.agent_pos), _cell(level.goal_pos)
        rows, cols = jnp.arange(h)[:, None], jnp.arange(w)[None, :]
        interior = (rows > 0) & (rows < h - 1) & (cols > 0) & (cols < w - 1)
        protected = ((rows == start[0]) & (cols == start[1])) | ((rows == goal[0]) & (cols == goal[1]))
        flippable = (interior & ~protected).reshape(-1)
        cell = jax.random.categorical(k_cell, jnp.where(flippable, 0.0, -jnp.inf))
        flipped = level.map_data.reshape(-1).at[cell].set(1 - level.map_data.reshape(-1)[cell]).reshape(h, w)
        free = ((level.map_data == 0) & ~protected).reshape(-1)
        g = jax.random.categorical(k_goal, jnp.where(free, 0.0, -jnp.inf))
        new_goal = jnp.where(jnp.any(free), _centre(g, w), level.goal_pos)
        flip = jax.random.bernoulli(k_kind)
        return level.replace(map_data=jnp.where(flip, flipped, level.map_data),
                             goal_pos=jnp.where(flip, level.goal_pos, new_goal)), None

    return repeated_edits(edit, num_edits)


def jaxnav_editor(map_size: int = 11) -> GridEditor:
    """PAIRED's editor for JaxNav: the adversary edits the ``(map_size - 2)^2`` interior (the
    border stays blocked); start and goal at the chosen cells' centres, a random heading."""
    inner = map_size - 2

    def build(walls, goal, agent, key, heading=None):  # a continuous heading: always drawn
        map_data = jnp.ones((map_size, map_size), jnp.int32).at[1:-1, 1:-1].set(walls.astype(jnp.int32))
        centre = lambda xy: xy.astype(jnp.float32) + 1.5  # interior cell (x, y) -> map coordinates
        return JaxNavLevel(map_data=map_data, agent_pos=centre(agent),
                           agent_theta=jax.random.uniform(key, (), jnp.float32, -jnp.pi, jnp.pi), goal_pos=centre(goal))

    return GridEditor(height=inner, width=inner, build=build)


def make_jaxnav(map_size: int = 11, max_steps: int = 500, lidar_num_beams: int = 200, **jaxnav_kwargs):
    """The single-robot JaxNav env as a ``LevelEnv``, and the package's env object.

    Args:
        map_size: grid size the package's map object is built for (levels must match it).
        max_steps: episode time limit.
        lidar_num_beams: LiDAR beams (the observation is beams + 5 state features).
        **jaxnav_kwargs: any other ``jaxmarl`` ``JaxNav`` argument (rewards, dynamics).

    A level whose start or goal is outside the map or on a blocked cell (``valid_level``) is not
    played: its first step ends the episode with reward 0 and ``info["invalid_level"]`` True.
    """
    JaxNav, EnvInstance, _ = _jaxmarl()
    env = JaxNav(num_agents=1, act_type="Continuous", map_id="Grid-Rand-Poly",
                 map_params={"map_size": (map_size, map_size), "fill": 0.5}, max_steps=max_steps,
                 lidar_num_beams=lidar_num_beams, **jaxnav_kwargs)
    agent = env.agents[0]
    rew_lambda = jnp.float32(env.rew_lambda)

    def canon(st):  # fixed dtypes, so states can be scan carries
        return st.replace(step=jnp.asarray(st.step, jnp.int32), ep_done=jnp.asarray(st.ep_done, jnp.bool_),
                          rew_lambda=jnp.asarray(st.rew_lambda, jnp.float32))

    def reset_to_level(key, level: JaxNavLevel, params: JaxNavParams):
        del key, params  # deterministic given the level
        inst = EnvInstance(agent_pos=level.agent_pos[None].astype(jnp.float32),
                           agent_theta=jnp.asarray(level.agent_theta, jnp.float32)[None],
                           goal_pos=level.goal_pos[None].astype(jnp.float32),
                           map_data=level.map_data.astype(jnp.int32), rew_lambda=rew_lambda)
        obs, st = env.set_env_instance(inst)
        return obs[agent], begin_episode(canon(st), level)

    def step(key, state: EpisodeState, action, params: JaxNavParams):
        obs, st, reward, dones, info = env.step_env(key, state.inner, {agent: jnp.asarray(action, jnp.float32)})
        state, r, done, out = end_step(state, canon(st), reward[agent], dones["__all__"], info["GoalR"][0],
                                       valid_level(state.level), collision=jnp.asarray(info["MapC"][0], jnp.bool_))
        return obs[agent], state, r, done, out

    level_env = LevelEnv(reset_to_level=reset_to_level, step=step, default_params=JaxNavParams(max_steps=max_steps),
                         action_space=Box(low=(env.min_v, -env.max_w), high=(env.max_v, env.max_w), shape=(2,)),
                         get_level=lambda s: s.level, name="jaxnav", max_episode_steps=int(max_steps))
    return level_env, env


def named_levels(names: Sequence[str] = HELD_OUT, map_size: int = 11) -> JaxNavLevel:
    """The package's single-robot test cases as levels (leading axis ``N``), padded with blocks."""
    _, _, singletons = _jaxmarl()
    out = []
    for name in names:
        cls = getattr(singletons, name, None)
        if cls is None or not isinstance(cls, type):
            raise ValueError(f"unknown JaxNav test case {name!r}; single-robot ones: {', '.join(HELD_OUT)}")
        case = cls(num_agents=1)
        m = np.asarray(case.map_data, np.int32)
        if m.shape[0] > map_size or m.shape[1] > map_size:
            raise ValueError(f"test case {name} is {m.shape}, larger than map_size={map_size}")
        padded = np.ones((map_size, map_size), np.int32)
        padded[: m.shape[0], : m.shape[1]] = m
        start, goal = np.asarray(case.start_pose, np.float32)[0], np.asarray(case.goal_pose, np.float32)[0]
        out.append(JaxNavLevel(map_data=jnp.asarray(padded), agent_pos=jnp.asarray(start[:2]),
                               agent_theta=jnp.float32(start[2]), goal_pos=jnp.asarray(goal[:2])))
    return jax.tree.map(lambda *x: jnp.stack(x), *out)


def jaxnav_level_stats(levels: JaxNavLevel) -> dict:
    """``{"walls", "shortest_path", "solvable"}`` ``(B,)``: interior blocks, 4-connected cell
    path length from start to goal (NaN when none) and whether one exists."""
    d = jax.vmap(lambda lv: grid_distance(lv.map_data, _cell(lv.agent_pos), _cell(lv.goal_pos)))(levels)
    inner = levels.map_data[:, 1:-1, 1:-1]
    return {"walls": jnp.sum(inner, axis=(1, 2)).astype(jnp.float32),
            "shortest_path": jnp.where(d >= 0, d.astype(jnp.float32), jnp.nan),
            "solvable": (d >= 0).astype(jnp.float32)}


def render_level(level: JaxNavLevel, tile: int = 12):
    """uint8 ``(H*tile, W*tile, 3)``: blocks dark, free cells light, start blue, goal green."""
    h, w = level.map_data.shape
    ys, xs = jnp.meshgrid(jnp.arange(h * tile), jnp.arange(w * tile), indexing="ij")
    px, py = (xs + 0.5) / tile, (ys + 0.5) / tile
    blocked = level.map_data[ys // tile, xs // tile] == 1
    img = jnp.where(blocked[..., None], jnp.array([60, 60, 60]), jnp.array([235, 235, 235]))
    near = lambda p, r: (px - p[0]) ** 2 + (py - p[1]) ** 2 <= r**2
    img = jnp.where(near(level.goal_pos, 0.5)[..., None], jnp.array([60, 180, 75]), img)
    img = jnp.where(near(level.agent_pos, 0.3)[..., None], jnp.array([40, 90, 220]), img)
    heading = level.agent_pos + 0.3 * jnp.stack([jnp.cos(level.agent_theta), jnp.sin(level.agent_theta)])
    img = jnp.where(near(heading, 0.12)[..., None], jnp.array([250, 250, 250]), img)
    return img.astype(jnp.uint8)


def jaxnav_level_space(map_size: int = 11, fill: float = 0.6, max_steps: int = 500, num_edits: int = 5,
                       held_out: Sequence[str] | None = HELD_OUT, lidar_num_beams: int = 200,
                       **jaxnav_kwargs) -> LevelSpace:
    """The single-robot JaxNav level space (``env=jaxnav``).

    Args:
        map_size: grid side (11 in the SFL paper: a 9x9 interior).
        fill: at most this fraction of interior cells is blocked (0.6 in the paper).
        max_steps: episode time limit.
        num_edits: ACCEL edits per mutation.
        held_out: the package's test cases to evaluate on (None for none).
        lidar_num_beams: LiDAR beams.
        **jaxnav_kwargs: passed to the package's ``JaxNav``.

    Raises:
        ImportError: jaxmarl is not installed (the message gives the install command).
    """
    env, _ = make_jaxnav(map_size, max_steps, lidar_num_beams, **jaxnav_kwargs)
    names = tuple(held_out or ())
    return LevelSpace(env=env, generator=jaxnav_generator(map_size, fill), mutator=jaxnav_mutator(num_edits),
                      held_out=named_levels(names, map_size) if names else None, held_out_names=names,
                      level_stats=jaxnav_level_stats, render=render_level, name="jaxnav",
                      editor=jaxnav_editor(map_size))


__all__ = ["HELD_OUT", "JaxNavLevel", "JaxNavParams", "JaxNavState", "grid_distance", "jaxnav_editor", "jaxnav_generator",
           "jaxnav_level_space", "jaxnav_level_stats", "jaxnav_mutator", "make_jaxnav", "named_levels", "render_level",
           "valid_level"]

from ued.envs.jaxnav.multi import (HELD_OUT_MULTI, jaxnav_multi_level_space, jaxnav_multi_level_stats,  # noqa: E402
                                   make_jaxnav_multi, named_multi_levels)

__all__ += ["HELD_OUT_MULTI", "jaxnav_multi_level_space", "jaxnav_multi_level_stats", "make_jaxnav_multi",
            "named_multi_levels"]
