"""SAMPLR: robust PLR whose agent learns from fictitious transitions grounded in the real
distribution of the level's aleatoric parameters.

Source: Jiang, Dennis, Parker-Holder, Lupu, Küttler, Grefenstette, Rocktäschel and Foerster,
"Grounding Aleatoric Uncertainty for Unsupervised Environment Design", NeurIPS 2022.

A curriculum that stores whole levels also chooses their aleatoric parameters (chance outcomes
the agent cannot control or see in advance), so it trains the agent under a shifted
distribution of them, and the policy it learns can be wrong under the real one
(curriculum-induced covariate shift). SAMPLR keeps robust PLR's curriculum, scored on the real
transitions, but the agent's PPO targets come from fictitious transitions: at every step the
aleatoric parameters are redrawn from their exact posterior under the ground-truth prior given
the episode so far (``LevelSpace.aleatoric.posterior``), and the environment is stepped from
that state with the same action. In expectation these transitions follow the ground-truth
distribution whatever the curriculum chose, so the policy stays optimal under it while the
curriculum still picks the levels to train on.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ued.curricula.replay import replay_curriculum
from ued.types import Aleatoric, Curriculum, HookStep, LevelBuffer, LevelSpace, Score, StepHook, TrainTransition


def fictitious_transitions(aleatoric: Aleatoric) -> StepHook:
    """A ``StepHook`` that continues the rollout on the real transition and hands PPO a
    fictitious one from the same state and action: the aleatoric parameters redrawn from their
    posterior given the episode so far, the environment stepped with the same key (the same
    noise otherwise).

    Each step thus costs two env steps; the curriculum counts the second in
    ``Observed.env_steps``.

    Args:
        aleatoric: the level space's ``Aleatoric``.

    Returns:
        A ``StepHook`` (no carry; it records nothing).
    """

    def init(curriculum_state, proposal, key, obs, states):
        return None, obs, states

    def step(carry, key, ctx):
        real = ctx.env_step(key, ctx.states, ctx.actions)
        b = ctx.values.shape[0]
        believed = jax.vmap(aleatoric.posterior)(jax.random.split(jax.random.fold_in(key, 1), b), ctx.states)
        f_obs, _, f_reward, f_done, _ = ctx.env_step(key, believed, ctx.actions)
        return carry, HookStep(transition=real, train=TrainTransition(reward=f_reward, done=f_done, obs=f_obs))

    return StepHook(init=init, step=step)


def samplr(level_space: LevelSpace, num_levels: int, score: Score | None = None, buffer: LevelBuffer | None = None,
           replay_prob: float = 0.8) -> Curriculum:
    """SAMPLR (Jiang et al. 2022): robust PLR (gradient steps on replayed levels only, scores
    from the real transitions) with PPO targets from ``fictitious_transitions``.

    Args:
        level_space: a level space with an aleatoric part (``LevelSpace.aleatoric``).
        num_levels: levels per update (the number of parallel environments).
        score: the level score (default MaxMC, as robust PLR).
        buffer: the level buffer (default ``plr_buffer()``).
        replay_prob: probability of a replay update once the buffer is ready.

    Returns:
        A ``Curriculum`` over robust PLR's ``ReplayState`` with a ``StepHook``; its
        ``env_steps`` count the fictitious steps (one per rollout step and environment).

    Raises:
        ValueError: the level space has no aleatoric part, or robust PLR refuses a setting.
        TypeError: ``score`` or ``buffer`` is not a component of the kind needed.
    """
    if level_space.aleatoric is None:
        raise ValueError(f"samplr needs a level space with an aleatoric part (LevelSpace.aleatoric: chance "
                         f"parameters and their real distribution), and {level_space.name} has none; "
                         "choose env=fruit_maze or add one to the level space")
    base = replay_curriculum(level_space, num_levels, score, buffer, replay_prob, robust=True, name="samplr")

    def observe(state, key, levels, proposal, rollout, student):
        out = base.observe(state, key, levels, proposal, rollout, student)
        fictitious = rollout.rewards.shape[0] * rollout.rewards.shape[1]  # one per rollout step and environment
        return out._replace(env_steps=out.env_steps + jnp.int32(fictitious))

    return base._replace(observe=observe, hook=fictitious_transitions(level_space.aleatoric))
