import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ued.envs.maze import (
    HELD_OUT_LEVEL_NAMES,
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
from ued.envs.maze.level import named_level_text

EXPECTED_NAMES = {
    "SixteenRooms", "SixteenRooms2", "Labyrinth", "LabyrinthFlipped", "Labyrinth2",
    "StandardMaze", "StandardMaze2", "StandardMaze3", "TrivialMaze", "TrivialMaze2", "TrivialMaze3",
}


def test_all_named_levels_ship():
    assert EXPECTED_NAMES <= set(named_level_names())
    assert set(HELD_OUT_LEVEL_NAMES) <= set(named_level_names())


@pytest.mark.parametrize("name", sorted(EXPECTED_NAMES))
def test_named_level_round_trip(name):
    text = named_level_text(name)
    level = named_level(name)
    assert level_to_string(level) == text
    assert level_to_string(parse_level(level_to_string(level))) == text
    check_level(level)


def test_parse_fields():
    level = parse_level("""
        .#.
        >#G
    """)
    np.testing.assert_array_equal(level.wall_map, [[False, True, False], [False, True, False]])
    assert level.goal_pos.tolist() == [2, 1]
    assert level.agent_pos.tolist() == [0, 1]
    assert int(level.agent_dir) == 0
    assert (int(level.width), int(level.height)) == (3, 2)
    assert level.goal_pos.dtype == jnp.int32 and level.wall_map.dtype == jnp.bool_


@pytest.mark.parametrize("char,direction", [(">", 0), ("v", 1), ("<", 2), ("^", 3)])
def test_agent_directions(char, direction):
    level = parse_level(f"{char}.G")
    assert int(level.agent_dir) == direction
    assert level_to_string(level) == f"{char}.G"


@pytest.mark.parametrize(
    "text,message",
    [
        ("..G\n>.", "row 1 has 2 characters but row 0 has 3"),
        ("...\n..G", "no agent"),
        (">.<\n..G", "2 agents in maze at (row 0, column 0), (row 0, column 2)"),
        (">..\n...", "no goal"),
        (">.G\nG..", "2 goals"),
        (">xG", "unknown character 'x' at row 0, column 1"),
        ("", "empty maze"),
    ],
)
def test_malformed_strings_raise(text, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_level(text)


def test_agent_or_goal_on_wall_is_invalid():
    walls = np.array([[True, False, False]])
    with pytest.raises(ValueError, match="agent at row 0, column 0 is on a wall"):  # refused on entry
        make_level(walls, goal_pos=(2, 0), agent_pos=(0, 0), agent_dir=0)
    valid = make_level(np.zeros_like(walls), goal_pos=(2, 0), agent_pos=(0, 0), agent_dir=0)
    on_wall = valid.replace(wall_map=jnp.asarray(walls))  # built past the check, as a compiled generator could
    with pytest.raises(ValueError, match="agent at row 0, column 0 is on a wall"):
        check_level(on_wall)
    assert not bool(is_valid_level(on_wall))
    goal_on_wall = on_wall.replace(goal_pos=jnp.array([0, 0], jnp.int32), agent_pos=jnp.array([2, 0], jnp.int32))
    with pytest.raises(ValueError, match="goal at row 0, column 0 is on a wall"):
        check_level(goal_on_wall)
    assert not bool(is_valid_level(goal_on_wall))
    assert bool(is_valid_level(parse_level(">.G")))


def test_unknown_named_level_lists_valid_names():
    with pytest.raises(ValueError, match="unknown named level 'Nope'; valid names are: .*SixteenRooms"):
        named_level("Nope")


def test_pad_and_stack_keep_levels_intact():
    small = named_level("TrivialMaze")
    padded = pad_level(small, 13, 13)
    assert padded.wall_map.shape == (13, 13)
    assert bool(padded.wall_map[5, 5]) and bool(padded.wall_map[0, 3])  # padding is walls
    assert level_to_string(padded) == level_to_string(small)
    batch = named_levels(("TrivialMaze", "SixteenRooms", "TrivialMaze2"))
    assert batch.wall_map.shape == (3, 13, 13)
    assert batch.width.tolist() == [3, 13, 5]
    second = jax.tree.map(lambda x: x[2], batch)
    assert level_to_string(second) == named_level_text("TrivialMaze2")
    with pytest.raises(ValueError, match="cannot pad"):
        pad_level(named_level("SixteenRooms"), 5, 5)


def test_level_to_string_rejects_a_batch():
    with pytest.raises(ValueError, match="single level"):
        level_to_string(named_levels(("TrivialMaze", "TrivialMaze2")))
