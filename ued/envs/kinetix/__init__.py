"""Kinetix (Matthews et al., 2024, "Kinetix: Investigating the Training of General Agents
through Open-Ended Physics-Based Control Tasks") as a ued level space, through the
``kinetix-env`` package (``pip install 'ued-jax[kinetix]'``; it needs jax 0.9.0, see the README).

A level is a 2-D physics scene: the package's initial ``EnvState`` (polygons, circles, joints
with their motors, thrusters, shape roles, gravity) in one of its fixed sizes (``s``, ``m``,
``l``: how many shapes, joints and thrusters a scene can hold). The task is always the same:
make a green shape touch a blue one without any green shape touching a red one. Reset puts the
level's state in place (the package's ``reset`` with ``override_reset_state``); steps call the
package's no-auto-reset ``step_env`` (its physics, frame skip, sparse +1/-1 reward plus its dense
shaping, time limit and NaN termination unchanged); the observation is its flat symbolic vector
(``symbolic_flat``), which ued's vector agent reads. ``solved`` is the package's own goal flag
(``GoalR``: green touched blue) on the step that ends the episode.

DR is the package's random level sampler (its ``sample_kinetix_level``, the paper's training
distribution), optionally with the paper's no-op filter (levels that doing nothing solves are
mostly discarded); the ACCEL mutator is the package's own (add, remove and reshape shapes,
joints and thrusters, swap roles); the held-out levels are the package's hand-designed levels
of the chosen size (``kinetix/levels/<size>/*.json``, the paper's evaluation sets); images come
from the package's pixel renderer.

Departures, stated: the actions are the package's ``discrete`` (one motor or thruster at a time,
or no-op) or ``continuous`` types; its ``multi_discrete`` type (the paper's default) has no
ued action space yet. The observation is the flat symbolic one, not the paper's entity
transformer's.
"""

from __future__ import annotations

import functools
import importlib
import os
from typing import Sequence

import jax
import jax.numpy as jnp

from ued.envs.episodes import EpisodeState, all_finite, begin_episode, end_step, same_dtypes
from ued.types import Box, Discrete, LevelEnv, LevelGenerator, LevelSpace, Mutator
from ued.utils import check_positive_int

INSTALL = ("pip install 'ued-jax[kinetix]'  (kinetix-env 3.0.2 needs jax 0.9.0: install it in its own "
           "environment, see the README)")
SIZES = ("s", "m", "l")
ACTIONS = {"discrete": "DISCRETE", "continuous": "CONTINUOUS"}


def _modules():
    try:
        env_mod = importlib.import_module("kinetix.environment")
        saving = importlib.import_module("kinetix.util.saving")
        ued_mod = importlib.import_module("kinetix.environment.ued.ued")
        render = importlib.import_module("kinetix.render.renderer_pixels")
    except ImportError as e:
        raise ImportError(f"env=kinetix needs the kinetix-env package, which is not installed: {INSTALL}") from e
    return env_mod, saving, ued_mod, render


def _check(size: str, action: str, max_steps, dense_reward_scale):
    if size not in SIZES:
        raise ValueError(f"unknown Kinetix size {size!r}; valid: {', '.join(SIZES)}")
    if action == "multi_discrete":
        raise ValueError("Kinetix action 'multi_discrete' has no ued action space; valid: "
                         f"{', '.join(ACTIONS)}")
    if action not in ACTIONS:
        raise ValueError(f"unknown Kinetix action type {action!r}; valid: {', '.join(ACTIONS)}")
    if max_steps is not None:
        check_positive_int(max_steps, "max_steps")
    if not isinstance(dense_reward_scale, (int, float)) or isinstance(dense_reward_scale, bool) \
            or dense_reward_scale < 0:
        raise ValueError(f"dense_reward_scale must be a number >= 0, got {dense_reward_scale!r}")


