"""Checkpoints, exact resume, faults and ``ued.load`` (issue: run lifecycle).

The exact-resume test also runs every maze curriculum end to end through ``ued.train.train``
(the command line itself is tested in ``test_train.py`` and by the SIGTERM test here)."""

import dataclasses
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hydra import compose, initialize_config_dir

import ued
import ued.loop
from ued.run import checkpoint as ck
from ued.run.checkpoint import CheckpointDamaged, CheckpointError, latest_checkpoint, restore_state, save_checkpoint
from ued.run.load import find_checkpoint
from ued.run.logger import read_jsonl
from tests.tiny import TINY, tiny_config
from ued.train import CONF_DIR, ConfigError, NonFiniteError, train

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cfg(*overrides):
    """The composed tiny config (``tests/tiny.py``) plus ``overrides``, which win."""
    curriculum = next((o.split("=", 1)[1] for o in overrides if o.startswith("curriculum=")), "dr")
    return tiny_config(curriculum, *[o for o in overrides if not o.startswith("curriculum=")])


def tree_equal(a, b):
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    assert len(la) == len(lb)
    for x, y in zip(la, lb):
        if jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
            x, y = jax.random.key_data(x), jax.random.key_data(y)
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


# ---------------------------------------------------------------- the checkpoint files

def small_state(seed=0):
    k = jax.random.key(seed)
    return {"params": {"w": jax.random.normal(k, (3, 4))}, "key": jax.random.split(k, 2),
            "buffer": {"scores": jnp.arange(5.0) + seed, "filled": jnp.array([True, False, True, True, False])},
            "update": jnp.int32(seed)}


def test_save_and_restore_round_trip_keeps_only_the_latest(tmp_path):
    run = str(tmp_path / "0_env.held_out=[A,B],seed=0")  # a Hydra sweep job's directory name
    for u in (1, 2, 3):
        save_checkpoint(run, u, small_state(u), {"config": {"a": u}}, keep=2)
    assert [u for u, _ in ck.checkpoint_dirs(run)] == [2, 3]
    info = latest_checkpoint(run)
    assert info.update == 3 and info.meta["config"] == {"a": 3}
    restored = restore_state(info, jax.eval_shape(lambda: small_state(0)))
    tree_equal(restored, small_state(3))
    assert jnp.issubdtype(restored["key"].dtype, jax.dtypes.prng_key)


def test_restore_names_every_differing_leaf(tmp_path):
    save_checkpoint(str(tmp_path), 1, small_state(), {"config": {}}, keep=1)
    other = jax.eval_shape(lambda: {**small_state(), "params": {"w": jnp.zeros((3, 5))}})
    with pytest.raises(CheckpointError, match=r"params/w: \[3, 4\] float32 in the checkpoint, now \[3, 5\] float32"):
        restore_state(latest_checkpoint(str(tmp_path)), other)


def test_a_failed_save_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    run = str(tmp_path)
    save_checkpoint(run, 1, small_state(1), {"config": {}}, keep=3)

    class Full:
        def save(self, path, state):
            os.makedirs(path)
            open(os.path.join(path, "partial"), "w").write("x")
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ck, "_checkpointer", Full)
    with pytest.raises(CheckpointError, match=r"update 2 .*No space left on device; the previous checkpoint .*update_00000001 is intact"):
        save_checkpoint(run, 2, small_state(2), {"config": {}}, keep=3)
    assert sorted(os.listdir(os.path.join(run, "checkpoints"))) == ["update_00000001"]  # no partial left
    monkeypatch.undo()
    tree_equal(restore_state(latest_checkpoint(run), jax.eval_shape(lambda: small_state(0))), small_state(1))


