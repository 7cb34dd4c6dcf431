"""XLand-MiniGrid as a ued level space, through the ``xminigrid`` package (``pip install -e '.[xland]'``).

A level is a ruleset (``xminigrid.types.RuleSet``: a goal, production rules and the initial
tiles) played on a fixed grid layout (``R4-13x13``: 13x13 with four rooms, by default). The
package's own ``reset`` places the ruleset's tiles and the agent at random free cells of the
layout (from the reset key) and its ``step`` gives the dynamics; an episode ends when the
goal is achieved (``solved``; reward ``1 - 0.9 t / T``) or at the time limit.

Levels come from the package's ruleset benchmarks (``trivial-21k``, ``small-1m``,
``medium-1m``, ``high-1m``, ...), loaded with the package's own ``load_benchmark`` (which
downloads them once to ``~/.xland_minigrid``, or ``$XLAND_MINIGRID_DATA``) or
``load_benchmark_from_path`` for a local file. The ACCEL mutator recolours or replaces
distractor tiles (tiles that neither the goal nor any rule mentions), so an edit never
removes what the task needs.
"""

from __future__ import annotations

import os
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from ued.envs.episodes import EpisodeState, begin_episode, end_step
from ued.types import Discrete, LevelEnv, LevelGenerator, LevelSpace, Mutator
from ued.utils import check_positive_int, repeated_edits

INSTALL = "pip install -e '.[xland]'  (or: pip install xminigrid==0.9.3)"


def _xminigrid():
    try:
        import xminigrid
        from xminigrid import benchmarks
        from xminigrid.core.constants import NUM_COLORS, NUM_TILES
        from xminigrid.types import RuleSet
    except ImportError as e:
        raise ImportError(f"env=xland needs the xminigrid package, which is not installed: {INSTALL}") from e
    return xminigrid, benchmarks, RuleSet, NUM_TILES, NUM_COLORS


class GridObs(NamedTuple):
    """An XLand observation in the maze agent's format.

    Attributes:
        image: uint8 ``(V, V, NUM_TILES + NUM_COLORS)``: one-hot tile and colour of each cell
            of the agent's egocentric view.
        agent_dir: int32 ``()``, the agent's direction.
    """

    image: jax.Array
    agent_dir: jax.Array


XLandState = EpisodeState  # ``inner``: the package's ``TimeStep``; ``level``: the ruleset


@struct.dataclass
class XLandParams:
    """``max_steps`` is the package env's time limit (static: fixed when the env is built)."""

    max_steps: int = struct.field(pytree_node=False, default=243)


