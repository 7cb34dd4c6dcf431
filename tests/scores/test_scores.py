import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ued.envs.maze import named_levels, parse_level, stack_levels
from ued.envs.maze.solver import optimal_return_fn
from ued.rollout import gae, make_rollout, per_episode
from ued.scores import (
    l1_value_loss,
    learnability,
    least_confidence,
    max_mc,
    mna,
    mna_per_step,
    oracle_regret,
    paired_regret,
    policy_entropy,
    positive_value_loss,
)

GAMMA, LAM = 0.9, 0.8  # gamma * lam = 0.72


def three_levels(values=None):
    """T=6, B=3, zero critic unless given: deltas equal rewards, GAE sums (0.72)^k r.

    Level 0: episodes end at t=1 (solved, reward 1) and t=3 (timeout, 0); t=4,5 run on.
    Level 1: no episode completes.
    Level 2: one episode, solved on its last step t=5 with reward 0.5.
    """
    r = np.zeros((6, 3), np.float32)
    d = np.zeros((6, 3), bool)
    r[1, 0], d[1, 0], d[3, 0] = 1.0, True, True
    r[5, 2], d[5, 2] = 0.5, True
    v = np.zeros((6, 3), np.float32) if values is None else values
    return make_rollout(r, d, v, np.zeros(3, np.float32), r > 0, GAMMA, LAM)


def test_gae_by_hand():
    ro = three_levels()
    np.testing.assert_allclose(ro.advantages[:, 0], [0.72, 1.0, 0, 0, 0, 0], atol=1e-6)
    np.testing.assert_allclose(ro.advantages[:, 2], [0.5 * 0.72 ** (5 - t) for t in range(6)], rtol=1e-5)
    # With a critic: r = [0, 0], episode ends at t=1, V = 0.5: deltas -0.05, -0.5.
    adv, targets = gae(jnp.zeros((2, 1)), jnp.full((2, 1), 0.5), jnp.array([[False], [True]]), jnp.zeros(1), GAMMA, LAM)
    np.testing.assert_allclose(adv[:, 0], [-0.05 + 0.72 * -0.5, -0.5], atol=1e-6)
    np.testing.assert_allclose(targets[:, 0], [0.5 - 0.41, 0.0], atol=1e-6)


def test_per_episode_drops_the_trailing_episode():
    ro = three_levels()
    sums, mask = per_episode(ro.rewards, ro.dones, "sum")
    assert mask[:, 0].tolist() == [True, True, False, False, False, False]
    assert not mask[:, 1].any()
    np.testing.assert_allclose(sums[:2, 0], [1.0, 0.0])
    lengths, _ = per_episode(jnp.ones((6, 3)), ro.dones, "sum")
    np.testing.assert_allclose(lengths[:2, 0], [2, 2])
    np.testing.assert_allclose(lengths[0, 2], 6)


def test_l1_and_positive_value_loss_by_hand():
    ro = three_levels()
    tail = 0.5 * (1 - 0.72 ** 6) / (1 - 0.72) / 6  # level 2: mean of 0.5 * 0.72^k, k = 0..5
    for score in (l1_value_loss(), positive_value_loss()):
        out = jax.jit(score.compute)(ro, None, {})
        # level 0: episode means (0.72 + 1) / 2 = 0.86 and 0, averaged: 0.43
        np.testing.assert_allclose(out.scores, [0.43, 0.0, tail], rtol=1e-5)
        assert out.valid.tolist() == [True, False, True]
    # Negative advantages: -0.41 and -0.5 (see test_gae_by_hand).
    neg = make_rollout(np.zeros((2, 1)), [[False], [True]], np.full((2, 1), 0.5), np.zeros(1), [[False], [False]], GAMMA, LAM)
    np.testing.assert_allclose(l1_value_loss().compute(neg, None, {}).scores, [0.455], atol=1e-6)
    np.testing.assert_allclose(positive_value_loss().compute(neg, None, {}).scores, [0.0], atol=1e-6)


