"""Contract tests, one per component kind, over every YAML in conf/: a new score, buffer,
curriculum or level space is tested the moment its YAML exists."""

import math
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ued
from tests.extras import PACKAGES, require
from tests.tiny import BUFFERS, CURRICULA, ENV_STEPS, OWN_LEVEL_SPACE, SCORES, compose_config, tiny_config
from ued.envs.maze import maze_level_space, random_maze_generator
from ued.rollout import make_rollout
from ued.run.config import component_names, compose_component
from ued.run.logger import read_jsonl
from ued.train import train
from ued.types import LevelBuffer, LevelEnv, LevelSpace, Score, TopKBuffer

T, B = 40, 16
MAZE = maze_level_space()


def random_rollout(seed):
    rng = np.random.default_rng(seed)
    dones = rng.random((T, B)) < 0.15
    solved = dones & (rng.random((T, B)) < 0.5)
    rewards = np.where(solved, rng.random((T, B)), 0.0).astype(np.float32)
    return make_rollout(rewards, dones, rng.normal(size=(T, B)).astype(np.float32), rng.normal(size=B).astype(np.float32),
                        solved, 0.99, 0.95, dist_params=jnp.asarray(rng.normal(size=(T, B, 7)), jnp.float32))


def test_the_expected_components_exist():
    assert {"l1_value_loss", "pvl", "max_mc", "mna", "learnability", "paired", "oracle"} <= set(SCORES)
    assert {"plr", "sfl"} <= set(BUFFERS)
    assert {"dr", "plr", "robust_plr", "accel", "sfl", "paired"} <= set(CURRICULA)


@pytest.mark.parametrize("name", SCORES)
def test_score_contract(name):
    score = compose_component("score", name)
    assert isinstance(score, Score)
    if score.bind is not None:
        score = score.bind(MAZE)
    rollout = random_rollout(0)
    if score.rollouts == "pair":
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
    buf = compose_component("buffer", name, ("buffer.capacity=32",))
    assert isinstance(buf, (LevelBuffer, TopKBuffer)) and buf.capacity == 32
    levels = jax.vmap(random_maze_generator().sample)(jax.random.split(jax.random.key(1), 64))
    placeholder = jax.tree.map(lambda x: x[0], levels)
    state = buf.init(placeholder, {"max_return": jnp.float32(-jnp.inf)})
    scores = jax.random.uniform(jax.random.key(2), (64,))
    extras = {"max_return": jnp.zeros(64)}
    add = buf.insert if isinstance(buf, LevelBuffer) else buf.refill
    state = jax.jit(add)(state, levels, scores, extras, jnp.ones(64, bool))
    assert bool(jax.jit(buf.ready)(state))
    w = jax.jit(buf.weights)(state)
    assert w.shape == (32,) and np.isclose(float(w.sum()), 1.0, rtol=1e-5)
    state, idx, sampled = jax.jit(buf.sample, static_argnums=2)(state, jax.random.key(3), 8)
    assert idx.shape == (8,) and sampled.wall_map.shape == (8, 13, 13)
    if isinstance(buf, LevelBuffer):
        state = jax.jit(buf.update)(state, idx, jnp.full((8,), 5.0), {"max_return": jnp.ones(8)}, jnp.ones(8, bool))
        np.testing.assert_allclose(np.asarray(state.scores)[np.asarray(idx)], 5.0)
    else:  # a refill keeps exactly the top K of the batch
        np.testing.assert_allclose(np.sort(np.asarray(state.scores)), np.sort(np.asarray(scores))[-32:])
    with pytest.raises(AssertionError, match="shape prefix"):  # shapes are checked at trace time (chex)
        jax.jit(add)(state, levels, scores[:10])


def _space(name):
    package = PACKAGES.get(name)
    if package:
        require(*package)
    if name == "xland":
        import tempfile

        from tests.envs.xland.test_xland import write_benchmark

        return compose_component("env", name, (f"env.path={write_benchmark(tempfile.mkdtemp() + '/tiny.bz2')}",))
    return compose_component("env", name)


def _first_step(space, levels):
    """Resets ``levels`` (a batch) and takes one all-zeros action: ``(reward, done, info)``."""
    env = space.env
    n = jax.tree.leaves(levels)[0].shape[0]
    shape = (n,) + (() if env.num_agents == 1 else (env.num_agents,))
    action = (jnp.zeros(shape, jnp.int32) if hasattr(env.action_space, "n")
              else jnp.zeros(shape + tuple(env.action_space.shape), jnp.float32))

    def first(key, level):
        _, state = env.reset_to_level(key, level, env.default_params)
        return env.step(key, state, action[0], env.default_params)[2:]

    return jax.jit(jax.vmap(first))(jax.random.split(jax.random.key(1), n), levels)


def _broken(levels):
    """Every signed integer of the levels -1, every unsigned one its largest value and every
    float NaN: outside every grid, an id no package defines, a non-finite position."""
    def breaks(x):
        x = jnp.asarray(x)
        if jnp.issubdtype(x.dtype, jnp.floating):
            return jnp.full_like(x, jnp.nan)
        if jnp.issubdtype(x.dtype, jnp.signedinteger):
            return jnp.full_like(x, -1)
        if jnp.issubdtype(x.dtype, jnp.unsignedinteger):
            return jnp.full_like(x, jnp.iinfo(x.dtype).max)
        return x
    return jax.tree.map(breaks, levels)


