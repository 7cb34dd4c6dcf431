"""The adapters' shared bookkeeping (``ued.envs.episodes``): counters over an episode, the info a
rollout reads, refusal of an invalid level, and the agent axis."""

import jax.numpy as jnp
import numpy as np

from ued.envs.episodes import all_finite, begin_episode, end_step, same_dtypes


def test_counters_add_up_and_info_reports_only_the_finished_episode():
    state = begin_episode(inner=jnp.int32(0), level="L")
    rewards, dones = [0.5, 0.25, 1.0], [False, False, True]
    for t, (r, d) in enumerate(zip(rewards, dones)):
        state, reward, done, info = end_step(state, jnp.int32(t + 1), r, d, solved=d)
        assert reward.dtype == jnp.float32 and done.dtype == jnp.bool_ and not bool(info["invalid_level"])
        assert float(info["episode_return"]) == (1.75 if d else 0.0)
        assert int(info["episode_length"]) == (3 if d else 0) and bool(info["solved"]) == d
    assert int(state.inner) == 3 and state.level == "L" and int(state.episode_length) == 3


def test_an_invalid_level_pays_nothing_ends_and_is_not_solved():
    state = begin_episode(inner=jnp.zeros(()), level=None)
    state, reward, done, info = end_step(state, jnp.ones(()), 5.0, False, solved=True, valid=False, collision=True)
    assert float(reward) == 0.0 and bool(done) and not bool(info["solved"]) and bool(info["invalid_level"])
    assert float(info["episode_return"]) == 0.0 and int(info["episode_length"]) == 1 and info["collision"]


def test_several_agents_carry_the_agent_axis():
    state = begin_episode(inner=None, level=None, num_agents=3)
    assert state.episode_return.shape == state.episode_length.shape == (3,)
    state, reward, done, info = end_step(state, None, jnp.array([1.0, 0.0, -1.0]), jnp.ones(3, bool),
                                         jnp.array([True, False, False]), valid=jnp.bool_(True))
    assert info["invalid_level"].shape == (3,) and not info["invalid_level"].any()
    np.testing.assert_array_equal(info["episode_return"], [1.0, 0.0, -1.0])


def test_helpers():
    assert bool(all_finite({"a": jnp.ones(2), "b": jnp.int32(-1)})) and bool(all_finite({"b": jnp.int32(3)}))
    assert not bool(all_finite({"a": jnp.array([1.0, jnp.inf])}))
    out = same_dtypes({"a": jnp.ones(2, jnp.float16)}, {"a": jnp.zeros(2, jnp.float32)})
    assert out["a"].dtype == jnp.float32
