from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ued.agents import Agent, PPOConfig, Trajectory, make_optimizer, ppo_loss, ppo_update
from ued.agents.networks import categorical_agent


def fixed_agent():
    """An 'agent' whose logits and values are its parameters (T=2, B=2, 2 actions).

    Its observation is the environment's index, so minibatch permutations pick the right ones.
    """

    def apply(params, carry, obs, resets):
        t = jnp.arange(obs.shape[0])[:, None]
        return carry, params["logits"][t, obs], params["v"][t, obs]

    return categorical_agent(SimpleNamespace(apply=apply), hidden=1, recurrent=False)


def batch():
    # Behaviour probabilities of the taken actions 0.25, 0.5 / 0.8, 0.5; the new policy is uniform (0.5).
    old_p = np.array([[0.25, 0.5], [0.8, 0.5]])
    return Trajectory(
        obs=jnp.array([[0, 1], [0, 1]]), resets=jnp.zeros((2, 2), bool), actions=jnp.zeros((2, 2), jnp.int32),
        log_probs=jnp.log(jnp.asarray(old_p, jnp.float32)), values=jnp.zeros((2, 2)),
        advantages=jnp.array([[1.0, -1.0], [2.0, 0.5]]), targets=jnp.array([[1.0, 0.0], [0.0, 0.0]]))


PARAMS = {"logits": jnp.zeros((2, 2, 2)), "v": jnp.array([[0.5, -0.1], [0.1, 0.3]])}
CFG = PPOConfig(clip_eps=0.2, ent_coef=0.01, vf_coef=0.5, normalize_advantages=False)


def test_ppo_loss_by_hand():
    loss, m = ppo_loss(fixed_agent(), CFG, PARAMS, batch(), jnp.ones(2))
    # ratios 2, 1 / 0.625, 1. Clipped surrogate: min(2*1, 1.2*1) = 1.2; min(-1, -1) = -1;
    # min(0.625*2, 0.8*2) = 1.25; 0.5. Policy loss -(1.2 - 1 + 1.25 + 0.5) / 4 = -0.4875.
    np.testing.assert_allclose(m["policy_loss"], -0.4875, rtol=1e-6)
    # Values 0.5, -0.1 / 0.1, 0.3 from 0: clipped 0.2, -0.1 / 0.1, 0.2. Squared errors, max of the two:
    # max(0.25, 0.64), 0.01, 0.01, max(0.09, 0.04) -> 0.5 * 0.75 / 4 = 0.09375
    np.testing.assert_allclose(m["value_loss"], 0.09375, rtol=1e-6)
    np.testing.assert_allclose(m["entropy"], np.log(2), rtol=1e-6)
    np.testing.assert_allclose(loss, -0.4875 + 0.5 * 0.09375 - 0.01 * np.log(2), rtol=1e-6)
    np.testing.assert_allclose(m["clip_frac"], 0.5)  # ratios 2 and 0.625 are outside [0.8, 1.2]


def test_ppo_loss_weights_environments():
    _, m = ppo_loss(fixed_agent(), CFG, PARAMS, batch(), jnp.array([1.0, 0.0]))
    np.testing.assert_allclose(m["policy_loss"], (-1.2 - 1.25) / 2, rtol=1e-6)  # column 0 only
    np.testing.assert_allclose(m["value_loss"], 0.5 * (0.64 + 0.01) / 2, rtol=1e-6)


def test_normalised_advantages():
    _, m = ppo_loss(fixed_agent(), CFG.replace(normalize_advantages=True), PARAMS, batch(), jnp.ones(2))
    adv = np.array([1.0, -1.0, 2.0, 0.5])
    adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    r = np.array([2.0, 1.0, 0.625, 1.0])
    want = -np.mean(np.minimum(r * adv, np.clip(r, 0.8, 1.2) * adv))
    np.testing.assert_allclose(m["policy_loss"], want, rtol=1e-5)


def test_update_moves_towards_positive_advantages_and_respects_zero_weights():
    agent = fixed_agent()
    opt = make_optimizer(CFG.replace(lr=1e-2, anneal_lr=False), 10)
    update = jax.jit(ppo_update(agent, CFG.replace(lr=1e-2, anneal_lr=False), opt))
    params, _, metrics = update(PARAMS, opt.init(PARAMS), batch(), jax.random.key(0), jnp.array([1.0, 0.0]))
    assert set(metrics) >= {"loss", "policy_loss", "value_loss", "entropy", "grad_norm", "approx_kl"}
    # Column 0, t=1: advantage 2, ratio 0.625 (unclipped): the taken action's probability rises.
    assert float(params["logits"][1, 0, 0] - params["logits"][1, 0, 1]) > 0
    # Column 0, t=0: ratio 2 > 1 + eps with a positive advantage: clipped, so no policy gradient
    # (and the entropy gradient is zero at the uniform policy).
    np.testing.assert_allclose(params["logits"][0, 0], PARAMS["logits"][0, 0], atol=1e-7)
    # Column 1 has weight 0: its parameters get no gradient (Adam moves nothing from zero grads).
    np.testing.assert_array_equal(params["logits"][:, 1], PARAMS["logits"][:, 1])
    np.testing.assert_array_equal(params["v"][:, 1], PARAMS["v"][:, 1])


@pytest.mark.parametrize(
    "kwargs,message",
    [({"num_minibatches": 3}, "num_minibatches=3 must divide num_envs=32"),
     ({"gamma": 1.5}, r"gamma must be a number in \[0, 1\], got 1.5"),
     ({"update_epochs": 0}, "update_epochs must be a positive integer")],
)
def test_bad_ppo_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PPOConfig(**kwargs).validate(32)
