"""SFL's learnability and top-K selection against the SFL paper's own code.

``tests/data/sfl_reference.npz`` (``experiments/record_references.py sfl --sfl-repo ...``) holds
generated rollouts (dones and MiniGrid rewards of 512 levels) and what the SFL code computed from
them: each level's success rate over its first 10 episodes, its learnability ``p (1 - p)`` and
the ``argsort(learnability)[-K:]`` it keeps. ued's learnability score and ``sfl_buffer`` must give
the same numbers and keep the same levels (ties at the K-th score included).
"""

import functools
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ued.buffers import sfl_buffer
from ued.rollout import make_rollout
from ued.scores import learnability
from ued.scores.learnability import success_rate

DATA = os.path.join(os.path.dirname(__file__), os.pardir, "data", "sfl_reference.npz")


@functools.lru_cache(maxsize=None)
def recording():
    with np.load(DATA) as f:
        return {k: f[k] for k in f.files}


@pytest.mark.parametrize("case", ["paper_like", "short"])
def test_learnability_and_top_k_equal_the_sfl_code(case):
    r = recording()
    get = lambda k: r[f"{case}/{k}"]  # noqa: E731
    steps, k = int(get("steps")), int(get("k"))
    dones = np.unpackbits(get("dones"), axis=0)[:steps].astype(bool)
    rewards = get("rewards")
    n = rewards.shape[1]
    ro = make_rollout(rewards, dones, np.zeros_like(rewards), np.zeros(n, np.float32), rewards > 0, 0.99, 0.95)
    p, count = success_rate(ro, 10)
    np.testing.assert_array_equal(np.asarray(count), np.minimum(get("num_episodes"), 10))
    np.testing.assert_allclose(np.asarray(p), get("success_rate"), rtol=1e-6, atol=1e-7)
    out = learnability(max_episodes=10).compute(ro, None, {})
    assert bool(out.valid.all())  # every generated level completed an episode, as at the paper's settings
    np.testing.assert_allclose(np.asarray(out.scores), get("learnability"), rtol=1e-6, atol=1e-7)
    buf = sfl_buffer(capacity=k)
    ids = {"id": jnp.arange(n, dtype=jnp.int32)}
    state = jax.jit(buf.refill)(buf.init({"id": jnp.int32(0)}), ids, out.scores, None, out.valid)
    np.testing.assert_array_equal(np.asarray(state.levels["id"]), get("top"))  # the same levels, in the same order
    np.testing.assert_allclose(np.asarray(state.scores), get("learnability")[get("top")], rtol=1e-6, atol=1e-7)
