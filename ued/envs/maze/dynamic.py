"""The maze generated while it is played: DEGen's level space (``env=dynamic_maze``).

The setting of Mead, Lacerda, Foerster and Hawes 2026, "Improving Regret Approximation for
Unsupervised Dynamic Environment Generation" (DEGen), written from the paper's description on
ued's maze: a level is a maze whose cells carry a *generated* mask, plus a flag saying whether
the goal has been placed. A level starts with only the agent's start cell generated; a generator
(``ued.curricula.degen``) writes tiles (empty, wall or the goal, the goal only while none is
placed) into the cells of the student's view that are not generated yet, before the student
sees them, so the student plays an ordinary maze that grows where it looks. What is generated
stays in the level, so the student's later episodes in the same rollout replay it.

Dynamics are the maze's (``ued.envs.maze.env``): the same 7 actions, view and reward
``1 - 0.9 * (t + 1) / max_steps`` on reaching the goal. A cell not generated yet blocks movement
and reads as MiniGrid's "unseen" ``(0, 0, 0)`` in the observation (the generator fills the view
first, so a student trained by DEGen never sees one); the goal counts only once placed. Fully
generated levels (``full_level``; the random generator's, the held-out mazes) play exactly as
the maze, so every other curriculum runs on this level space as on ``env=maze``.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from ued.envs.maze.env import (ACTION_FORWARD, CELL_EMPTY, CELL_GOAL, CELL_WALL, NUM_ACTIONS, MazeParams, MazeState,
                               advance, check_view_and_limit, egocentric_cells, grid_observer, is_blocked, start_state,
                               view_offsets)
from ued.envs.maze.level import DIR_TO_VEC, HELD_OUT_LEVEL_NAMES, MazeLevel, is_valid_level
from ued.envs.maze.render import render_level
from ued.envs.maze.space import maze_level_space, maze_level_stats, render_maze_episode
from ued.envs.maze.solver import optimal_return_fn
from ued.types import (Discrete, DynamicGrid, GeneratorObs, GridEditor, LevelEnv, LevelGenerator, LevelSpace,
                       Mutator)

__all__ = ["GenLevel", "TILE_EMPTY", "TILE_GOAL", "TILE_WALL", "blank_level", "dynamic_grid",
           "dynamic_maze_level_space", "full_level", "make_dynamic_maze", "realized_maze", "render_gen_level"]

TILE_EMPTY, TILE_WALL, TILE_GOAL = 0, 1, 2  # the generator's tile kinds
TILE_NAMES = ("empty", "wall", "goal")
TILE_PRIOR = (0.495, 0.495, 0.01)  # Mead et al.'s target of the tile choice's entropy bonus
CELL_UNSEEN, CELL_OUTSIDE = 3, 4  # beside the maze's CELL_EMPTY (0), CELL_WALL (1), CELL_GOAL (2)
UNSEEN_RGB = (25, 35, 90)  # how renderings show a cell not generated yet
ENCODING = np.array([[1, 0, 0], [2, 5, 0], [8, 1, 0], [0, 0, 0]], dtype=np.uint8)  # unseen: MiniGrid's (0, 0, 0)


@struct.dataclass
class GenLevel:
    """A maze level being generated (a single one, or a batch with a leading axis on every field).

    Attributes:
        maze: the ``MazeLevel``: walls (meaningful on generated cells), the agent's start pose,
            the goal cell (meaningful once placed), the interior size.
        generated: bool ``(H, W)``, True for the cells generated so far.
        goal_placed: bool ``()``, whether the goal has been placed.
    """

    maze: MazeLevel
    generated: jax.Array
    goal_placed: jax.Array


def full_level(maze: MazeLevel) -> GenLevel:
    """A maze as a fully generated level (every cell generated, the goal placed); batches too."""
    return GenLevel(maze=maze, generated=jnp.ones(maze.wall_map.shape, jnp.bool_),
                    goal_placed=jnp.ones(maze.wall_map.shape[:-2], jnp.bool_))


def blank_level(key, height: int, width: int) -> GenLevel:
    """A level whose only generated cell is the agent's start cell (uniform position and
    direction), no walls, no goal placed (its ``goal_pos`` is the start cell, unused)."""
    k_pos, k_dir = jax.random.split(key)
    cell = jax.random.randint(k_pos, (), 0, height * width)
    pos = jnp.stack([cell % width, cell // width]).astype(jnp.int32)
    maze = MazeLevel(wall_map=jnp.zeros((height, width), jnp.bool_), goal_pos=pos, agent_pos=pos,
                     agent_dir=jax.random.randint(k_dir, (), 0, 4).astype(jnp.int32),
                     width=jnp.asarray(width, jnp.int32), height=jnp.asarray(height, jnp.int32))
    generated = jnp.zeros((height, width), jnp.bool_).at[pos[1], pos[0]].set(True)
    return GenLevel(maze=maze, generated=generated, goal_placed=jnp.zeros((), jnp.bool_))


def _interior(maze: MazeLevel) -> jax.Array:
    h, w = maze.wall_map.shape[-2:]
    ys, xs = jnp.arange(h)[:, None], jnp.arange(w)[None, :]
    return (xs < maze.width[..., None, None]) & (ys < maze.height[..., None, None])


def realized_maze(level: GenLevel) -> MazeLevel:
    """The maze as generated so far, for solvers and renderers: cells not generated are walls.
    Its goal is only meaningful where ``level.goal_placed``. Single levels and batches."""
    return level.maze.replace(wall_map=level.maze.wall_map | ~level.generated)


def cell_grid(level: GenLevel) -> jax.Array:
    """int32 ``(H, W)`` of a single level: CELL_EMPTY/WALL/GOAL for generated cells, CELL_UNSEEN
    for the others, CELL_WALL outside the interior."""
    maze = level.maze
    h, w = maze.wall_map.shape
    ys, xs = jnp.arange(h)[:, None], jnp.arange(w)[None, :]
    outside = ~_interior(maze)
    grid = jnp.where(maze.wall_map, CELL_WALL, CELL_EMPTY)
    grid = jnp.where(level.goal_placed & (xs == maze.goal_pos[0]) & (ys == maze.goal_pos[1]), CELL_GOAL, grid)
    grid = jnp.where(level.generated, grid, CELL_UNSEEN)
    return jnp.where(outside, CELL_WALL, grid)


def is_valid_gen_level(level: GenLevel) -> jax.Array:
    """bool ``()``: the agent stands on a generated free interior cell facing 0..3, and a placed
    goal is valid as the maze's (on a free interior cell other than the agent's)."""
    maze = level.maze
    pos = maze.agent_pos
    h, w = maze.wall_map.shape
    agent_ok = (~is_blocked(maze, pos) & level.generated[jnp.clip(pos[1], 0, h - 1), jnp.clip(pos[0], 0, w - 1)]
                & (maze.agent_dir >= 0) & (maze.agent_dir < 4))
    return agent_ok & (~level.goal_placed | is_valid_level(maze))


def student_observer(agent_view_size: int, normalize_obs: bool):
    """``MazeState -> MazeObs``: the student's egocentric view of a dynamic maze state (cells not
    generated read as unseen)."""
    return grid_observer(cell_grid, ENCODING, agent_view_size, normalize_obs)


def make_dynamic_maze(agent_view_size: int = 5, max_steps: int = 250, normalize_obs: bool = False) -> LevelEnv:
    """The maze over ``GenLevel``s (see the module's docstring).

    Args:
        agent_view_size: side of the egocentric view (odd, >= 3).
        max_steps: the episode time limit.
        normalize_obs: float32 images scaled to ``[0, 1]`` by the maze's ``OBS_SCALE``.

    Returns:
        A ``LevelEnv`` over ``GenLevel``s whose state is the maze's ``MazeState``.

    Raises:
        ValueError: for an even or too small view, or a non-positive ``max_steps``.
    """
    check_view_and_limit(agent_view_size, max_steps)
    observe = student_observer(agent_view_size, normalize_obs)

    def reset_to_level(key, level: GenLevel, params):
        del key, params
        state = start_state(level, level.maze)
        return observe(state), state

    def step(key, state: MazeState, action, params: MazeParams):
        del key  # deterministic given the level
        action = jnp.asarray(action, jnp.int32)
        level = state.level
        h, w = level.generated.shape
        valid = is_valid_gen_level(level)
        front = state.agent_pos + jnp.asarray(DIR_TO_VEC)[state.agent_dir]
        forward = (action == ACTION_FORWARD) & valid
        at_goal = level.goal_placed & jnp.all(front == level.maze.goal_pos)
        unseen = ~level.generated[jnp.clip(front[1], 0, h - 1), jnp.clip(front[0], 0, w - 1)]
        solved = forward & at_goal
        moves = forward & ~at_goal & ~is_blocked(level.maze, front) & ~unseen
        new_state, reward, done, info = advance(state, action, front, moves, solved, solved, valid, params)
        return observe(new_state), new_state, reward, done, info

    return LevelEnv(reset_to_level=reset_to_level, step=step,
                    default_params=MazeParams(max_steps=jnp.asarray(max_steps, jnp.int32)),
                    action_space=Discrete(NUM_ACTIONS), get_level=lambda state: state.level, name="dynamic_maze",
                    max_episode_steps=int(max_steps))


def dynamic_grid(height: int, width: int, agent_view_size: int = 5, max_steps: int = 250,
                 normalize_obs: bool = False) -> DynamicGrid:
    """The dynamic maze's ``DynamicGrid``: blank levels, the generator's view and tile writes.

    The generator's image has 5 channels per view cell: empty, wall, goal (generated cells),
    not generated, outside the grid; its features are the student's direction (one-hot), its
    episode time over ``max_steps``, the generated fraction of the grid and the goal flag.
    ``write`` returns the student's observation as ``make_dynamic_maze`` with the same
    ``agent_view_size`` and ``normalize_obs`` makes it.
    """
    observe = student_observer(agent_view_size, normalize_obs)
    offsets = jnp.asarray(view_offsets(agent_view_size))
    v = agent_view_size

    def cell_xy(state: MazeState, cell):
        off = offsets[state.agent_dir].reshape(v * v, 2)[cell]
        return state.agent_pos + off

    def view_codes(state: MazeState):
        return egocentric_cells(cell_grid(state.level), state.agent_pos, state.agent_dir, offsets,
                                outside=CELL_OUTSIDE)

    def gen_observe(state: MazeState) -> GeneratorObs:
        level = state.level
        codes = view_codes(state)
        inside = _interior(level.maze)
        frac = jnp.sum(level.generated & inside) / jnp.maximum(jnp.sum(inside), 1)
        features = jnp.concatenate([jax.nn.one_hot(state.agent_dir, 4),
                                    jnp.stack([state.time / max_steps, frac, level.goal_placed.astype(jnp.float32)])])
        return GeneratorObs(image=jax.nn.one_hot(codes, 5), features=features.astype(jnp.float32),
                            cell_mask=(codes == CELL_UNSEEN).reshape(-1),
                            tile_mask=jnp.stack([jnp.bool_(True), jnp.bool_(True), ~level.goal_placed]))

    def write(state: MazeState, cell, tile):
        level = state.level
        maze = level.maze
        pos = cell_xy(state, cell)
        hh, ww = level.generated.shape
        x, y = jnp.clip(pos[0], 0, ww - 1), jnp.clip(pos[1], 0, hh - 1)
        inside = (pos[0] >= 0) & (pos[0] < maze.width) & (pos[1] >= 0) & (pos[1] < maze.height)
        tile = jnp.asarray(tile, jnp.int32)
        ok = inside & ~level.generated[y, x] & ((tile != TILE_GOAL) | ~level.goal_placed)
        goal = ok & (tile == TILE_GOAL)
        new = GenLevel(
            maze=maze.replace(wall_map=maze.wall_map.at[y, x].set(jnp.where(ok, tile == TILE_WALL, maze.wall_map[y, x])),
                              goal_pos=jnp.where(goal, jnp.stack([x, y]).astype(maze.goal_pos.dtype), maze.goal_pos)),
            generated=level.generated.at[y, x].set(level.generated[y, x] | ok),
            goal_placed=level.goal_placed | goal)
        state = state.replace(level=new)
        return observe(state), state

    return DynamicGrid(blank=lambda key: blank_level(key, height, width), observe=gen_observe, write=write,
                       view_cells=v * v, num_cells=height * width, tile_names=TILE_NAMES, tile_prior=TILE_PRIOR)


def render_gen_level(level: GenLevel, tile_size: int = 16) -> jax.Array:
    """uint8 ``((H + 2) * ts, (W + 2) * ts, 3)``: the maze as generated (walls grey, empty cells
    black, goal green once placed, agent red), cells not generated yet dark blue (``UNSEEN_RGB``).
    Jittable."""
    maze = realized_maze(level)
    maze = maze.replace(goal_pos=jnp.where(level.goal_placed, maze.goal_pos, maze.agent_pos))  # unplaced: under the agent
    image = render_level(maze, tile_size)
    unseen = jnp.pad(~level.generated & _interior(level.maze), 1, constant_values=False)
    mask = jnp.repeat(jnp.repeat(unseen, tile_size, 0), tile_size, 1)[..., None]
    return jnp.where(mask, jnp.asarray(UNSEEN_RGB, jnp.uint8), image)


def dynamic_level_stats(max_steps: int):
    """``levels (B, ...) -> dict of (B,)``: the maze's statistics of the maze as generated
    (``walls`` counts generated walls; a level without a goal is unsolvable), plus
    ``generated`` (the generated fraction of the interior) and ``goal_placed``."""
    maze_stats = maze_level_stats(max_steps)

    def stats(levels: GenLevel):
        out = maze_stats(realized_maze(levels))
        inside = _interior(levels.maze)
        placed = levels.goal_placed
        out["walls"] = jnp.sum(levels.maze.wall_map & levels.generated & inside, axis=(1, 2)).astype(jnp.float32)
        out["solvable"] = out["solvable"] * placed
        out["optimal_return"] = out["optimal_return"] * placed
        out["shortest_path"] = jnp.where(placed, out["shortest_path"], jnp.nan)
        out["generated"] = (jnp.sum(levels.generated & inside, axis=(1, 2)) / jnp.maximum(jnp.sum(inside, axis=(1, 2)), 1)
                            ).astype(jnp.float32)
        out["goal_placed"] = placed.astype(jnp.float32)
        return out

    return stats


def dynamic_maze_level_space(height: int = 13, width: int = 13, n_walls: int = 25, agent_view_size: int = 5,
                             max_steps: int = 250, normalize_obs: bool = False, num_edits: int = 20,
                             held_out: Sequence[str] = HELD_OUT_LEVEL_NAMES) -> LevelSpace:
    """The dynamic maze as a ``LevelSpace`` (``env=dynamic_maze``), with its ``DynamicGrid``.

    Its generator, mutator, editor and held-out levels are the maze's (``maze_level_space``),
    fully generated, so DR, PLR, ACCEL, SFL and PAIRED run on it as on the maze and a DEGen
    student is evaluated on the same named mazes.

    Args:
        height, width: the grid (13x13; DEGen's point is larger ones, e.g. 21x21).
        n_walls: wall placements of the random generator (domain randomisation, evaluation).
        agent_view_size, max_steps, normalize_obs: the env (5, 250).
        num_edits: edits per ACCEL mutation.
        held_out: named evaluation mazes (the literature's eight by default; padded with walls
            to ``height x width``).

    Raises:
        ValueError: for bad sizes, wall counts, view or time limit, or held-out levels larger
            than the grid.
    """
    base = maze_level_space(height=height, width=width, n_walls=n_walls, agent_view_size=agent_view_size,
                            max_steps=max_steps, normalize_obs=normalize_obs, num_edits=num_edits, held_out=held_out)
    env = make_dynamic_maze(agent_view_size=agent_view_size, max_steps=max_steps, normalize_obs=normalize_obs)
    maze_generator, maze_mutator, editor = base.generator, base.mutator, base.editor
    optimal = optimal_return_fn(max_steps)
    return LevelSpace(
        env=env,
        generator=LevelGenerator(sample=lambda key: full_level(maze_generator.sample(key))),
        mutator=Mutator(mutate=lambda key, level: full_level(maze_mutator.mutate(key, level.maze))),
        held_out=None if base.held_out is None else full_level(base.held_out),
        held_out_names=base.held_out_names,
        level_stats=dynamic_level_stats(max_steps),
        render=render_gen_level,
        name="dynamic_maze",
        render_episode=lambda level, trace: render_maze_episode(realized_maze(level), trace),
        editor=GridEditor(height=editor.height, width=editor.width, headings=editor.headings,
                          build=lambda walls, goal, agent, key, heading: full_level(
                              editor.build(walls, goal, agent, key, heading))),
        optimal_return=lambda level: optimal(realized_maze(level)) * level.goal_placed,
        dynamic=dynamic_grid(height, width, agent_view_size, max_steps, normalize_obs),
    )
