import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hydra import compose, initialize_config_dir

from ued.agents import PPOConfig, maze_agent
from ued.curricula import dr
from ued.envs.maze import maze_level_space
from ued.loop import make_train
from ued.run.config import CONF_DIR, Components, ConfigError, component_names
from ued.train import train
from ued.utils import CompileCounter

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["num_envs=4", "num_steps=16", "num_updates=2", "updates_per_chunk=1", "eval.every=1", "eval.attempts=1",
        "eval.random_levels=4",
        "agent.network.hidden=16", "env.held_out=[SixteenRooms,Labyrinth]", "progress=false"]


def cfg(*overrides):
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


@pytest.mark.parametrize("group", ["env", "agent", "curriculum", "score", "buffer", "logger", "eval", "preset"])
def test_every_preset_composes(group):
    for option in component_names(group):
        override = f"{group}={option}"
        c = cfg(*(["curriculum=plr"] if group in ("score", "buffer") else []), override)
        assert c.num_envs > 0 and "_target_" in c.env
    assert cfg("preset=paper").num_updates == 30000
    assert cfg("agent=ff").agent.network.recurrent is False


def test_defaults_follow_the_literature():
    c = cfg()
    ppo = c.agent.ppo
    assert (c.num_envs, c.num_steps) == (32, 256)
    assert (ppo.lr, ppo.gamma, ppo.gae_lambda, ppo.clip_eps, ppo.ent_coef, ppo.vf_coef) == (1e-4, 0.995, 0.98, 0.2, 1e-3, 0.5)
    assert (ppo.update_epochs, ppo.num_minibatches, ppo.max_grad_norm) == (5, 1, 0.5)
    assert c.agent.network.hidden == 256 and c.agent.network.conv_features == 16 and c.agent.network.head == 32


