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


def _concrete(x):
    """``x`` as a host array, or None when it is traced (inside ``jit``/``vmap``)."""
    try:
        return np.asarray(x)
    except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError):
        return None


def _as_int(name: str, x, shape_tail: tuple[int, ...], batch: tuple[int, ...]):
    arr = _concrete(x)
    shape = tuple(np.shape(x)) if arr is None else arr.shape
    if shape != batch + shape_tail:
        want = "x, y" if shape_tail else "a scalar"
        where = f" for a batch of wall maps {batch}" if batch else ""
        raise ValueError(f"make_level: {name} must have shape {batch + shape_tail} ({want}){where}, got {shape}")
    if arr is not None:
        if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
            raise ValueError(f"make_level: {name} must hold integers, got dtype {arr.dtype}")
        if np.issubdtype(arr.dtype, np.floating) and not np.all(np.isfinite(arr) & (arr == np.round(arr))):
            raise ValueError(f"make_level: {name} must hold whole numbers (cells are integer coordinates), "
                             f"got {arr.tolist()}")
    elif not jnp.issubdtype(x.dtype, jnp.integer):  # a tracer
        raise ValueError(f"make_level: {name} must be an integer array inside jit, got dtype {x.dtype}")
    return jnp.asarray(x, dtype=jnp.int32)