def make_xland(grid: str = "R4-13x13", view_size: int = 5, max_steps: int | None = None):
    """The XLand-MiniGrid env on a fixed layout as a ``LevelEnv``.

    Args:
        grid: layout and size, ``R{1,2,4,6,9}-{H}x{W}`` as registered by the package.
        view_size: the agent's egocentric view (odd).
        max_steps: episode time limit (default: the package's, ``3 H W``).

    A ruleset with a goal, rule, tile or colour id the package does not define
    (``valid_ruleset``) is not played: its first step ends the episode with reward 0 and
    ``info["invalid_level"]`` True.
    """
    xminigrid, _, _, num_tiles, num_colors = _xminigrid()
    name = f"XLand-MiniGrid-{grid}"
    if name not in xminigrid.registered_environments():
        valid = [e[len("XLand-MiniGrid-"):] for e in xminigrid.registered_environments() if e.startswith("XLand-MiniGrid-")]
        raise ValueError(f"unknown XLand grid {grid!r}; valid: {', '.join(valid)}")
    kwargs = {"view_size": view_size} | ({"max_steps": max_steps} if max_steps is not None else {})
    env, base = xminigrid.make(name, **kwargs)

    def observe(ts):
        o = ts.observation.astype(jnp.int32)
        image = jnp.concatenate([jax.nn.one_hot(o[..., 0], num_tiles, dtype=jnp.uint8),
                                 jax.nn.one_hot(o[..., 1], num_colors, dtype=jnp.uint8)], axis=-1)
        return GridObs(image=image, agent_dir=jnp.asarray(ts.state.agent.direction, jnp.int32))

    def canon(ts):  # fixed dtypes, so states can be scan carries
        return ts.replace(step_type=jnp.asarray(ts.step_type, jnp.uint8), reward=jnp.asarray(ts.reward, jnp.float32),
                          discount=jnp.asarray(ts.discount, jnp.float32),
                          state=ts.state.replace(step_num=jnp.asarray(ts.state.step_num, jnp.int32)))

    def reset_to_level(key, level, params: XLandParams):
        ts = canon(env.reset(base.replace(ruleset=level), key))
        return observe(ts), begin_episode(ts, level)

    def step(key, state: EpisodeState, action, params: XLandParams):
        del key  # the package keeps its own key in the state
        ts = canon(env.step(base.replace(ruleset=state.level), state.inner, jnp.asarray(action, jnp.int32)))
        done = ts.step_type == 2  # StepType.LAST: the goal was achieved or time ran out
        solved = done & (ts.discount == 0.0)  # terminated (not truncated): the goal was achieved
        state, reward, done, info = end_step(state, ts, ts.reward, done, solved, valid_ruleset(state.level))
        return observe(ts), state, reward, done, info

    return LevelEnv(reset_to_level=reset_to_level, step=step, default_params=XLandParams(max_steps=int(base.max_steps)),
                    action_space=Discrete(int(env.num_actions(base))), get_level=lambda s: s.level, name="xland",
                    max_episode_steps=int(base.max_steps))


def valid_ruleset(level) -> jax.Array:
    """bool ``()``: the ruleset's goal, rule, tile and colour ids are ones the package defines (it
    picks goals and rules by ``lax.switch``, which would clamp an unknown id to another goal)."""
    from xminigrid.core.goals import NUM_GOALS
    from xminigrid.core.rules import NUM_RULES
    _, _, _, num_tiles, num_colors = _xminigrid()
    within = lambda x, n: jnp.all((x >= 0) & (x < n))  # noqa: E731
    tiles = level.init_tiles.astype(jnp.int32)
    return (within(level.goal[0], NUM_GOALS) & within(level.rules[..., 0], NUM_RULES)
            & within(tiles[..., 0], num_tiles) & within(tiles[..., 1], num_colors))


def load_rulesets(benchmark: str | None = "trivial-21k", path: str | None = None):
    """A ruleset benchmark through the package's own loader.

    Args:
        benchmark: a registered name (downloaded once by the package), used when ``path`` is None.
        path: a local benchmark file (the package's bz2 pickle format).

    Raises:
        ValueError: unknown benchmark name.
        FileNotFoundError: ``path`` does not exist.
    """
    _, benchmarks, _, _, _ = _xminigrid()
    if path is not None:
        if not os.path.exists(path):
            raise FileNotFoundError(f"env.path={path!r}: no such ruleset benchmark file")
        return benchmarks.load_benchmark_from_path(path)
    if benchmark not in benchmarks.registered_benchmarks():
        raise ValueError(f"unknown XLand benchmark {benchmark!r}; valid: {', '.join(benchmarks.registered_benchmarks())}")
    return benchmarks.load_benchmark(benchmark)