@pytest.mark.parametrize("where", ["orbax", "meta", "rename"])
def test_a_process_killed_mid_save_resumes_from_the_previous_checkpoint(tmp_path, where):
    script = textwrap.dedent(f"""
        import json, os, signal, jax, jax.numpy as jnp
        from ued.run import checkpoint as ck
        state = lambda s: {{"w": jnp.full((64, 64), float(s)), "key": jax.random.key(s)}}
        ck.save_checkpoint({str(tmp_path)!r}, 1, state(1), {{"config": {{}}}}, keep=3)
        def die(*a, **k):
            os.kill(os.getpid(), signal.SIGKILL)
        if {where!r} == "orbax":    # inside orbax's write of the arrays
            import orbax.checkpoint as ocp
            real = ocp.Checkpointer.save
            def save(self, path, item, *a, **k):
                os.makedirs(path); open(os.path.join(path, "half_written"), "w").write("x"); die()
            ocp.Checkpointer.save = save
        elif {where!r} == "meta":   # arrays written, metadata half written
            json.dump = lambda obj, f, **k: (f.write('{{"upd'), f.flush(), die())
        else:                      # everything written, not yet renamed
            ck.os.replace = die
        ck.save_checkpoint({str(tmp_path)!r}, 2, state(2), {{"config": {{}}}}, keep=3)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert out.returncode == -signal.SIGKILL, out.stderr[-2000:]
    leftovers = [n for n in os.listdir(tmp_path / "checkpoints") if n.startswith(".tmp-")]
    assert len(leftovers) == 1  # the interrupted save
    info = latest_checkpoint(str(tmp_path))
    assert info.update == 1
    shape = jax.eval_shape(lambda: {"w": jnp.zeros((64, 64)), "key": jax.random.key(0)})
    np.testing.assert_array_equal(restore_state(info, shape)["w"], 1.0)
    save_checkpoint(str(tmp_path), 2, {"w": jnp.full((64, 64), 2.0), "key": jax.random.key(2)}, {"config": {}}, keep=3)
    assert sorted(os.listdir(tmp_path / "checkpoints")) == ["update_00000001", "update_00000002"]  # cleaned up


def test_corrupted_or_partial_checkpoints_give_a_clear_error(tmp_path):
    run = str(tmp_path)
    save_checkpoint(run, 1, small_state(1), {"config": {}}, keep=3)
    path = save_checkpoint(run, 2, small_state(2), {"config": {}}, keep=3)
    with open(os.path.join(path, "meta.json"), "w") as f:
        f.write("{not json")
    with pytest.raises(CheckpointError, match=r"update_00000002 is damaged: meta.json is not valid JSON.*previous checkpoint is update 1 .*update_00000001"):
        latest_checkpoint(run)
    shutil.rmtree(os.path.join(path, "state"))
    os.remove(os.path.join(path, "meta.json"))
    with pytest.raises(CheckpointError, match="is damaged: meta.json is missing"):
        latest_checkpoint(run)
    with pytest.raises(CheckpointError, match="is not a directory"):
        ued.load(str(tmp_path / "elsewhere"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="has no checkpoint"):
        ued.load(str(tmp_path / "empty"))


# ---------------------------------------------------------------- exact resume (every curriculum: test_contract.py)

@pytest.fixture(scope="module")
def dr_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("dr_run")
    c = cfg("num_updates=2")
    train(c, str(run_dir))
    return run_dir, c


def test_load_returns_the_trained_policy(dr_run):
    run_dir, _ = dr_run
    loaded = ued.load(str(run_dir))
    assert loaded.update == 2 and loaded.config.agent.network.hidden == 8
    tree_equal(loaded.params, loaded.state.params)
    earlier = ued.load(str(run_dir), checkpoint=1)
    assert earlier.update == 1
    assert not np.array_equal(jax.tree.leaves(earlier.params)[0], jax.tree.leaves(loaded.params)[0])
    obs, _ = loaded.level_space.env.reset_to_level(jax.random.key(0), jax.tree.map(lambda x: x[0], loaded.level_space.held_out),
                                                   loaded.level_space.env.default_params)
    _, dist, value = loaded.agent.apply(loaded.params, loaded.agent.initial_carry(1),
                                        jax.tree.map(lambda x: x[None, None], obs), jnp.ones((1, 1), bool))
    assert value.shape == (1, 1) and np.isfinite(np.asarray(value)).all()
    with pytest.raises(CheckpointError, match="has no checkpoint of update 7; it has \\[1, 2\\]"):
        ued.load(str(run_dir), checkpoint=7)


def test_load_takes_a_relative_run_directory_and_never_calls_a_gone_checkpoint_damaged(dr_run, monkeypatch):
    run_dir, _ = dr_run
    monkeypatch.chdir(run_dir.parent)  # as a user types it: outputs/... from the working directory
    loaded = ued.load(run_dir.name)
    assert loaded.update == 2
    tree_equal(loaded.params, ued.load(str(run_dir)).params)
    info = find_checkpoint(run_dir.name)
    gone = dataclasses.replace(info, path=os.path.join(run_dir.name, "checkpoints", "update_99999999"))  # rotated away
    abstract = jax.eval_shape(lambda: loaded.state)
    with pytest.raises(CheckpointError, match="disappeared while it was being read") as e:
        restore_state(gone, abstract)
    assert not isinstance(e.value, CheckpointDamaged) and "damaged" not in str(e.value)


def test_resuming_with_a_different_state_shape_names_the_difference(dr_run, tmp_path):
    run_dir, c = dr_run
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    bigger = cfg("agent.network.hidden=16")
    with pytest.raises(CheckpointError, match=r"agent.network.hidden: 8 -> 16.*\n  params/params/\S+: \[8"):
        train(bigger, str(copy))
    assert latest_checkpoint(str(copy)).update == 2  # nothing lost
    with pytest.raises(ConfigError, match="already holds a run"):
        train(cfg("resume=false"), str(copy))
    with pytest.raises(ConfigError, match="resume=true but .* has no checkpoint"):
        train(cfg("resume=true"), str(tmp_path / "new"))


def test_plr_buffer_capacity_change_is_refused(tmp_path):
    c = cfg("curriculum=plr", "num_updates=1", "buffer.capacity=8")
    train(c, str(tmp_path))
    with pytest.raises(CheckpointError, match=r"(?s)buffer.capacity: 8 -> 16.*curriculum/buffer/\S+: \[8"):
        train(cfg("curriculum=plr", "num_updates=2", "buffer.capacity=16"), str(tmp_path))


def test_chunks_of_any_length_give_the_same_run_and_resume_off_the_grid(tmp_path):
    """num_updates need not be a multiple of updates_per_chunk (the last chunk is shorter), and
    a resume from a checkpoint off the chunk grid runs a short chunk back onto it."""
    ones = cfg("num_updates=3", "eval.every=0", "checkpoint_every=0")
    twos = cfg("num_updates=3", "updates_per_chunk=2", "eval.every=2", "checkpoint_every=2")
    train(ones, str(tmp_path / "ones"))
    train(twos, str(tmp_path / "twos"))  # chunks of 2 and 1
    metrics = lambda d: read_jsonl(str(tmp_path / d / "metrics.jsonl"))
    assert [r["update"] for r in metrics("twos")] == [1, 2, 3]
    assert metrics("twos") == metrics("ones")
    tree_equal(ued.load(str(tmp_path / "twos")).state, ued.load(str(tmp_path / "ones")).state)
    assert [u for u, _ in ck.checkpoint_dirs(str(tmp_path / "twos"))] == [2, 3]
    assert [r["update"] for r in read_jsonl(str(tmp_path / "twos" / "eval.jsonl"))] == [0, 2, 3]
    # extend the finished run from its checkpoint at 3: a chunk of 1 to 4, then 4 to 6, then 6 to 7
    summary = train(cfg("num_updates=7", "updates_per_chunk=2", "eval.every=2", "checkpoint_every=2"),
                    str(tmp_path / "twos"))
    assert summary["resumed_from"] == 3 and summary["complete"]
    assert [r["update"] for r in metrics("twos")] == list(range(1, 8))
    assert [u for u, _ in ck.checkpoint_dirs(str(tmp_path / "twos"))] == [2, 3, 4, 6, 7]  # keep_checkpoints=10
    assert [r["update"] for r in read_jsonl(str(tmp_path / "twos" / "eval.jsonl"))] == [0, 2, 3, 4, 6, 7]


# ---------------------------------------------------------------- non-finite losses

def nan_after(step):
    """An optimizer whose update turns the parameters into NaN from its ``step``-th step on."""
    real = ued.loop.make_optimizer

    def make(ppo, num_updates):
        base = real(ppo, num_updates)

        def update(grads, state, params=None):
            updates, inner = base.update(grads, state, params)
            count = inner[1][0].count
            updates = jax.tree.map(lambda u: jnp.where(count >= step, jnp.nan, u), updates)
            return updates, inner

        return optax.GradientTransformation(base.init, update)

    return make


def test_a_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    # 4 minibatch steps per update (epochs x minibatches = 2 x 2 at these settings): NaN from update 3
    monkeypatch.setattr(ued.loop, "make_optimizer", nan_after(9))
    c = cfg("agent.ppo.update_epochs=2", "agent.ppo.num_minibatches=2")
    with pytest.raises(NonFiniteError, match=r"update 3: (non-finite parameters|\w*loss=nan).*last good checkpoint is update 2"):
        train(c, str(tmp_path))
    info = latest_checkpoint(str(tmp_path))
    assert info.update == 2
    params = ued.load(str(tmp_path)).params
    assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(params))


def test_skip_mode_skips_nonfinite_updates(tmp_path, monkeypatch):
    monkeypatch.setattr(ued.loop, "make_optimizer", nan_after(9))
    c = cfg("agent.ppo.update_epochs=2", "agent.ppo.num_minibatches=2", "on_nonfinite=skip")
    summary = train(c, str(tmp_path))
    assert summary["complete"]
    rows = read_jsonl(str(tmp_path / "metrics.jsonl"))
    assert [r["nonfinite"] for r in rows] == [0.0, 0.0, 1.0, 1.0]  # the optimizer stays broken after step 9
    tree_equal(ued.load(str(tmp_path), checkpoint=2).params, ued.load(str(tmp_path)).params)  # updates 3, 4 skipped


# ---------------------------------------------------------------- the command line

@pytest.mark.slow
def test_sigterm_saves_a_checkpoint_and_the_run_continues_from_its_directory(tmp_path):
    run_dir = tmp_path / "run"
    args = [sys.executable, "-m", "ued.train", *[a for a in TINY if not a.startswith("num_updates")], "num_updates=200",
            "checkpoint_every=0", f"run_dir={run_dir}"]
    proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    metrics = run_dir / "metrics.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline and not (metrics.exists() and len(metrics.read_text().splitlines()) >= 2):
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 128 + signal.SIGTERM, err[-2000:]
    assert "stopped by SIGTERM" in err
    stopped = latest_checkpoint(str(run_dir)).update
    assert 2 <= stopped < 200
    assert [r["update"] for r in read_jsonl(str(metrics))] == list(range(1, stopped + 1))
    # point at the directory: the saved config is used (num_updates is a safe change)
    out = subprocess.run([sys.executable, "-m", "ued.train", f"run_dir={run_dir}", f"num_updates={stopped + 2}",
                          "progress=false"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "warning" not in out.stderr  # the saved config (updates_per_chunk=1, not the default 25) is the one in effect
    assert f"note: num_updates 200 -> {stopped + 2} with agent.ppo.anneal_lr=true" in out.stderr
    assert [r["update"] for r in read_jsonl(str(metrics))] == list(range(1, stopped + 3))
    assert ued.load(str(run_dir)).config.agent.network.hidden == 8
