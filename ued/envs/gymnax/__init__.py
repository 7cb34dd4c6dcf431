"""gymnax's classic control (CartPole, Acrobot, Pendulum) as ued level spaces, through the
``gymnax`` package (``pip install -e '.[gymnax]'``).

A level is a set of the system's physical parameters (the pole's length and mass, the links'
lengths and masses, ...): a dict of float32 scalars named as in the package's ``EnvParams``.
Reset and step are the package's own ``reset_env`` / ``step_env`` under the package's
parameters with the level's values written into them (plus the values the package derives
from them: CartPole's ``total_mass`` and ``polemass_length``), so the dynamics are untouched.
This is the setting of JaxUED's gymnax examples (Coward et al., 2024, "JaxUED: A simple and
useable UED library in Jax"): DR draws the varied parameters uniformly from their ranges, and
the held-out levels are a log-spaced grid over them plus the package's default system.

``solved`` (the binary outcome of learnability and of the CVaR evaluator) is the task's own
success: CartPole balanced the pole until the time limit (truncated, not terminated); Acrobot
swung its tip above the bar (the package's termination) before it; Pendulum ended its episode
within ``upright_tolerance`` radians of upright (Pendulum never terminates).
"""

from __future__ import annotations

import math
from typing import Callable, Mapping, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ued.envs.episodes import EpisodeState, begin_episode, end_step, same_dtypes
from ued.types import Box, Discrete, LevelEnv, LevelGenerator, LevelSpace, Mutator
from ued.utils import check_positive_int

INSTALL = "pip install -e '.[gymnax]'  (or: pip install gymnax==1.0.1)"


def _cartpole_derived(p):
    return p.replace(total_mass=p.masscart + p.masspole, polemass_length=p.masspole * p.length)


class _System(NamedTuple):
    """What ued needs to know of one of the package's environments.

    Attributes:
        module: the package's module under ``gymnax.environments.classic_control``.
        cls: the environment class in it.
        success: ``"survive"`` (solved = reached the time limit without terminating),
            ``"terminate"`` (solved = the package's termination) or ``"upright"``.
        derived: ``params -> params``, the values the package derives from others (kept
            consistent after a level's values are written), or None.
        links: ``((length name, mass name), ...)`` drawn by the renderer from the base.
        base: ``"cart"`` or ``"pivot"`` (the renderer's base; links hang down from a pivot
            and stand up on a cart).
    """

    module: str
    cls: str
    success: str
    derived: Callable | None
    links: tuple
    base: str


SYSTEMS = {
    "CartPole-v1": _System("cartpole", "CartPole", "survive", _cartpole_derived, (("length", "masspole"),), "cart"),
    "Acrobot-v1": _System("acrobot", "Acrobot", "terminate", None,
                          (("link_length_1", "link_mass_1"), ("link_length_2", "link_mass_2")), "pivot"),
    "Pendulum-v1": _System("pendulum", "Pendulum", "upright", None, (("l", "m"),), "pivot"),
}


def _package_env(env_name: str):
    if env_name not in SYSTEMS:
        raise ValueError(f"unknown gymnax system {env_name!r}; valid: {', '.join(SYSTEMS)}")
    try:
        import importlib

        module = importlib.import_module(f"gymnax.environments.classic_control.{SYSTEMS[env_name].module}")
    except ImportError as e:
        raise ImportError(f"env={env_name} needs the gymnax package, which is not installed: {INSTALL}") from e
    return getattr(module, SYSTEMS[env_name].cls)()


GymnaxState = EpisodeState  # ``inner``: the package's ``EnvState``; ``level``: the parameter values


def _float_fields(params) -> list:
    return [f for f in params.__dataclass_fields__ if isinstance(getattr(params, f), float)]


def _check_settings(env_name: str, system, base, varied: tuple, tie: dict, upright_tolerance):
    """Refuses unknown or derived parameters, ties to a parameter not varied and a tolerance the
    system has no use for (one-line errors naming the valid choices); returns the tolerance."""
    fields = _float_fields(base)
    derived_fields = {"total_mass", "polemass_length"} if system.derived is not None else set()
    if not varied:
        raise ValueError(f"{env_name}: a level must vary at least one parameter; valid: {', '.join(fields)}")
    for name in (*varied, *tie):
        if name not in fields or name in derived_fields:
            raise ValueError(f"{env_name} has no settable float parameter {name!r}; valid: "
                             f"{', '.join(f for f in fields if f not in derived_fields)}")
    for name, source in tie.items():
        if source not in varied:
            raise ValueError(f"tie {name}: {source!r} is not a varied parameter ({', '.join(varied)})")
    if system.success != "upright" and upright_tolerance is not None:
        raise ValueError(f"upright_tolerance is Pendulum-v1's success threshold; {env_name} succeeds by its "
                         f"{'time limit' if system.success == 'survive' else 'termination'} (leave it null)")
    if system.success == "upright":
        upright_tolerance = 0.25 if upright_tolerance is None else upright_tolerance
        if not isinstance(upright_tolerance, (int, float)) or not 0 < upright_tolerance <= math.pi:
            raise ValueError(f"upright_tolerance must be in (0, pi] radians, got {upright_tolerance!r}")
    return upright_tolerance


