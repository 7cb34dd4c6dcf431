"""Evaluation of a policy on fixed levels (e.g. the named held-out mazes)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ued.agents.networks import Agent
from ued.rollout import make_rollout_fn
from ued.types import Level, LevelEnv
from ued.utils import check_positive_int


def _position(state):
    """``(x, y, dir)`` of a grid agent's state (for episode renders)."""
    return jnp.concatenate([state.agent_pos, state.agent_dir[None]]).astype(jnp.int32)


def make_level_evaluator(env: LevelEnv, agent: Agent, num_attempts: int, max_steps: int | None = None):
    """Builds ``evaluate(params, levels, key) -> dict`` for ``N`` levels.

    Each level gets ``num_attempts`` independent episodes with the greedy policy and as many
    with the sampled policy; only the first episode of each attempt counts. The episodes are
    played by the one rollout (``ued.rollout.make_rollout_fn``, without auto-replay).

    Args:
        env: the level space's env (no wrapper).
        agent: the ``Agent``.
        num_attempts: episodes per level and policy mode.
        max_steps: steps to run (default: the env's ``max_episode_steps``, so every episode ends).

    Returns:
        A function returning, for ``mode`` in ``greedy`` and ``sampled``:
        ``{mode: {"solve_rate": (N,), "return": (N,), "length": (N,)}}`` (on a level space with
        several agents, each the mean over the level's agents: ``solve_rate`` is the fraction of
        its robots that reached their goals) plus
        ``"trace"``: int32 ``(max_steps + 1, N, 4)`` of ``(x, y, dir, done)`` of the first
        greedy attempt on each level (for episode renders), when the env state has
        ``agent_pos`` and ``agent_dir``.
    """
    check_positive_int(num_attempts, "num_attempts")
    max_steps = env.max_episode_steps if max_steps is None else max_steps
    rollout = make_rollout_fn(env, agent, 1.0, 1.0)

    def run(params, levels: Level, key, greedy: bool):
        n = jax.tree.leaves(levels)[0].shape[0]
        tiled = jax.tree.map(lambda x: jnp.repeat(x, num_attempts, axis=0), levels)
        one = jax.tree.map(lambda x: x[0], levels)
        state = jax.eval_shape(env.reset_to_level, jax.random.key(0), one, env.default_params)[1]
        positioned = hasattr(state, "agent_pos") and hasattr(state, "agent_dir") and env.num_agents == 1
        record = _position if positioned else None
        ro, _, info = rollout(params, tiled, key, max_steps, greedy=greedy, replay=False, record=record)
        done = ro.dones.astype(jnp.int32)
        finished_before = (jnp.cumsum(done, axis=0) - done) > 0  # (T, batch): the first episode ended earlier
        live = ~finished_before
        # columns are level-major: (level, attempt[, agent]); a level's mean over its attempts and agents
        per_level = lambda x: x.astype(jnp.float32).reshape(n, -1).mean(axis=1)
        out = {"solve_rate": per_level(jnp.any(live & ro.solved, axis=0)),
               "return": per_level(jnp.sum(jnp.where(live, ro.rewards, 0.0), axis=0)),
               "length": per_level(jnp.sum(live, axis=0))}
        trace = None
        if record is not None:
            finished = jnp.concatenate([finished_before, jnp.any(ro.dones, axis=0)[None]], axis=0)
            where = jnp.concatenate([info["record"], info["last_record"][None]], axis=0)
            trace = jnp.concatenate([where, finished[..., None].astype(jnp.int32)], axis=-1)
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