@functools.lru_cache(maxsize=None)
def _package(size: str = "s", action: str = "discrete", max_steps: int | None = None,
             dense_reward_scale: float = 0.1):
    """The package's environment (no auto-reset), its ``EnvParams`` and ``StaticEnvParams``."""
    _check(size, action, max_steps, dense_reward_scale)
    env_mod, _, _, _ = _modules()
    static = env_mod.static_env_params_from_size(size)
    params = env_mod.EnvParams().replace(dense_reward_scale=float(dense_reward_scale))
    if max_steps is not None:
        params = params.replace(max_timesteps=max_steps)
    env = env_mod.make_kinetix_env(getattr(env_mod.ActionType, ACTIONS[action]),
                                   env_mod.ObservationType.SYMBOLIC_FLAT, None, params, static, auto_reset=False)
    return env, params, static


KinetixState = EpisodeState  # ``inner``: the package's ``EnvState``; ``level``: its initial ``EnvState``


def make_kinetix(size: str = "s", action: str = "discrete", max_steps: int | None = None,
                 dense_reward_scale: float = 0.1) -> LevelEnv:
    """Kinetix as a ``LevelEnv`` whose levels are the package's initial ``EnvState`` s.

    Args:
        size: the package's scene size, ``s``, ``m`` or ``l`` (levels of another size do not fit).
        action: ``discrete`` (``2 * motor bindings + thruster bindings + 1`` actions) or
            ``continuous`` (a vector in [-1, 1] per motor and thruster binding).
        max_steps: the episode time limit (the package's ``max_timesteps``; default 256).
        dense_reward_scale: the package's dense shaping (0 for the sparse +1/-1 reward only).

    Returns:
        The ``LevelEnv``; ``obs`` is the package's flat symbolic vector, float32 ``(D,)``.

    Raises:
        ValueError: an unknown size or action type (listing the valid ones), bad numbers.
        ImportError: kinetix-env is not installed.

    A level with a non-finite value (a NaN or infinite position, velocity or size) is not
    played: its first step ends the episode with reward 0 and ``info["invalid_level"]`` True.
    """
    env, params, static = _package(size, action, max_steps, dense_reward_scale)
    space = env.action_space(params)
    if action == "discrete":
        action_space = Discrete(int(space.n))
    else:
        action_space = Box(low=-1.0, high=1.0, shape=tuple(int(d) for d in space.shape))

    def reset_to_level(key, level, _):
        obs, inner = env.reset_env(key, params, level)
        return obs.astype(jnp.float32), begin_episode(inner, level)

    def step(key, state: EpisodeState, action_, _):
        action_ = jnp.asarray(action_, jnp.int32 if action == "discrete" else jnp.float32)
        obs, inner, reward, done, info = env.step_env(key, state.inner, action_, params)
        inner = same_dtypes(inner, state.inner)
        state, reward, done, out = end_step(state, inner, reward, done, done & jnp.asarray(info["GoalR"], jnp.bool_),
                                            all_finite(state.level))
        return obs.astype(jnp.float32), state, reward, done, out

    return LevelEnv(reset_to_level=reset_to_level, step=step, default_params=None, action_space=action_space,
                    get_level=lambda s: s.level, name="kinetix", max_episode_steps=int(params.max_timesteps))


def noop_check(size: str = "s", steps: int = 64, dense_reward_scale: float = 0.1):
    """The paper's no-op test: ``(key, level) -> bool ()``, True where doing nothing for ``steps``
    steps solves the level (the first episode end within them rewarded above 0.5, as the
    package's filter reads it)."""
    env, params, _ = _package(size, "discrete", None, dense_reward_scale)
    noop = jnp.int32(env.action_type.noop_action())

    def solves(key, level):
        _, state = env.reset_env(key, params, level)

        def body(carry, k):
            state, ended, solved = carry
            _, state, reward, done, _ = env.step_env(k, state, noop, params)
            first = done & ~ended
            return (state, ended | done, solved | (first & (reward > 0.5))), None

        (_, _, solved), _ = jax.lax.scan(body, (state, jnp.bool_(False), jnp.bool_(False)),
                                         jax.random.split(key, steps))
        return solved

    return solves