def make_gymnax(env_name: str = "CartPole-v1", varied: Sequence[str] = ("length", "masspole"),
                tie: Mapping[str, str] | None = None, max_steps: int | None = None,
                upright_tolerance: float | None = None) -> LevelEnv:
    """A gymnax classic-control system as a ``LevelEnv`` whose levels set ``varied`` parameters.

    Args:
        env_name: ``CartPole-v1``, ``Acrobot-v1`` or ``Pendulum-v1``.
        varied: the package's ``EnvParams`` fields a level sets (float fields).
        tie: ``{field: varied field}``: fields set to a varied field's value (JaxUED's Acrobot
            varies one link length and one link mass, both links alike).
        max_steps: the episode time limit (default: the package's).
        upright_tolerance: Pendulum's success: the final angle within this many radians of
            upright (default 0.25); None for the other systems, which refuse a value.

    Levels are ``{name: float32 ()}`` for ``name`` in ``varied``. A level with a non-finite or
    non-positive value (every varied parameter is a positive physical quantity) is not played:
    its first step ends the episode with reward 0 and ``info["invalid_level"]`` True.

    Raises:
        ValueError: an unknown system, or a field that is not one of its float parameters.
        ImportError: gymnax is not installed.
    """
    env = _package_env(env_name)
    system = SYSTEMS[env_name]
    base = env.default_params
    if max_steps is not None:
        check_positive_int(max_steps, "max_steps")
        base = base.replace(max_steps_in_episode=max_steps)
    tie, varied = dict(tie or {}), tuple(varied)
    upright_tolerance = _check_settings(env_name, system, base, varied, tie, upright_tolerance)
    space = env.action_space(base)
    if system.success == "upright":
        action_space = Box(low=float(space.low), high=float(space.high), shape=tuple(space.shape))
    else:
        action_space = Discrete(int(space.n))

    def physics(level):
        values = {k: jnp.asarray(level[k], jnp.float32) for k in varied}
        values |= {k: values[v] for k, v in tie.items()}
        p = base.replace(**values)
        return system.derived(p) if system.derived is not None else p

    def valid(level):
        return jnp.all(jnp.stack([jnp.isfinite(level[k]) & (level[k] > 0) for k in varied]))

    def reset_to_level(key, level, params):
        level = {k: jnp.asarray(level[k], jnp.float32) for k in varied}
        obs, inner = env.reset_env(key, physics(level))
        inner = jax.tree.map(jnp.asarray, inner)
        return obs.astype(jnp.float32), begin_episode(inner, level)

    def step(key, state: EpisodeState, action, params):
        p = physics(state.level)
        obs, inner, reward, terminated, _ = env.step_env(key, state.inner, action, p)
        inner = same_dtypes(inner, state.inner)
        done = terminated | env.is_truncated(inner, p)  # the package's step: termination or its time limit
        if system.success == "survive":
            solved = done & ~terminated
        elif system.success == "terminate":
            solved = done & terminated
        else:
            angle = ((inner.theta + jnp.pi) % (2 * jnp.pi)) - jnp.pi
            solved = done & (jnp.abs(angle) < upright_tolerance)
        state, reward, done, info = end_step(state, inner, reward, done, solved, valid(state.level))
        return obs.astype(jnp.float32), state, reward, done, info

    return LevelEnv(reset_to_level=reset_to_level, step=step, default_params=None, action_space=action_space,
                    get_level=lambda s: s.level, name=system.module, max_episode_steps=int(base.max_steps_in_episode))


def _check_ranges(ranges: Mapping[str, Sequence[float]]) -> dict:
    out = {}
    for name, r in ranges.items():
        r = list(r)
        if len(r) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in r) \
                or not 0 < r[0] <= r[1] or not all(math.isfinite(v) for v in r):
            raise ValueError(f"ranges.{name} must be [low, high] with 0 < low <= high, got {r!r}")
        out[name] = (float(r[0]), float(r[1]))
    if not out:
        raise ValueError("ranges must name at least one parameter to vary")
    return out


