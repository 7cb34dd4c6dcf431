"""The fruit maze: a maze with two fruits, only one of which rewards, and which one is chance.

A level space whose aleatoric part matters (SAMPLR's setting, written from the idea of the
stochastic fruit choice of Jiang, Dennis, Parker-Holder et al. 2022, "Grounding Aleatoric
Uncertainty for Unsupervised Environment Design", NeurIPS): a maze level (walls, the agent's
start pose) holds an apple and a banana. Eating either fruit (stepping forward into it) ends the
episode; the one that rewards gives the maze's reward ``1 - 0.9 * (t + 1) / max_steps``, the
other gives 0. Which fruit rewards (``banana_good``) is hidden from the agent and in the real
world drawn from a known prior, ``P(banana_good) = banana_prob``. The curriculum designs the maze
and, since it stores whole levels, can also shift which fruit rewards; the optimal policy under
the prior goes to the fruit with the higher expected discounted reward.

The exact posterior of ``banana_good`` given an unfinished episode is the prior: nothing the
agent observes before it eats a fruit depends on it, and eating ends the episode.

Observation: the maze's egocentric ``V x V x 3`` view in MiniGrid's encoding, with the apple a
red ball ``(6, 0, 0)`` and the banana a yellow ball ``(6, 4, 0)``; the agent's direction.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from ued.envs.maze.env import (ACTION_FORWARD, CELL_EMPTY, CELL_WALL, NUM_ACTIONS, MazeParams, MazeState, advance,
                               check_view_and_limit, grid_observer, is_blocked, start_state)
from ued.envs.maze.generators import _pick_cell, random_maze_generator
from ued.envs.maze.level import DIR_TO_VEC, MazeLevel, is_valid_level, make_level
from ued.envs.maze.render import render_level
from ued.envs.maze.solver import solve
from ued.types import Aleatoric, Discrete, GridEditor, LevelEnv, LevelGenerator, LevelSpace, Mutator
from ued.utils import check_positive_int

__all__ = ["APPLE", "BANANA", "FruitLevel", "fruit_aleatoric", "fruit_generator", "fruit_level_space",
           "fruit_level_stats", "fruit_mutator", "make_fruit_level", "make_fruit_maze", "render_fruit_level"]

APPLE, BANANA = 0, 1
CELL_APPLE, CELL_BANANA = 2, 3  # beside the maze's CELL_EMPTY (0) and CELL_WALL (1)
ENCODING = np.array([[1, 0, 0], [2, 5, 0], [6, 0, 0], [6, 4, 0]], dtype=np.uint8)


@struct.dataclass
class FruitLevel:
    """A fruit maze level (a single one, or a batch with a leading axis on every field).

    Attributes:
        maze: the ``MazeLevel`` of walls and the agent's start pose; its ``goal_pos`` is the
            apple's cell.
        banana_pos: int32 ``(2,)``, the banana's cell ``(x, y)``.
        banana_good: bool ``()``, the aleatoric parameter: True when the banana is the fruit that
            rewards, False when the apple is.
    """

    maze: MazeLevel
    banana_pos: jax.Array
    banana_good: jax.Array

    @property
    def apple_pos(self) -> jax.Array:
        """int32 ``(2,)``, the apple's cell ``(x, y)``."""
        return self.maze.goal_pos


def make_fruit_level(wall_map, apple_pos, banana_pos, agent_pos, agent_dir, banana_good) -> FruitLevel:
    """A single fruit level from arrays (``wall_map (H, W)`` bool, positions ``(x, y)``)."""
    return FruitLevel(maze=make_level(wall_map, apple_pos, agent_pos, agent_dir),
                      banana_pos=jnp.asarray(banana_pos, jnp.int32), banana_good=jnp.asarray(banana_good, jnp.bool_))


def is_valid_fruit_level(level: FruitLevel) -> jax.Array:
    """bool ``()``: the maze part is valid (agent and apple on distinct free interior cells) and
    the banana is on a free interior cell of its own."""
    maze = level.maze
    banana_free = ~is_blocked(maze, level.banana_pos)
    distinct = jnp.any(level.banana_pos != maze.agent_pos) & jnp.any(level.banana_pos != maze.goal_pos)
    return is_valid_level(maze) & banana_free & distinct


