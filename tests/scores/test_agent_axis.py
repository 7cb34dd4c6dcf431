"""Scores on levels with several agents: per level, from each agent's episodes (``Rollout.agents``)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ued.rollout import level_episodes, make_rollout
from ued.scores import (l1_value_loss, learnability, least_confidence, max_mc, mna, paired_regret, policy_entropy,
                        positive_value_loss)

T, B, S = 10, 3, 2  # steps, levels, agents per level
GAMMA, LAM = 0.9, 0.8


def agents_rollout(seed=0, solved_each=True):
    """``B * S`` columns, level-major; a level's agents share its episode ends."""
    rng = np.random.default_rng(seed)
    level_dones = rng.random((T, B)) < 0.3
    level_dones[4] = True  # every level completes an episode
    dones = np.repeat(level_dones, S, axis=1)
    rewards = rng.normal(size=(T, B * S)).astype(np.float32)
    if solved_each:
        rewards[0] = np.abs(rewards[0]) + 0.1  # every column has a positive return somewhere (MNA's "solved")
    values = rng.normal(size=(T, B * S)).astype(np.float32)
    solved = (rng.random((T, B * S)) < 0.3) & dones
    logits = rng.normal(size=(T, B * S, 4)).astype(np.float32)
    ro = make_rollout(rewards, dones, values, rng.normal(size=B * S).astype(np.float32), solved, GAMMA, LAM,
                      dist_params=logits)
    return ro.replace(agents=S)


def agent_column(ro, i):
    """Agent ``i``'s columns as a one-agent rollout of the ``B`` levels."""
    return jax.tree.map(lambda x: x[:, i::S] if x.ndim >= 2 else x[i::S], ro).replace(agents=1)


@pytest.mark.parametrize("score", [l1_value_loss(), positive_value_loss(), policy_entropy(), least_confidence(),
                                   mna(GAMMA, LAM)], ids=lambda s: s.name)
def test_regret_scores_are_the_mean_over_a_levels_agents(score):
    ro = agents_rollout()
    assert ro.num_levels == B
    out = score.compute(ro, None, score.init_extra() and {"max_return": jnp.full((B,), -jnp.inf)})
    each = [score.compute(agent_column(ro, i), None,
                          score.init_extra() and {"max_return": jnp.full((B,), -jnp.inf)}).scores for i in range(S)]
    assert out.scores.shape == (B,) and out.valid.shape == (B,)
    np.testing.assert_allclose(out.scores, np.mean(each, axis=0), rtol=1e-5, atol=1e-6)


def test_learnability_pools_the_agents_episodes():
    """p is the fraction of all the level's agent-episodes that succeeded, not a mean of p_i (1 - p_i)."""
    dones = np.zeros((4, 2), bool)
    dones[1] = dones[3] = True  # one level, two agents, two episodes each
    solved = np.zeros((4, 2), bool)
    solved[1, 0] = solved[3, 0] = True  # agent 0 solves both episodes, agent 1 neither
    ro = make_rollout(np.zeros((4, 2)), dones, np.zeros((4, 2)), np.zeros(2), solved, GAMMA, LAM).replace(agents=2)
    out = learnability().compute(ro, None, {})
    assert float(out.scores[0]) == pytest.approx(0.25)  # p = 2/4; each agent alone has p (1 - p) = 0
    values, mask = level_episodes(ro.solved, ro, "max")
    np.testing.assert_allclose(values[:, 0], [0.5, 0.5, 0, 0])
    np.testing.assert_array_equal(mask[:, 0], [True, True, False, False])


def test_max_mc_keeps_the_best_mean_return_of_the_agents():
    dones = np.zeros((4, 2), bool)
    dones[1] = dones[3] = True
    rewards = np.zeros((4, 2), np.float32)
    rewards[1] = [1.0, 0.0]  # episode 1: mean return 0.5
    rewards[3] = [0.4, 0.4]  # episode 2: mean return 0.4
    values = np.full((4, 2), 0.1, np.float32)
    ro = make_rollout(rewards, dones, values, np.zeros(2), rewards > 0, GAMMA, LAM).replace(agents=2)
    out = max_mc().compute(ro, None, {"max_return": jnp.full((1,), -jnp.inf)})
    assert float(out.extra["max_return"][0]) == pytest.approx(0.5)
    assert float(out.scores[0]) == pytest.approx(0.5 - 0.1)


def test_paired_regret_compares_the_levels_mean_returns():
    dones = np.zeros((2, 2), bool)
    dones[1] = True
    pro = make_rollout(np.array([[0, 0], [1.0, 0.0]]), dones, np.zeros((2, 2)), np.zeros(2), dones, GAMMA, LAM)
    ant = make_rollout(np.array([[0, 0], [1.0, 1.0]]), dones, np.zeros((2, 2)), np.zeros(2), dones, GAMMA, LAM)
    out = paired_regret().compute((pro.replace(agents=2), ant.replace(agents=2)), None, {})
    assert float(out.scores[0]) == pytest.approx(1.0 - 0.5)