def test_max_mc_by_hand_and_memory():
    values = np.zeros((6, 3), np.float32)
    values[:, 0] = [0.2, 0.4, 0.1, 0.1, 0.9, 0.9]
    ro = three_levels(values)
    score = max_mc()
    out = jax.jit(score.compute)(ro, None, {"max_return": jnp.full((3,), -jnp.inf)})
    # level 0: R_max = 1; episode means of (1 - V): (0.8 + 0.6) / 2 = 0.7, (0.9 + 0.9) / 2 = 0.9 -> 0.8
    np.testing.assert_allclose(out.scores, [0.8, 0.0, 0.5], rtol=1e-6)
    assert out.valid.tolist() == [True, False, True]
    np.testing.assert_allclose(out.extra["max_return"], [1.0, -np.inf, 0.5])
    # A stored best return above this rollout's is kept and used: R_max = 2 -> 0.8 + 1 = 1.8
    out2 = score.compute(ro, None, {"max_return": jnp.array([2.0, 3.0, 0.1])})
    np.testing.assert_allclose(out2.scores, [1.8, 0.0, 0.5], rtol=1e-6)
    np.testing.assert_allclose(out2.extra["max_return"], [2.0, 3.0, 0.5])
    # No memory given: treated as never played.
    np.testing.assert_allclose(score.compute(ro, None, {}).scores, out.scores)
    assert float(score.init_extra()["max_return"]) == -np.inf


def test_learnability_by_hand():
    ro = three_levels()
    out = jax.jit(learnability().compute)(ro, None, {})
    # level 0: episodes solved, not solved -> p = 0.5 -> 0.25; level 2: p = 1 -> 0
    np.testing.assert_allclose(out.scores, [0.25, 0.0, 0.0])
    assert out.valid.tolist() == [True, False, True]
    # Only the first episode counts with max_episodes=1: p = 1 -> 0
    np.testing.assert_allclose(learnability(max_episodes=1).compute(ro, None, {}).scores, [0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="max_episodes must be a positive integer, got 0"):
        learnability(max_episodes=0)


def test_mna_by_hand():
    # T=3, one episode solved at t=2: r = [0, 0, 1], V = [0.5, 0.9, 0.2].
    # deltas: 0.31, -0.72, 0.8.
    # t=0: B = min(0.31, 0) = 0; min(0 + 0.9 * -0.72, 0) = -0.648; min(-0.648 + 0.81 * 0.8, 0) = 0
    #      M_0 = 0.2 * (0 + 0.8 * -0.648 + 0.64 * 0) + 0.512 * 0 = -0.10368
    # t=1: B = -0.72; min(-0.72 + 0.9 * 0.8, 0) = 0  ->  M_1 = 0.2 * -0.72 + 0.64 * 0 = -0.144
    # t=2: B = min(0.8, 0) = 0  ->  M_2 = 0
    # score = -(sum M) * solved = 0.24768
    ro = make_rollout([[0.0], [0.0], [1.0]], [[False], [False], [True]], [[0.5], [0.9], [0.2]], [0.0],
                      [[False], [False], [True]], GAMMA, LAM)
    np.testing.assert_allclose(mna_per_step(ro, GAMMA, LAM)[:, 0], [-0.10368, -0.144, 0.0], atol=1e-6)
    out = mna(GAMMA, LAM).compute(ro, None, {})
    np.testing.assert_allclose(out.scores, [0.24768], atol=1e-6)
    # Never solved: the indicator zeroes it.
    unsolved = ro.replace(rewards=jnp.zeros((3, 1)), solved=jnp.zeros((3, 1), bool))
    np.testing.assert_allclose(mna(GAMMA, LAM).compute(unsolved, None, {}).scores, [0.0])
    # ... unless the level was solved before (its memory says so).
    before = mna(GAMMA, LAM).compute(unsolved, None, {"max_return": jnp.array([0.7])})
    assert float(before.scores[0]) > 0
    with pytest.raises(ValueError, match=r"lam must be in \[0, 1\], got 1.5"):
        mna(lam=1.5)


def mna_loop(rewards, dones, values, last_value, gamma, lam):
    """Direct definition: n-step returns, their running maximum, lambda weights."""
    t_len = len(rewards)
    out = np.zeros(t_len)
    for t in range(t_len):
        # Steps available from t: to the end of t's episode or of the rollout.
        end = t
        while end < t_len - 1 and not dones[end]:
            end += 1
        k_avail = end - t + 1
        g = [values[t]]  # G_0
        for n in range(1, k_avail + 1):
            s = t + n
            boot = 0.0 if dones[s - 1] else (values[s] if s < t_len else last_value)
            g.append(sum(gamma ** i * rewards[t + i] for i in range(n)) + gamma ** n * boot)
        b = [g[n] - max(g[: n + 1]) for n in range(1, k_avail + 1)]  # B for n = 1..K
        out[t] = (1 - lam) * sum(lam ** (n - 1) * b[n - 1] for n in range(1, k_avail + 1)) + lam ** k_avail * b[-1]
    return out


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), gamma=st.sampled_from([0.9, 0.99]), lam=st.sampled_from([0.0, 0.8, 0.95, 1.0]))
def test_mna_matches_a_direct_loop(seed, gamma, lam):
    rng = np.random.default_rng(seed)
    t_len, b = 12, 4
    rewards = rng.normal(size=(t_len, b)).astype(np.float32)
    dones = rng.random((t_len, b)) < 0.2
    values = rng.normal(size=(t_len, b)).astype(np.float32)
    last = rng.normal(size=b).astype(np.float32)
    ro = make_rollout(rewards, dones, values, last, dones, gamma, 0.5)
    got = np.asarray(jax.jit(mna_per_step, static_argnums=(1, 2))(ro, gamma, lam))
    for j in range(b):
        want = mna_loop(rewards[:, j], dones[:, j], values[:, j], last[j], gamma, lam)
        np.testing.assert_allclose(got[:, j], want, atol=1e-4)
    assert (got <= 1e-6).all()