def gymnax_generator(ranges: Mapping[str, Sequence[float]], log_uniform: bool = False) -> LevelGenerator:
    """Levels with each parameter drawn independently from its range (domain randomisation).

    Args:
        ranges: ``{name: [low, high]}`` (``0 < low <= high``).
        log_uniform: draw ``log(value)`` uniformly instead of the value (JaxUED: uniform).

    Returns:
        A ``LevelGenerator`` whose levels are ``{name: float32 ()}``.
    """
    ranges = _check_ranges(ranges)

    def sample(key):
        keys = jax.random.split(key, len(ranges))
        out = {}
        for k, (name, (lo, hi)) in zip(keys, ranges.items()):
            u = jax.random.uniform(k)
            out[name] = (jnp.exp(jnp.log(lo) + u * (np.log(hi) - np.log(lo))) if log_uniform else lo + u * (hi - lo))
        return {k: v.astype(jnp.float32) for k, v in out.items()}

    return LevelGenerator(sample=sample)


def gymnax_mutator(ranges: Mapping[str, Sequence[float]], num_edits: int = 1, step: float = 0.1) -> Mutator:
    """ACCEL edits on physical parameters: each edit picks one parameter and moves it by a
    uniform step of at most ``step`` times its range's width, clipped to the range.

    Raises:
        ValueError: bad ranges, ``num_edits`` not a positive integer or ``step`` not in (0, 1].
    """
    ranges = _check_ranges(ranges)
    check_positive_int(num_edits, "num_edits")
    if not isinstance(step, (int, float)) or not 0 < step <= 1:
        raise ValueError(f"mutation step must be in (0, 1], got {step!r}")
    names = list(ranges)
    lo = jnp.array([ranges[n][0] for n in names], jnp.float32)
    hi = jnp.array([ranges[n][1] for n in names], jnp.float32)

    def edit(values, key):
        k_which, k_delta = jax.random.split(key)
        i = jax.random.randint(k_which, (), 0, len(names))
        delta = jax.random.uniform(k_delta, minval=-step, maxval=step) * (hi[i] - lo[i])
        return values.at[i].set(jnp.clip(values[i] + delta, lo[i], hi[i])), None

    def mutate(key, level):
        values = jnp.stack([jnp.asarray(level[n], jnp.float32) for n in names])
        values = jax.lax.scan(edit, values, jax.random.split(key, num_edits))[0]
        return {n: values[j] for j, n in enumerate(names)} | {k: v for k, v in level.items() if k not in ranges}

    return Mutator(mutate=mutate)


def held_out_grid(grid: Mapping[str, Sequence[float]], points: int, defaults: Mapping[str, float]):
    """JaxUED's held-out levels: every combination of ``points`` log-spaced values per gridded
    parameter (the others at the package's defaults), plus the package's default system.

    Args:
        grid: ``{name: [low, high]}`` of the gridded parameters.
        points: values per parameter (``points ** len(grid)`` levels).
        defaults: every varied parameter's default value (the package's).

    Returns:
        ``(levels, names)``: leaves with leading axis ``N`` and ``N`` names such as
        ``length=0.05,masspole=0.05``; the last is ``default``.
    """
    check_positive_int(points, "held_out_points")
    grid = _check_ranges(grid) if grid else {}
    for name in grid:
        if name not in defaults:
            raise ValueError(f"held_out_grid.{name} is not a varied parameter ({', '.join(defaults)})")
    axes = [np.geomspace(lo, hi, points) for lo, hi in grid.values()]
    combos = list(np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, len(grid))) if grid else []
    rows = [dict(defaults) | dict(zip(grid, c)) for c in combos] + [dict(defaults)]
    names = [",".join(f"{k}={v:.3g}" for k, v in zip(grid, c)) for c in combos] + ["default"]
    levels = {k: jnp.array([float(r[k]) for r in rows], jnp.float32) for k in defaults}
    return levels, tuple(names)