@pytest.mark.parametrize("name", component_names("env"))
def test_level_space_contract(name):
    """Every level space: its parts' shapes; its generated (and mutated) levels are played
    (``info["invalid_level"]`` False on their first step); and, as ued/envs/README.md says, a level
    that is not valid is not played: its first step ends the episode, pays 0, is not solved and
    says ``invalid_level`` (one compiled step for all three kinds of level)."""
    space = _space(name)
    assert isinstance(space, LevelSpace) and isinstance(space.env, LevelEnv)
    assert isinstance(space.env.max_episode_steps, int) and space.env.max_episode_steps > 0
    levels = jax.jit(jax.vmap(space.generator.sample))(jax.random.split(jax.random.key(0), 3))
    obs, state = jax.vmap(space.env.reset_to_level, in_axes=(0, 0, None))(
        jax.random.split(jax.random.key(1), 3), levels, space.env.default_params)
    stats = space.level_stats(levels)
    assert all(np.shape(v) == (3,) for v in stats.values())
    if space.optimal_return is not None:
        assert jax.vmap(space.optimal_return)(levels).shape == (3,)
    parts = [levels]
    if space.mutator is not None:
        parts.append(jax.jit(jax.vmap(space.mutator.mutate))(jax.random.split(jax.random.key(2), 3), levels))
    parts.append(_broken(jax.tree.map(lambda x: x[:2], levels)))
    reward, done, info = _first_step(space, jax.tree.map(lambda *xs: jnp.concatenate(xs), *parts))
    invalid, done, solved = (np.asarray(x) for x in (info["invalid_level"], done, info["solved"]))
    assert not np.any(invalid[:-2])  # generated and mutated levels are played
    assert np.all(invalid[-2:]) and np.all(done[-2:]) and not np.any(solved[-2:])
    assert np.all(np.asarray(reward)[-2:] == 0.0) and np.all(np.asarray(info["episode_length"])[-2:] == 1)


@pytest.mark.slow
@pytest.mark.parametrize("curriculum", CURRICULA)
def test_curriculum_contract(curriculum, tmp_path):
    """Every curriculum YAML, shrunk: jit, finite scalar metrics, every env step it spends counted
    (against a counter in the env itself), checkpoints, and an exact resume: cut back to
    update 2 and resumed, the run's metrics and final state equal the uninterrupted run's."""
    own_env = compose_config([f"curriculum={curriculum}"]).env
    inner = [] if curriculum not in OWN_LEVEL_SPACE else [f"+env.inner={own_env._target_}"]  # its own, counted
    cfg = tiny_config(curriculum, "env._target_=tests.tiny.counting_maze", *inner,
                      *(["env.held_out=[]"] if "held_out" in own_env else []), "eval.random_levels=0",
                      *(["num_seeds=2"] if curriculum == "dr" else []))
    full, cut = tmp_path / "full", tmp_path / "cut"
    ENV_STEPS[0] = 0
    summary = train(cfg, str(full))
    assert summary["complete"] and summary["update"] == 4
    rows = read_jsonl(str(full / "metrics.jsonl"))
    seeds = cfg.num_seeds
    assert [r["update"] for r in rows] == [u for u in (1, 2, 3, 4) for _ in range(seeds)]
    assert all(math.isfinite(v) for r in rows for v in r.values() if isinstance(v, float))
    assert any(k.startswith("curriculum/") for k in rows[0])
    # env-step accounting: training rollouts plus what the curriculum reported, exactly
    last = [r for r in rows if r["update"] == 4]
    curriculum_steps = sum(r["curriculum_env_steps"] for r in last)
    jax.effects_barrier()  # the counting callbacks run asynchronously: wait for the last ones
    assert ENV_STEPS[0] == 4 * seeds * cfg.num_envs * cfg.num_steps + curriculum_steps
    assert all(r["total_env_steps"] == r["env_steps"] + r["curriculum_env_steps"] for r in rows)
    # exact resume from the checkpoint of update 2
    shutil.copytree(full, cut)
    for u in (3, 4):
        shutil.rmtree(cut / "checkpoints" / f"update_{u:08d}")
    resumed = train(cfg, str(cut))
    assert resumed["resumed_from"] == 2 and resumed["complete"]
    assert read_jsonl(str(cut / "metrics.jsonl")) == rows
    a, b = ued.load(str(full)), ued.load(str(cut))
    assert a.update == b.update == 4
    for x, y in zip(jax.tree.leaves(a.state), jax.tree.leaves(b.state)):
        if jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
            x, y = jax.random.key_data(x), jax.random.key_data(y)
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    # what it shows: top levels from the interface, best first
    top_fn = a.components.curriculum.top_levels
    if top_fn is not None:
        state = jax.tree.map(lambda x: x[0], a.state.curriculum) if seeds > 1 else a.state.curriculum
        top = jax.jit(top_fn, static_argnums=1)(state, 3)
        scores = np.asarray(top.scores)[np.asarray(top.valid)]
        assert (np.diff(scores) <= 0).all()
