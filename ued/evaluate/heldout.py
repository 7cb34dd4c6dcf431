"""Evaluation of a policy on fixed levels (e.g. the named held-out mazes)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ued.agents.networks import Agent
from ued.types import Level, LevelEnv


def make_level_evaluator(env: LevelEnv, agent: Agent, num_attempts: int, max_steps: int):
    """Builds ``evaluate(params, levels, key) -> dict`` for ``N`` levels.

    Each level gets ``num_attempts`` independent episodes with the greedy policy and as many
    with the sampled policy; only the first episode of each attempt counts.

    Args:
        env: the level space's env (no wrapper).
        agent: the ``Agent``.
        num_attempts: episodes per level and policy mode.
        max_steps: steps to run (at least the env's time limit, so every episode ends).

    Returns:
        A function returning, for ``mode`` in ``greedy`` and ``sampled``:
        ``{mode: {"solve_rate": (N,), "return": (N,), "length": (N,)}}`` plus
        ``"trace"``: int32 ``(max_steps + 1, N, 4)`` of ``(x, y, dir, done)`` of the first
        greedy attempt on each level (for episode renders), when the env state has
        ``agent_pos`` and ``agent_dir``.
    """
    if num_attempts < 1:
        raise ValueError(f"num_attempts must be a positive integer, got {num_attempts}")
    params_env = env.default_params

    def run(params, levels: Level, key, greedy: bool):
        n = jax.tree.leaves(levels)[0].shape[0]
        batch = n * num_attempts
        tiled = jax.tree.map(lambda x: jnp.repeat(x, num_attempts, axis=0), levels)
        k_reset, k_run = jax.random.split(key)
        obs, state = jax.vmap(env.reset_to_level, in_axes=(0, 0, None))(jax.random.split(k_reset, batch), tiled, params_env)
        carry = agent.initial_carry(batch)
        zeros = jnp.zeros((batch,), jnp.float32)

        def step(c, key):
            obs, state, carry, first, finished, solved, ret, length = c
            k_act, k_env = jax.random.split(key)
            carry, dist, _ = agent.apply(params, carry, jax.tree.map(lambda x: x[None], obs), first[None])
            dist = jax.tree.map(lambda x: x[0], dist)
            action = agent.greedy(dist) if greedy else agent.sample(k_act, dist)
            nobs, nstate, reward, done, info = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
                jax.random.split(k_env, batch), state, action, params_env)
            live = ~finished
            trace = _trace(state, finished)  # the state this step acted in
            solved = solved | (live & info["solved"])
            ret = ret + jnp.where(live, reward, 0.0)
            length = length + live
            finished = finished | done
            return (nobs, nstate, carry, jnp.zeros_like(first), finished, solved, ret, length), trace

        init = (obs, state, carry, jnp.ones((batch,), jnp.bool_), jnp.zeros((batch,), jnp.bool_),
                jnp.zeros((batch,), jnp.bool_), zeros, zeros)
        (_, last_state, _, _, finished, solved, ret, length), trace = jax.lax.scan(
            step, init, jax.random.split(k_run, max_steps))
        per_level = lambda x: x.astype(jnp.float32).reshape(n, num_attempts).mean(axis=1)
        out = {"solve_rate": per_level(solved), "return": per_level(ret), "length": per_level(length)}
        if trace is not None:
            trace = jnp.concatenate([trace, _trace(last_state, finished)[None]], axis=0)
            trace = trace.reshape(trace.shape[0], n, num_attempts, -1)[:, :, 0]
        return out, trace

    def evaluate(params, levels: Level, key):
        k_greedy, k_sampled = jax.random.split(key)
        greedy, trace = run(params, levels, k_greedy, True)
        sampled, _ = run(params, levels, k_sampled, False)
        result = {"greedy": greedy, "sampled": sampled}
        if trace is not None:
            result["trace"] = trace
        return result

    return evaluate


def _trace(state, finished):
    if not (hasattr(state, "agent_pos") and hasattr(state, "agent_dir")):
        return None
    return jnp.concatenate([state.agent_pos, state.agent_dir[:, None], finished[:, None].astype(jnp.int32)],
                           axis=1).astype(jnp.int32)