@pytest.mark.parametrize(
    "override,message",
    [
        ("agent.ppo.num_minibatches=3", "num_minibatches=3 must divide num_envs=32"),
        ("num_envs=0", "num_envs must be a positive integer, got 0"),
        ("agent.ppo.gamma=1.5", r"agent.ppo.gamma must be a number in \[0, 1\], got 1.5"),
        ("env.held_out=[Nope]", "env: unknown named level 'Nope'; valid names are: .*SixteenRooms"),
        ("env.n_walls=500", r"env: n_walls must be an integer in \[0, 167\]"),
        ("updates_per_chunk=0", "updates_per_chunk must be a positive integer, got 0"),
        ("eval.every=30", "eval.every=30 must be a multiple of updates_per_chunk=25"),
        ("checkpoint_every=30", "checkpoint_every must be 0 or a positive multiple of updates_per_chunk=25, got 30"),
        ("on_nonfinite=ignore", "on_nonfinite must be stop or skip, got 'ignore'"),
        ("resume=maybe", "resume must be auto, true or false, got 'maybe'"),
    ],
)
def test_bad_config_fails_before_compiling(override, message, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("the training loop was built despite a bad config")

    monkeypatch.setattr("ued.loop.make_train", never)
    with pytest.raises(ConfigError, match=message):
        Components(cfg(override))


def test_cli_runs_end_to_end_and_rejects_bad_overrides(tmp_path):
    run_dir = tmp_path / "run"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    out = subprocess.run([sys.executable, "-m", "ued.train", *TINY, f"hydra.run.dir={run_dir}"],
                         cwd=REPO, capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    rows = [json.loads(l) for l in open(run_dir / "metrics.jsonl")]
    assert [r["update"] for r in rows] == [1, 2] and rows[-1]["env_steps"] == 2 * 4 * 16
    assert {"return", "solve_rate", "episode_length", "policy_loss", "value_loss", "entropy", "grad_norm", "lr",
            "curriculum/level_walls"} <= set(rows[0])
    evals = [json.loads(l) for l in open(run_dir / "eval.jsonl")]
    assert [e["update"] for e in evals] == [0, 1, 2]
    assert "eval/named/greedy/solve_rate/SixteenRooms" in evals[0] and "eval/random/sampled/return_mean" in evals[0]
    assert (run_dir / "config.yaml").exists()
    media = os.listdir(run_dir / "media")
    assert "proposed_0000002.png" in media and "heldout_SixteenRooms_0000002.gif" in media
    assert all(r["curriculum_env_steps"] == 0 and r["total_env_steps"] == r["env_steps"] for r in rows)  # DR spends none
    assert "done: 2 updates" in out.stdout

    bad = subprocess.run([sys.executable, "-m", "ued.train", "agent.ppo.num_minibatches=3", f"hydra.run.dir={tmp_path / 'bad'}"],
                         cwd=REPO, capture_output=True, text=True, env=env, timeout=300)
    assert bad.returncode != 0
    assert "error: agent.ppo.num_minibatches=3 must divide num_envs=32" in bad.stderr
    unknown = subprocess.run([sys.executable, "-m", "ued.train", "curriculum=nope", f"hydra.run.dir={tmp_path / 'bad2'}"],
                             cwd=REPO, capture_output=True, text=True, env=env, timeout=300)
    assert unknown.returncode != 0 and "curriculum" in unknown.stderr and "dr" in unknown.stderr  # Hydra lists options


@pytest.fixture(scope="module")
def tiny():
    ls = maze_level_space(held_out=("SixteenRooms",))
    agent = maze_agent(ls.env.action_space, hidden=16)
    return ls, agent


def test_no_recompilation_between_chunks_and_seeds_vmap(tiny):
    ls, agent = tiny
    trainer = make_train(ls, dr(ls, 4), agent, PPOConfig(), num_envs=4, num_steps=8, num_updates=4,
                         updates_per_chunk=2, num_seeds=2)
    state = jax.jit(trainer.init)(jax.random.split(jax.random.key(0), 2))
    chunk = jax.jit(trainer.chunk)
    state, metrics, levels = chunk(state, jnp.int32(0))
    with CompileCounter() as cc:
        state, metrics, levels = chunk(state, jnp.int32(0))
        jax.block_until_ready(state)
    assert cc.count == 0
    assert metrics["loss"].shape == (2, 2) and levels.wall_map.shape == (2, 4, 13, 13)
    assert np.asarray(state.update).tolist() == [4, 4]
    p = jax.tree.leaves(state.params)[0]
    assert not np.allclose(p[0], p[1])  # independent seeds


def test_seed_init_runs_each_seed_alone_and_equals_a_one_seed_init(tiny):
    """Several seeds are initialised one after the other (``lax.map``), never with batched QR
    decompositions (the orthogonal initialisers): jaxlib's CPU kernel for a batched QR deadlocked
    under ``vmap`` (jax 0.10.2, 2 cores). Each seed's state equals a one-seed run's."""
    ls, agent = tiny
    kw = dict(num_envs=4, num_steps=8, num_updates=4, updates_per_chunk=2)
    many = make_train(ls, dr(ls, 4), agent, PPOConfig(), num_seeds=3, **kw)
    keys = jax.random.split(jax.random.key(0), 3)

    def qr_ranks(jaxpr):  # the rank of every QR's operand, in nested jaxprs too (scan, pjit, ...)
        for eqn in jaxpr.eqns:
            if eqn.primitive.name in ("qr", "geqrf", "geqp3"):
                yield eqn.invars[0].aval.ndim
            for v in eqn.params.values():
                for inner in (v if isinstance(v, (tuple, list)) else (v,)):
                    inner = getattr(inner, "jaxpr", inner)
                    if hasattr(inner, "eqns"):
                        yield from qr_ranks(inner)
    ranks = list(qr_ranks(jax.make_jaxpr(many.init)(keys).jaxpr))
    assert ranks and max(ranks) == 2, ranks  # QR of single matrices only
    states = jax.jit(many.init)(keys)
    one = make_train(ls, dr(ls, 4), agent, PPOConfig(), num_seeds=1, **kw)
    second = jax.jit(one.init)(keys[1])
    jax.tree.map(lambda a, b: np.testing.assert_array_equal(np.asarray(a)[1], np.asarray(b)), states.params,
                 second.params)


def test_seeds_that_do_not_train_skip_the_update_under_vmap(tiny):
    """Under the seed vmap the PPO update is one branch taken when any seed trains (not a select
    that always pays for it): each seed still equals its one-seed run, including updates where
    only some seeds train and updates where none does."""
    ls, agent = tiny
    base = dr(ls, 4)

    def propose(state, key, student):  # each seed trains on about half of its updates
        state, levels, proposal = base.propose(state, key, student)
        on = jax.random.bernoulli(jax.random.fold_in(key, 7)).astype(jnp.float32)
        return state, levels, proposal.replace(train_weights=proposal.train_weights * on)

    cur = base._replace(propose=propose)
    kw = dict(num_envs=4, num_steps=8, num_updates=6, updates_per_chunk=6)
    many = make_train(ls, cur, agent, PPOConfig(), num_seeds=2, **kw)
    keys = jax.random.split(jax.random.key(3), 2)
    jaxpr = jax.make_jaxpr(many.chunk)(jax.eval_shape(many.init, keys), jnp.int32(0))
    assert "pmax" in str(jaxpr)  # the predicate is shared by the seeds: the cond is not batched
    state, metrics, _ = jax.jit(many.chunk)(jax.jit(many.init)(keys), jnp.int32(0))
    trained = np.asarray(metrics["trained"])  # (seeds, updates)
    assert (trained.sum(0) == 0).any() and (trained.sum(0) == 1).any(), trained
    one = make_train(ls, cur, agent, PPOConfig(), num_seeds=1, **kw)
    chunk = jax.jit(one.chunk)
    for i in range(2):
        alone, m, _ = chunk(jax.jit(one.init)(keys[i]), jnp.int32(0))
        np.testing.assert_array_equal(np.asarray(m["trained"]), trained[i])
        jax.tree.map(lambda a, b: np.testing.assert_allclose(np.asarray(a)[i], np.asarray(b), rtol=1e-5, atol=1e-6),
                     state.params, alone.params)


def test_a_proposal_with_zero_weights_does_not_train(tiny):
    ls, agent = tiny
    base = dr(ls, 4)

    def propose(state, key, student):
        state, levels, proposal = base.propose(state, key, student)
        return state, levels, proposal.replace(train_weights=jnp.zeros(4))

    trainer = make_train(ls, base._replace(propose=propose), agent, PPOConfig(), num_envs=4, num_steps=8,
                         num_updates=1, updates_per_chunk=1)
    state = jax.jit(trainer.init)(jax.random.key(0))
    new, metrics, _ = jax.jit(trainer.chunk)(state, jnp.int32(0))
    jax.tree.map(np.testing.assert_array_equal, new.params, state.params)
    assert float(metrics["trained"][0]) == 0.0 and float(metrics["train_fraction"][0]) == 0.0


def test_wandb_offline_logging_works_without_network(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_SILENT", "true")
    c = cfg(*TINY, "logger=wandb", "logger.mode=offline", "eval.render=false")
    summary = train(c, str(tmp_path))
    runs = [d for d in os.listdir(tmp_path / "wandb") if d.startswith("offline-run-")]
    assert len(runs) == 1 and any(f.endswith(".wandb") for f in os.listdir(tmp_path / "wandb" / runs[0]))
    assert summary["eval/random/greedy/solve_rate_mean"] >= 0.0
    assert len(open(tmp_path / "metrics.jsonl").readlines()) == 2
    with pytest.raises(ConfigError, match="logger.mode must be one of online, offline, disabled, got 'sometimes'"):
        train(cfg(*TINY, "logger=wandb", "logger.mode=sometimes"), str(tmp_path / "bad"))
