"""Contract tests: every score and buffer YAML in conf/ instantiates and runs under jax.jit."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from ued.envs.maze import random_maze_generator
from ued.rollout import make_rollout
from ued.types import LevelBuffer, Score

CONF = os.path.join(os.path.dirname(__file__), "..", "conf")
# "default" means "the curriculum's own", not a component.
SCORES = sorted(f[:-5] for f in os.listdir(os.path.join(CONF, "score")) if f.endswith(".yaml") and f != "default.yaml")
BUFFERS = sorted(f[:-5] for f in os.listdir(os.path.join(CONF, "buffer")) if f.endswith(".yaml") and f != "default.yaml")
T, B = 40, 16


def load(group, name, **overrides):
    with initialize_config_dir(config_dir=os.path.abspath(CONF), version_base="1.3"):
        cfg = compose(config_name=None, overrides=[f"+{group}={name}"] + [f"{group}.{k}={v}" for k, v in overrides.items()])
    return instantiate(cfg[group])


def random_rollout(seed):
    rng = np.random.default_rng(seed)
    dones = rng.random((T, B)) < 0.15
    solved = dones & (rng.random((T, B)) < 0.5)
    rewards = np.where(solved, rng.random((T, B)), 0.0).astype(np.float32)
    return make_rollout(rewards, dones, rng.normal(size=(T, B)).astype(np.float32), rng.normal(size=B).astype(np.float32),
                        solved, 0.99, 0.95, logits=jnp.asarray(rng.normal(size=(T, B, 7)), jnp.float32))


def test_the_expected_components_exist():
    assert {"l1_value_loss", "pvl", "max_mc", "mna", "learnability", "paired", "oracle"} <= set(SCORES)
    assert {"plr", "sfl"} <= set(BUFFERS)


@pytest.mark.parametrize("name", SCORES)
def test_score_contract(name):
    score = load("score", name)
    assert isinstance(score, Score)
    rollout = random_rollout(0)
    if name == "paired":
        rollout = (rollout, random_rollout(1))
    levels = jax.vmap(random_maze_generator().sample)(jax.random.split(jax.random.key(0), B))
    extra = jax.tree.map(lambda x: jnp.broadcast_to(x, (B,) + jnp.shape(x)), score.init_extra())
    out = jax.jit(score.compute)(rollout, levels, extra)
    assert out.scores.shape == (B,) and out.scores.dtype == jnp.float32
    assert out.valid.shape == (B,) and out.valid.dtype == jnp.bool_
    assert np.isfinite(np.asarray(out.scores)).all()
    assert (np.asarray(out.scores)[~np.asarray(out.valid)] == 0).all()
    assert out.valid.any()
    assert jax.tree.structure(out.extra) == jax.tree.structure(score.init_extra())
    for leaf in jax.tree.leaves(out.extra):
        assert leaf.shape[0] == B


@pytest.mark.parametrize("name", BUFFERS)
def test_buffer_contract(name):
    buf = load("buffer", name, capacity=32)
    assert isinstance(buf, LevelBuffer)
    gen = random_maze_generator()
    levels = jax.vmap(gen.sample)(jax.random.split(jax.random.key(1), 64))
    placeholder = jax.tree.map(lambda x: x[0], levels)
    state = buf.init(placeholder, {"max_return": jnp.float32(-jnp.inf)})
    scores = jax.random.uniform(jax.random.key(2), (64,))
    extras = {"max_return": jnp.zeros(64)}
    state = jax.jit(buf.insert)(state, levels, scores, extras, jnp.ones(64, bool))
    assert bool(jax.jit(buf.ready)(state))
    w = jax.jit(buf.weights)(state)
    assert w.shape == (32,) and np.isclose(float(w.sum()), 1.0, rtol=1e-5)
    state, idx, sampled = jax.jit(buf.sample, static_argnums=2)(state, jax.random.key(3), 8)
    assert idx.shape == (8,) and sampled.wall_map.shape == (8, 13, 13)
    state = jax.jit(buf.update)(state, idx, jnp.full((8,), 5.0), {"max_return": jnp.ones(8)}, jnp.ones(8, bool))
    np.testing.assert_allclose(np.asarray(state.scores)[np.asarray(idx)], 5.0)