def xland_generator(bench) -> LevelGenerator:
    """Uniformly random rulesets of a loaded benchmark (domain randomisation).

    The benchmark's tables stay in host memory: the ruleset index is drawn in the compiled
    program (as the package's ``sample_ruleset`` draws it) and the rows are fetched by a
    ``jax.pure_callback``. Closed over directly, the tables would be embedded in every compiled
    program as constants (hundreds of MB for the 1M and 3M-ruleset benchmarks, each compile).

    Args:
        bench: an ``xminigrid.benchmarks.Benchmark`` (``goals (N, G)``, ``rules (N, R, 7)``,
            ``init_tiles (N, T, 2)``), e.g. from ``load_rulesets``.

    Returns:
        A ``LevelGenerator`` whose ``sample(key)`` is a ``RuleSet`` with ``goal (G,)``,
        ``rules (R, 7)``, ``init_tiles (T, 2)`` (vmappable and jittable).
    """
    _, _, RuleSet, _, _ = _xminigrid()
    tables = {"goal": np.asarray(bench.goals), "rules": np.asarray(bench.rules),
              "init_tiles": np.asarray(bench.init_tiles)}
    n = len(tables["goal"])
    if n == 0:
        raise ValueError("the ruleset benchmark is empty")
    shapes = RuleSet(**{k: jax.ShapeDtypeStruct(v.shape[1:], v.dtype) for k, v in tables.items()})

    def rows(index):  # on the host; index is () or, under vmap, (B,)
        index = np.asarray(index)
        return RuleSet(**{k: v[index] for k, v in tables.items()})

    def sample(key):
        index = jax.random.randint(key, shape=(), minval=0, maxval=n)
        return jax.pure_callback(rows, shapes, index, vmap_method="expand_dims")

    return LevelGenerator(sample=sample)


def _tile_pairs(level):
    """Every (tile, colour) pair the goal or a rule mentions: ``(P, 2)``."""
    goal = level.goal[1:5].reshape(2, 2)
    rules = level.rules[:, 1:7].reshape(-1, 2)
    return jnp.concatenate([goal, rules]).astype(jnp.int32)


def xland_mutator(num_edits: int = 3, num_colors: int | None = None) -> Mutator:
    """ACCEL edits on rulesets: each edit picks a distractor tile (non-empty, mentioned by
    neither the goal nor any rule) and gives it a random colour; a ruleset without distractors
    is left unchanged."""
    _, _, _, _, colors = _xminigrid()
    colors = num_colors or colors
    check_positive_int(num_edits, "num_edits")

    def edit(level, key):
        k_tile, k_color = jax.random.split(key)
        tiles = level.init_tiles.astype(jnp.int32)
        mentioned = jnp.any(jnp.all(tiles[:, None, :] == _tile_pairs(level)[None], axis=-1), axis=1)
        distractor = (tiles[:, 0] != 0) & ~mentioned
        i = jax.random.categorical(k_tile, jnp.where(distractor, 0.0, -jnp.inf))
        color = jax.random.randint(k_color, (), 1, colors)  # 0 is EMPTY
        new = level.init_tiles.at[i, 1].set(color.astype(level.init_tiles.dtype))
        return level.replace(init_tiles=jnp.where(jnp.any(distractor), new, level.init_tiles)), None

    return repeated_edits(edit, num_edits)


def xland_renderer(env: LevelEnv, view_size: int = 5, tile_size: int = 16):
    """Images of levels through the package's own RGB renderer.

    A ruleset has no fixed placement (the package places its tiles and the agent at reset
    from the key), so a level is drawn as it is reset with ``jax.random.key(0)``: the layout,
    the initial tiles and the agent with its view highlighted. The package's renderer is numpy
    code, run on the host through ``jax.pure_callback`` (so ``render`` stays jittable).

    Returns:
        ``level -> uint8 (H * tile_size, W * tile_size, 3)``.
    """
    from xminigrid.rendering.rgb_render import render as package_render
    from xminigrid.types import AgentState


    def draw(grid, position, direction):  # on the host, one level at a time
        agent = AgentState(position=np.asarray(position), direction=np.asarray(direction))
        return package_render(np.asarray(grid), agent, view_size, tile_size).astype(np.uint8)

    def render(level):
        _, state = env.reset_to_level(jax.random.key(0), level, env.default_params)
        inner = state.inner.state
        h, w = inner.grid.shape[:2]
        out = jax.ShapeDtypeStruct((h * tile_size, w * tile_size, 3), jnp.uint8)
        return jax.pure_callback(draw, out, inner.grid, inner.agent.position, inner.agent.direction,
                                 vmap_method="sequential")

    return render


