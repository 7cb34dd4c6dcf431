"""The MiniGrid-style maze of the UED literature as a ``LevelEnv``.

Dynamics (matching the PLR, ACCEL, minimax, JaxUED and SFL papers):

- 7 discrete actions as in MiniGrid: 0 turn left, 1 turn right, 2 forward, 3-6 no-ops
  (MiniGrid's pickup, drop, toggle and done, which do nothing in the maze).
- Forward into a wall, the border or the goal leaves the agent in place. Stepping forward
  into the goal solves the level: the episode ends with reward
  ``1 - 0.9 * (t + 1) / max_steps`` where ``t`` is the number of steps taken before this one.
  Every other step gives reward 0. Episodes end after ``max_steps`` steps (default 250).
- Observation: ``MazeObs(image, agent_dir)``. ``image`` is the egocentric
  ``view x view x 3`` uint8 grid (default view 5) in MiniGrid's encoding
  ``(object, colour, state)``: empty ``(1, 0, 0)``, wall ``(2, 5, 0)``, goal ``(8, 1, 0)``;
  cells outside the grid read as walls; the agent is not drawn. It is rotated so that the
  agent looks "up": row 0 is the farthest row ahead, the agent stands at row ``view - 1``,
  column ``view // 2``, and its left is on the left of the image. Walls do not occlude
  (as in JaxUED and minimax). JaxUED's and MiniGrid's arrays hold the same view in ``(x, y)``
  order, the transpose of this one (``tests/envs/maze/test_env_reference.py``: the same views,
  rewards, dones and directions as JaxUED's ``Maze`` step for step).
- Invalid levels (``is_valid_level`` False: agent or goal outside the interior or on a wall,
  both on one cell, a direction outside 0..3, a size beyond the wall map) are not played:
  a compiled step cannot raise, so the first step of such an episode ends it with reward 0,
  the agent not moved and ``info["invalid_level"]`` True. Levels from a user are checked
  on the host before (``make_level``, ``parse_level``, ``check_level``).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from ued.envs.maze.level import DIR_TO_VEC, MazeLevel, is_valid_level
from ued.types import Discrete, LevelEnv
from ued.utils import check_positive_int

NUM_ACTIONS = 7
ACTION_LEFT, ACTION_RIGHT, ACTION_FORWARD = 0, 1, 2

# MiniGrid encoding rows for the cell types used here.
CELL_EMPTY, CELL_WALL, CELL_GOAL = 0, 1, 2
ENCODING = np.array([[1, 0, 0], [2, 5, 0], [8, 1, 0]], dtype=np.uint8)
AGENT_ENCODING = (10, 0)  # object index and colour (red) of the agent in full observations
# Divisors of the normalised float observation (MiniGrid's largest object index, colour, state).
OBS_SCALE = np.array([10.0, 5.0, 3.0], dtype=np.float32)


@struct.dataclass
class MazeParams:
    """Dynamic parameters of the maze (shared across a batch; changing them does not recompile).

    Attributes:
        max_steps: int32 ``()``, the episode time limit.
    """

    max_steps: jax.Array


@struct.dataclass
class MazeState:
    """The state of one maze episode.

    Attributes:
        agent_pos: int32 ``(2,)`` ``(x, y)``.
        agent_dir: int32 ``()``.
        time: int32 ``()``, steps taken in this episode.
        episode_return: float32 ``()``, reward accumulated in this episode.
        level: the level being played (kept for auto-replay): a ``MazeLevel``, or a
            ``ued.envs.maze.fruit.FruitLevel`` in the fruit maze.
    """

    agent_pos: jax.Array
    agent_dir: jax.Array
    time: jax.Array
    episode_return: jax.Array
    level: MazeLevel


class MazeObs(NamedTuple):
    """A maze observation.

    Attributes:
        image: uint8 ``(V, V, 3)`` egocentric view (or ``(H + 2, W + 2, 3)`` when fully
            observed); float32 in ``[0, 1]`` when normalised.
        agent_dir: int32 ``()``, the agent's direction.
    """

    image: jax.Array
    agent_dir: jax.Array


def view_offsets(view_size: int) -> np.ndarray:
    """World ``(dx, dy)`` offsets of every egocentric view cell, for each direction.

    Returns:
        int32 ``(4, view_size, view_size, 2)``: entry ``[d, row, col]`` is the offset from
        the agent's cell of the cell shown at ``(row, col)`` when facing direction ``d``.
    """
    rows, cols = np.meshgrid(np.arange(view_size), np.arange(view_size), indexing="ij")
    forward = view_size - 1 - rows
    lateral = cols - view_size // 2  # positive: to the agent's right
    out = np.zeros((4, view_size, view_size, 2), dtype=np.int32)
    for d in range(4):
        f, r = DIR_TO_VEC[d], DIR_TO_VEC[(d + 1) % 4]
        out[d] = forward[..., None] * f + lateral[..., None] * r
    return out


def egocentric_cells(grid: jax.Array, agent_pos: jax.Array, agent_dir: jax.Array, offsets,
                     outside: int = CELL_WALL) -> jax.Array:
    """The cells of an egocentric view: int32 ``(V, V)`` of ``grid`` (``(H, W)`` cell types) at
    ``view_offsets(V)[agent_dir]`` from ``agent_pos``; cells outside the grid read as ``outside``."""
    h, w = grid.shape
    off = jnp.asarray(offsets)[agent_dir]  # (V, V, 2)
    xs = agent_pos[0] + off[..., 0]
    ys = agent_pos[1] + off[..., 1]
    inside = (xs >= 0) & (xs < w) & (ys >= 0) & (ys < h)
    return jnp.where(inside, grid[jnp.clip(ys, 0, h - 1), jnp.clip(xs, 0, w - 1)], outside)


def turned(direction: jax.Array, action: jax.Array) -> jax.Array:
    """The direction after ``action``: left and right turn by a quarter, others keep it."""
    return jnp.where(action == ACTION_LEFT, (direction + 3) % 4,
                     jnp.where(action == ACTION_RIGHT, (direction + 1) % 4, direction))


def cell_types(level: MazeLevel) -> jax.Array:
    """The cell type grid of a single level: int32 ``(H, W)`` of CELL_EMPTY/WALL/GOAL."""
    h, w = level.wall_map.shape
    ys, xs = jnp.arange(h)[:, None], jnp.arange(w)[None, :]
    outside = (xs >= level.width) | (ys >= level.height)
    grid = jnp.where(level.wall_map | outside, CELL_WALL, CELL_EMPTY)
    return grid.at[level.goal_pos[1], level.goal_pos[0]].set(CELL_GOAL)


def is_blocked(level: MazeLevel, pos: jax.Array) -> jax.Array:
    """Whether the cell ``pos = (x, y)`` is a wall, padding or outside the interior."""
    h, w = level.wall_map.shape
    x, y = pos[0], pos[1]
    inside = (x >= 0) & (x < level.width) & (y >= 0) & (y < level.height)
    return ~inside | level.wall_map[jnp.clip(y, 0, h - 1), jnp.clip(x, 0, w - 1)]


def check_view_and_limit(agent_view_size, max_steps) -> None:
    """Raises ``ValueError`` for an even or too small egocentric view, or a non-positive time limit."""
    if not isinstance(agent_view_size, int) or agent_view_size < 3 or agent_view_size % 2 == 0:
        raise ValueError(f"agent_view_size must be an odd integer >= 3, got {agent_view_size!r}")
    check_positive_int(max_steps, "max_steps")


def start_state(level, maze: MazeLevel) -> MazeState:
    """The first state of an episode on ``level`` (any level type kept in the state) whose maze
    part ``maze`` gives the start pose. Shared by the fruit maze and the dynamic maze."""
    return MazeState(agent_pos=jnp.asarray(maze.agent_pos, jnp.int32), agent_dir=jnp.asarray(maze.agent_dir, jnp.int32),
                     time=jnp.zeros((), jnp.int32), episode_return=jnp.zeros((), jnp.float32), level=level)


def grid_observer(cell_grid, encoding, agent_view_size: int, normalize_obs: bool):
    """``MazeState -> MazeObs``: the egocentric view of the cell types ``cell_grid(level)``
    (int ``(H, W)``), each encoded by its row of ``encoding`` (``(C, 3)`` uint8), float32 scaled
    by ``OBS_SCALE`` when ``normalize_obs``. Shared by the fruit maze and the dynamic maze."""
    offsets = view_offsets(agent_view_size)
    encoding = jnp.asarray(encoding)
    scale = jnp.asarray(OBS_SCALE)

    def observe(state: MazeState) -> MazeObs:
        image = encoding[egocentric_cells(cell_grid(state.level), state.agent_pos, state.agent_dir, offsets)]
        return MazeObs(image=image.astype(jnp.float32) / scale if normalize_obs else image, agent_dir=state.agent_dir)

    return observe


def advance(state: MazeState, action, front, moves, solved, ended, valid, params: MazeParams):
    """The rest of a maze step once its outcome is known: turn or move, count the step, reward
    ``1 - 0.9 * (t + 1) / max_steps`` when ``solved``, end on ``ended``, the time limit or an
    invalid level. Shared by the maze and the fruit maze.

    Returns:
        ``(state, reward, done, info)`` with ``info`` holding ``solved``, ``episode_return``,
        ``episode_length`` (valid where done) and ``invalid_level``.
    """
    new_dir = turned(state.agent_dir, action)
    time = state.time + 1
    max_t = jnp.asarray(params.max_steps, jnp.int32)
    reward = jnp.where(solved, 1.0 - 0.9 * time.astype(jnp.float32) / max_t, 0.0).astype(jnp.float32)
    done = ended | (time >= max_t) | ~valid
    episode_return = state.episode_return + reward
    new_state = state.replace(
        agent_pos=jnp.where(moves, front, state.agent_pos),
        agent_dir=new_dir,
        time=time,
        episode_return=episode_return,
    )
    info = {
        "solved": solved,
        "episode_return": jnp.where(done, episode_return, 0.0),
        "episode_length": jnp.where(done, time, 0),
        "invalid_level": ~valid,
    }
    return new_state, reward, done, info


def make_maze(agent_view_size: int = 5, max_steps: int = 250, full_obs: bool = False,
              normalize_obs: bool = False) -> LevelEnv:
    """Builds the maze environment.

    Args:
        agent_view_size: side of the egocentric view (odd, >= 3). Default 5 as in the papers.
        max_steps: default episode time limit (``default_params.max_steps``). Default 250.
        full_obs: observe the whole grid with its border, ``(H + 2, W + 2, 3)``, with the
            agent encoded as ``(10, 0, direction)``, instead of the egocentric view.
        normalize_obs: return float32 images scaled to ``[0, 1]`` by ``OBS_SCALE``.

    Returns:
        A ``LevelEnv`` over ``MazeLevel``s.

    Raises:
        ValueError: for an even or too small view size, or a non-positive ``max_steps``.
    """
    check_view_and_limit(agent_view_size, max_steps)
    offsets = view_offsets(agent_view_size)
    encoding = jnp.asarray(ENCODING)
    scale = jnp.asarray(OBS_SCALE)

    def finish(image):
        return image.astype(jnp.float32) / scale if normalize_obs else image

    def observe(state: MazeState) -> MazeObs:
        level = state.level
        grid = cell_types(level)
        if full_obs:
            image = encoding[jnp.pad(grid, 1, constant_values=CELL_WALL)]
            ax, ay = state.agent_pos[0] + 1, state.agent_pos[1] + 1
            agent = jnp.array([*AGENT_ENCODING, 0], jnp.uint8).at[2].set(state.agent_dir.astype(jnp.uint8))
            image = image.at[ay, ax].set(agent)
        else:
            image = encoding[egocentric_cells(grid, state.agent_pos, state.agent_dir, offsets)]
        return MazeObs(image=finish(image), agent_dir=state.agent_dir)

    def reset_to_level(key, level: MazeLevel, params: MazeParams):
        del key, params  # deterministic given the level
        state = MazeState(
            agent_pos=jnp.asarray(level.agent_pos, jnp.int32),
            agent_dir=jnp.asarray(level.agent_dir, jnp.int32),
            time=jnp.zeros((), jnp.int32),
            episode_return=jnp.zeros((), jnp.float32),
            level=level,
        )
        return observe(state), state

    def step(key, state: MazeState, action, params: MazeParams):
        del key  # deterministic dynamics
        action = jnp.asarray(action, jnp.int32)
        level = state.level
        front = state.agent_pos + jnp.asarray(DIR_TO_VEC)[state.agent_dir]
        front_is_goal = jnp.all(front == level.goal_pos)
        forward = action == ACTION_FORWARD
        valid = is_valid_level(level)
        solved = forward & front_is_goal & valid
        moves = forward & ~front_is_goal & ~is_blocked(level, front) & valid
        new_state, reward, done, info = advance(state, action, front, moves, solved, solved, valid, params)
        return observe(new_state), new_state, reward, done, info

    return LevelEnv(
        reset_to_level=reset_to_level,
        step=step,
        default_params=MazeParams(max_steps=jnp.asarray(max_steps, jnp.int32)),
        action_space=Discrete(NUM_ACTIONS),
        get_level=lambda state: state.level,
        name="maze",
        max_episode_steps=int(max_steps),
    )
