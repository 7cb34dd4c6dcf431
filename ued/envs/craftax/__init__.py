"""Craftax and Craftax-Classic (Matthews et al., 2024, "Craftax: A Lightning-Fast Benchmark for
Open-Ended Reinforcement Learning") as ued level spaces, through the ``craftax`` package
(``pip install -e '.[craftax]'``).

A level is what the package's world generation draws: its initial ``EnvState`` (the map,
mobs, player and inventory), as JaxUED's Craftax PLR/ACCEL example uses it (Coward et al.,
2024). Reset puts the level's state back with a fresh random stream (``state_rng``: the mobs'
and plants' chance draws come from the reset key); steps call the package's ``step_env`` of its
no-auto-reset symbolic environment (its dynamics and rewards unchanged: achievements and
health changes), and the observation is its flat symbolic vector. DR is the package's own
``generate_world``. The ACCEL mutator swaps two blocks of the map's middle region (ground
floor for Craftax), keeping the count of every block type, JaxUED's ``swap`` mutation idea.

Craftax has no goal, so ``solved`` (the binary outcome of learnability and the CVaR evaluator)
is the chosen achievement (``success_achievement``, the package's ``Achievement`` names)
having been unlocked by the end of the episode; episodes are long (the package's limit is
10,000 steps; ``max_steps`` sets it).
"""

from __future__ import annotations

import importlib
from functools import partial

import jax
import jax.numpy as jnp

from ued.envs.episodes import EpisodeState, all_finite, begin_episode, end_step, same_dtypes
from ued.types import Discrete, LevelEnv, LevelGenerator, LevelSpace, Mutator
from ued.utils import check_positive_int, repeated_edits

INSTALL = "pip install -e '.[craftax]'  (or: pip install craftax==1.6.1)"
VARIANTS = {
    # variant: (package module, env class, world generation module)
    "classic": ("craftax.craftax_classic", "envs.craftax_symbolic_env.CraftaxClassicSymbolicEnvNoAutoReset",
                "world_gen"),
    "full": ("craftax.craftax", "envs.craftax_symbolic_env.CraftaxSymbolicEnvNoAutoReset", "world_gen.world_gen"),
}


def _package(variant: str):
    if variant not in VARIANTS:
        raise ValueError(f"unknown Craftax variant {variant!r}; valid: {', '.join(VARIANTS)}")
    root, env_path, gen = VARIANTS[variant]
    try:
        env_module = importlib.import_module(f"{root}.{env_path.rsplit('.', 1)[0]}")
        constants = importlib.import_module(f"{root}.constants")
        world_gen = importlib.import_module(f"{root}.{gen}")
    except ImportError as e:
        raise ImportError(f"env=craftax needs the craftax package, which is not installed: {INSTALL}") from e
    return getattr(env_module, env_path.rsplit(".", 1)[1])(), constants, world_gen


CraftaxState = EpisodeState  # ``inner``: the package's ``EnvState``; ``level``: its initial ``EnvState``


def make_craftax(variant: str = "classic", max_steps: int | None = None,
                 success_achievement: str = "COLLECT_DIAMOND") -> tuple:
    """A Craftax variant as a ``LevelEnv`` whose levels are initial ``EnvState`` s.

    Args:
        variant: ``classic`` (Craftax-Classic, 64x64, 17 actions) or ``full`` (Craftax, 9 floors
            of 48x48, 43 actions).
        max_steps: the episode time limit (the package's ``max_timesteps``; default 10,000).
        success_achievement: the achievement whose unlocking is ``solved``.

    A level with an unknown block id, the player outside the map or a non-finite value
    (``valid_world``) is not played: its first step ends the episode with reward 0 and
    ``info["invalid_level"]`` True.

    Returns:
        ``(LevelEnv, package params)``.

    Raises:
        ValueError: an unknown variant or achievement (listing the valid ones), bad ``max_steps``.
        ImportError: craftax is not installed.
    """
    env, constants, _ = _package(variant)
    names = [a.name for a in constants.Achievement]
    if success_achievement not in names:
        raise ValueError(f"unknown Craftax achievement {success_achievement!r}; valid: {', '.join(names)}")
    index = constants.Achievement[success_achievement].value
    params = env.default_params
    if max_steps is not None:
        check_positive_int(max_steps, "max_steps")
        params = params.replace(max_timesteps=max_steps)

    valid = partial(valid_world, num_blocks=len(constants.BlockType))

    def reset_to_level(key, level, _):
        inner = level.replace(state_rng=key)
        return env.get_obs(inner).astype(jnp.float32), begin_episode(inner, level)

    def step(key, state: EpisodeState, action, _):
        obs, inner, reward, done, _info = env.step_env(key, state.inner, jnp.asarray(action, jnp.int32), params)
        inner = same_dtypes(inner, state.inner)
        state, reward, done, info = end_step(state, inner, reward, done, done & inner.achievements[index],
                                             valid(state.level))
        return obs.astype(jnp.float32), state, reward, done, info

    level_env = LevelEnv(reset_to_level=reset_to_level, step=step, default_params=None,
                         action_space=Discrete(int(env.num_actions)), get_level=lambda s: s.level,
                         name=f"craftax_{variant}", max_episode_steps=int(params.max_timesteps))
    return level_env, params


def valid_world(level, num_blocks: int) -> jax.Array:
    """bool ``()``: every block id of the map is one of the package's ``num_blocks`` block types,
    the player stands inside the map, and the level's floating values are finite."""
    h, w = level.map.shape[-2:]
    r, c = level.player_position[0], level.player_position[1]
    return (jnp.all((level.map >= 0) & (level.map < num_blocks)) & (r >= 0) & (r < h) & (c >= 0) & (c < w)
            & all_finite(level))


