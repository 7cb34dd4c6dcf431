"""The rollout pytree that scores consume, GAE, and per-episode aggregation.

Rollouts are time-major: arrays are ``(T, B)`` for ``T`` steps of ``B`` levels (one
environment per level, auto-replaying the level within the rollout).

Step ``t`` means: the agent observed ``s_t``, the critic gave ``values[t] = V(s_t)``, the agent
acted and received ``rewards[t]``, and ``dones[t]`` says the episode ended with that step.
The value after the last step is ``last_value = V(s_T)``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from ued.types import StepContext


@struct.dataclass
class Rollout:
    """A batch of rollouts, one column per level.

    Attributes:
        rewards: float32 ``(T, B)``.
        dones: bool ``(T, B)``, True on the last step of an episode.
        values: float32 ``(T, B)``, ``V(s_t)``.
        last_value: float32 ``(B,)``, the bootstrap value ``V(s_T)``.
        advantages: float32 ``(T, B)``, GAE(gamma, lambda) of the run (``gae``).
        solved: bool ``(T, B)``, the env's ``info["solved"]`` flag.
        dist_params: the policy's distribution parameters at each step (float32 ``(T, B, A)``
            logits for a categorical policy; a ``(mean, log_std)`` pair for a Gaussian one), or
            None. Least confidence reads them as logits (it refuses continuous action spaces).
        entropy: float32 ``(T, B)``, the policy's entropy at each step (the agent's own
            ``entropy``, so it is right for every policy kind), or None.
        hook: the records of the curriculum's ``StepHook`` at each step (leading axes
            ``(T, B)``), or None when the rollout ran without one.
        hook_carry: the ``StepHook``'s carry after the last step, or None.
        agents: ``S``, the student's agent slots per level (static). With ``S > 1`` the ``B``
            columns are ``B / S`` levels times their ``S`` agents, level-major; scores reduce
            each agent's episodes and then average over a level's agents (``level_episodes``,
            ``level_mean``). 1 for a one-agent level space.
    """

    rewards: jax.Array
    dones: jax.Array
    values: jax.Array
    last_value: jax.Array
    advantages: jax.Array
    solved: jax.Array
    dist_params: object = None
    entropy: jax.Array | None = None
    hook: object = None
    hook_carry: object = None
    agents: int = struct.field(pytree_node=False, default=1)

    @property
    def num_levels(self) -> int:
        """The levels the rollout played (its columns divided by ``agents``)."""
        return self.rewards.shape[1] // self.agents


def td_errors(rewards, values, dones, last_value, gamma):
    """One-step TD errors ``delta_t = r_t + gamma * V(s_{t+1}) * (1 - done_t) - V(s_t)``.

    Args:
        rewards, values: float32 ``(T, B)``.
        dones: bool ``(T, B)``.
        last_value: float32 ``(B,)``.
        gamma: discount.

    Returns:
        float32 ``(T, B)``.
    """
    next_values = jnp.concatenate([values[1:], last_value[None]], axis=0)
    return rewards + gamma * next_values * (1.0 - dones.astype(jnp.float32)) - values


def gae(rewards, values, dones, last_value, gamma: float, lam: float):
    """Generalised advantage estimation (Schulman et al. 2016), truncated at episode ends.

    ``A_t = delta_t + gamma * lam * (1 - done_t) * A_{t+1}``, with ``A_T = 0``.

    Args:
        rewards, values: float32 ``(T, B)``.
        dones: bool ``(T, B)``.
        last_value: float32 ``(B,)``.
        gamma: discount.
        lam: GAE lambda.

    Returns:
        ``(advantages, targets)``, each float32 ``(T, B)``; ``targets = advantages + values``.
    """
    deltas = td_errors(rewards, values, dones, last_value, gamma)
    adv = _chain_back(deltas, 1.0 - dones.astype(jnp.float32), gamma * lam)
    return adv, adv + values


def _chain_back(deltas, links, decay):
    """``A_t = delta_t + decay * links_t * A_{t+1}`` backwards from ``A_T = 0``; ``(T, B)``."""

    def back(carry, x):
        delta, link = x
        adv = delta + decay * link * carry
        return adv, adv

    _, adv = jax.lax.scan(back, jnp.zeros_like(deltas[0]), (deltas, links), reverse=True)
    return adv


def transition_gae(values, rewards, dones, next_values, chain, gamma: float, lam: float):
    """GAE of transitions whose next states need not be the next step's state (SAMPLR's
    fictitious transitions, each branching off the real trajectory at its state).

    ``delta_t = r_t + gamma * (1 - done_t) * next_values[t] - V(s_t)`` and
    ``A_t = delta_t + gamma * lam * chain_t * A_{t+1}`` (``A_T = 0``): each transition
    bootstraps from its own next state's value, and advantages are chained along the real
    trajectory only where ``chain``. With ``next_values = V(s_{t+1})``, ``chain = ~done`` and
    the real rewards it is exactly ``gae``.

    Args:
        values: float32 ``(T, B)``, ``V(s_t)``.
        rewards: float32 ``(T, B)``, the transitions' rewards.
        dones: bool ``(T, B)``, the transitions' episode ends.
        next_values: float32 ``(T, B)``, the value of each transition's next state.
        chain: bool ``(T, B)``, whether ``A_{t+1}`` continues ``A_t``.
        gamma, lam: discount and GAE lambda.

    Returns:
        ``(advantages, targets)``, each float32 ``(T, B)``; ``targets = advantages + values``.
    """
    deltas = rewards + gamma * next_values * (1.0 - dones.astype(jnp.float32)) - values
    adv = _chain_back(deltas, chain.astype(jnp.float32), gamma * lam)
    return adv, adv + values


def make_rollout(rewards, dones, values, last_value, solved, gamma: float, lam: float,
                 dist_params=None, entropy=None) -> Rollout:
    """Builds a ``Rollout``, computing the advantages with ``gae`` (and, when only categorical
    logits ``dist_params`` are given, the entropy from them)."""
    if entropy is None and dist_params is not None:
        logp = jax.nn.log_softmax(jnp.asarray(dist_params, jnp.float32))
        entropy = -jnp.sum(jnp.exp(logp) * logp, axis=-1)
    rewards = jnp.asarray(rewards, jnp.float32)
    values = jnp.asarray(values, jnp.float32)
    dones = jnp.asarray(dones, jnp.bool_)
    last_value = jnp.asarray(last_value, jnp.float32)
    adv, _ = gae(rewards, values, dones, last_value, gamma, lam)
    return Rollout(rewards=rewards, dones=dones, values=values, last_value=last_value,
                   advantages=adv, solved=jnp.asarray(solved, jnp.bool_), dist_params=dist_params,
                   entropy=entropy)


def episode_index(dones):
    """Index of the episode each step belongs to, counted from the rollout's start.

    Args:
        dones: bool ``(T, B)``.

    Returns:
        int32 ``(T, B)``: the number of episodes that ended strictly before step ``t``.
    """
    d = dones.astype(jnp.int32)
    return jnp.cumsum(d, axis=0) - d


def per_episode(x, dones, reduce: str = "sum"):
    """Reduces ``x`` over the steps of each *completed* episode of every column.

    The trailing steps after the last ``done`` (an episode still running when the rollout
    stopped) are left out.

    Args:
        x: ``(T, B)`` values (bool is cast to float32).
        dones: bool ``(T, B)``.
        reduce: ``"sum"``, ``"mean"`` or ``"max"`` over the steps of an episode.

    Returns:
        ``(values, mask)``: float32 ``(T, B)`` with episode ``e``'s reduction in row ``e``,
        and bool ``(T, B)`` True for the completed episodes (rows ``e < number done``).
    """
    if reduce not in ("sum", "mean", "max"):
        raise ValueError(f"reduce must be 'sum', 'mean' or 'max', got {reduce!r}")
    t = x.shape[0]
    x = x.astype(jnp.float32)
    ep = episode_index(dones)
    n_done = dones.sum(axis=0)

    def column(xc, epc, nd):
        completed = epc < nd
        seg = jnp.where(completed, epc, t)  # the trailing partial episode goes to a dropped segment
        if reduce == "max":
            out = jax.ops.segment_max(jnp.where(completed, xc, -jnp.inf), seg, num_segments=t + 1)[:t]
        else:
            out = jax.ops.segment_sum(xc, seg, num_segments=t + 1)[:t]
            if reduce == "mean":
                counts = jax.ops.segment_sum(jnp.ones_like(xc), seg, num_segments=t + 1)[:t]
                out = out / jnp.maximum(counts, 1.0)
        mask = jnp.arange(t) < nd
        return jnp.where(mask, out, 0.0), mask

    return jax.vmap(column, in_axes=(1, 1, 0), out_axes=1)(x, ep, n_done)


def level_mean(x, rollout: Rollout):
    """Mean over each level's agents of per-column values on the last axis: ``(..., B * S)`` ->
    ``(..., B)`` (``x`` itself when the rollout has one agent per level)."""
    if rollout.agents == 1:
        return x
    return x.reshape(x.shape[:-1] + (-1, rollout.agents)).astype(jnp.float32).mean(axis=-1)


def level_any(x, rollout: Rollout):
    """Whether any of a level's agents has ``x``: ``(..., B * S)`` -> ``(..., B)``."""
    if rollout.agents == 1:
        return x
    return x.reshape(x.shape[:-1] + (-1, rollout.agents)).any(axis=-1)


