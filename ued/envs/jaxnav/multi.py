"""Multi-robot JaxNav (``env=jaxnav_multi``): ``N`` robots share a map, each with its own start
pose and goal, through the ``jaxmarl`` package (``pip install -e '.[jaxnav]'``).

The setting of Rutherford et al. 2024 ("No Regrets", NeurIPS), Section 7's multi-agent JaxNav:
the robots are trained with IPPO and one shared set of parameters (ued folds the agents into the
batch, ``ued.agents.seats``), the map generator, mutator and path check are the single-robot
ones extended to every robot, and the test sets use 4 robots. A level's success is the fraction
of its robots that reach their goals; its episode ends when every robot has reached its goal or
collided, or at the time limit (the package's non-evaporating mode: a robot keeps its outcome
once it has reached its goal or collided while the others drive on; every robot's reward mixes its
own with the team's mean, the package's ``rew_lambda``).

A level is a ``JaxNavLevel`` whose poses have a leading robot axis: ``agent_pos`` and
``goal_pos`` ``(N, 2)``, ``agent_theta`` ``(N,)``.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ued.envs.episodes import EpisodeState, begin_episode, end_step
from ued.envs.jaxnav import (JaxNavLevel, JaxNavParams, _cell, _centre, _jaxmarl, grid_distance, map_capacity,
                             random_map, valid_level)
from ued.types import Box, GridEditor, LevelEnv, LevelGenerator, LevelSpace, Mutator
from ued.utils import check_positive_int, repeated_edits

# the package's multi-robot test cases that fit an 11 x 11 map, by the number of robots they are drawn for
HELD_OUT_MULTI = {2: ("BlankCross2", "BlankCrossUneven2", "LongCorridor2", "Corner2"),
                  4: ("BlankCross4", "Corridor4", "Layby4"), 8: ("Corridor8",)}


def _distinct_free_cells(key, map_data, count: int):
    """``count`` distinct free cells of a map (flat indices), uniformly without replacement."""
    free = (map_data == 0).reshape(-1)
    noise = jax.random.gumbel(key, free.shape)
    return jax.lax.top_k(jnp.where(free, noise, -jnp.inf), count)[1]


def jaxnav_multi_generator(num_agents: int = 4, map_size: int = 11, fill: float = 0.6) -> LevelGenerator:
    """Random multi-robot levels: the single-robot map (a uniformly random number of interior
    blocks in ``[0, floor(fill * interior)]``) and ``2 N`` distinct free cells, the robots' starts
    and goals (cell centres), uniform headings. Not filtered for solvability.

    Raises:
        ValueError: a map whose fullest level leaves fewer than ``2 N`` free cells.
    """
    max_blocks = map_capacity(map_size, fill)
    inner = (map_size - 2) ** 2
    if inner - max_blocks < 2 * num_agents:
        raise ValueError(f"{num_agents} robots need {2 * num_agents} free cells for their starts and goals, and a "
                         f"{map_size}x{map_size} map filled up to {fill} may leave {inner - max_blocks}: "
                         "lower fill or num_agents, or raise map_size")

    def sample(key):
        k_n, k_perm, k_cells, k_theta = jax.random.split(key, 4)
        map_data = random_map(k_n, k_perm, map_size, max_blocks)
        cells = _distinct_free_cells(k_cells, map_data, 2 * num_agents)
        centres = jax.vmap(lambda i: _centre(i, map_size))(cells)
        return JaxNavLevel(map_data=map_data, agent_pos=centres[:num_agents],
                           agent_theta=jax.random.uniform(k_theta, (num_agents,), jnp.float32, -jnp.pi, jnp.pi),
                           goal_pos=centres[num_agents:])

    return LevelGenerator(sample=sample)


def _occupied(level: JaxNavLevel):
    """bool ``(H, W)``: the cells holding a robot's start or goal."""
    h, w = level.map_data.shape
    cells = jnp.concatenate([jax.vmap(_cell)(level.agent_pos), jax.vmap(_cell)(level.goal_pos)])
    return jnp.zeros((h, w), bool).at[cells[:, 0], cells[:, 1]].set(True)