def craftax_generator(variant: str = "classic", params=None) -> LevelGenerator:
    """The package's world generation (``generate_world``) under its parameters."""
    env, _, world_gen = _package(variant)
    params = env.default_params if params is None else params
    static = env.static_env_params

    def sample(key):
        state = world_gen.generate_world(key, params, static)
        return jax.tree.map(lambda x: jnp.asarray(x), state)

    return LevelGenerator(sample=sample)


def _ground(level):
    return level.map if level.map.ndim == 2 else level.map[0]


def craftax_mutator(num_edits: int = 30, region: int = 16) -> Mutator:
    """ACCEL edits: each edit swaps the blocks of two cells of the central ``region x region``
    square of the map (Craftax: its ground floor), never the player's cell, so every block
    type keeps its count.

    Raises:
        ValueError: ``num_edits`` below 1 or ``region`` below 2.
    """
    for name, v, low in (("num_edits", num_edits, 1), ("region", region, 2)):
        if not isinstance(v, int) or isinstance(v, bool) or v < low:
            raise ValueError(f"craftax {name} must be an integer >= {low}, got {v!r}")

    def edit(level, key):
        ground = _ground(level)
        h, w = ground.shape
        r0, c0 = max(0, h // 2 - region // 2), max(0, w // 2 - region // 2)
        size = min(region, h, w)
        cells = jax.random.randint(key, (2, 2), 0, size) + jnp.array([r0, c0])
        player = level.player_position.astype(jnp.int32)
        ok = ~jnp.any(jnp.all(cells == player, axis=1)) & ~jnp.all(cells[0] == cells[1])
        (ra, ca), (rb, cb) = cells
        a, b = ground[ra, ca], ground[rb, cb]
        new = ground.at[ra, ca].set(jnp.where(ok, b, a)).at[rb, cb].set(jnp.where(ok, a, b))
        level = level.replace(map=new if level.map.ndim == 2 else level.map.at[0].set(new))
        return level, None

    return repeated_edits(edit, num_edits)


# a colour per block type for the map images (types beyond the palette are drawn magenta)
_PALETTE = {"GRASS": (90, 170, 60), "WATER": (60, 110, 220), "STONE": (128, 128, 128), "TREE": (30, 100, 30),
            "WOOD": (140, 100, 50), "PATH": (200, 190, 150), "COAL": (40, 40, 40), "IRON": (200, 150, 120),
            "DIAMOND": (120, 230, 240), "CRAFTING_TABLE": (170, 120, 60), "FURNACE": (90, 60, 60),
            "SAND": (230, 220, 150), "LAVA": (240, 90, 20), "PLANT": (120, 200, 80), "RIPE_PLANT": (200, 220, 60),
            "INVALID": (0, 0, 0), "OUT_OF_BOUNDS": (0, 0, 0)}


def craftax_renderer(variant: str = "classic", scale: int = 2):
    """A top-down image of a level's map (ground floor), a colour per block type and the
    player in red. Returns ``level -> uint8 (scale H, scale W, 3)`` (jittable)."""
    _, constants, _ = _package(variant)
    colours = jnp.array([_PALETTE.get(b.name, (255, 0, 255)) for b in constants.BlockType], jnp.uint8)

    def render(level):
        ground = _ground(level)
        img = colours[jnp.clip(ground, 0, len(colours) - 1)]
        r, c = level.player_position[0], level.player_position[1]
        img = img.at[r, c].set(jnp.array([220, 0, 0], jnp.uint8))
        return jnp.repeat(jnp.repeat(img, scale, 0), scale, 1)

    return render


def craftax_level_stats(variant: str = "classic"):
    """``levels -> {"diamonds", "trees", "water", "lava"}`` ``(B,)``: block counts of the ground floor."""
    _, constants, _ = _package(variant)
    kinds = {"diamonds": "DIAMOND", "trees": "TREE", "water": "WATER", "lava": "LAVA"}

    def stats(levels):
        ground = levels.map if levels.map.ndim == 3 else levels.map[:, 0]
        return {k: jnp.sum(ground == constants.BlockType[v].value, axis=(1, 2)).astype(jnp.float32)
                for k, v in kinds.items()}

    return stats


def craftax_level_space(variant: str = "classic", max_steps: int | None = None,
                        success_achievement: str = "COLLECT_DIAMOND", num_edits: int = 30,
                        region: int = 16) -> LevelSpace:
    """The Craftax level space (``env=craftax``; ``env.variant=full`` for Craftax).

    Args:
        variant: ``classic`` or ``full``.
        max_steps: episode time limit (default: the package's 10,000).
        success_achievement: the achievement counted as ``solved``.
        num_edits, region: the ACCEL mutator (swaps in the central square).

    Raises:
        ValueError: unknown variant or achievement, bad sizes.
        ImportError: craftax is not installed (the message gives the install command).
    """
    env, params = make_craftax(variant, max_steps, success_achievement)
    return LevelSpace(env=env, generator=craftax_generator(variant, params), mutator=craftax_mutator(num_edits, region),
                      held_out=None, held_out_names=(), level_stats=craftax_level_stats(variant),
                      render=craftax_renderer(variant), name=env.name)


__all__ = ["CraftaxState", "craftax_generator", "craftax_level_space", "craftax_level_stats", "craftax_mutator",
           "craftax_renderer", "make_craftax", "valid_world"]