def xland_level_stats(levels) -> dict:
    """``{"rules", "tiles"}`` ``(B,)``: non-empty rules and initial tiles of each ruleset."""
    return {"rules": jnp.sum(jnp.any(levels.rules != 0, axis=-1), axis=-1).astype(jnp.float32),
            "tiles": jnp.sum(levels.init_tiles[..., 0] != 0, axis=-1).astype(jnp.float32)}


def check_test_fraction(test_fraction) -> None:
    """Refuses a ``test_fraction`` outside [0, 1) (before any download)."""
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, (int, float)) or not 0 <= test_fraction < 1:
        raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction!r}")


def split_rulesets(bench, test_fraction: float, split_seed: int = 0):
    """The package's train/test split: ``bench.shuffle(key(split_seed)).split(1 - test_fraction)``.

    Returns:
        ``(train, test)`` benchmarks (``test`` is None when ``test_fraction`` is 0).

    Raises:
        ValueError: ``test_fraction`` outside [0, 1), or a split that would be empty.
    """
    check_test_fraction(test_fraction)
    if test_fraction == 0:
        return bench, None
    n = bench.num_rulesets()
    train, test = bench.shuffle(key=jax.random.key(split_seed)).split(prop=1 - test_fraction)
    if train.num_rulesets() == 0 or test.num_rulesets() == 0:
        raise ValueError(f"test_fraction={test_fraction} of {n} rulesets leaves an empty "
                         f"{'train' if train.num_rulesets() == 0 else 'test'} split; use a larger benchmark or "
                         "test_fraction=0 (evaluate on the training rulesets)")
    return train, test


def xland_level_space(grid: str = "R4-13x13", benchmark: str | None = "trivial-21k", path: str | None = None,
                      view_size: int = 5, max_steps: int | None = None, num_edits: int = 3,
                      test_fraction: float = 0.2, split_seed: int = 0) -> LevelSpace:
    """The XLand-MiniGrid level space (``env=xland``).

    Args:
        grid: the fixed layout, e.g. ``R4-13x13`` (four rooms, 13x13).
        benchmark: the package's ruleset benchmark to draw levels from (downloaded once).
        path: a local benchmark file instead (overrides ``benchmark``).
        view_size: the agent's view.
        max_steps: episode time limit (default: the package's).
        num_edits: ACCEL edits per mutation.
        test_fraction: rulesets held out for evaluation (the package's shuffle-and-split, 80/20
            by default as in its README): training draws from the rest, the CVaR evaluator and
            training's random held-out set from these. 0: evaluate on training's rulesets.
        split_seed: the key of the shuffle (the same split in training and evaluation).

    Raises:
        ImportError: xminigrid is not installed (the message gives the install command).
        ValueError: a bad ``test_fraction`` or one leaving a split empty.
    """
    check_test_fraction(test_fraction)  # a bad value is named before the benchmark is downloaded
    env = make_xland(grid, view_size, max_steps)
    train, test = split_rulesets(load_rulesets(benchmark, path), test_fraction, split_seed)
    return LevelSpace(env=env, generator=xland_generator(train), mutator=xland_mutator(num_edits), held_out=None,
                      held_out_names=(), level_stats=xland_level_stats, render=xland_renderer(env, view_size),
                      name="xland",
                      eval_generator=xland_generator(test) if test is not None else None)


__all__ = ["GridObs", "XLandParams", "XLandState", "load_rulesets", "make_xland", "split_rulesets", "valid_ruleset",
           "xland_generator", "xland_level_space", "xland_level_stats", "xland_mutator", "xland_renderer"]
