import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ued.buffers import find_levels, plr_buffer, sfl_batch_split, sfl_buffer


def ids(values):
    """A batch of toy levels: a level is just an integer id (any pytree works)."""
    return {"id": jnp.asarray(values, jnp.int32)}


PLACEHOLDER = {"id": jnp.int32(0)}


@functools.lru_cache(maxsize=None)
def compiled(**kwargs):
    buf = plr_buffer(**kwargs)
    return buf, jax.jit(buf.insert), jax.jit(buf.weights), jax.jit(buf.sample, static_argnums=2), jax.jit(buf.update)


def filled_buffer(scores, **kwargs):
    buf, insert, weights, sample, update = compiled(**kwargs)
    state = buf.init(PLACEHOLDER)
    state = insert(state, ids(np.arange(len(scores))), jnp.asarray(scores, jnp.float32))
    return buf, state


def test_rank_weights_by_hand():
    buf, state = filled_buffer([3.0, 1.0, 2.0], capacity=4, temperature=1.0, staleness_coef=0.0)
    # ranks 1, 3, 2 -> 1, 1/3, 1/2 over 11/6; the empty slot gets 0
    np.testing.assert_allclose(buf.weights(state), [6 / 11, 2 / 11, 3 / 11, 0.0], rtol=1e-6)
    buf, state = filled_buffer([3.0, 1.0, 2.0], capacity=4, temperature=0.5, staleness_coef=0.0)
    np.testing.assert_allclose(buf.weights(state), np.array([1, 1 / 9, 1 / 4, 0]) / (1 + 1 / 9 + 1 / 4), rtol=1e-6)


def test_topk_and_proportional_weights_by_hand():
    buf, state = filled_buffer([3.0, 1.0, 2.0], capacity=4, prioritisation="topk", top_k=2, staleness_coef=0.0)
    np.testing.assert_allclose(buf.weights(state), [0.5, 0.0, 0.5, 0.0])
    buf, state = filled_buffer([3.0, 1.0, 2.0], capacity=4, prioritisation="topk", top_k=2, topk_mode="softmax",
                               temperature=1.0, staleness_coef=0.0)
    e = np.exp([3.0, 2.0])
    np.testing.assert_allclose(buf.weights(state), [e[0] / e.sum(), 0.0, e[1] / e.sum(), 0.0], rtol=1e-6)
    buf, state = filled_buffer([3.0, 1.0, 2.0], capacity=4, prioritisation="proportional", temperature=1.0,
                               staleness_coef=0.0)
    np.testing.assert_allclose(buf.weights(state), [0.5, 1 / 6, 1 / 3, 0.0], rtol=1e-6)
    buf, state = filled_buffer([3.0, -1.0, 0.0], capacity=3, prioritisation="proportional", temperature=0.5,
                               staleness_coef=0.0)
    np.testing.assert_allclose(buf.weights(state), [1.0, 0.0, 0.0])  # negative scores count as 0


def test_staleness_mixing_by_hand():
    buf, insert, weights, sample, update = compiled(capacity=3, temperature=1.0, staleness_coef=0.5)
    state = buf.init(PLACEHOLDER)
    state = insert(state, ids([0]), jnp.array([1.0]))  # clock 1
    state = insert(state, ids([1]), jnp.array([1.0]))  # clock 2
    state = insert(state, ids([2]), jnp.array([2.0]))  # clock 3
    # staleness 2, 1, 0 -> 2/3, 1/3, 0; rank scores: level 2 first (1), ties keep slot order: 1/2, 1/3
    p_score = np.array([1 / 2, 1 / 3, 1.0]) / (1 / 2 + 1 / 3 + 1)
    np.testing.assert_allclose(weights(state), 0.5 * p_score + 0.5 * np.array([2 / 3, 1 / 3, 0]), rtol=1e-6)