def cell_grid(level: FruitLevel) -> jax.Array:
    """int32 ``(H, W)`` of CELL_EMPTY/WALL/APPLE/BANANA for a single level."""
    maze = level.maze
    h, w = maze.wall_map.shape
    ys, xs = jnp.arange(h)[:, None], jnp.arange(w)[None, :]
    grid = jnp.where(maze.wall_map | (xs >= maze.width) | (ys >= maze.height), CELL_WALL, CELL_EMPTY)
    grid = grid.at[maze.goal_pos[1], maze.goal_pos[0]].set(CELL_APPLE)
    return grid.at[level.banana_pos[1], level.banana_pos[0]].set(CELL_BANANA)


def make_fruit_maze(agent_view_size: int = 5, max_steps: int = 64, normalize_obs: bool = False) -> LevelEnv:
    """The fruit maze environment (see the module's docstring).

    Args:
        agent_view_size: side of the egocentric view (odd, >= 3).
        max_steps: the episode time limit.
        normalize_obs: float32 images scaled to ``[0, 1]`` by the maze's ``OBS_SCALE``.

    Returns:
        A ``LevelEnv`` over ``FruitLevel``s (its state is the maze's ``MazeState``); ``info`` also holds ``fruit`` (int32: 0 the apple,
        1 the banana was eaten on this step, -1 neither).

    Raises:
        ValueError: for an even or too small view, or a non-positive ``max_steps``.
    """
    check_view_and_limit(agent_view_size, max_steps)
    observe = grid_observer(cell_grid, ENCODING, agent_view_size, normalize_obs)

    def reset_to_level(key, level: FruitLevel, params):
        del key, params
        state = start_state(level, level.maze)
        return observe(state), state

    def step(key, state: MazeState, action, params: MazeParams):
        del key  # deterministic given the level
        action = jnp.asarray(action, jnp.int32)
        level = state.level
        valid = is_valid_fruit_level(level)
        front = state.agent_pos + jnp.asarray(DIR_TO_VEC)[state.agent_dir]
        forward = (action == ACTION_FORWARD) & valid
        ate_apple = forward & jnp.all(front == level.maze.goal_pos)
        ate_banana = forward & jnp.all(front == level.banana_pos)
        ate = ate_apple | ate_banana
        solved = jnp.where(level.banana_good, ate_banana, ate_apple)
        moves = forward & ~ate & ~is_blocked(level.maze, front)
        new_state, reward, done, info = advance(state, action, front, moves, solved, ate, valid, params)
        info = {**info,
                "fruit": jnp.where(ate_apple, APPLE, jnp.where(ate_banana, BANANA, -1)).astype(jnp.int32)}
        return observe(new_state), new_state, reward, done, info

    return LevelEnv(reset_to_level=reset_to_level, step=step,
                    default_params=MazeParams(max_steps=jnp.asarray(max_steps, jnp.int32)),
                    action_space=Discrete(NUM_ACTIONS), get_level=lambda state: state.level, name="fruit_maze",
                    max_episode_steps=int(max_steps))


def _check_prob(banana_prob):
    if isinstance(banana_prob, bool) or not isinstance(banana_prob, (int, float)) or not 0.0 <= banana_prob <= 1.0:
        raise ValueError(f"banana_prob (the prior probability that the banana rewards) must be a number in [0, 1], "
                         f"got {banana_prob!r}")


def fruit_aleatoric(banana_prob: float = 0.3) -> Aleatoric:
    """The fruit maze's aleatoric part: ``banana_good ~ Bernoulli(banana_prob)``.

    The posterior given an unfinished episode is the prior (the module's docstring says why),
    so ``posterior`` redraws ``banana_good`` from the prior in the state's level.

    Raises:
        ValueError: for ``banana_prob`` outside [0, 1].
    """
    _check_prob(banana_prob)

    def draw(key):
        return jax.random.bernoulli(key, banana_prob)

    return Aleatoric(
        names=("banana_good",),
        of_level=lambda level: jnp.asarray(level.banana_good, jnp.float32)[None],
        prior=lambda key, level: level.replace(banana_good=draw(key)),
        posterior=lambda key, state: state.replace(level=state.level.replace(banana_good=draw(key))),
    )