def level_episodes(x, rollout: Rollout, reduce: str = "sum"):
    """``per_episode`` of a per-step, per-column quantity, averaged over each level's agents.

    Each agent's episodes are reduced first (so ``"max"`` of ``solved`` is whether that agent
    solved the episode) and the level's value of an episode is the mean over its agents: the
    fraction of its robots that reached their goals, the mean of their returns. The agents of a
    level share episode boundaries, so the completed-episode mask is the level's.

    Args:
        x: ``(T, B * S)`` values.
        rollout: the ``Rollout`` (its ``dones`` and ``agents``).
        reduce: ``"sum"``, ``"mean"`` or ``"max"`` over an episode's steps.

    Returns:
        ``(values, mask)``, each ``(T, B)`` as in ``per_episode``.
    """
    values, mask = per_episode(x, rollout.dones, reduce)
    if rollout.agents == 1:
        return values, mask
    t = values.shape[0]
    return level_mean(values, rollout), mask.reshape(t, -1, rollout.agents)[..., 0]


def masked_mean(values, mask, axis=0):
    """Mean of ``values`` where ``mask``; 0 where the mask is empty."""
    mask = mask.astype(jnp.float32)
    return jnp.sum(values * mask, axis=axis) / jnp.maximum(jnp.sum(mask, axis=axis), 1.0)