@settings(max_examples=25, deadline=None)
@given(
    scores=st.lists(st.one_of(st.floats(-5, 5, width=32), st.sampled_from([np.nan, np.inf, -np.inf])), min_size=1, max_size=12),
    prioritisation=st.sampled_from(["rank", "topk", "proportional"]),
    rho=st.sampled_from([0.0, 0.3, 1.0]),
)
def test_weights_are_a_distribution_even_with_nan_and_inf(scores, prioritisation, rho):
    buf, insert, weights, *_ = compiled(capacity=8, prioritisation=prioritisation, staleness_coef=rho, top_k=3,
                                        temperature=0.3)
    state = insert(buf.init(PLACEHOLDER), ids(np.arange(len(scores))), jnp.asarray(scores, jnp.float32))
    w = np.asarray(weights(state))
    assert np.isfinite(w).all() and (w >= 0).all()
    if bool(state.filled.any()):
        np.testing.assert_allclose(w.sum(), 1.0, rtol=1e-5)
        assert (w[~np.asarray(state.filled)] == 0).all()
    assert not np.isnan(np.asarray(state.scores)[np.asarray(state.filled)]).any()  # NaN never stored


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_a_full_buffer_keeps_the_highest_scores(seed):
    rng = np.random.default_rng(seed)
    scores = rng.permutation(40).astype(np.float32)  # distinct
    buf, insert, *_ = compiled(capacity=10, eviction="score")  # staleness never protects a low score
    state = buf.init(PLACEHOLDER)
    for chunk in np.split(np.arange(40), 4):  # batches of 10
        state = insert(state, ids(chunk), jnp.asarray(scores[chunk]))
    kept = set(np.asarray(state.levels["id"]).tolist())
    assert kept == set(np.argsort(-scores)[:10].tolist())
    np.testing.assert_array_equal(np.sort(state.scores), np.sort(scores)[-10:])


def test_weight_eviction_gives_up_the_least_likely_replay():
    # rank at T=1 with rho=0.5: a fresh high scorer (staleness 0) can be the lowest weight and goes first
    buf, insert, weights, *_ = compiled(capacity=3, temperature=1.0, staleness_coef=0.5)
    state = insert(buf.init(PLACEHOLDER), ids([0, 1, 2]), jnp.array([1.0, 2.0, 3.0]))  # clocks 1, 2, 3
    w = np.asarray(weights(state))  # score ranks 3, 2, 1; staleness 2, 1, 0
    np.testing.assert_allclose(w, 0.5 * np.array([2, 3, 6]) / 11 + 0.5 * np.array([2, 1, 0]) / 3, rtol=1e-6)
    assert int(np.argmin(w)) == 2
    state = insert(state, ids([3]), jnp.array([3.5]))  # beats the lowest-weight level's score (3.0)
    assert sorted(np.asarray(state.levels["id"]).tolist()) == [0, 1, 3] and int(state.clock) == 4
    state = insert(state, ids([4]), jnp.array([2.5]))  # now id 3 has the lowest weight; 2.5 < 3.5: not stored
    assert sorted(np.asarray(state.levels["id"]).tolist()) == [0, 1, 3] and int(state.clock) == 5
    # the same trace under the lowest-score rule evicts the 1.0 level and then takes 2.5 over 2.0
    buf_s, insert_s, *_ = compiled(capacity=3, temperature=1.0, staleness_coef=0.5, eviction="score")
    state = insert_s(buf_s.init(PLACEHOLDER), ids([0, 1, 2]), jnp.array([1.0, 2.0, 3.0]))
    state = insert_s(state, ids([3, 4]), jnp.array([3.5, 2.5]))
    assert sorted(np.asarray(state.levels["id"]).tolist()) == [2, 3, 4]