def pick_unsolved(key, levels, solved):
    """One of the candidate ``levels`` (leading axis ``R``), a no-op-solved one (``solved (R,)``)
    weighted 0.001 against 1 for the others (the package's filter weights)."""
    weights = jnp.where(solved, 0.001, 1.0)
    pick = jax.random.choice(key, solved.shape[0], p=weights / jnp.sum(weights))
    return jax.tree.map(lambda x: x[pick], levels)


def kinetix_generator(size: str = "s", filter_steps: int = 64, filter_ratio: int = 2,
                      dense_reward_scale: float = 0.1) -> LevelGenerator:
    """The package's random levels (``sample_kinetix_level`` with its default ``UEDParams``).

    With ``filter_steps > 0`` (the paper's setting: 64 steps, ratio 2) each level is chosen among
    ``filter_ratio`` samples by ``pick_unsolved`` after ``noop_check``: the package's no-op
    filter, applied per group of ``filter_ratio`` samples instead of over a whole batch.

    Raises:
        ValueError: an unknown size, or filter settings that are not non-negative integers
            (``filter_ratio >= 1``).
    """
    for name, v, low in (("filter_steps", filter_steps, 0), ("filter_ratio", filter_ratio, 1)):
        if not isinstance(v, int) or isinstance(v, bool) or v < low:
            raise ValueError(f"kinetix {name} must be an integer >= {low}, got {v!r}")
    env, params, static = _package(size, "discrete", None, dense_reward_scale)
    _, _, ued_mod, _ = _modules()
    sample_one = ued_mod.make_reset_fn_sample_kinetix_level(params, static, None, env.physics_engine)
    if filter_steps == 0 or filter_ratio == 1:
        return LevelGenerator(sample=sample_one)
    solves = noop_check(size, filter_steps, dense_reward_scale)

    def sample(key):
        k_levels, k_play, k_pick = jax.random.split(key, 3)
        levels = jax.vmap(sample_one)(jax.random.split(k_levels, filter_ratio))
        solved = jax.vmap(solves)(jax.random.split(k_play, filter_ratio), levels)
        return pick_unsolved(k_pick, levels, solved)

    return LevelGenerator(sample=sample)


def kinetix_mutator(size: str = "s", num_edits: int = 5) -> Mutator:
    """ACCEL edits: ``num_edits`` of the package's own mutations (``make_mutate_env``: add or
    connect a shape, swap roles, add or remove a thruster, toggle fixation, resize, move or
    rotate a shape, each where the scene has room for it).

    Raises:
        ValueError: ``num_edits`` below 1 or an unknown size.
    """
    if not isinstance(num_edits, int) or isinstance(num_edits, bool) or num_edits < 1:
        raise ValueError(f"kinetix num_edits must be an integer >= 1, got {num_edits!r}")
    _, params, static = _package(size)
    env_mod, _, ued_mod, _ = _modules()
    mutate_level = ued_mod.make_mutate_env(static, params, env_mod.UEDParams())

    def mutate(key, level):
        return mutate_level(key, level, num_edits)

    return Mutator(mutate=mutate)


def level_names(size: str = "s") -> list:
    """The package's hand-designed levels of ``size``: ``["s/h0_weak_thrust", ...]`` (sorted)."""
    if size not in SIZES:
        raise ValueError(f"unknown Kinetix size {size!r}; valid: {', '.join(SIZES)}")
    _, saving, _, _ = _modules()
    folder = os.path.join(saving.BASE_DIR, size)
    return sorted(f"{size}/{f[:-5]}" for f in os.listdir(folder) if f.endswith(".json"))


@functools.lru_cache(maxsize=None)
def _load(names: tuple, size: str):
    _, saving, _, _ = _modules()
    _, _, static = _package(size)
    levels, _ = saving.load_evaluation_levels(list(names), static_env_params_override=static)
    return levels