def fruit_generator(height: int = 7, width: int = 7, n_walls: int = 5, banana_prob: float = 0.3) -> LevelGenerator:
    """Random fruit mazes: the maze generator's walls, agent and apple (its goal), the banana on
    another free cell, ``banana_good`` from the prior.

    Raises:
        ValueError: for bad sizes, ``n_walls`` outside ``[0, height * width - 3]`` or
            ``banana_prob`` outside [0, 1].
    """
    if isinstance(height, int) and isinstance(width, int) and height * width < 3:
        raise ValueError(f"a {height}x{width} fruit maze has no room for the agent and two fruits")
    if isinstance(n_walls, int) and isinstance(height, int) and isinstance(width, int) and n_walls > height * width - 3:
        raise ValueError(f"n_walls must be an integer in [0, {height * width - 3}] for a {height}x{width} fruit maze, "
                         f"got {n_walls!r}")
    _check_prob(banana_prob)
    maze_gen = random_maze_generator(height, width, n_walls)

    def sample(key) -> FruitLevel:
        k_maze, k_banana, k_good = jax.random.split(key, 3)
        maze = maze_gen.sample(k_maze)
        cells = jnp.arange(height * width)
        flat = lambda p: p[1] * width + p[0]
        free = ~maze.wall_map.reshape(-1) & (cells != flat(maze.agent_pos)) & (cells != flat(maze.goal_pos))
        b = _pick_cell(k_banana, free)
        return FruitLevel(maze=maze, banana_pos=jnp.stack([b % width, b // width]).astype(jnp.int32),
                          banana_good=jax.random.bernoulli(k_good, banana_prob))

    return LevelGenerator(sample=sample)


def fruit_mutator(num_edits: int = 5) -> Mutator:
    """ACCEL edits of the designed part: each edit flips a wall (on a cell holding neither the
    agent nor a fruit), or moves the apple or the banana to a free cell of its own. Which fruit
    rewards is left as it is. The result is always a valid level.

    Raises:
        ValueError: if ``num_edits`` is not a positive integer.
    """
    check_positive_int(num_edits, "num_edits")

    def one_edit(key, level: FruitLevel) -> FruitLevel:
        maze = level.maze
        h, w = maze.wall_map.shape
        k_kind, k_cell = jax.random.split(key)
        cells = jnp.arange(h * w)
        ys, xs = jnp.divmod(cells, w)
        flat = lambda p: p[1] * w + p[0]
        occupied = (cells == flat(maze.agent_pos)) | (cells == flat(maze.goal_pos)) | (cells == flat(level.banana_pos))
        interior = (xs < maze.width) & (ys < maze.height)
        walls = maze.wall_map.reshape(-1)
        kind = jax.random.randint(k_kind, (), 0, 3)  # 0 flip a wall, 1 move the apple, 2 move the banana
        mask = jnp.where(kind == 0, interior & ~occupied, interior & ~walls & ~occupied)
        target = _pick_cell(k_cell, mask)
        ok = jnp.any(mask)
        xy = jnp.stack([target % w, target // w]).astype(jnp.int32)
        flipped = walls.at[target].set(~walls[target]).reshape(h, w)
        return level.replace(
            maze=maze.replace(wall_map=jnp.where(ok & (kind == 0), flipped, maze.wall_map),
                              goal_pos=jnp.where(ok & (kind == 1), xy, maze.goal_pos)),
            banana_pos=jnp.where(ok & (kind == 2), xy, level.banana_pos))

    def mutate(key, level):
        keys = jax.random.split(key, num_edits)
        return jax.lax.fori_loop(0, num_edits, lambda i, lv: one_edit(keys[i], lv), level)

    return Mutator(mutate=mutate)


def good_fruit_maze(level: FruitLevel) -> MazeLevel:
    """The maze whose goal is the rewarding fruit and where the other fruit is a wall (eating it
    would end the episode): its shortest path is the optimal episode of the fruit level."""
    maze = level.maze
    other = jnp.where(level.banana_good, maze.goal_pos, level.banana_pos)
    good = jnp.where(level.banana_good, level.banana_pos, maze.goal_pos)
    return maze.replace(goal_pos=good, wall_map=maze.wall_map.at[other[1], other[0]].set(True))


def fruit_level_stats(max_steps: int):
    """``levels (B, ...) -> {"walls", "shortest_path", "optimal_return", "solvable",
    "banana_good"}``, each ``(B,)`` (shortest path and optimal return to the rewarding fruit)."""

    def stats(levels):
        sol = jax.vmap(lambda lv: solve(good_fruit_maze(lv), max_steps))(levels)
        maze = levels.maze
        h, w = maze.wall_map.shape[-2:]
        ys, xs = jnp.arange(h)[:, None], jnp.arange(w)[None, :]
        inside = (xs < maze.width[:, None, None]) & (ys < maze.height[:, None, None])
        return {"walls": jnp.sum(maze.wall_map & inside, axis=(1, 2)).astype(jnp.float32),
                "shortest_path": jnp.where(sol.is_solvable, sol.min_steps, jnp.nan),
                "optimal_return": sol.optimal_return.astype(jnp.float32),
                "solvable": sol.is_solvable.astype(jnp.float32),
                "banana_good": levels.banana_good.astype(jnp.float32)}

    return stats


def render_fruit_level(level: FruitLevel, tile_size: int = 16) -> jax.Array:
    """uint8 ``((H + 2) * ts, (W + 2) * ts, 3)``: the maze (walls grey, agent red), the apple
    red, the banana yellow, the rewarding fruit with a green frame. Jittable."""
    image = render_level(level.maze, tile_size)  # the apple's cell is the maze's (green) goal: repainted

    def paint(image, pos, colour, frame):
        y0, x0 = (pos[1] + 1) * tile_size, (pos[0] + 1) * tile_size
        tile = jnp.broadcast_to(jnp.asarray(frame, jnp.uint8), (tile_size, tile_size, 3))
        inner = jnp.broadcast_to(jnp.asarray(colour, jnp.uint8), (tile_size - 4, tile_size - 4, 3))
        tile = jax.lax.dynamic_update_slice(tile, inner, (2, 2, 0))
        return jax.lax.dynamic_update_slice(image, tile, (y0, x0, 0))

    green = (0, 200, 0)
    image = paint(image, level.maze.goal_pos, (220, 30, 30), jnp.where(level.banana_good, 0, 1) * jnp.asarray(green))
    return paint(image, level.banana_pos, (240, 220, 40), jnp.where(level.banana_good, 1, 0) * jnp.asarray(green))


def fruit_editor(height: int, width: int, banana_prob: float) -> GridEditor:
    """PAIRED's editor: walls, apple (the editor's goal) and agent as given; the banana on a
    random free cell and which fruit rewards from the prior."""

    def build(walls, goal, agent, key, heading):
        k_dir, k_banana, k_good = jax.random.split(key, 3)
        cells = jnp.arange(height * width)
        flat = lambda p: p[1] * width + p[0]
        free = ~walls.reshape(-1) & (cells != flat(agent)) & (cells != flat(goal))
        b = _pick_cell(k_banana, free)
        return make_fruit_level(walls, goal, jnp.stack([b % width, b // width]), agent,
                                jnp.where(heading >= 0, heading, jax.random.randint(k_dir, (), 0, 4)),
                                jax.random.bernoulli(k_good, banana_prob))

    return GridEditor(height=height, width=width, build=build, headings=4)


def fruit_level_space(height: int = 7, width: int = 7, n_walls: int = 5, banana_prob: float = 0.3,
                      agent_view_size: int = 5, max_steps: int = 64, normalize_obs: bool = False,
                      num_edits: int = 5) -> LevelSpace:
    """The fruit maze as a ``LevelSpace`` (``env=fruit_maze``), with its aleatoric part.

    Args:
        height, width, n_walls: the random mazes (7x7, 5 wall placements).
        banana_prob: the ground-truth prior ``P(banana_good)`` (0.3: the apple rewards 70% of
            the time, so under the prior the apple is the better choice unless the banana is
            much nearer).
        agent_view_size, max_steps, normalize_obs: the env (5, 64).
        num_edits: edits per ACCEL mutation.

    Held-out evaluation uses random levels (``eval.random_levels``), whose ``banana_good`` is
    drawn from the prior: the success rate there is the one under the real distribution.

    Raises:
        ValueError: for bad sizes, wall counts or probabilities.
    """
    env = make_fruit_maze(agent_view_size=agent_view_size, max_steps=max_steps, normalize_obs=normalize_obs)
    return LevelSpace(
        env=env,
        generator=fruit_generator(height, width, n_walls, banana_prob),
        mutator=fruit_mutator(num_edits),
        held_out=None,
        held_out_names=(),
        level_stats=fruit_level_stats(max_steps),
        render=render_fruit_level,
        name="fruit_maze",
        editor=fruit_editor(height, width, banana_prob),
        optimal_return=lambda level: solve(good_fruit_maze(level), max_steps).optimal_return,
        aleatoric=fruit_aleatoric(banana_prob),
    )
