"""ued's PLR buffer against JaxUED's ``LevelSampler``, operation for operation.

``tests/data/plr_jaxued.npz`` holds traces recorded from JaxUED 0.0.1 by
``experiments/record_references.py plr`` (insert_batch / sample_replay_levels / update_batch on
toy levels that repeat, scores with ties, with and without the duplicate check, rank and top-k
prioritisation, with a MaxMC-style extra); this test replays each trace through ``plr_buffer``
with the same settings and the same PRNG keys, and compares the whole buffer after every step.
"""

import functools
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ued.buffers import plr_buffer

DATA = os.path.join(os.path.dirname(__file__), os.pardir, "data", "plr_jaxued.npz")
CASES = ["rank_dup", "rank_nodup", "topk_dup", "rank_nostale"]
KINDS = ("insert", "sample", "update")


def pool_levels(ids):
    """The recorder's toy levels (an id and a 3x3 grid derived from it)."""
    ids = np.asarray(ids, np.int32)
    grid = ((ids[..., None] * np.arange(1, 10)) % 7 < 3).reshape(ids.shape + (3, 3))
    return {"id": jnp.asarray(ids), "grid": jnp.asarray(grid)}


@functools.lru_cache(maxsize=None)
def recording():
    with np.load(DATA) as f:
        return {k: f[k] for k in f.files}


def buffer_for(case: str):
    """ued's buffer with the settings JaxUED's sampler was built with."""
    r = recording()
    get = lambda k: r[f"{case}/{k}"].item()  # noqa: E731
    common = dict(capacity=int(get("capacity")), staleness_coef=float(get("staleness_coeff")),
                  min_fill=float(get("minimum_fill_ratio")), deduplicate=bool(get("duplicate_check")))
    if get("prioritization") == "rank":
        return plr_buffer(prioritisation="rank", temperature=float(get("param_temperature")), **common)
    # JaxUED's top-k is a softmax of the raw scores over the k best: ued's softmax mode at T = 1
    return plr_buffer(prioritisation="topk", top_k=int(get("param_k")), topk_mode="softmax", temperature=1.0, **common)


@pytest.mark.parametrize("case", CASES)
def test_plr_buffer_equals_jaxued_level_sampler(case):
    r = recording()
    rec = lambda k: r[f"{case}/{k}"]  # noqa: E731
    with_extra = bool(rec("with_extra"))
    buf = buffer_for(case)
    extra0 = {"max_return": jnp.float32(-jnp.inf)} if with_extra else None
    state = buf.init(jax.tree.map(lambda x: x[0], pool_levels([0])), extra0)
    insert, update, weights = jax.jit(buf.insert), jax.jit(buf.update), jax.jit(buf.weights)
    sample = jax.jit(buf.sample, static_argnums=2)
    kinds = rec("kind")
    assert set(kinds.tolist()) == {0, 1, 2}  # the trace exercises every operation
    for t, kind in enumerate(kinds):
        ex = {"max_return": jnp.asarray(rec("extra")[t])} if with_extra else None
        if KINDS[kind] == "insert":
            state = insert(state, pool_levels(rec("ids")[t]), jnp.asarray(rec("scores")[t]), ex)
        elif KINDS[kind] == "sample":
            state, idx, levels = sample(state, jax.random.wrap_key_data(jnp.asarray(rec("key")[t])), len(rec("ids")[t]))
            np.testing.assert_array_equal(idx, rec("indices")[t], err_msg=f"{case}: operation {t} sampled other slots")
            np.testing.assert_array_equal(levels["id"], np.asarray(state.levels["id"])[np.asarray(idx)])
        else:
            state = update(state, jnp.asarray(rec("indices")[t]), jnp.asarray(rec("scores")[t]), ex)
        at = f"{case}: after operation {t} ({KINDS[kind]})"
        size = int(rec("after_size")[t])
        filled = np.asarray(state.filled)
        assert int(state.size) == size and filled[:size].all(), at  # slots fill in order in both
        assert int(state.clock) == int(rec("after_count")[t]), at
        np.testing.assert_array_equal(np.asarray(state.levels["id"])[:size], rec("after_ids")[t][:size], err_msg=at)
        np.testing.assert_array_equal(np.asarray(state.scores)[:size], rec("after_scores")[t][:size], err_msg=at)
        np.testing.assert_array_equal(np.asarray(state.last_sampled)[:size], rec("after_timestamps")[t][:size],
                                      err_msg=at)
        if with_extra:
            np.testing.assert_array_equal(np.asarray(state.extras["max_return"])[:size], rec("after_extra")[t][:size],
                                          err_msg=at)
        np.testing.assert_allclose(np.asarray(weights(state)), rec("after_weights")[t], rtol=1e-5, atol=1e-7, err_msg=at)
        assert bool(buf.ready(state)) == (size / buf.capacity >= float(rec("minimum_fill_ratio"))), at