def test_the_clock_counts_episodes():
    buf, insert, weights, sample, update = compiled(capacity=4, staleness_coef=1.0, temperature=1.0)
    state = insert(buf.init(PLACEHOLDER), ids([0, 1, 0]), jnp.array([1.0, 2.0, 3.0]))
    # three levels offered, one a duplicate: the clock is 3, the duplicate is stamped at 3
    assert int(state.clock) == 3 and np.asarray(state.last_sampled)[:2].tolist() == [3, 2]
    state, idx, _ = sample(state, jax.random.key(0), 5)
    assert int(state.clock) == 8  # each of the five draws is an episode
    # pure staleness: the second draw never repeats the first (its staleness is 0 after the first)
    assert int(idx[0]) != int(idx[1])


def test_lower_scores_do_not_replace_and_invalid_levels_are_skipped():
    buf, insert, *_ = compiled(capacity=2, staleness_coef=0.0)
    state = insert(buf.init(PLACEHOLDER), ids([0, 1]), jnp.array([5.0, 6.0]))
    state = insert(state, ids([2, 3]), jnp.array([1.0, 9.0]), None, jnp.array([True, False]))
    assert sorted(np.asarray(state.levels["id"]).tolist()) == [0, 1]  # 1.0 loses, 9.0 is invalid
    state = insert(state, ids([4]), jnp.array([5.5]))
    assert sorted(np.asarray(state.levels["id"]).tolist()) == [1, 4]  # replaces the lowest (5.0)


def test_duplicates_are_not_stored_twice():
    buf, insert, *_ = compiled(capacity=6)
    state = insert(buf.init(PLACEHOLDER), ids([7, 8, 7]), jnp.array([1.0, 2.0, 3.0]))
    assert int(state.size) == 2
    state = insert(state, ids([8]), jnp.array([0.5]))
    assert int(state.size) == 2
    stored = dict(zip(np.asarray(state.levels["id"])[np.asarray(state.filled)].tolist(),
                      np.asarray(state.scores)[np.asarray(state.filled)].tolist()))
    assert stored == {7: 3.0, 8: 0.5}  # a duplicate updates its entry
    found, idx = find_levels(state, ids([8, 9]))
    assert found.tolist() == [True, False] and int(state.levels["id"][idx[0]]) == 8
    buf2, insert2, *_ = compiled(capacity=6, deduplicate=False)
    assert int(insert2(buf2.init(PLACEHOLDER), ids([7, 7]), jnp.array([1.0, 1.0])).size) == 2


def test_staleness_rises_for_levels_not_sampled():
    buf, insert, weights, sample, update = compiled(capacity=4, staleness_coef=1.0)
    state = insert(buf.init(PLACEHOLDER), ids([0, 1, 2, 3]), jnp.ones(4))
    key = jax.random.key(0)
    for i in range(5):
        state, idx, levels = sample(state, jax.random.fold_in(key, i), 2)
        np.testing.assert_array_equal(levels["id"], np.asarray(state.levels["id"])[np.asarray(idx)])
    stale = np.asarray(state.clock - state.last_sampled)
    last = np.zeros(4, bool)
    last[int(idx[-1])] = True  # the draws of a batch are episodes one after another: only the last is fresh
    assert (stale[last] == 0).all() and (stale[~last] > 0).all() and int(idx[0]) != int(idx[1])
    w = np.asarray(weights(state))
    assert (w[last] == 0).all() and np.argmax(w) == np.argmax(stale)  # pure staleness: the stalest first


def test_sampling_frequencies_match_the_weights():
    buf, insert, weights, sample, update = compiled(capacity=8, staleness_coef=0.0, temperature=1.0)
    state = insert(buf.init(PLACEHOLDER), ids(np.arange(6)), jnp.arange(6, dtype=jnp.float32))
    p = np.asarray(weights(state))
    _, idx, _ = sample(state, jax.random.key(42), 20000)
    freq = np.bincount(np.asarray(idx), minlength=8) / 20000
    # Binomial standard error is at most 0.0036 here; 5 sigma never flakes with a fixed key anyway.
    np.testing.assert_allclose(freq, p, atol=0.018)
    assert freq[6:].sum() == 0