def jaxnav_multi_mutator(num_edits: int = 5) -> Mutator:
    """ACCEL edits of multi-robot levels: each edit flips an interior cell that holds no start or
    goal, or moves one robot's goal (chosen uniformly) to a free cell holding no start or goal,
    with equal probability."""
    check_positive_int(num_edits, "num_edits")

    def edit(level: JaxNavLevel, key):
        h, w = level.map_data.shape
        k_kind, k_cell, k_goal, k_robot = jax.random.split(key, 4)
        rows, cols = jnp.arange(h)[:, None], jnp.arange(w)[None, :]
        interior = (rows > 0) & (rows < h - 1) & (cols > 0) & (cols < w - 1)
        protected = _occupied(level)
        flippable = (interior & ~protected).reshape(-1)
        cell = jax.random.categorical(k_cell, jnp.where(flippable, 0.0, -jnp.inf))
        flat = level.map_data.reshape(-1)
        flipped = flat.at[cell].set(1 - flat[cell]).reshape(h, w)
        free = ((level.map_data == 0) & ~protected).reshape(-1)
        g = jax.random.categorical(k_goal, jnp.where(free, 0.0, -jnp.inf))
        robot = jax.random.randint(k_robot, (), 0, level.goal_pos.shape[0])
        moved = level.goal_pos.at[robot].set(jnp.where(jnp.any(free), _centre(g, w), level.goal_pos[robot]))
        flip = jax.random.bernoulli(k_kind)
        return level.replace(map_data=jnp.where(flip, flipped, level.map_data),
                             goal_pos=jnp.where(flip, level.goal_pos, moved)), None

    return repeated_edits(edit, num_edits)


def jaxnav_multi_editor(num_agents: int = 4, map_size: int = 11) -> GridEditor:
    """PAIRED's editor for multi-robot JaxNav: the adversary designs the interior and robot 0's
    start and goal; the other robots' starts and goals are distinct free cells drawn with the
    editor's key (so PAIRED runs here, though its adversary shapes the other robots' tasks only
    through the map)."""
    inner = map_size - 2

    def build(walls, goal, agent, key, heading=None):  # continuous headings: always drawn
        map_data = jnp.ones((map_size, map_size), jnp.int32).at[1:-1, 1:-1].set(walls.astype(jnp.int32))
        centre = lambda xy: xy.astype(jnp.float32) + 1.5  # interior cell (x, y) -> map coordinates
        k_cells, k_theta = jax.random.split(key)
        taken = map_data.at[agent[1] + 1, agent[0] + 1].set(1).at[goal[1] + 1, goal[0] + 1].set(1)
        cells = _distinct_free_cells(k_cells, taken, 2 * (num_agents - 1))
        others = jax.vmap(lambda i: _centre(i, map_size))(cells)
        k = num_agents - 1
        return JaxNavLevel(map_data=map_data,
                           agent_pos=jnp.concatenate([centre(agent)[None], others[:k]]),
                           agent_theta=jax.random.uniform(k_theta, (num_agents,), jnp.float32, -jnp.pi, jnp.pi),
                           goal_pos=jnp.concatenate([centre(goal)[None], others[k:]]))

    return GridEditor(height=inner, width=inner, build=build)