def make_level(wall_map, goal_pos, agent_pos, agent_dir, width=None, height=None) -> MazeLevel:
    """Builds a ``MazeLevel`` with canonical dtypes (works on host arrays and tracers).

    Shapes are checked always; a level given as concrete values (not traced) is also checked
    for validity (``check_level``: the same rules as ``is_valid_level``).

    Args:
        wall_map: bool-like ``(H, W)`` (or ``(..., H, W)`` for a batch).
        goal_pos: int ``(2,)`` ``(x, y)``.
        agent_pos: int ``(2,)`` ``(x, y)``.
        agent_dir: int ``()`` in 0..3.
        width: interior width; defaults to ``W``.
        height: interior height; defaults to ``H``.

    Returns:
        The level.

    Raises:
        ValueError: wrong shapes, non-integer positions, or (for concrete values) an invalid
            level; the message names the field.
    """
    walls_host = _concrete(wall_map)
    if np.ndim(wall_map) < 2:
        raise ValueError(f"make_level: wall_map must be 2-D (H, W), got shape {tuple(np.shape(wall_map))}")
    if walls_host is not None and walls_host.dtype != bool:
        if not (np.issubdtype(walls_host.dtype, np.number) and np.all(np.isin(walls_host, (0, 1)))):
            raise ValueError("make_level: wall_map must be boolean (or 0/1), got values other than 0 and 1")
    wall_map = jnp.asarray(wall_map, dtype=jnp.bool_)
    h, w = wall_map.shape[-2:]
    batch = tuple(wall_map.shape[:-2])
    level = MazeLevel(
        wall_map=wall_map,
        goal_pos=_as_int("goal_pos", goal_pos, (2,), batch),
        agent_pos=_as_int("agent_pos", agent_pos, (2,), batch),
        agent_dir=_as_int("agent_dir", agent_dir, (), batch),
        width=_as_int("width", jnp.full(batch, w) if width is None else width, (), batch),
        height=_as_int("height", jnp.full(batch, h) if height is None else height, (), batch),
    )
    if walls_host is not None and all(_concrete(x) is not None for x in (goal_pos, agent_pos, agent_dir)):
        batch = np.shape(wall_map)[:-2]
        if not batch:
            check_level(level)
        else:
            flat = jax.tree.map(lambda x: np.asarray(x).reshape((-1,) + np.shape(x)[len(batch):]), level)
            for i in range(int(np.prod(batch))):
                try:
                    check_level(jax.tree.map(lambda x: x[i], flat))
                except ValueError as e:
                    raise ValueError(f"level {i} of the batch: {e}") from None
    return level


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
        ValueError: for ragged rows, a blank line inside the maze, an unknown character, no
            agent or several agents, no goal or several goals; the message names the row and
            column (0-based).
    """
    rows = [line.strip() for line in text.strip().splitlines()]
    if any(not r for r in rows):
        blank = rows.index("")
        raise ValueError(f"blank line inside the maze after row {blank - 1}: rows must be contiguous "
                         "(blank lines are allowed only before and after the maze)")
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


def _validity(level: MazeLevel, xp):
    """The validity rules of a single level, as ``{rule: bool}`` computed with ``xp`` (numpy on
    the host, ``jax.numpy`` when traced): the one definition behind ``check_level`` and
    ``is_valid_level``."""
    h_arr, w_arr = level.wall_map.shape[-2:]
    width, height = level.width, level.height

    def cell(pos):
        x, y = pos[0], pos[1]
        inside = (x >= 0) & (x < width) & (y >= 0) & (y < height)
        free = ~level.wall_map[xp.clip(y, 0, h_arr - 1), xp.clip(x, 0, w_arr - 1)]
        return inside, free

    a_in, a_free = cell(level.agent_pos)
    g_in, g_free = cell(level.goal_pos)
    return {
        "size": (width >= 1) & (width <= w_arr) & (height >= 1) & (height <= h_arr),
        "agent_inside": a_in, "agent_free": a_free,
        "goal_inside": g_in, "goal_free": g_free,
        "distinct": xp.any(level.agent_pos != level.goal_pos),
        "direction": (level.agent_dir >= 0) & (level.agent_dir < 4),
    }


def check_level(level: MazeLevel) -> None:
    """Checks on the host that a single level is valid (the rules of ``is_valid_level``).

    A valid level: its size within the wall map; agent and goal on distinct free cells of the
    ``height x width`` interior; the direction in 0..3.

    Raises:
        ValueError: naming the first rule broken and the values.
    """
    level = jax.device_get(level)
    if np.ndim(level.wall_map) != 2:
        raise ValueError(f"check_level takes a single level; its wall_map has shape {np.shape(level.wall_map)}")
    for name, shape in (("agent_pos", (2,)), ("goal_pos", (2,)), ("agent_dir", ()), ("width", ()), ("height", ())):
        if np.shape(getattr(level, name)) != shape:
            raise ValueError(f"{name} must have shape {shape}, got {np.shape(getattr(level, name))}")
    level = jax.tree.map(np.asarray, level)
    ok = {k: bool(v) for k, v in _validity(level, np).items()}
    h_arr, w_arr = np.shape(level.wall_map)
    w, h = int(level.width), int(level.height)
    if not ok["size"]:
        raise ValueError(f"level size {h}x{w} must be between 1x1 and the wall map's {h_arr}x{w_arr}")
    for what in ("agent", "goal"):
        x, y = (int(v) for v in getattr(level, f"{what}_pos"))
        if not ok[f"{what}_inside"]:
            raise ValueError(f"{what} at (x={x}, y={y}) is outside the {h}x{w} maze (x in 0..{w - 1}, y in 0..{h - 1})")
        if not ok[f"{what}_free"]:
            raise ValueError(f"{what} at row {y}, column {x} is on a wall")
    if not ok["distinct"]:
        raise ValueError(f"agent and goal share the cell {tuple(int(v) for v in level.goal_pos)}")
    if not ok["direction"]:
        raise ValueError(f"agent_dir {int(level.agent_dir)} is not one of 0 (east), 1 (south), 2 (west), 3 (north)")


def is_valid_level(level: MazeLevel) -> jax.Array:
    """Jittable validity check of a single level: the rules of ``check_level``.

    Returns:
        bool ``()``.
    """
    rules = _validity(level, jnp)
    out = jnp.asarray(True)
    for v in rules.values():
        out = out & v
    return out


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
