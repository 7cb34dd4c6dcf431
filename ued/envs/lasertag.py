"""LaserTag on the maze (``env=lasertag``): a two-player zero-sum level space for MAESTRO.

Written from the idea of the LaserTag game of Samvelyan et al. 2023 ("MAESTRO: Open-Ended
Environment Design for Multi-Agent Reinforcement Learning", ICLR): two agents on the walls of a
grid level, each seeing the other in its egocentric view, with a tag action whose beam walls
block. A level is the walls and the two start poses; the game is the same for both players
(swapping them swaps the outcome).

Dynamics (one step, both players act at once):

- 5 actions: 0 turn left, 1 turn right, 2 forward, 3 tag, 4 stay.
- Forward into a wall, outside the grid or into the other player's cell leaves a player in place;
  when both step into the same cell neither moves.
- Tag fires a beam from the tagger's cell in its facing direction; it travels until the first
  wall (or the grid's edge) and hits the other player if that player stands on it (after this
  step's moves). A hit ends the episode: the tagger gets +1 and the tagged player -1; both hit at
  once is a draw (0 each). At the time limit the episode ends in a draw.
- ``info["solved"]`` is ``(2,)``: whether each player won (tagged the other without being tagged).
- Observation per player: the maze's ``MazeObs``: an egocentric ``V x V x 3`` uint8 view in
  MiniGrid's encoding (empty ``(1, 0, 0)``, wall ``(2, 5, 0)``, the other player
  ``(10, 0, its direction)``; outside reads as wall) and the player's direction.

Player 1 is the co-player's slot (``LevelEnv.coplayer_slots = 1``): a curriculum that brings
co-players puts them there and the student plays player 0.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from ued.envs.maze.env import MazeObs, OBS_SCALE, turned, view_offsets
from ued.envs.maze.level import DIR_TO_VEC
from ued.types import Discrete, LevelEnv, LevelGenerator, LevelSpace, Mutator
from ued.utils import check_positive_int, repeated_edits

NUM_ACTIONS = 5
LEFT, RIGHT, FORWARD, TAG, STAY = range(5)
EMPTY_ENC, WALL_ENC = (1, 0, 0), (2, 5, 0)
PLAYER_OBJECT = 10

ARENAS = {  # hand-designed arenas for evaluation: '#' wall, '.' floor, '0'/'1' players (0 faces east, 1 west)
    "Open": ["0........", ".........", ".........", ".........", ".........", ".........", ".........",
             ".........", "........1"],
    "Pillars": ["0........", ".........", "..#...#..", ".........", "....#....", ".........", "..#...#..",
                ".........", "........1"],
    "Corridors": ["0...#....", ".##.#.##.", ".#.....#.", ".#.###.#.", "....#....", ".#.###.#.", ".#.....#.",
                  ".##.#.##.", "....#...1"],
    "Cross": ["0...#....", "....#....", "....#....", "....#....", "##.....##", "....#....", "....#....",
              "....#....", "....#...1"],
}


@struct.dataclass
class TagLevel:
    """A LaserTag level.

    Attributes:
        wall_map: bool ``(H, W)``, True where there is a wall (outside the grid is wall too).
        agent_pos: int32 ``(2, 2)``, the players' start cells ``(x, y)``.
        agent_dir: int32 ``(2,)``, their start directions (0 east, 1 south, 2 west, 3 north).
    """

    wall_map: jax.Array
    agent_pos: jax.Array
    agent_dir: jax.Array


@struct.dataclass
class TagState:
    """One LaserTag episode: the players' poses, the time, their returns and the level."""

    agent_pos: jax.Array
    agent_dir: jax.Array
    time: jax.Array
    episode_return: jax.Array
    level: TagLevel


@struct.dataclass
class TagParams:
    """``max_steps``: the episode time limit (int32 ``()``)."""

    max_steps: jax.Array


def _blocked(wall_map, pos):
    h, w = wall_map.shape
    x, y = pos[..., 0], pos[..., 1]
    inside = (x >= 0) & (x < w) & (y >= 0) & (y < h)
    return ~inside | wall_map[jnp.clip(y, 0, h - 1), jnp.clip(x, 0, w - 1)]


