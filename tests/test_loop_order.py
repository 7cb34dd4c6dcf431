"""The loop's order (ued/loop.py, ``ued.types.Curriculum``): propose -> training rollout ->
observe -> PPO update on that same rollout. ``observe`` sees the student before its update and
may set this update's gradient weights (``Observed.train_weights``), per level or per step,
which replace the proposal's."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

from ued.agents import PPOConfig, maze_agent
from ued.curricula import dr, score_weighted_dr
from ued.curricula.weighted import score_weights
from ued.envs.maze import maze_level_space
from ued.loop import make_train
from ued.types import Curriculum, Observed

B, T = 4, 8
SPACE = maze_level_space(height=7, width=7, max_steps=8, held_out=[])
AGENT = maze_agent(SPACE.env.action_space, hidden=8, recurrent=False)
PPO = PPOConfig(update_epochs=1, num_minibatches=1)


@struct.dataclass
class ProbeState:
    propose_w: jax.Array   # (B,) the proposal's weights
    observe_w: jax.Array   # (B,) or (T, B): what observe sets
    seen: jax.Array        # () a parameter sum of the student observe saw


def _first_leaf_sum(params):
    return jnp.sum(jax.tree.leaves(params)[0])


def probe(per_step: bool) -> Curriculum:
    """DR whose proposal and observe weights come from its state (so one compiled program runs
    every case)."""
    inner = dr(SPACE, B)

    def init(key, student=None):
        return ProbeState(jnp.ones((B,)), jnp.ones((T, B) if per_step else (B,)), jnp.zeros(()))

    def propose(state, key, student):
        _, levels, proposal = inner.propose(inner.init(key), key, student)
        return state, levels, proposal.replace(train_weights=state.propose_w)

    def observe(state, key, levels, proposal, rollout, student):
        assert rollout.rewards.shape == (T, B)  # this update's training rollout
        state = state.replace(seen=_first_leaf_sum(student.params))
        return Observed(state, {}, jnp.zeros((), jnp.int32), train_weights=state.observe_w)

    return Curriculum(init=init, propose=propose, observe=observe)


@functools.lru_cache(maxsize=None)
def compiled(per_step: bool):
    trainer = make_train(SPACE, probe(per_step), AGENT, PPO, num_envs=B, num_steps=T, num_updates=1,
                         updates_per_chunk=1)
    return jax.jit(trainer.init), jax.jit(trainer.chunk)


def one_update(per_step, propose_w, observe_w):
    init, chunk = compiled(per_step)
    state = init(jax.random.key(0))
    state = state.replace(curriculum=state.curriculum.replace(propose_w=jnp.asarray(propose_w, jnp.float32),
                                                              observe_w=jnp.asarray(observe_w, jnp.float32)))
    new, metrics, _ = chunk(state, jnp.int32(0))
    changed = any(not np.array_equal(a, b) for a, b in zip(jax.tree.leaves(state.params), jax.tree.leaves(new.params)))
    return state, new, {k: float(np.asarray(v)[-1]) for k, v in metrics.items()}, changed


def test_observe_weights_replace_the_proposals_in_the_same_update():
    _, _, m, changed = one_update(False, np.ones(B), np.zeros(B))
    assert m["trained"] == 0.0 and not changed and m["train_fraction"] == 0.0  # observe said 0: no update
    _, _, m, changed = one_update(False, np.zeros(B), np.ones(B))
    assert m["trained"] == 1.0 and changed and m["train_fraction"] == 1.0      # observe said 1: an update
    _, _, m, changed = one_update(False, np.zeros(B), [0.0, 2.0, 0.0, 0.0])
    assert m["trained"] == 1.0 and changed and m["train_fraction"] == 0.25


def test_observe_sees_the_student_before_its_update():
    before, after, m, changed = one_update(False, np.ones(B), np.ones(B))
    assert changed and m["trained"] == 1.0
    seen = float(after.curriculum.seen)
    assert seen == float(_first_leaf_sum(before.params)) != float(_first_leaf_sum(after.params))


def test_per_step_weights():
    _, _, m, changed = one_update(True, np.ones(B), np.zeros((T, B)))
    assert m["trained"] == 0.0 and not changed
    w = np.zeros((T, B))
    w[3, 1] = 1.0
    _, _, m, changed = one_update(True, np.zeros(B), w)
    assert m["trained"] == 1.0 and changed and m["train_fraction"] == pytest.approx(1 / (T * B))


def test_weights_of_another_shape_are_refused_while_tracing():
    cur = probe(False)
    bad = cur._replace(observe=lambda *a: Observed(a[0], {}, jnp.zeros((), jnp.int32), train_weights=jnp.ones((B + 1,))))
    trainer = make_train(SPACE, bad, AGENT, PPO, num_envs=B, num_steps=T, num_updates=1, updates_per_chunk=1)
    state = jax.eval_shape(trainer.init, jax.random.key(0))
    with pytest.raises(ValueError, match=r"train_weights must have shape \(4,\) per level or \(8, 4\) per step"):
        jax.eval_shape(trainer.chunk, state, jnp.int32(0))


def test_score_weights_average_one_and_follow_the_score():
    w = np.asarray(score_weights(jnp.array([0.0, 0.25, 0.25, 0.5]), jnp.array([True, True, False, True]), 0.5))
    assert w.mean() == pytest.approx(1.0)
    np.testing.assert_allclose(w, [0.5, 0.5 + 0.5 * 0.25 / 0.1875, 0.5, 0.5 + 0.5 * 0.5 / 0.1875], rtol=1e-6)
    np.testing.assert_allclose(score_weights(jnp.zeros(4), jnp.ones(4, bool), 1.0), np.ones(4))  # all 0: DR
    np.testing.assert_allclose(score_weights(jnp.array([1.0, 3.0]), jnp.ones(2, bool), 0.0), np.ones(2))  # mix 0: DR


def test_score_weighted_dr_weights_its_own_rollout():
    """Learnability-weighted DR: one factory, no second rollout; its weights are the score's of
    the rollout the update trains on."""
    cur = score_weighted_dr(SPACE, B, mix=1.0)
    trainer = make_train(SPACE, cur, AGENT, PPO, num_envs=B, num_steps=T, num_updates=1, updates_per_chunk=1)
    state = jax.jit(trainer.init)(jax.random.key(1))
    _, metrics, _ = jax.jit(trainer.chunk)(state, jnp.int32(0))
    assert float(metrics["curriculum_env_steps"][-1]) == 0  # no rollout of its own
    assert 0.0 <= float(metrics["curriculum/weight_min"][-1]) <= 1.0 <= float(metrics["curriculum/weight_max"][-1])
    with pytest.raises(ValueError, match=r"mix must be in \[0, 1\]"):
        score_weighted_dr(SPACE, B, mix=1.5)
