"""Tiny run configurations for the tests, derived from the YAMLs so that a new curriculum, score
or buffer is tested the moment its YAML exists (no list of components here)."""

from __future__ import annotations

import functools
import threading

import jax
import numpy as np
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from ued.envs.maze import maze_level_space
from ued.run.config import CONF_DIR, component_names, curriculum_groups, curriculum_level_spaces

CURRICULA = component_names("curriculum")
# curricula that need a level space of their own (SAMPLR: an aleatoric part) and the one they select
OWN_LEVEL_SPACE = curriculum_level_spaces()
GENERAL_CURRICULA = [c for c in CURRICULA if c not in OWN_LEVEL_SPACE]  # run on any level space
SCORES = component_names("score")
BUFFERS = component_names("buffer")
LIMIT = 16  # every integer hyperparameter of a curriculum and its components is capped at this

TINY = ["num_envs=4", "num_steps=16", "num_updates=4", "updates_per_chunk=1", "eval.every=2", "eval.attempts=1",
        "eval.random_levels=2", "eval.render=false", "agent.network.hidden=8", "env.max_steps=12",
        "env.held_out=[SixteenRooms]", "progress=false", "checkpoint_every=1", "keep_checkpoints=10"]


def compose_config(overrides) -> OmegaConf:
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


def shrink(curriculum: str, base=()) -> list[str]:
    """Overrides capping the integer hyperparameters (> LIMIT) of a curriculum and of the
    component groups its YAML uses at LIMIT: SFL's 25,000 samples, a 4,000-level buffer,
    PAIRED's 50 walls all become 16, so every curriculum runs in seconds."""
    cfg = compose_config([*base, f"curriculum={curriculum}"])
    out = []
    for group in ("curriculum", *curriculum_groups()[curriculum]):
        node = OmegaConf.to_container(cfg[group], resolve=False)
        for key, value in node.items():
            if isinstance(value, int) and not isinstance(value, bool) and value > LIMIT:
                out.append(f"{group}.{key}={LIMIT}")
    return out


def tiny_config(curriculum: str, *overrides, base=TINY):
    """The composed config of ``base`` plus a shrunken ``curriculum`` plus ``overrides`` (which win)."""
    if curriculum in OWN_LEVEL_SPACE:  # its own level space: no maze held-out levels
        base = [o for o in base if not o.startswith("env.held_out=")]
    parts = [*base, f"curriculum={curriculum}", *shrink(curriculum, base)]
    keys = {o.split("=", 1)[0] for o in overrides}
    parts = [o for o in parts if o.split("=", 1)[0] not in keys]
    return compose_config([*parts, *overrides])


# ---------------------------------------------------------------- counting env steps

ENV_STEPS = [0]
_COUNT_LOCK = threading.Lock()  # unordered callbacks may run on several host threads at once


def _count(action, per_env=1):
    with _COUNT_LOCK:  # a read-modify-write: unlocked, two threads' increments can overwrite each other
        ENV_STEPS[0] += int(np.size(action)) // per_env  # one per environment, whether vmapped calls are batched or not


def counting_maze(inner: str | None = None, **kwargs):
    """The maze level space (or the level space factory at the dotted path ``inner``) whose
    ``env.step`` counts every call of every environment into ``ENV_STEPS`` (a host callback):
    the ground truth for env-step accounting."""
    if inner is None:
        space = maze_level_space(**kwargs)
    else:
        from hydra.utils import get_method

        space = get_method(inner)(**kwargs)
    env = space.env

    def step(key, state, action, params):
        # an environment's action: one per agent, each of the action space's shape (continuous: a vector)
        per_env = env.num_agents * int(np.prod(getattr(env.action_space, "shape", ()) or (1,)))
        jax.debug.callback(functools.partial(_count, per_env=per_env), action)
        return env.step(key, state, action, params)

    return space._replace(env=env._replace(step=step))