def beam_hits(wall_map, tagger_pos, tagger_dir, target_pos):
    """Whether a beam fired from ``tagger_pos`` facing ``tagger_dir`` reaches ``target_pos`` before
    the first wall or the grid's edge (bool ``()``)."""
    h, w = wall_map.shape
    k = jnp.arange(1, max(h, w) + 1)
    cells = tagger_pos[None, :] + k[:, None] * jnp.asarray(DIR_TO_VEC)[tagger_dir][None, :]
    stopped = jnp.cumsum(_blocked(wall_map, cells)) > 0  # at or beyond the first wall
    return jnp.any(~stopped & jnp.all(cells == target_pos[None, :], axis=1))


def valid_tag_level(level: TagLevel) -> jax.Array:
    """bool ``()``: both players inside the grid on free cells of their own, facing one of the
    four directions."""
    pos = jnp.asarray(level.agent_pos, jnp.int32)
    d = jnp.asarray(level.agent_dir, jnp.int32)
    return ~jnp.any(_blocked(level.wall_map, pos)) & ~jnp.all(pos[0] == pos[1]) & jnp.all((d >= 0) & (d < 4))


def make_lasertag(agent_view_size: int = 5, max_steps: int = 100, normalize_obs: bool = False) -> LevelEnv:
    """The two-player LaserTag env as a ``LevelEnv`` (``num_agents=2``, ``coplayer_slots=1``).

    Args:
        agent_view_size: side of each player's egocentric view (odd, >= 3).
        max_steps: episode time limit (a draw when reached).
        normalize_obs: float32 images scaled to ``[0, 1]`` (the maze's ``OBS_SCALE``).

    A level whose players are outside the grid, on walls or on one cell (``valid_tag_level``) is
    not played: its first step ends the episode with reward 0, the players unmoved and
    ``info["invalid_level"]`` True.
    """
    if not isinstance(agent_view_size, int) or agent_view_size < 3 or agent_view_size % 2 == 0:
        raise ValueError(f"agent_view_size must be an odd integer >= 3, got {agent_view_size!r}")
    check_positive_int(max_steps, "max_steps")
    offsets = jnp.asarray(view_offsets(agent_view_size))
    dirs = jnp.asarray(DIR_TO_VEC)
    scale = jnp.asarray(OBS_SCALE)

    def view(level: TagLevel, pos, direction, other_pos, other_dir):
        off = offsets[direction]
        cells = pos[None, None, :] + off  # (V, V, 2) world cells
        walls = _blocked(level.wall_map, cells)
        image = jnp.where(walls[..., None], jnp.array(WALL_ENC), jnp.array(EMPTY_ENC))
        there = jnp.all(cells == other_pos[None, None, :], axis=-1)
        player = jnp.stack([jnp.int32(PLAYER_OBJECT), jnp.int32(0), other_dir.astype(jnp.int32)])
        image = jnp.where(there[..., None], player, image).astype(jnp.uint8)
        return MazeObs(image=image.astype(jnp.float32) / scale if normalize_obs else image, agent_dir=direction)

    def observe(state: TagState):
        first = view(state.level, state.agent_pos[0], state.agent_dir[0], state.agent_pos[1], state.agent_dir[1])
        second = view(state.level, state.agent_pos[1], state.agent_dir[1], state.agent_pos[0], state.agent_dir[0])
        return jax.tree.map(lambda a, b: jnp.stack([a, b]), first, second)

    def reset_to_level(key, level: TagLevel, params: TagParams):
        del key, params
        state = TagState(agent_pos=jnp.asarray(level.agent_pos, jnp.int32), agent_dir=jnp.asarray(level.agent_dir, jnp.int32),
                         time=jnp.zeros((), jnp.int32), episode_return=jnp.zeros((2,), jnp.float32), level=level)
        return observe(state), state

    def step(key, state: TagState, action, params: TagParams):
        del key  # deterministic
        a = jnp.asarray(action, jnp.int32).reshape(2)
        walls = state.level.wall_map
        pos, d = state.agent_pos, state.agent_dir
        valid = valid_tag_level(state.level)
        a = jnp.where(valid, a, STAY)
        front = pos + dirs[d]
        other = pos[::-1]
        wants = (a == FORWARD) & ~_blocked(walls, front)
        into_other = jnp.all(front == other, axis=1)
        same_cell = jnp.all(front[0] == front[1]) & wants[0] & wants[1]
        moves = wants & ~into_other & ~same_cell
        new_pos = jnp.where(moves[:, None], front, pos)
        new_dir = turned(d, a)
        hits = (a == TAG) & jax.vmap(beam_hits, in_axes=(None, 0, 0, 0))(walls, pos, d, new_pos[::-1])
        won = hits & ~hits[::-1]
        reward = won.astype(jnp.float32) - won[::-1].astype(jnp.float32)
        time = state.time + 1
        end = jnp.any(hits) | (time >= jnp.asarray(params.max_steps, jnp.int32)) | ~valid
        done = jnp.full((2,), end)
        ret = state.episode_return + reward
        new = state.replace(agent_pos=new_pos, agent_dir=new_dir, time=time, episode_return=ret)
        info = {"solved": won, "episode_return": jnp.where(done, ret, 0.0),
                "episode_length": jnp.where(done, time, 0), "tagged": hits[::-1],
                "invalid_level": jnp.full((2,), ~valid)}
        return observe(new), new, reward, done, info

    return LevelEnv(reset_to_level=reset_to_level, step=step,
                    default_params=TagParams(max_steps=jnp.asarray(max_steps, jnp.int32)),
                    action_space=Discrete(NUM_ACTIONS), get_level=lambda s: s.level, name="lasertag",
                    max_episode_steps=int(max_steps), num_agents=2, coplayer_slots=1)