def make_jaxnav_multi(num_agents: int = 4, map_size: int = 11, max_steps: int = 500, lidar_num_beams: int = 200,
                      **jaxnav_kwargs):
    """The multi-robot JaxNav env as a ``LevelEnv`` with ``num_agents`` agents, and the package's env.

    Observations ``(N, beams + 5)``, actions ``(N, 2)`` (linear and angular velocity), rewards,
    dones, ``solved`` (the robot reached its goal on this step), ``collision``,
    ``episode_return`` and ``episode_length`` ``(N,)``.
    """
    JaxNav, EnvInstance, _ = _jaxmarl()
    check_positive_int(num_agents, "num_agents")
    env = JaxNav(num_agents=num_agents, act_type="Continuous", map_id="Grid-Rand-Poly",
                 map_params={"map_size": (map_size, map_size), "fill": 0.5}, max_steps=max_steps,
                 lidar_num_beams=lidar_num_beams, **jaxnav_kwargs)
    names = env.agents
    rew_lambda = jnp.float32(env.rew_lambda)
    stack = lambda d: jnp.stack([d[a] for a in names])

    def canon(st):  # fixed dtypes, so states can be scan carries
        return st.replace(step=jnp.asarray(st.step, jnp.int32), ep_done=jnp.asarray(st.ep_done, jnp.bool_),
                          rew_lambda=jnp.asarray(st.rew_lambda, jnp.float32))

    def reset_to_level(key, level: JaxNavLevel, params: JaxNavParams):
        del key, params  # deterministic given the level
        inst = EnvInstance(agent_pos=level.agent_pos.astype(jnp.float32),
                           agent_theta=jnp.asarray(level.agent_theta, jnp.float32),
                           goal_pos=level.goal_pos.astype(jnp.float32),
                           map_data=level.map_data.astype(jnp.int32), rew_lambda=rew_lambda)
        obs, st = env.set_env_instance(inst)
        return stack(obs), begin_episode(canon(st), level, num_agents)

    def step(key, state: EpisodeState, action, params: JaxNavParams):
        acts = jnp.asarray(action, jnp.float32)
        obs, st, reward, dones, info = env.step_env(key, state.inner, {a: acts[i] for i, a in enumerate(names)})
        done = jnp.full((num_agents,), jnp.asarray(dones["__all__"], jnp.bool_))
        collision = (jnp.asarray(info["MapC"]) | jnp.asarray(info["AgentC"])).astype(jnp.bool_).reshape(num_agents)
        state, r, done, out = end_step(state, canon(st), stack(reward), done,
                                       jnp.asarray(info["GoalR"]).reshape(num_agents), valid_level(state.level),
                                       collision=collision)
        return stack(obs), state, r, done, out

    level_env = LevelEnv(reset_to_level=reset_to_level, step=step, default_params=JaxNavParams(max_steps=max_steps),
                         action_space=Box(low=(env.min_v, -env.max_w), high=(env.max_v, env.max_w), shape=(2,)),
                         get_level=lambda s: s.level, name="jaxnav_multi", max_episode_steps=int(max_steps),
                         num_agents=num_agents)
    return level_env, env


def named_multi_levels(names: Sequence[str], num_agents: int = 4, map_size: int = 11) -> JaxNavLevel:
    """The package's multi-robot test cases as levels (leading axis ``len(names)``), padded with blocks."""
    _, _, singletons = _jaxmarl()
    out = []
    for name in names:
        cls = getattr(singletons, name, None)
        if cls is None or not isinstance(cls, type):
            known = ", ".join(HELD_OUT_MULTI.get(num_agents, ()))
            raise ValueError(f"unknown JaxNav test case {name!r}; {num_agents}-robot ones: {known or 'none'}")
        try:
            case = cls(num_agents=num_agents)
        except AssertionError as e:
            raise ValueError(f"JaxNav test case {name} is not drawn for {num_agents} robots") from e
        m = np.asarray(case.map_data, np.int32)
        if m.shape[0] > map_size or m.shape[1] > map_size:
            raise ValueError(f"test case {name} is {m.shape}, larger than map_size={map_size}")
        padded = np.ones((map_size, map_size), np.int32)
        padded[: m.shape[0], : m.shape[1]] = m
        start, goal = np.asarray(case.start_pose, np.float32), np.asarray(case.goal_pose, np.float32)
        out.append(JaxNavLevel(map_data=jnp.asarray(padded), agent_pos=jnp.asarray(start[:, :2]),
                               agent_theta=jnp.asarray(start[:, 2]), goal_pos=jnp.asarray(goal[:, :2])))
    return jax.tree.map(lambda *x: jnp.stack(x), *out)


def jaxnav_multi_level_stats(levels: JaxNavLevel) -> dict:
    """``(B,)`` statistics: ``walls`` (interior blocks), ``shortest_path`` (the robots' mean
    4-connected cell path length, NaN unless every robot has a path), ``reachable`` (the fraction
    of robots with a path to their goal) and ``solvable`` (1 when every robot has one)."""

    def paths(lv):
        return jax.vmap(lambda s, g: grid_distance(lv.map_data, _cell(s), _cell(g)))(lv.agent_pos, lv.goal_pos)

    d = jax.vmap(paths)(levels)  # (B, N)
    ok = d >= 0
    every = jnp.all(ok, axis=1)
    inner = levels.map_data[:, 1:-1, 1:-1]
    return {"walls": jnp.sum(inner, axis=(1, 2)).astype(jnp.float32),
            "shortest_path": jnp.where(every, jnp.mean(d, axis=1).astype(jnp.float32), jnp.nan),
            "reachable": jnp.mean(ok, axis=1).astype(jnp.float32),
            "solvable": every.astype(jnp.float32)}


