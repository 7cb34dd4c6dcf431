"""The maze as a ``LevelSpace``: what ``env=maze`` selects."""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp

from ued.envs.maze.env import make_maze
from ued.envs.maze.generators import maze_mutator, random_maze_generator
from ued.envs.maze.level import HELD_OUT_LEVEL_NAMES, make_level, named_levels
from ued.envs.maze.env import MazeState
from ued.envs.maze.render import render_level, render_state
from ued.envs.maze.solver import optimal_return_fn, solve
from ued.types import GridEditor, LevelGenerator, LevelSpace


def maze_level_stats(max_steps: int):
    """``levels (B, ...) -> {"walls", "shortest_path", "optimal_return", "solvable"}``, each ``(B,)``.

    ``shortest_path`` (env steps of an optimal episode) is NaN and ``optimal_return`` 0 for
    unsolvable levels; ``solvable`` is 1.0 or 0.0 (the CVaR evaluator filters on it).
    """

    def stats(levels):
        sol = jax.vmap(lambda lv: solve(lv, max_steps))(levels)
        h, w = levels.wall_map.shape[-2:]
        ys, xs = jnp.arange(h)[:, None], jnp.arange(w)[None, :]
        inside = (xs < levels.width[:, None, None]) & (ys < levels.height[:, None, None])
        return {
            "walls": jnp.sum(levels.wall_map & inside, axis=(1, 2)).astype(jnp.float32),
            "shortest_path": jnp.where(sol.is_solvable, sol.min_steps, jnp.nan),
            "optimal_return": sol.optimal_return.astype(jnp.float32),
            "solvable": sol.is_solvable.astype(jnp.float32),
        }

    return stats


def render_maze_episode(level, trace):
    """Frames ``(T, H, W, 3)`` of an evaluation trace of ``(x, y, dir, done)`` rows on ``level``."""

    def frame(row):
        state = MazeState(agent_pos=row[:2], agent_dir=row[2], time=jnp.zeros((), jnp.int32),
                          episode_return=jnp.zeros((), jnp.float32), level=level)
        return render_state(state, tile_size=8)

    return jax.vmap(frame)(trace)


def fixed_level_generator(names: Sequence[str], height: int, width: int) -> LevelGenerator:
    """A generator that draws uniformly from named levels (e.g. the TrivialMazes), padded.

    Raises:
        ValueError: for an unknown name (listing the valid ones) or an empty list.
    """
    if not names:
        raise ValueError("fixed_level_generator needs at least one level name")
    levels = named_levels(tuple(names), height=height, width=width)
    if levels.wall_map.shape[-2:] != (height, width):
        raise ValueError(f"named levels {list(names)} do not fit in {height}x{width}")
    n = len(names)
    return LevelGenerator(sample=lambda key: jax.tree.map(lambda x: x[jax.random.randint(key, (), 0, n)], levels))


def maze_level_space(height: int = 13, width: int = 13, n_walls: int = 25, sample_n_walls: bool = False,
                     agent_view_size: int = 5, max_steps: int = 250, full_obs: bool = False,
                     normalize_obs: bool = False, num_edits: int = 20, move_agent: bool = False, noop_edits: bool = True,
                     held_out: Sequence[str] = HELD_OUT_LEVEL_NAMES,
                     train_levels: Sequence[str] | None = None, eval_n_walls: int | None = None,
                     eval_sample_n_walls: bool | None = None) -> LevelSpace:
    """The maze level space.

    Args:
        height, width, n_walls, sample_n_walls: the random generator (13x13, 25 walls).
        agent_view_size, max_steps, full_obs, normalize_obs: the env (5, 250).
        num_edits, move_agent, noop_edits: the ACCEL mutator (``maze_mutator``).
        held_out: named evaluation levels (default the 8 held-out mazes of the literature).
        train_levels: if given, the generator draws from these named levels instead of
            random mazes (e.g. the TrivialMazes for a quick learning check).
        eval_n_walls, eval_sample_n_walls: where the CVaR evaluator's random levels come from
            when it differs from training (ACCEL trains from empty rooms, ``n_walls=0``, and is
            evaluated on mazes like its baselines); ``None`` (default): the training generator's.

    Raises:
        ValueError: for bad sizes, an unknown named level (listing the valid names), or
            named levels larger than ``height x width``.
    """
    env = make_maze(agent_view_size=agent_view_size, max_steps=max_steps, full_obs=full_obs,
                    normalize_obs=normalize_obs)
    if train_levels:
        generator = fixed_level_generator(list(train_levels), height, width)
    else:
        generator = random_maze_generator(height, width, n_walls, sample_n_walls)
    eval_generator = None
    if eval_n_walls is not None or eval_sample_n_walls is not None:
        eval_generator = random_maze_generator(
            height, width, n_walls if eval_n_walls is None else eval_n_walls,
            sample_n_walls if eval_sample_n_walls is None else bool(eval_sample_n_walls))
    held = None
    if held_out:
        held = named_levels(tuple(held_out))
        h, w = held.wall_map.shape[-2:]
        if h > height or w > width:
            raise ValueError(
                f"held-out levels are {h}x{w} but the level space is {height}x{width}; "
                "enlarge env.height/env.width or choose smaller held_out levels")
        held = named_levels(tuple(held_out), height=height, width=width)
    return LevelSpace(
        env=env,
        generator=generator,
        mutator=maze_mutator(num_edits=num_edits, move_agent=move_agent, noop_edits=noop_edits),
        held_out=held,
        held_out_names=tuple(held_out or ()),
        level_stats=maze_level_stats(max_steps),
        render=render_level,
        name="maze",
        render_episode=render_maze_episode,
        editor=maze_editor(height, width),
        optimal_return=optimal_return_fn(max_steps),
        eval_generator=eval_generator,
    )


def maze_editor(height: int, width: int) -> GridEditor:
    """PAIRED's editor for ``height x width`` mazes: walls, goal and agent cells as given, the
    agent's direction as given (or random)."""

    def build(walls, goal, agent, key, heading):
        return make_level(walls, goal, agent, jnp.where(heading >= 0, heading, jax.random.randint(key, (), 0, 4)))

    return GridEditor(height=height, width=width, build=build, headings=4)