def named_levels(size: str = "s", names: Sequence[str] | None = None):
    """The package's hand-designed levels as a stacked batch (leading axis ``N``).

    Args:
        size: the scene size; every level must fit it (``s`` levels fit ``m`` and ``l``).
        names: level names relative to the package's level folder (``"m/h3_car_thrust"``) or
            paths of JSON files; None: every level of ``size`` (the paper's evaluation set).

    Returns:
        ``(levels, names)``.

    Raises:
        ValueError: a name that is neither one of the package's levels nor an existing file.
    """
    if names is None:
        names = level_names(size)
    names = tuple(names)
    known = {n for s in SIZES for n in level_names(s)}
    for n in names:
        if n not in known and not os.path.isfile(n):
            raise ValueError(f"unknown Kinetix level {n!r}; valid: a JSON file or one of the package's levels, "
                             f"e.g. {', '.join(level_names(size)[:3])} (ued.envs.kinetix.level_names(size) lists them)")
    bigger = {n for n in names if n in known and SIZES.index(n.split("/")[0]) > SIZES.index(size)}
    if bigger:
        raise ValueError(f"Kinetix levels {sorted(bigger)} do not fit size {size!r}; use env.size="
                         f"{max((n.split('/')[0] for n in bigger), key=SIZES.index)}")
    return _load(names, size), names


def kinetix_renderer(size: str = "s"):
    """The package's pixel renderer: ``level -> uint8 (H, W, 3)`` (jittable; 125 x 125 at its downscale 4)."""
    _, params, static = _package(size)
    *_, render = _modules()
    draw = render.make_render_pixels(params, static)

    def image(level):
        pixels = draw(level)
        return jnp.clip(jnp.round(jnp.transpose(pixels, (1, 0, 2))[::-1]), 0, 255).astype(jnp.uint8)

    return image


def kinetix_level_stats(size: str = "s"):
    """``levels -> {"shapes", "joints", "thrusters", "fixated"}`` ``(B,)``: what a scene holds
    (shapes and fixated shapes not counting the package's fixed floor and walls)."""
    _, _, static = _package(size)
    fixed = int(static.num_static_fixated_polys)

    def stats(levels):
        polys, circles = levels.polygon, levels.circle
        shapes = jnp.sum(polys.active[..., fixed:], axis=-1) + jnp.sum(circles.active, axis=-1)
        fixated = jnp.sum(polys.active[..., fixed:] & (polys.inverse_mass[..., fixed:] == 0), axis=-1) + jnp.sum(
            circles.active & (circles.inverse_mass == 0), axis=-1)
        return {"shapes": shapes.astype(jnp.float32), "fixated": fixated.astype(jnp.float32),
                "joints": jnp.sum(levels.joint.active, axis=-1).astype(jnp.float32),
                "thrusters": jnp.sum(levels.thruster.active, axis=-1).astype(jnp.float32)}

    return stats


def kinetix_level_space(size: str = "s", action: str = "discrete", max_steps: int | None = None,
                        dense_reward_scale: float = 0.1, filter_steps: int = 64, filter_ratio: int = 2,
                        num_edits: int = 5, held_out_levels: Sequence[str] | None = None) -> LevelSpace:
    """The Kinetix level space (``env=kinetix``).

    Args:
        size: ``s``, ``m`` or ``l`` (the package's scene sizes).
        action: ``discrete`` or ``continuous``.
        max_steps: the episode limit (default: the package's 256).
        dense_reward_scale: the package's dense shaping (default 0.1; 0: sparse only).
        filter_steps, filter_ratio: the DR generator's no-op filter (0: off).
        num_edits: package mutations per ACCEL edit.
        held_out_levels: named evaluation levels (default: every hand-designed level of ``size``).

    Raises:
        ValueError: an unknown size, action or level name, bad numbers.
        ImportError: kinetix-env is not installed (the message gives the install command).
    """
    env = make_kinetix(size, action, max_steps, dense_reward_scale)
    held_out, names = named_levels(size, held_out_levels)
    return LevelSpace(env=env, generator=kinetix_generator(size, filter_steps, filter_ratio, dense_reward_scale),
                      mutator=kinetix_mutator(size, num_edits), held_out=held_out, held_out_names=names,
                      level_stats=kinetix_level_stats(size), render=kinetix_renderer(size), name=env.name)


__all__ = ["KinetixState", "kinetix_generator", "kinetix_level_space", "kinetix_level_stats", "kinetix_mutator",
           "kinetix_renderer", "level_names", "make_kinetix", "named_levels", "noop_check", "pick_unsolved"]