_ROBOT_RGB = np.array([[40, 90, 220], [220, 60, 60], [230, 160, 30], [150, 70, 200], [30, 170, 170],
                       [200, 90, 160], [120, 120, 40], [90, 60, 30]], np.int32)


def render_multi_level(level: JaxNavLevel, tile: int = 12):
    """uint8 ``(H*tile, W*tile, 3)``: blocks dark, free cells light; robot ``i``'s start a filled
    disc and its goal a ring, both in robot ``i``'s colour (8 colours, repeating)."""
    h, w = level.map_data.shape
    ys, xs = jnp.meshgrid(jnp.arange(h * tile), jnp.arange(w * tile), indexing="ij")
    px, py = (xs + 0.5) / tile, (ys + 0.5) / tile
    blocked = level.map_data[ys // tile, xs // tile] == 1
    img = jnp.where(blocked[..., None], jnp.array([60, 60, 60]), jnp.array([235, 235, 235]))
    dist2 = lambda p: (px - p[0]) ** 2 + (py - p[1]) ** 2
    colours = jnp.asarray(_ROBOT_RGB)[jnp.arange(level.agent_pos.shape[0]) % len(_ROBOT_RGB)]
    for i in range(level.agent_pos.shape[0]):
        ring = (dist2(level.goal_pos[i]) <= 0.45**2) & (dist2(level.goal_pos[i]) >= 0.3**2)
        img = jnp.where(ring[..., None], colours[i], img)
    for i in range(level.agent_pos.shape[0]):
        img = jnp.where((dist2(level.agent_pos[i]) <= 0.3**2)[..., None], colours[i], img)
        heading = level.agent_pos[i] + 0.3 * jnp.stack([jnp.cos(level.agent_theta[i]), jnp.sin(level.agent_theta[i])])
        img = jnp.where((dist2(heading) <= 0.12**2)[..., None], jnp.array([250, 250, 250]), img)
    return img.astype(jnp.uint8)


def jaxnav_multi_level_space(num_agents: int = 4, map_size: int = 11, fill: float = 0.6, max_steps: int = 500,
                             num_edits: int = 5, held_out: Sequence[str] | None = None, lidar_num_beams: int = 200,
                             **jaxnav_kwargs) -> LevelSpace:
    """The multi-robot JaxNav level space (``env=jaxnav_multi``).

    Args:
        num_agents: robots per level (4 in the SFL paper's multi-agent experiments).
        map_size: grid side (11: a 9x9 interior).
        fill: at most this fraction of interior cells is blocked.
        max_steps: episode time limit.
        num_edits: ACCEL edits per mutation.
        held_out: the package's test cases to evaluate on; None: those drawn for ``num_agents``
            robots that fit the map (``HELD_OUT_MULTI``), ``[]`` for none.
        lidar_num_beams: LiDAR beams.
        **jaxnav_kwargs: passed to the package's ``JaxNav``.

    Raises:
        ImportError: jaxmarl is not installed (the message gives the install command).
    """
    env, _ = make_jaxnav_multi(num_agents, map_size, max_steps, lidar_num_beams, **jaxnav_kwargs)
    names = tuple(HELD_OUT_MULTI.get(num_agents, ()) if held_out is None else held_out)
    return LevelSpace(env=env, generator=jaxnav_multi_generator(num_agents, map_size, fill),
                      mutator=jaxnav_multi_mutator(num_edits),
                      held_out=named_multi_levels(names, num_agents, map_size) if names else None,
                      held_out_names=names, level_stats=jaxnav_multi_level_stats, render=render_multi_level,
                      name="jaxnav_multi", editor=jaxnav_multi_editor(num_agents, map_size))


__all__ = ["HELD_OUT_MULTI", "jaxnav_multi_editor", "jaxnav_multi_generator", "jaxnav_multi_level_space",
           "jaxnav_multi_level_stats", "jaxnav_multi_mutator", "make_jaxnav_multi", "named_multi_levels",
           "render_multi_level"]