def test_mna_without_the_clip_is_gae():
    # All deltas negative: the clip never binds, so M_t is the GAE advantage.
    ro = make_rollout(np.zeros((8, 2)), np.eye(8, 2, -3, dtype=bool), np.full((8, 2), 1.0), np.zeros(2),
                      np.zeros((8, 2), bool), 0.5, 0.7)
    np.testing.assert_allclose(mna_per_step(ro, 0.5, 0.7), ro.advantages, atol=1e-6)


def test_paired_regret_by_hand():
    pro = make_rollout([[0.0, 0.0], [0.6, 0.0], [0.0, 0.0], [0.2, 0.0]], [[0, 0], [1, 0], [0, 0], [1, 0]],
                       np.zeros((4, 2)), np.zeros(2), np.zeros((4, 2), bool), GAMMA, LAM)
    ant = make_rollout([[0.9, 0.0], [0.0, 0.0], [0.3, 0.0], [0.0, 0.0]], [[1, 1], [0, 0], [1, 0], [0, 0]],
                       np.zeros((4, 2)), np.zeros(2), np.zeros((4, 2), bool), GAMMA, LAM)
    out = jax.jit(paired_regret().compute)((pro, ant), None, {})
    # level 0: max antagonist 0.9 - mean protagonist (0.6 + 0.2) / 2 = 0.5; level 1: protagonist never finished
    np.testing.assert_allclose(out.scores, [0.5, 0.0], atol=1e-6)
    assert out.valid.tolist() == [True, False]


def test_oracle_regret_by_hand():
    levels = stack_levels([parse_level(">.G"), parse_level(">#G")])  # 2 steps; unsolvable
    ro = make_rollout([[0.0, 0.0], [0.5, 0.0]], [[False, False], [True, True]], np.zeros((2, 2)), np.zeros(2),
                      [[False, False], [True, False]], GAMMA, LAM)
    out = jax.jit(oracle_regret(optimal_return_fn(250)).compute)(ro, levels, {})
    np.testing.assert_allclose(out.scores, [1 - 0.9 * 2 / 250 - 0.5, 0.0], atol=1e-6)
    with pytest.raises(ValueError, match="needs the levels"):
        oracle_regret(optimal_return_fn(250)).compute(ro, None, {})


def test_policy_scores_by_hand():
    logits = np.zeros((2, 2, 4), np.float32)
    logits[:, 1] = [np.log(0.7), np.log(0.1), np.log(0.1), np.log(0.1)]
    ro = make_rollout(np.zeros((2, 2)), [[False, False], [True, True]], np.zeros((2, 2)), np.zeros(2),
                      np.zeros((2, 2), bool), GAMMA, LAM, dist_params=jnp.asarray(logits))
    ent = policy_entropy().compute(ro, None, {}).scores
    np.testing.assert_allclose(ent, [np.log(4), -(0.7 * np.log(0.7) + 3 * 0.1 * np.log(0.1))], rtol=1e-5)
    np.testing.assert_allclose(least_confidence().compute(ro, None, {}).scores, [0.75, 0.3], rtol=1e-5)
    with pytest.raises(ValueError, match="needs the policy's entropy"):
        policy_entropy().compute(ro.replace(entropy=None), None, {})
    with pytest.raises(ValueError, match="needs the policy logits"):
        least_confidence().compute(ro.replace(dist_params=None), None, {})
    # entropy comes from the agent's own function: a Gaussian policy's rollout carries it, no logits needed
    gaussian = ro.replace(dist_params=None, entropy=jnp.full((2, 2), 1.5))
    np.testing.assert_allclose(policy_entropy().compute(gaussian, None, {}).scores, [1.5, 1.5])
