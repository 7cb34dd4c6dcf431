"""Random maze levels (domain randomisation) and ACCEL-style maze mutators."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ued.envs.maze.level import MazeLevel, make_level
from ued.types import LevelGenerator, Mutator
from ued.utils import check_positive_int


def _check_size(height, width):
    for name, v in (("height", height), ("width", width)):
        check_positive_int(v, f"{name}")
    if height * width < 2:
        raise ValueError(f"a {height}x{width} maze has no room for both an agent and a goal")


def _pick_cell(key, mask):
    """Uniformly picks a flat index where ``mask`` (flat bool) is True (0 if none)."""
    logits = jnp.where(mask, 0.0, -jnp.inf)
    return jnp.where(jnp.any(mask), jax.random.categorical(key, logits), 0)


def random_maze_generator(height: int = 13, width: int = 13, n_walls: int = 25,
                          sample_n_walls: bool = False) -> LevelGenerator:
    """Random mazes as in the UED literature's domain randomisation baseline.

    Places ``n_walls`` walls at cells sampled uniformly *with replacement* (so fewer distinct
    walls are possible), then the agent (with a uniform random direction) and the goal on two
    distinct free cells.

    Args:
        height: interior height (default 13).
        width: interior width (default 13).
        n_walls: number of wall placements (default 25); at most ``height * width - 2``.
        sample_n_walls: draw the number of placements uniformly from ``0..n_walls`` per level.

    Returns:
        A ``LevelGenerator`` of ``MazeLevel``s with wall map ``(height, width)``.

    Raises:
        ValueError: for non-positive sizes or ``n_walls`` outside ``[0, height * width - 2]``.
    """
    _check_size(height, width)
    cells = height * width
    if not isinstance(n_walls, int) or not 0 <= n_walls <= cells - 2:
        raise ValueError(f"n_walls must be an integer in [0, {cells - 2}] for a {height}x{width} maze, got {n_walls!r}")

    def sample(key) -> MazeLevel:
        k_n, k_walls, k_agent, k_goal, k_dir = jax.random.split(key, 5)
        if sample_n_walls:
            count = jax.random.randint(k_n, (), 0, n_walls + 1)
        else:
            count = n_walls
        idx = jax.random.randint(k_walls, (n_walls,), 0, cells)
        placed = jnp.arange(n_walls) < count
        walls = jnp.zeros(cells, jnp.bool_).at[idx].max(placed)
        agent = _pick_cell(k_agent, ~walls)
        goal = _pick_cell(k_goal, ~walls & (jnp.arange(cells) != agent))
        to_xy = lambda i: jnp.stack([i % width, i // width]).astype(jnp.int32)
        return make_level(walls.reshape(height, width), to_xy(goal), to_xy(agent),
                          jax.random.randint(k_dir, (), 0, 4))

    return LevelGenerator(sample=sample)


EDIT_FLIP_WALL, EDIT_MOVE_GOAL, EDIT_MOVE_AGENT, EDIT_NOOP = 0, 1, 2, 3


def maze_mutator(num_edits: int = 20, move_agent: bool = False, noop_edits: bool = True) -> Mutator:
    """ACCEL-style mutator: ``num_edits`` random edits per call.

    Each edit is chosen uniformly among the enabled kinds:

    - (with ``noop_edits``, the default) no change: JaxUED's maze mutator (after minimax's)
      draws each of its edits uniformly from no-op, flip a wall and move the goal, so a third of
      the edits change nothing (``tests/envs/maze/test_mutator_reference.py`` compares the edit
      distributions with recordings of it);
    - flip a wall: toggle one interior cell that holds neither the agent nor the goal;
    - move the goal to a uniformly chosen free cell other than the agent's;
    - (with ``move_agent``) move the agent likewise, keeping its direction.

    The result is always a valid level. Each edit changes at most one wall cell or one
    position, so a child differs from its parent by at most ``num_edits`` such changes.

    Args:
        num_edits: edits per call (default 20; ACCEL used 5 or 20 on the maze).
        move_agent: also allow moving the agent.
        noop_edits: include the no-op kind (JaxUED's distribution); False: every edit changes
            the level where it can.

    Returns:
        A ``Mutator`` over ``MazeLevel``s.

    Raises:
        ValueError: if ``num_edits`` is not a positive integer.
    """
    check_positive_int(num_edits, "num_edits")
    kinds = jnp.array([EDIT_FLIP_WALL, EDIT_MOVE_GOAL] + ([EDIT_MOVE_AGENT] if move_agent else [])
                      + ([EDIT_NOOP] if noop_edits else []), jnp.int32)

    def one_edit(key, level: MazeLevel) -> MazeLevel:
        h, w = level.wall_map.shape
        k_kind, k_cell = jax.random.split(key)
        ys, xs = jnp.divmod(jnp.arange(h * w), w)
        interior = (xs < level.width) & (ys < level.height)
        flat = lambda p: p[1] * w + p[0]
        agent_i, goal_i = flat(level.agent_pos), flat(level.goal_pos)
        cells = jnp.arange(h * w)
        walls = level.wall_map.reshape(-1)
        kind = kinds[jax.random.randint(k_kind, (), 0, kinds.shape[0])]

        flip_mask = interior & (cells != agent_i) & (cells != goal_i)
        move_mask = interior & ~walls & (cells != agent_i) & (cells != goal_i)
        target = _pick_cell(k_cell, jnp.where(kind == EDIT_FLIP_WALL, flip_mask, move_mask))
        has_target = jnp.any(jnp.where(kind == EDIT_FLIP_WALL, flip_mask, move_mask))
        xy = jnp.stack([target % w, target // w]).astype(jnp.int32)

        flipped = walls.at[target].set(~walls[target]).reshape(h, w)
        do = lambda k: has_target & (kind == k)
        return level.replace(
            wall_map=jnp.where(do(EDIT_FLIP_WALL), flipped, level.wall_map),
            goal_pos=jnp.where(do(EDIT_MOVE_GOAL), xy, level.goal_pos),
            agent_pos=jnp.where(do(EDIT_MOVE_AGENT), xy, level.agent_pos),
        )

    def mutate(key, level: MazeLevel) -> MazeLevel:
        keys = jax.random.split(key, num_edits)
        return jax.lax.fori_loop(0, num_edits, lambda i, lv: one_edit(keys[i], lv), level)

    return Mutator(mutate=mutate)


def edit_distance(parent: MazeLevel, child: MazeLevel) -> jax.Array:
    """Number of changed wall cells plus moved goal and agent between two single levels.

    Returns:
        int32 ``()``; a ``maze_mutator(num_edits)`` child is at most ``num_edits`` from its parent.
    """
    walls = jnp.sum(parent.wall_map != child.wall_map)
    goal = jnp.any(parent.goal_pos != child.goal_pos)
    agent = jnp.any(parent.agent_pos != child.agent_pos)
    return (walls + goal + agent).astype(jnp.int32)