def _two_free_cells(key, wall_map):
    free = (~wall_map).reshape(-1)
    cells = jax.lax.top_k(jnp.where(free, jax.random.gumbel(key, free.shape), -jnp.inf), 2)[1]
    w = wall_map.shape[1]
    return jnp.stack([cells % w, cells // w], axis=1).astype(jnp.int32)


def lasertag_generator(size: int = 9, n_walls: int = 15) -> LevelGenerator:
    """Random arenas: ``n_walls`` walls at distinct random cells of a ``size x size`` grid and the
    two players on distinct free cells with random directions."""
    if not isinstance(size, int) or size < 3:
        raise ValueError(f"size must be an integer >= 3, got {size!r}")
    if not isinstance(n_walls, int) or not 0 <= n_walls <= size * size - 2:
        raise ValueError(f"n_walls must be an integer in [0, {size * size - 2}], got {n_walls!r}")

    def sample(key):
        k_walls, k_cells, k_dir = jax.random.split(key, 3)
        walls = (jax.random.permutation(k_walls, size * size) < n_walls).reshape(size, size)
        return TagLevel(wall_map=walls, agent_pos=_two_free_cells(k_cells, walls),
                        agent_dir=jax.random.randint(k_dir, (2,), 0, 4))

    return LevelGenerator(sample=sample)


def lasertag_mutator(num_edits: int = 10) -> Mutator:
    """ACCEL-style edits: each flips a random cell not holding a player, or moves one player
    (chosen uniformly) to a random free cell, with equal probability."""
    check_positive_int(num_edits, "num_edits")

    def edit(level: TagLevel, key):
        h, w = level.wall_map.shape
        k_kind, k_cell, k_move, k_who = jax.random.split(key, 4)
        occupied = jnp.zeros((h, w), bool).at[level.agent_pos[:, 1], level.agent_pos[:, 0]].set(True)
        cell = jax.random.categorical(k_cell, jnp.where(occupied.reshape(-1), -jnp.inf, 0.0))
        flat = level.wall_map.reshape(-1)
        flipped = flat.at[cell].set(~flat[cell]).reshape(h, w)
        free = (~level.wall_map & ~occupied).reshape(-1)
        target = jax.random.categorical(k_move, jnp.where(free, 0.0, -jnp.inf))
        who = jax.random.randint(k_who, (), 0, 2)
        moved = level.agent_pos.at[who].set(jnp.where(jnp.any(free), jnp.stack([target % w, target // w]),
                                                      level.agent_pos[who]))
        flip = jax.random.bernoulli(k_kind)
        return level.replace(wall_map=jnp.where(flip, flipped, level.wall_map),
                             agent_pos=jnp.where(flip, level.agent_pos, moved)), None

    return repeated_edits(edit, num_edits)


def parse_arena(rows: Sequence[str]) -> TagLevel:
    """A level from text rows: ``#`` wall, ``.`` floor, ``0``/``1`` the players (0 faces east, 1 west)."""
    grid = np.array([list(r) for r in rows])
    found = {p: np.argwhere(grid == p) for p in "01"}
    if any(len(v) != 1 for v in found.values()):
        raise ValueError("an arena needs exactly one '0' and one '1'")
    pos = np.array([[found[p][0][1], found[p][0][0]] for p in "01"], np.int32)
    return TagLevel(wall_map=jnp.asarray(grid == "#"), agent_pos=jnp.asarray(pos), agent_dir=jnp.array([0, 2], jnp.int32))


def named_arenas(names: Sequence[str], size: int = 9) -> TagLevel:
    """The hand-designed arenas (``ARENAS``) as levels with leading axis ``len(names)``."""
    out = []
    for name in names:
        if name not in ARENAS:
            raise ValueError(f"unknown LaserTag arena {name!r}; choose from {', '.join(ARENAS)}")
        if len(ARENAS[name]) != size:
            raise ValueError(f"arena {name} is {len(ARENAS[name])}x{len(ARENAS[name])}, the level space's size is {size}")
        out.append(parse_arena(ARENAS[name]))
    return jax.tree.map(lambda *x: jnp.stack(x), *out)


def lasertag_level_stats(levels: TagLevel) -> dict:
    """``(B,)``: ``walls``, ``distance`` between the players (4-connected cells, NaN when walled
    apart) and ``solvable`` (1 when they can reach each other)."""
    from ued.envs.jaxnav import grid_distance  # a pure-JAX BFS (no package needed)

    d = jax.vmap(lambda lv: grid_distance(lv.wall_map.astype(jnp.int32), lv.agent_pos[0, ::-1],
                                          lv.agent_pos[1, ::-1]))(levels)
    return {"walls": jnp.sum(levels.wall_map, axis=(1, 2)).astype(jnp.float32),
            "distance": jnp.where(d >= 0, d.astype(jnp.float32), jnp.nan), "solvable": (d >= 0).astype(jnp.float32)}


PLAYER_RGB = np.array([[220, 50, 50], [50, 110, 230]], np.int32)


def render_arena(level: TagLevel, tile: int = 12):
    """uint8 ``(H*tile, W*tile, 3)``: walls grey, floor black, player 0 red and player 1 blue, each
    with a white mark on the side it faces."""
    h, w = level.wall_map.shape
    ys, xs = jnp.meshgrid(jnp.arange(h * tile), jnp.arange(w * tile), indexing="ij")
    cx, cy = xs // tile, ys // tile
    img = jnp.where(level.wall_map[cy, cx][..., None], jnp.array([100, 100, 100]), jnp.array([0, 0, 0]))
    fx, fy = (xs % tile + 0.5) / tile - 0.5, (ys % tile + 0.5) / tile - 0.5  # position inside the tile
    for i in range(2):
        here = (cx == level.agent_pos[i, 0]) & (cy == level.agent_pos[i, 1])
        img = jnp.where((here & (fx**2 + fy**2 <= 0.16))[..., None], jnp.asarray(PLAYER_RGB[i]), img)
        v = jnp.asarray(DIR_TO_VEC)[level.agent_dir[i]]
        mark = here & ((fx - 0.25 * v[0]) ** 2 + (fy - 0.25 * v[1]) ** 2 <= 0.01)
        img = jnp.where(mark[..., None], jnp.array([255, 255, 255]), img)
    return img.astype(jnp.uint8)


def lasertag_level_space(size: int = 9, n_walls: int = 15, agent_view_size: int = 5, max_steps: int = 100,
                         num_edits: int = 10, normalize_obs: bool = False,
                         held_out: Sequence[str] | None = tuple(ARENAS)) -> LevelSpace:
    """The LaserTag level space (``env=lasertag``).

    Args:
        size: the grid's side.
        n_walls: walls of a random arena.
        agent_view_size: each player's egocentric view.
        max_steps: episode time limit.
        num_edits: mutator edits.
        normalize_obs: float32 observations in ``[0, 1]``.
        held_out: hand-designed arenas (``ARENAS``) to evaluate on, or None.
    """
    names = tuple(held_out or ())
    return LevelSpace(env=make_lasertag(agent_view_size, max_steps, normalize_obs),
                      generator=lasertag_generator(size, n_walls), mutator=lasertag_mutator(num_edits),
                      held_out=named_arenas(names, size) if names else None, held_out_names=names,
                      level_stats=lasertag_level_stats, render=render_arena, name="lasertag")


__all__ = ["ARENAS", "NUM_ACTIONS", "TagLevel", "TagParams", "TagState", "beam_hits", "lasertag_generator",
           "lasertag_level_space", "lasertag_level_stats", "lasertag_mutator", "make_lasertag", "named_arenas",
           "parse_arena", "render_arena", "valid_tag_level"]