def test_update_rescores_replayed_levels():
    buf, insert, weights, sample, update = compiled(capacity=4)
    state = buf.init(PLACEHOLDER, {"max_return": jnp.float32(-jnp.inf)})
    state = jax.jit(buf.insert)(state, ids([0, 1]), jnp.array([1.0, 2.0]), {"max_return": jnp.array([0.5, 0.7])})
    state = jax.jit(buf.update)(state, jnp.array([1, 0]), jnp.array([9.0, 8.0]), {"max_return": jnp.array([0.9, 0.1])},
                                jnp.array([True, False]))
    np.testing.assert_allclose(state.scores[:2], [1.0, 9.0])
    np.testing.assert_allclose(state.extras["max_return"][:2], [0.5, 0.9])


def test_an_empty_buffer_is_never_ready():
    buf, insert, *_ = compiled(capacity=4, min_fill=0.0)
    state = buf.init(PLACEHOLDER)
    assert not bool(buf.ready(state))
    assert bool(buf.ready(insert(state, ids([0]), jnp.ones(1))))


def test_ready_after_min_fill():
    buf, insert, *_ = compiled(capacity=4, min_fill=0.5)
    state = buf.init(PLACEHOLDER)
    assert not bool(buf.ready(state))
    state = insert(state, ids([0]), jnp.ones(1))
    assert not bool(buf.ready(state))
    state = insert(state, ids([1]), jnp.ones(1))
    assert bool(buf.ready(state))


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"capacity": 0}, "capacity must be a positive integer, got 0"),
        ({"temperature": 0.0}, "temperature must be > 0, got 0.0"),
        ({"staleness_coef": 1.5}, r"staleness_coef \(rho\) must be in \[0, 1\], got 1.5"),
        ({"top_k": 5, "capacity": 4, "prioritisation": "topk"}, r"top_k must be an integer in \[1, capacity=4\], got 5"),
        ({"prioritisation": "ranked"}, "unknown prioritisation 'ranked'; choose one of rank, topk, proportional"),
        ({"min_fill": -0.1}, r"min_fill must be in \[0, 1\]"),
        ({"topk_mode": "greedy"}, "unknown topk_mode 'greedy'"),
    ],
)
def test_bad_plr_hyperparameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        plr_buffer(**kwargs)


def test_sfl_buffer_keeps_the_top_k_of_the_batch():
    buf = sfl_buffer(capacity=3)
    state = buf.init(PLACEHOLDER)
    scores = jnp.array([0.1, 0.25, 0.0, 0.2, 0.24, 0.3])
    valid = jnp.array([True, True, True, True, True, False])  # the 0.3 level had no episode
    state = jax.jit(buf.refill)(state, ids(np.arange(6)), scores, None, valid)
    assert sorted(np.asarray(state.levels["id"]).tolist()) == [1, 3, 4]
    assert bool(buf.ready(state)) and int(state.size) == 3
    # A second refresh replaces the contents.
    state = buf.refill(state, ids(np.arange(10, 14)), jnp.array([0.0, 0.1, 0.2, 0.05]))
    assert sorted(np.asarray(state.levels["id"]).tolist()) == [11, 12, 13]
    _, idx, levels = jax.jit(buf.sample, static_argnums=2)(state, jax.random.key(0), 3000)
    freq = np.bincount(np.asarray(idx), minlength=3) / 3000
    np.testing.assert_allclose(freq, [1 / 3] * 3, atol=0.05)
    assert sfl_batch_split(32, 0.5) == (16, 16) and sfl_batch_split(32, 0.0) == (0, 32)
    with pytest.raises(TypeError):
        sfl_buffer(rho=0.5)  # rho is the SFL curriculum's setting, not the buffer's
    with pytest.raises(ValueError, match="needs at least capacity=3 candidate levels, got 2"):
        buf.refill(state, ids([0, 1]), jnp.ones(2))