def make_rollout_fn(env, agent, gamma: float, lam: float):
    """Builds the one rollout every part of ued uses: the training loop, ``Student.rollout``
    (SFL's sampling pass, PAIRED's antagonist), the held-out evaluation and the demo.

    ``rollout(params, levels, key, num_steps, greedy=False, replay=True, record=None,
    hook=None, hook_input=None, coplayers=None) -> (Rollout, Trajectory, info)``: the agent
    (``ued.agents.step_agent``) plays ``B`` levels in parallel for ``num_steps`` steps from a
    zero recurrent state. With ``replay`` an episode that ends restarts on the same level
    (``auto_replay``); without it the env is stepped on after ``done`` as it is, and only each
    column's first episode is meaningful (evaluation). ``greedy`` takes the policy's mode.
    ``record`` (``env state -> pytree``, one environment) is applied to the state each step
    acts in, and to the final state.

    On a level space with ``N > 1`` agents the student acts in all its slots (``ued.agents.seats``):
    the ``Rollout`` and ``Trajectory`` have ``B * S`` columns (level-major) and ``Rollout.agents =
    S``; ``coplayers`` (``Proposal.coplayers``, ``M`` stacked parameter sets) take the level space's
    co-player slots, group ``m`` of the ``B`` levels against co-player ``m``.

    ``hook`` is a curriculum's ``ued.types.StepHook`` and ``hook_input`` the
    ``(curriculum_state, proposal)`` it starts from: the hook takes every env step (and may edit
    it), its records become ``Rollout.hook``, and where it returns a ``TrainTransition`` the
    ``Trajectory``'s advantages and targets are those of the transitions it gives
    (``transition_gae``: each bootstraps from the agent's value of its own next observation,
    chained along the real trajectory where neither episode ended), while the ``Rollout``
    (what scores read) keeps the real ones.

    Args:
        env: the level space's ``LevelEnv``.
        agent: a ``ued.agents.Agent``.
        gamma, lam: discount and GAE lambda of the advantages.

    Returns:
        The function. ``num_steps``, ``greedy``, ``replay``, ``record`` and ``hook`` are static.
        ``info`` holds ``episode_return`` and ``episode_length`` ``(T, B)`` (valid where done),
        and with ``record`` also ``record`` (leading axes ``(T, B)``) and ``last_record``
        (leading axis ``B``).
    """
    from ued.agents.networks import step_agent
    from ued.agents.ppo import Trajectory
    from ued.agents.seats import act, initial_carry, per_column, seats_of, student_part
    from ued.envs.wrappers import auto_replay, episode_end

    replaying = auto_replay(env)
    env_params = env.default_params

    def rollout(params, levels, key, num_steps: int, greedy: bool = False, replay: bool = True, record=None,
                hook=None, hook_input=None, coplayers=None):
        stepper = replaying if replay else env
        b = jax.tree.leaves(levels)[0].shape[0]
        seat = seats_of(env, coplayers, b)
        if hook is not None and seat.agents > 1:
            raise ValueError(f"a curriculum's StepHook acts on one-agent level spaces; {env.name} has "
                             f"{seat.agents} agents per level")
        k_reset, k_steps = jax.random.split(key)
        obs, state = jax.vmap(env.reset_to_level, in_axes=(0, 0, None))(jax.random.split(k_reset, b), levels, env_params)

        def env_step(key, states, actions):
            return jax.vmap(stepper.step, in_axes=(0, 0, 0, None))(jax.random.split(key, b), states, actions, env_params)

        hook_carry = None
        if hook is not None:
            hook_carry, obs, state = hook.init(*hook_input, jax.random.fold_in(k_reset, 1), obs, state)
        mine = lambda x: student_part(x, seat)

        def step(carry, key):
            obs, state, rnn, first, hook_carry = carry
            k_act, k_env = jax.random.split(key)
            rnn, env_action, (action, dist, value) = act(agent, params, coplayers, rnn, obs, first, k_act, greedy, seat)
            out = {}
            if hook is None:
                nobs, nstate, reward, done, info = env_step(k_env, state, env_action)
            else:
                hook_carry, result = hook.step(hook_carry, k_env, StepContext(states=state, actions=action,
                                                                               values=value, env_step=env_step))
                nobs, nstate, reward, done, info = result.transition
                if result.record is not None:
                    out["hook"] = result.record
                if result.train is not None:  # the agent's value of the transition's own next state
                    _, _, next_value = agent.apply(params, rnn[0], jax.tree.map(lambda x: x[None], result.train.obs),
                                                   jnp.asarray(result.train.done, jnp.bool_)[None])
                    out["train"] = {"reward": jnp.asarray(result.train.reward, jnp.float32),
                                    "done": jnp.asarray(result.train.done, jnp.bool_), "next_value": next_value[0]}
            out.update({"obs": mine(obs), "first": per_column(first, seat), "actions": action,
                        "log_probs": agent.log_prob(dist, action), "values": value, "rewards": mine(reward),
                        "dones": mine(done), "solved": mine(info["solved"]),
                        "episode_return": mine(info["episode_return"]),
                        "episode_length": mine(info["episode_length"]), "dist": dist})
            if record is not None:
                out["record"] = jax.vmap(record)(state)
            return (nobs, nstate, rnn, episode_end(done, seat.agents), hook_carry), out

        init = (obs, state, initial_carry(agent, seat, b), jnp.ones((b,), jnp.bool_), hook_carry)
        (obs, state, rnn, first, hook_carry), tr = jax.lax.scan(step, init, jax.random.split(k_steps, num_steps))
        _, _, _, last_value = step_agent(agent, params, rnn[0], mine(obs), per_column(first, seat), k_steps,
                                         greedy=True)
        adv, targets = gae(tr["rewards"], tr["values"], tr["dones"], last_value, gamma, lam)
        ro = Rollout(rewards=tr["rewards"], dones=tr["dones"], values=tr["values"], last_value=last_value,
                     advantages=adv, solved=tr["solved"], dist_params=tr["dist"], entropy=agent.entropy(tr["dist"]),
                     hook=tr.get("hook"), hook_carry=hook_carry, agents=seat.student if seat.agents > 1 else 1)
        if "train" in tr:  # PPO learns from the hook's transitions
            t = tr["train"]
            adv, targets = transition_gae(tr["values"], t["reward"], t["done"], t["next_value"],
                                          ~(tr["dones"] | t["done"]), gamma, lam)
        traj = Trajectory(obs=tr["obs"], resets=tr["first"], actions=tr["actions"], log_probs=tr["log_probs"],
                          values=tr["values"], advantages=adv, targets=targets)
        info = {"episode_return": tr["episode_return"], "episode_length": tr["episode_length"]}
        if record is not None:
            info["record"], info["last_record"] = tr["record"], jax.vmap(record)(state)
        return ro, traj, info

    return rollout
