"""The MiniGrid-style maze level space of the UED literature."""

from ued.envs.maze.env import (
    ACTION_FORWARD,
    ACTION_LEFT,
    ACTION_RIGHT,
    NUM_ACTIONS,
    MazeObs,
    MazeParams,
    MazeState,
    make_maze,
)
from ued.envs.maze.generators import edit_distance, maze_mutator, random_maze_generator
from ued.envs.maze.level import (
    HELD_OUT_LEVEL_NAMES,
    MazeLevel,
    check_level,
    is_valid_level,
    level_to_string,
    make_level,
    named_level,
    named_level_names,
    named_levels,
    pad_level,
    parse_level,
    stack_levels,
)
from ued.envs.maze.render import render_level, render_state
from ued.envs.maze.solver import Solution, distance_map, optimal_action, optimal_return_fn, solve
from ued.envs.maze.space import fixed_level_generator, maze_level_space, maze_level_stats

__all__ = [
    "ACTION_FORWARD", "ACTION_LEFT", "ACTION_RIGHT", "NUM_ACTIONS", "HELD_OUT_LEVEL_NAMES",
    "MazeLevel", "MazeObs", "MazeParams", "MazeState", "Solution",
    "check_level", "distance_map", "edit_distance", "is_valid_level", "level_to_string",
    "make_level", "make_maze", "maze_mutator", "named_level", "named_level_names",
    "named_levels", "optimal_action", "pad_level", "parse_level", "random_maze_generator",
    "render_level", "render_state", "solve", "stack_levels",
    "optimal_return_fn", "fixed_level_generator", "maze_level_space", "maze_level_stats",
]
