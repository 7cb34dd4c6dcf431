"""Maze levels: the data structure, its ASCII format, padding and the named levels.

A level is the MiniGrid-style maze used by the PLR, ACCEL, minimax, JaxUED and SFL papers:
a wall map, a goal cell, and the agent's start cell and direction. The environment adds an
outer border of walls around the ``height x width`` interior.

Coordinates: ``x`` grows to the right (columns), ``y`` grows down (rows); positions are
stored as ``(x, y)``. Directions: 0 east, 1 south, 2 west, 3 north.

ASCII format (one row per line): ``#`` wall, ``.`` empty, ``G`` goal, and the agent as
``>`` (east), ``v`` (south), ``<`` (west) or ``^`` (north).
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

DIR_CHARS = (">", "v", "<", "^")
# (dx, dy) for directions 0 east, 1 south, 2 west, 3 north.
DIR_TO_VEC = np.array([[1, 0], [0, 1], [-1, 0], [0, -1]], dtype=np.int32)

# The named held-out levels of the literature that training evaluates on (the trivial
# mazes are also shipped, for tests and sanity checks).
HELD_OUT_LEVEL_NAMES = (
    "SixteenRooms",
    "SixteenRooms2",
    "Labyrinth",
    "LabyrinthFlipped",
    "Labyrinth2",
    "StandardMaze",
    "StandardMaze2",
    "StandardMaze3",
)


@struct.dataclass
class MazeLevel:
    """A maze level (a single one, or a batch with a leading axis on every field).

    Levels of different sizes are padded to one array shape (``pad_level``); ``width`` and
    ``height`` give the real interior size, and cells outside it behave as walls.

    Attributes:
        wall_map: bool ``(H, W)``, True where there is a wall (``H, W`` the padded shape).
        goal_pos: int32 ``(2,)``, the goal cell ``(x, y)``.
        agent_pos: int32 ``(2,)``, the agent's start cell ``(x, y)``.
        agent_dir: int32 ``()``, the agent's start direction (0 east, 1 south, 2 west, 3 north).
        width: int32 ``()``, the interior width (``<= W``).
        height: int32 ``()``, the interior height (``<= H``).
    """

    wall_map: jax.Array
    goal_pos: jax.Array
    agent_pos: jax.Array
    agent_dir: jax.Array
    width: jax.Array
    height: jax.Array

    @property
    def shape(self) -> tuple[int, int]:
        """The padded array shape ``(H, W)`` of the wall map."""
        return tuple(self.wall_map.shape[-2:])


def make_level(wall_map, goal_pos, agent_pos, agent_dir, width=None, height=None) -> MazeLevel:
    """Builds a ``MazeLevel`` with canonical dtypes (works on host arrays and tracers).

    Args:
        wall_map: bool-like ``(H, W)``.
        goal_pos: int ``(2,)`` ``(x, y)``.
        agent_pos: int ``(2,)`` ``(x, y)``.
        agent_dir: int ``()`` in 0..3.
        width: interior width; defaults to ``W``.
        height: interior height; defaults to ``H``.

    Returns:
        The level.
    """
    wall_map = jnp.asarray(wall_map, dtype=jnp.bool_)
    h, w = wall_map.shape[-2:]
    return MazeLevel(
        wall_map=wall_map,
        goal_pos=jnp.asarray(goal_pos, dtype=jnp.int32),
        agent_pos=jnp.asarray(agent_pos, dtype=jnp.int32),
        agent_dir=jnp.asarray(agent_dir, dtype=jnp.int32),
        width=jnp.asarray(w if width is None else width, dtype=jnp.int32),
        height=jnp.asarray(h if height is None else height, dtype=jnp.int32),
    )


# ---------------------------------------------------------------------------------------
# ASCII format
# ---------------------------------------------------------------------------------------
def parse_level(text: str) -> MazeLevel:
    """Parses an ASCII maze into a ``MazeLevel``.

    Args:
        text: rows separated by newlines; surrounding blank lines and whitespace are ignored.

    Returns:
        The level, with ``width``/``height`` equal to the text's size.

    Raises:
        ValueError: for ragged rows, an unknown character, no agent or several agents,
            no goal or several goals; the message names the row and column (0-based).
    """
    rows = [line.strip() for line in text.strip().splitlines()]
    rows = [r for r in rows if r]
    if not rows:
        raise ValueError("empty maze: expected at least one row of '#', '.', 'G', '>', 'v', '<', '^'")
    width = len(rows[0])
    walls = np.zeros((len(rows), width), dtype=bool)
    agents, goals = [], []
    valid = "#.G" + "".join(DIR_CHARS)
    for y, row in enumerate(rows):
        if len(row) != width:
            raise ValueError(
                f"ragged maze: row {y} has {len(row)} characters but row 0 has {width}; "
                "all rows must have the same length"
            )
        for x, ch in enumerate(row):
            if ch == "#":
                walls[y, x] = True
            elif ch == "G":
                goals.append((x, y))
            elif ch in DIR_CHARS:
                agents.append((x, y, DIR_CHARS.index(ch)))
            elif ch != ".":
                raise ValueError(
                    f"unknown character {ch!r} at row {y}, column {x}; valid characters are "
                    f"{', '.join(repr(c) for c in valid)}"
                )
    if not agents:
        raise ValueError("no agent in maze: place one of '>', 'v', '<', '^'")
    if len(agents) > 1:
        where = ", ".join(f"(row {a[1]}, column {a[0]})" for a in agents)
        raise ValueError(f"{len(agents)} agents in maze at {where}; exactly one is allowed")
    if not goals:
        raise ValueError("no goal in maze: place one 'G'")
    if len(goals) > 1:
        where = ", ".join(f"(row {g[1]}, column {g[0]})" for g in goals)
        raise ValueError(f"{len(goals)} goals in maze at {where}; exactly one is allowed")
    ax, ay, adir = agents[0]
    return make_level(walls, goals[0], (ax, ay), adir)


def level_to_string(level: MazeLevel) -> str:
    """Prints a single level in the ASCII format (the inverse of ``parse_level``).

    Args:
        level: a single (unbatched) level; only its ``height x width`` interior is printed.

    Returns:
        The rows joined by newlines.

    Raises:
        ValueError: if the level is batched or invalid (see ``check_level``).
    """
    level = jax.device_get(level)
    if np.ndim(level.agent_dir) != 0:
        raise ValueError(
            f"level_to_string takes a single level, got a batch of shape {np.shape(level.agent_dir)}; "
            "index it first, e.g. jax.tree.map(lambda x: x[i], levels)"
        )
    check_level(level)
    w, h = int(level.width), int(level.height)
    grid = np.where(np.asarray(level.wall_map)[:h, :w], "#", ".").astype("<U1")
    gx, gy = (int(v) for v in level.goal_pos)
    ax, ay = (int(v) for v in level.agent_pos)
    grid[gy, gx] = "G"
    grid[ay, ax] = DIR_CHARS[int(level.agent_dir)]
    return "\n".join("".join(r) for r in grid)


def check_level(level: MazeLevel) -> None:
    """Checks on the host that a single level is valid.

    Raises:
        ValueError: if the agent or goal is outside the interior or on a wall, they share a
            cell, the direction is not in 0..3, or the size exceeds the wall map.
    """
    level = jax.device_get(level)
    h_arr, w_arr = np.shape(level.wall_map)
    w, h = int(level.width), int(level.height)
    if not (1 <= w <= w_arr and 1 <= h <= h_arr):
        raise ValueError(f"level size {h}x{w} must be between 1x1 and the wall map's {h_arr}x{w_arr}")
    walls = np.asarray(level.wall_map)
    for what, pos in (("agent", level.agent_pos), ("goal", level.goal_pos)):
        x, y = (int(v) for v in pos)
        if not (0 <= x < w and 0 <= y < h):
            raise ValueError(f"{what} at (x={x}, y={y}) is outside the {h}x{w} maze")
        if walls[y, x]:
            raise ValueError(f"{what} at row {y}, column {x} is on a wall")
    if tuple(np.asarray(level.agent_pos)) == tuple(np.asarray(level.goal_pos)):
        raise ValueError(f"agent and goal share the cell {tuple(np.asarray(level.goal_pos))}")
    if int(level.agent_dir) not in (0, 1, 2, 3):
        raise ValueError(f"agent_dir {int(level.agent_dir)} is not one of 0 (east), 1 (south), 2 (west), 3 (north)")


def is_valid_level(level: MazeLevel) -> jax.Array:
    """Jittable validity check of a single level (agent and goal on distinct free interior cells).

    Returns:
        bool ``()``.
    """
    h_arr, w_arr = level.wall_map.shape[-2:]

    def ok(pos):
        x, y = pos[0], pos[1]
        inside = (x >= 0) & (x < level.width) & (y >= 0) & (y < level.height)
        free = ~level.wall_map[jnp.clip(y, 0, h_arr - 1), jnp.clip(x, 0, w_arr - 1)]
        return inside & free

    distinct = jnp.any(level.agent_pos != level.goal_pos)
    direction = (level.agent_dir >= 0) & (level.agent_dir < 4)
    return ok(level.agent_pos) & ok(level.goal_pos) & distinct & direction


# ---------------------------------------------------------------------------------------
# Padding and stacking
# ---------------------------------------------------------------------------------------
def pad_level(level: MazeLevel, height: int, width: int) -> MazeLevel:
    """Pads a single level's wall map to ``(height, width)``; the padding is walls.

    The real size is kept in ``level.width``/``level.height``; padded cells are also walls
    in the map, so renderers and observations agree without special cases.

    Raises:
        ValueError: if the level is larger than the target shape.
    """
    h, w = level.wall_map.shape
    if h > height or w > width:
        raise ValueError(f"cannot pad a {h}x{w} level to the smaller shape {height}x{width}")
    walls = jnp.pad(level.wall_map, ((0, height - h), (0, width - w)), constant_values=True)
    return level.replace(wall_map=walls)


def stack_levels(levels: Sequence[MazeLevel]) -> MazeLevel:
    """Pads levels to their largest shape and stacks them along a new leading axis.

    Args:
        levels: single levels, possibly of different sizes.

    Returns:
        A batched level with wall map ``(len(levels), H_max, W_max)``.
    """
    if not levels:
        raise ValueError("stack_levels needs at least one level")
    height = max(l.wall_map.shape[0] for l in levels)
    width = max(l.wall_map.shape[1] for l in levels)
    padded = [pad_level(l, height, width) for l in levels]
    return jax.tree.map(lambda *xs: jnp.stack(xs), *padded)


# ---------------------------------------------------------------------------------------
# Named levels
# ---------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _named_level_texts() -> dict[str, str]:
    text = resources.files("ued.envs.maze").joinpath("data/named_levels.txt").read_text()
    levels: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("#") and current is None:
            continue  # header comment
        if line.startswith("name:"):
            current = line.split(":", 1)[1].strip()
            levels[current] = []
        elif line and current is not None:
            levels[current].append(line)
    return {name: "\n".join(rows) for name, rows in levels.items()}


def named_level_names() -> tuple[str, ...]:
    """The names of all shipped named levels, in file order."""
    return tuple(_named_level_texts())


def named_level_text(name: str) -> str:
    """The ASCII text of a named level.

    Raises:
        ValueError: for an unknown name; the message lists the valid names.
    """
    texts = _named_level_texts()
    if name not in texts:
        raise ValueError(f"unknown named level {name!r}; valid names are: {', '.join(texts)}")
    return texts[name]


def named_level(name: str) -> MazeLevel:
    """Loads a shipped named level (e.g. ``"SixteenRooms"``) at its own size.

    Raises:
        ValueError: for an unknown name; the message lists the valid names.
    """
    return parse_level(named_level_text(name))


def named_levels(names: Sequence[str] = HELD_OUT_LEVEL_NAMES, height: int | None = None,
                 width: int | None = None) -> MazeLevel:
    """Loads several named levels, padded to one shape and stacked.

    Args:
        names: level names (default: the eight held-out mazes of the literature).
        height: pad to at least this height (e.g. the training levels' height).
        width: pad to at least this width.

    Returns:
        A batched level with leading axis ``len(names)``.
    """
    levels = [named_level(n) for n in names]
    if height is not None or width is not None:
        h = max([height or 0] + [l.wall_map.shape[0] for l in levels])
        w = max([width or 0] + [l.wall_map.shape[1] for l in levels])
        levels = [pad_level(l, h, w) for l in levels]
    return stack_levels(levels)
