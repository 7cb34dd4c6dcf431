"""MiniGrid through NAVIX (Pignatelli et al., 2024, "NAVIX: Scaling MiniGrid Environments with
JAX") as a ued level space (``pip install -e '.[navix]'``).

NAVIX has no reset-to-level: its environments draw their layouts in ``_reset``. A ued level is
the layout as fixed-shape arrays (walls, lava, the player's pose, the goal, an optional key and
locked door), built into the package's own ``State`` (walls as its grid's ``-1`` cells; player,
key, door, goal and lava as its entities) and stepped with the package's own ``_step`` (its
``step`` would auto-reset to a random layout; ued's ``auto_replay`` resets to the same level).
Rewards, terminations and observations are the package's functions: ``on_goal_reached`` with
the MiniGrid time penalty (``penality_coeff``: reward ``1 - 0.9 t / T`` on reaching the goal by
default, as MiniGrid and ued's maze; 0 gives the package's plain 1.0), termination on the goal
or on falling into lava, and the egocentric ``symbolic_first_person`` view with the radius set
for this level space (the package keeps the radius in a module-level variable, which the
adapter sets only while its observation is traced, so two level spaces cannot leak into each
other).

Domain randomisation is the package's own distribution: a level is drawn by resetting one of
its registered environments (``Navix-DoorKey-Random-8x8-v0`` by default) with the key and
reading the layout out of its state. Named held-out levels are other registered environments
reset with ``key(0)`` (fixed layouts), padded with walls to the level space's size.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
from flax import struct

from ued.envs.episodes import EpisodeState, begin_episode, end_step
from ued.types import Discrete, GridEditor, LevelEnv, LevelGenerator, LevelSpace, Mutator
from ued.utils import check_positive_int, repeated_edits

INSTALL = "pip install -e '.[navix]'  (or: pip install navix==0.7.4)"
KEY_ID = 3  # the key id DoorKey's door requires (the package's DoorKey)
SUPPORTED = ("player", "goal", "key", "door", "wall", "lava")


def _navix():
    try:
        import navix
        from navix import observations, rewards, terminations
    except ImportError as e:
        raise ImportError(f"env=navix needs the navix package, which is not installed: {INSTALL}") from e
    return navix, observations, rewards, terminations


@struct.dataclass
class NavixLevel:
    """A MiniGrid layout.

    Attributes:
        walls: bool ``(H, W)`` (the border included).
        lava: bool ``(H, W)``.
        player_pos: int32 ``(2,)``, ``(row, col)``.
        player_dir: int32 ``()``, 0 east, 1 south, 2 west, 3 north (the package's).
        goal_pos: int32 ``(2,)``.
        key_pos: int32 ``(2,)``.
        door_pos: int32 ``(2,)``.
        has_door: bool ``()``: the level has a yellow key and the locked door it opens
            (otherwise ``key_pos``/``door_pos`` are ignored).
    """

    walls: jax.Array
    lava: jax.Array
    player_pos: jax.Array
    player_dir: jax.Array
    goal_pos: jax.Array
    key_pos: jax.Array
    door_pos: jax.Array
    has_door: jax.Array


class GridObs(NamedTuple):
    """A NAVIX observation in the maze agent's format.

    Attributes:
        image: uint8 ``(V, V, 20)``: one-hot entity tag (11), colour (6) and state (3) of each
            cell of the package's egocentric symbolic view (``V = 2 radius + 1``).
        agent_dir: int32 ``()``.
    """

    image: jax.Array
    agent_dir: jax.Array


NavixState = EpisodeState  # ``inner``: the package's ``Timestep``; ``level``: a ``NavixLevel``


def _outside(height: int, width: int):
    """A position outside the grid: entities there are never walked into and never drawn
    (JAX drops scatters to positive out-of-range indices)."""
    return jnp.array([height, width], jnp.int32)


def build_state(level: NavixLevel, key):
    """The package's ``State`` for a level (a one-element placeholder rendering cache: the
    symbolic observations never read it)."""
    navix, *_ = _navix()
    from navix.components import EMPTY_POCKET_ID
    from navix.entities import Door, Goal, Key, Lava, Player
    from navix.rendering.cache import RenderingCache
    from navix.rendering.registry import PALETTE
    from navix.states import State

    h, w = level.walls.shape
    out = _outside(h, w)
    cells = jnp.stack(jnp.meshgrid(jnp.arange(h), jnp.arange(w), indexing="ij"), -1).reshape(-1, 2).astype(jnp.int32)
    lava_pos = jnp.where(level.lava.reshape(-1, 1), cells, out)
    entities = {
        "player": Player.create(position=level.player_pos.astype(jnp.int32), direction=level.player_dir.astype(jnp.int32),
                                pocket=EMPTY_POCKET_ID)[None],
        "key": Key.create(position=jnp.where(level.has_door, level.key_pos, out).astype(jnp.int32),
                          id=jnp.asarray(KEY_ID), colour=PALETTE.YELLOW)[None],
        "door": Door.create(position=jnp.where(level.has_door, level.door_pos, out).astype(jnp.int32),
                            requires=jnp.asarray(KEY_ID), open=jnp.asarray(False), colour=PALETTE.YELLOW)[None],
        "goal": Goal.create(position=level.goal_pos.astype(jnp.int32), probability=jnp.asarray(1.0))[None],
        "lava": Lava.create(position=lava_pos),
    }
    grid = jnp.where(level.walls, -1, 0).astype(jnp.int32)
    return State(key=key, grid=grid, cache=RenderingCache(patches=jnp.zeros((1, 1, 1, 3), jnp.uint8)),
                 entities=entities)


def level_from_state(state, height: int, width: int) -> NavixLevel:
    """Reads a layout out of a package ``State`` (one player and goal, at most one key and
    door; walls from its grid and wall entities; lava entities), padded with walls to
    ``height x width``. Jittable: the entity counts are static.

    Raises:
        ValueError: an entity ued's levels do not hold (balls, boxes), more than one key or
            door, or a grid larger than ``height x width``.
    """
    h, w = state.grid.shape
    if h > height or w > width:
        raise ValueError(f"a {h}x{w} NAVIX layout does not fit the {height}x{width} level space; "
                         "enlarge env.height/env.width")
    ents = state.entities
    unknown = sorted(set(ents) - set(SUPPORTED))
    if unknown:
        raise ValueError(f"NAVIX layouts with {', '.join(unknown)} are not supported; ued's NAVIX levels hold "
                         f"{', '.join(SUPPORTED)}")
    for k in ("player", "goal"):
        if k not in ents or ents[k].position.shape[0] != 1:
            raise ValueError(f"a NAVIX layout needs exactly one {k}")
    for k in ("key", "door"):
        if k in ents and ents[k].position.shape[0] != 1:
            raise ValueError(f"NAVIX layouts with {ents[k].position.shape[0]} {k}s are not supported (at most one)")
    walls = jnp.ones((height, width), bool).at[:h, :w].set(state.grid == -1)
    if "wall" in ents:
        walls = walls.at[tuple(ents["wall"].position.T)].set(True, mode="drop")
    lava = jnp.zeros((height, width), bool)
    if "lava" in ents:
        lava = lava.at[tuple(ents["lava"].position.T)].set(True, mode="drop")
    has_door = "key" in ents and "door" in ents
    zero = jnp.zeros(2, jnp.int32)
    return NavixLevel(walls=walls, lava=lava, player_pos=ents["player"].position[0].astype(jnp.int32),
                      player_dir=jnp.asarray(ents["player"].direction[0], jnp.int32),
                      goal_pos=ents["goal"].position[0].astype(jnp.int32),
                      key_pos=ents["key"].position[0].astype(jnp.int32) if has_door else zero,
                      door_pos=ents["door"].position[0].astype(jnp.int32) if has_door else zero,
                      has_door=jnp.asarray(has_door))


def make_navix(height: int = 8, width: int = 8, max_steps: int = 100, radius: int = 3,
               time_penalty: float = 0.9) -> LevelEnv:
    """NAVIX's MiniGrid dynamics on ``height x width`` levels as a ``LevelEnv``.

    Args:
        height, width: the level size (the border included).
        max_steps: the episode time limit (the package's registered environments: 100).
        radius: the egocentric view's radius (``2 radius + 1`` cells a side; MiniGrid's 7x7: 3).
        time_penalty: the package's ``penality_coeff``: reaching the goal at step ``t`` pays
            ``1 - time_penalty * t / max_steps`` (MiniGrid: 0.9; the package's default: 0).

    A level whose player, goal, key or door is outside the grid or on a wall, or whose player
    stands on lava, the goal, the key or the door, is not played: its first step ends the
    episode with reward 0 and ``info["invalid_level"]`` True.
    """
    for name, v, low in (("height", height, 3), ("width", width, 3), ("max_steps", max_steps, 1), ("radius", radius, 1)):
        if not isinstance(v, int) or isinstance(v, bool) or v < low:
            raise ValueError(f"navix {name} must be an integer >= {low}, got {v!r}")
    if not isinstance(time_penalty, (int, float)) or not 0 <= time_penalty <= 1:
        raise ValueError(f"time_penalty must be in [0, 1], got {time_penalty!r}")
    navix, observations, rewards, terminations = _navix()
    from navix.environments.empty import Room

    def observe_symbolic(state):
        old = observations.RADIUS
        observations.set_radius(radius)  # the package reads its module-level radius while tracing
        try:
            return observations.symbolic_first_person(state)
        finally:
            observations.set_radius(old)

    view = 2 * radius + 1
    env = Room.create(height=height, width=width, max_steps=max_steps, observation_fn=observe_symbolic,
                      observation_space=navix.spaces.Discrete.create(n_elements=256, shape=(view, view, 3),
                                                                     dtype=jnp.uint8),
                      reward_fn=rewards.on_goal_reached,
                      termination_fn=terminations.compose(terminations.on_goal_reached, terminations.on_lava_fall),
                      penality_coeff=float(time_penalty), random_start=False)

    def to_obs(ts):
        o = ts.observation.astype(jnp.int32)
        image = jnp.concatenate([jax.nn.one_hot(o[..., 0], 11, dtype=jnp.uint8),
                                 jax.nn.one_hot(o[..., 1], 6, dtype=jnp.uint8),
                                 jax.nn.one_hot(o[..., 2], 3, dtype=jnp.uint8)], axis=-1)
        return GridObs(image=image, agent_dir=jnp.asarray(ts.state.entities["player"].direction[0], jnp.int32))

    def reset_to_level(key, level: NavixLevel, params):
        state = build_state(level, key)
        ts = navix.environments.environment.Timestep(
            t=jnp.asarray(0, jnp.int32), observation=env.observation_fn(state), action=jnp.asarray(-1, jnp.int32),
            reward=jnp.asarray(0.0, jnp.float32), step_type=jnp.asarray(0, jnp.int32), state=state,
            info={"return": jnp.asarray(0.0, jnp.float32)})
        return to_obs(ts), begin_episode(ts, level)

    def step(key, state: EpisodeState, action, params):
        del key  # the package keeps its key in its state
        ts = env._step(state.inner, jnp.asarray(action, jnp.int32))
        ts = ts.replace(t=jnp.asarray(ts.t, jnp.int32), reward=jnp.asarray(ts.reward, jnp.float32),
                        step_type=jnp.asarray(ts.step_type, jnp.int32), action=jnp.asarray(ts.action, jnp.int32),
                        info={"return": jnp.asarray(ts.info["return"], jnp.float32)})
        state, reward, done, info = end_step(state, ts, ts.reward, ts.step_type > 0,
                                             ts.state.events.goal_reached.happened, valid_level(state.level))
        return to_obs(ts), state, reward, done, info

    return LevelEnv(reset_to_level=reset_to_level, step=step, default_params=None, action_space=Discrete(7),
                    get_level=lambda s: s.level, name="navix", max_episode_steps=max_steps)


def _inside(pos, h, w):
    return (pos[0] >= 0) & (pos[0] < h) & (pos[1] >= 0) & (pos[1] < w)


def _at(grid, pos):
    """``grid[pos]``, False outside the grid."""
    h, w = grid.shape
    return _inside(pos, h, w) & grid[jnp.clip(pos[0], 0, h - 1), jnp.clip(pos[1], 0, w - 1)]


def valid_level(level: NavixLevel):
    """bool ``()``: every entity inside the grid and off the walls, the player on its own
    free cell (not lava, goal, key or door), key and door on distinct cells."""
    h, w = level.walls.shape
    same = lambda a, b: jnp.all(a == b)  # noqa: E731
    ok = _inside(level.player_pos, h, w) & _inside(level.goal_pos, h, w)
    ok &= ~_at(level.walls, level.player_pos) & ~_at(level.walls, level.goal_pos) & ~_at(level.lava, level.player_pos)
    ok &= ~same(level.player_pos, level.goal_pos)
    door_ok = _inside(level.key_pos, h, w) & _inside(level.door_pos, h, w) & ~_at(level.walls, level.key_pos) \
        & ~_at(level.walls, level.door_pos) & ~same(level.key_pos, level.door_pos) \
        & ~same(level.player_pos, level.key_pos) & ~same(level.player_pos, level.door_pos) \
        & ~same(level.goal_pos, level.key_pos) & ~same(level.goal_pos, level.door_pos)
    return ok & (~level.has_door | door_ok)


def _flood(passable, start):
    h, w = passable.shape
    seen = jnp.zeros((h, w), bool).at[start[0], start[1]].set(True)

    def grow(seen, _):
        nb = seen | jnp.roll(seen, 1, 0).at[0].set(False) | jnp.roll(seen, -1, 0).at[-1].set(False) \
            | jnp.roll(seen, 1, 1).at[:, 0].set(False) | jnp.roll(seen, -1, 1).at[:, -1].set(False)
        return nb & passable | seen, None

    return jax.lax.scan(grow, seen, None, length=h * w)[0]


def _adjacent(region, pos):
    return jnp.any(jnp.stack([_at(region, pos + d) for d in jnp.array([[0, 1], [1, 0], [0, -1], [-1, 0]])]))


def is_solvable(level: NavixLevel):
    """bool ``()``: the goal can be reached: through free cells (never lava), and through the
    door only if the key can be picked up first (a cell next to it reachable without the
    door). The player picks up and opens from the cell in front, as in MiniGrid."""
    h, w = level.walls.shape
    door_cell = jnp.zeros((h, w), bool).at[level.door_pos[0], level.door_pos[1]].set(level.has_door, mode="drop")
    key_cell = jnp.zeros((h, w), bool).at[level.key_pos[0], level.key_pos[1]].set(level.has_door, mode="drop")
    free = ~level.walls & ~level.lava
    before = _flood(free & ~door_cell & ~key_cell, level.player_pos)
    key_reached = level.has_door & _adjacent(before, level.key_pos)
    after = _flood(jnp.where(key_reached, free, free & ~door_cell & ~key_cell), level.player_pos)
    return valid_level(level) & _at(after, level.goal_pos)


def navix_generator(suite: str = "Navix-DoorKey-Random-8x8-v0", height: int = 8, width: int = 8) -> LevelGenerator:
    """The package's own layout distribution: ``sample(key)`` resets the registered
    environment ``suite`` with ``key`` and reads its layout (``level_from_state``).

    Raises:
        ValueError: an unknown suite (listing the package's), or one whose layouts ued's
            levels cannot hold or that does not fit ``height x width``.
    """
    env = _suite_env(suite)

    def sample(key):
        return level_from_state(env.reset(key).state, height, width)

    try:  # a layout ued cannot hold is refused here, before any compile
        jax.eval_shape(sample, jax.random.key(0))
    except ValueError as e:
        raise ValueError(f"suite {suite}: {e}") from None
    return LevelGenerator(sample=sample)


def _suite_env(name: str):
    navix, *_ = _navix()
    if name not in navix.registry():
        raise ValueError(f"unknown NAVIX environment {name!r}; valid: {', '.join(navix.registry())}")
    return navix.make(name)


def named_levels(names: Sequence[str], height: int, width: int):
    """Registered NAVIX environments as fixed layouts (each reset with ``key(0)``), padded to
    ``height x width``: leaves with leading axis ``N``."""
    levels = []
    for n in names:
        try:
            levels.append(level_from_state(_suite_env(n).reset(jax.random.key(0)).state, height, width))
        except ValueError as e:
            raise ValueError(f"held-out level {n}: {e}") from None
    return jax.tree.map(lambda *x: jnp.stack(x), *levels)


def navix_mutator(num_edits: int = 5) -> Mutator:
    """ACCEL edits: each edit picks an interior cell and either flips it between wall and
    floor, flips it between lava and floor, or moves the goal there (a third each); an edit
    that would touch the player, goal, key or door cell is skipped, so levels stay valid."""
    check_positive_int(num_edits, "num_edits")

    def edit(level: NavixLevel, key):
        k_cell, k_kind = jax.random.split(key)
        h, w = level.walls.shape
        cell = jnp.stack([jax.random.randint(k_cell, (), 1, h - 1),
                          jax.random.randint(jax.random.fold_in(k_cell, 1), (), 1, w - 1)]).astype(jnp.int32)
        kind = jax.random.randint(k_kind, (), 0, 3)
        same = lambda p: jnp.all(p == cell)  # noqa: E731
        occupied = same(level.player_pos) | same(level.goal_pos) | (level.has_door & (same(level.key_pos) | same(level.door_pos)))
        r, c = cell
        flip_wall, flip_lava, move_goal = [(kind == k) & ~occupied for k in range(3)]
        wall, hot = level.walls[r, c], level.lava[r, c]
        # the edited cell holds at most one of wall and lava; the goal's new cell holds neither
        walls = level.walls.at[r, c].set(jnp.where(flip_wall, ~wall, wall & ~(flip_lava | move_goal)))
        lava = level.lava.at[r, c].set(jnp.where(flip_lava, ~hot, hot & ~(flip_wall | move_goal)))
        goal = jnp.where(move_goal, cell, level.goal_pos)
        return level.replace(walls=walls, lava=lava, goal_pos=goal), None

    return repeated_edits(edit, num_edits)


def navix_editor(height: int, width: int) -> GridEditor:
    """PAIRED's editor for NAVIX levels: the adversary edits the ``(H - 2) x (W - 2)`` interior
    (the border stays walled); the player and goal on the chosen cells, the heading as given (or random), no
    lava, key or door."""

    def build(walls, goal, agent, key, heading):
        full = jnp.ones((height, width), bool).at[1:-1, 1:-1].set(walls.astype(bool))
        cell = lambda xy: jnp.stack([xy[1], xy[0]]).astype(jnp.int32) + 1  # noqa: E731  interior (x, y) -> (row, col)
        zero = jnp.zeros(2, jnp.int32)
        return NavixLevel(walls=full, lava=jnp.zeros((height, width), bool), player_pos=cell(agent),
                          player_dir=jnp.where(heading >= 0, heading, jax.random.randint(key, (), 0, 4)),
                          goal_pos=cell(goal), key_pos=zero, door_pos=zero, has_door=jnp.asarray(False))

    return GridEditor(height=height - 2, width=width - 2, build=build, headings=4)


def navix_renderer(height: int, width: int):
    """Level images through the package's RGB renderer (``observations.rgb``, its sprites),
    the level built as at reset. Returns ``level -> uint8 (32 H, 32 W, 3)`` (jittable)."""
    _, observations, _, _ = _navix()
    from navix.rendering.cache import RenderingCache

    def render(level):
        state = build_state(level, jax.random.key(0))
        return observations.rgb(state.replace(cache=RenderingCache.init(state.grid))).astype(jnp.uint8)

    return render


def navix_level_stats(levels: NavixLevel) -> dict:
    """``{"walls", "lava", "has_door", "solvable"}`` ``(B,)``: interior walls, lava cells, whether
    the level has a key and door, and ``is_solvable`` (the CVaR evaluator filters on it)."""
    interior = lambda m: jnp.sum(m[:, 1:-1, 1:-1], axis=(1, 2)).astype(jnp.float32)  # noqa: E731
    return {"walls": interior(levels.walls), "lava": interior(levels.lava),
            "has_door": levels.has_door.astype(jnp.float32),
            "solvable": jax.vmap(is_solvable)(levels).astype(jnp.float32)}


def navix_level_space(suite: str = "Navix-DoorKey-Random-8x8-v0", height: int = 8, width: int = 8,
                      max_steps: int = 100, radius: int = 3, time_penalty: float = 0.9, num_edits: int = 5,
                      held_out: Sequence[str] = ("Navix-DoorKey-8x8-v0", "Navix-DoorKey-6x6-v0", "Navix-Empty-8x8-v0",
                                                 "Navix-LavaGapS7-v0")) -> LevelSpace:
    """The NAVIX level space (``env=navix``).

    Args:
        suite: the registered environment whose resets are DR's levels.
        height, width: the level size; smaller layouts are padded with walls.
        max_steps, radius, time_penalty: the env (see ``make_navix``).
        num_edits: ACCEL edits per mutation.
        held_out: registered environments evaluated by name as fixed layouts.

    Raises:
        ValueError: an unknown environment (listing the valid ones), a layout ued's levels
            cannot hold or that does not fit, bad sizes.
        ImportError: navix is not installed (the message gives the install command).
    """
    env = make_navix(height, width, max_steps, radius, time_penalty)
    generator = navix_generator(suite, height, width)
    held = named_levels(tuple(held_out), height, width) if held_out else None
    return LevelSpace(env=env, generator=generator, mutator=navix_mutator(num_edits), held_out=held,
                      held_out_names=tuple(held_out or ()), level_stats=navix_level_stats,
                      render=navix_renderer(height, width), name="navix", editor=navix_editor(height, width))


__all__ = ["GridObs", "NavixLevel", "NavixState", "build_state", "is_solvable", "level_from_state", "make_navix",
           "named_levels", "navix_editor", "navix_generator", "navix_level_space", "navix_level_stats", "navix_mutator",
           "navix_renderer", "valid_level"]