def gymnax_renderer(env_name: str, ranges: Mapping[str, Sequence[float]], tie: Mapping[str, str] | None = None,
                    size: int = 64):
    """Images of systems: the links (length by the level's value relative to the range's
    upper end, thickness by mass) standing on a cart (CartPole) or hanging from a pivot; a
    link's parameter that the level does not vary is drawn at its range's upper end.

    Returns:
        ``level -> uint8 (size, size, 3)`` (jittable).
    """
    system = SYSTEMS[env_name]
    ranges = _check_ranges(ranges)
    ys, xs = jnp.mgrid[0:size, 0:size].astype(jnp.float32)
    reach = (size * 0.42) / len(system.links)
    tie = dict(tie or {})

    def value(level, name, default):
        name = tie.get(name, name)
        return jnp.asarray(level[name], jnp.float32) if name in level else jnp.float32(default)

    def render(level):
        img = jnp.full((size, size, 3), 255, jnp.uint8)
        if system.base == "cart":
            origin = jnp.array([size / 2, size * 0.78])
            direction = jnp.array([0.0, -1.0])
            cart = (jnp.abs(xs - origin[0]) < size * 0.14) & (ys > origin[1]) & (ys < origin[1] + size * 0.1)
            img = jnp.where(cart[..., None], jnp.array([60, 60, 60], jnp.uint8), img)
        else:
            origin = jnp.array([size / 2, size * 0.12])
            direction = jnp.array([0.0, 1.0])
        for length_name, mass_name in system.links:
            _, hi_l = ranges.get(tie.get(length_name, length_name), (1.0, 1.0))
            _, hi_m = ranges.get(tie.get(mass_name, mass_name), (1.0, 1.0))
            length = jnp.clip(value(level, length_name, hi_l) / hi_l, 0.02, 1.0) * reach
            width = 0.8 + 3.0 * jnp.clip(value(level, mass_name, hi_m) / hi_m, 0.0, 1.0)
            end = origin + direction * length
            t = jnp.clip(((xs - origin[0]) * (end[0] - origin[0]) + (ys - origin[1]) * (end[1] - origin[1]))
                         / jnp.maximum(length ** 2, 1e-6), 0.0, 1.0)
            dist = jnp.hypot(xs - (origin[0] + t * (end[0] - origin[0])), ys - (origin[1] + t * (end[1] - origin[1])))
            img = jnp.where((dist <= width)[..., None], jnp.array([200, 80, 40], jnp.uint8), img)
            origin = end
        pivot = jnp.hypot(xs - size / 2, ys - (size * 0.78 if system.base == "cart" else size * 0.12)) <= 1.5
        return jnp.where(pivot[..., None], jnp.array([30, 30, 160], jnp.uint8), img)

    return render


def gymnax_level_space(env_name: str = "CartPole-v1", ranges: Mapping[str, Sequence[float]] | None = None,
                       tie: Mapping[str, str] | None = None, log_uniform: bool = False,
                       held_out_grid_ranges: Mapping[str, Sequence[float]] | None = None, held_out_points: int = 10,
                       max_steps: int | None = None, num_edits: int = 1, mutation_step: float = 0.1,
                       upright_tolerance: float | None = None) -> LevelSpace:
    """A gymnax classic-control level space (``env=cartpole``, ``env=acrobot``, ``env=pendulum``).

    Args:
        env_name: the package's system.
        ranges: ``{parameter: [low, high]}``, the parameters a level sets and DR's ranges
            (JaxUED: the pole's length and mass in [0.01, 10.01]).
        tie: ``{parameter: varied parameter}`` set alike (Acrobot's second link).
        log_uniform: DR draws log-uniformly.
        held_out_grid_ranges: ``{parameter: [low, high]}`` of the held-out grid (JaxUED's
            log-spaced 0.05..10); None or empty: only the default system.
        held_out_points: grid values per parameter.
        max_steps: episode time limit (default: the package's).
        num_edits, mutation_step: the ACCEL mutator.
        upright_tolerance: Pendulum's success threshold in radians (default 0.25); only Pendulum takes one.

    Raises:
        ValueError: an unknown system or parameter, bad ranges.
        ImportError: gymnax is not installed (the message gives the install command).
    """
    ranges = _check_ranges(ranges or {"length": [0.01, 10.01], "masspole": [0.01, 10.01]})
    env = make_gymnax(env_name, tuple(ranges), tie, max_steps, upright_tolerance)
    base = _package_env(env_name).default_params
    defaults = {k: float(getattr(base, k)) for k in ranges}
    held, names = held_out_grid(held_out_grid_ranges or {}, held_out_points, defaults)

    def level_stats(levels):
        return {k: jnp.asarray(v, jnp.float32) for k, v in levels.items()}

    return LevelSpace(env=env, generator=gymnax_generator(ranges, log_uniform),
                      mutator=gymnax_mutator(ranges, num_edits, mutation_step), held_out=held, held_out_names=names,
                      level_stats=level_stats, render=gymnax_renderer(env_name, ranges, tie), name=env.name)


__all__ = ["GymnaxState", "SYSTEMS", "gymnax_generator", "gymnax_level_space", "gymnax_mutator", "gymnax_renderer",
           "held_out_grid", "make_gymnax"]
