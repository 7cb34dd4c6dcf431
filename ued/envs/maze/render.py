"""Rendering maze levels and states to RGB arrays (jittable).

Writing images to files is host I/O and lives in ``ued.run.media`` (``save_png``, ``save_gif``,
``tile_images``); this module only computes arrays.

Images show the interior with its border of walls, like MiniGrid: walls grey, goal green,
the agent a red triangle pointing in its direction; ``render_state`` can also shade the
cells of the agent's egocentric view.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ued.envs.maze.env import CELL_GOAL, CELL_WALL, MazeState, cell_types, view_offsets
from ued.envs.maze.level import MazeLevel

_COLOURS = {
    "empty": (0, 0, 0),
    "wall": (100, 100, 100),
    "goal": (0, 200, 0),
    "agent": (255, 0, 0),
    "grid": (40, 40, 40),
}
_AGENT = 3  # tile index of the agent facing east; +d for direction d


def _tile_atlas(tile_size: int) -> np.ndarray:
    """uint8 ``(7, ts, ts, 3)``: empty, wall, goal, agent facing east/south/west/north."""
    ts = tile_size
    base = np.zeros((ts, ts, 3), np.uint8)
    base[:] = _COLOURS["empty"]
    base[0, :] = base[:, 0] = _COLOURS["grid"]
    wall = np.empty_like(base)
    wall[:] = _COLOURS["wall"]
    goal = base.copy()
    goal[1:, 1:] = _COLOURS["goal"]
    # A triangle pointing east, drawn on the centre of each pixel.
    v, u = np.meshgrid((np.arange(ts) + 0.5) / ts, (np.arange(ts) + 0.5) / ts, indexing="ij")
    tri = (u >= 0.12) & (np.abs(v - 0.5) <= 0.31 * (0.87 - u) / 0.75)
    east = base.copy()
    east[tri] = _COLOURS["agent"]
    agents = [np.rot90(east, -d) for d in range(4)]  # rot90 by -1 turns east into south (y down)
    return np.stack([base, wall, goal] + agents)


def _compose(cells: jax.Array, tile_size: int) -> jax.Array:
    atlas = jnp.asarray(_tile_atlas(tile_size))
    h, w = cells.shape
    tiles = atlas[cells]  # (h, w, ts, ts, 3)
    return tiles.transpose(0, 2, 1, 3, 4).reshape(h * tile_size, w * tile_size, 3)


def _bordered_cells(level: MazeLevel) -> jax.Array:
    grid = cell_types(level)
    return jnp.pad(grid, 1, constant_values=CELL_WALL)


def render_level(level: MazeLevel, tile_size: int = 16) -> jax.Array:
    """Renders a single level (agent at its start pose). Jittable; vmap for batches.

    Args:
        level: a single level with wall map ``(H, W)``.
        tile_size: pixels per cell.

    Returns:
        uint8 ``((H + 2) * tile_size, (W + 2) * tile_size, 3)``.
    """
    cells = _bordered_cells(level)
    cells = cells.at[level.agent_pos[1] + 1, level.agent_pos[0] + 1].set(_AGENT + level.agent_dir)
    return _compose(cells, tile_size)


def render_state(state: MazeState, tile_size: int = 16, view_size: int | None = 5) -> jax.Array:
    """Renders a single episode state. Jittable; vmap for batches.

    Args:
        state: a ``MazeState``.
        tile_size: pixels per cell.
        view_size: shade the agent's egocentric view of this size (None: no shading).

    Returns:
        uint8 ``((H + 2) * tile_size, (W + 2) * tile_size, 3)``.
    """
    cells = _bordered_cells(state.level)
    ax, ay = state.agent_pos[0] + 1, state.agent_pos[1] + 1
    cells = cells.at[ay, ax].set(_AGENT + state.agent_dir)
    image = _compose(cells, tile_size)
    if view_size is not None:
        h, w = cells.shape
        off = jnp.asarray(view_offsets(view_size))[state.agent_dir]
        seen = jnp.zeros((h, w), jnp.bool_).at[
            jnp.clip(ay + off[..., 1], 0, h - 1), jnp.clip(ax + off[..., 0], 0, w - 1)].set(True)
        mask = jnp.repeat(jnp.repeat(seen, tile_size, 0), tile_size, 1)[..., None]
        lighter = jnp.minimum(image.astype(jnp.int32) + 60, 255).astype(jnp.uint8)
        image = jnp.where(mask, lighter, image)
    return image
