"""Agent slots: how the student and its co-players share a level's agents.

A level space with ``N = LevelEnv.num_agents > 1`` agents gives observations ``(B, N, ...)`` for
``B`` environments and takes actions ``(B, N, ...)``. The student is one parameter set acting in
its ``S`` slots of every environment, folded into the batch (``B * S`` columns, level-major:
column ``b * S + i`` is slot ``i`` of level ``b``), which is IPPO with shared parameters. A
curriculum that brings co-players (``Proposal.coplayers``: ``M`` parameter sets) gives them the
level space's last ``C = LevelEnv.coplayer_slots`` slots: the ``B`` environments are ``M``
contiguous groups, group ``m`` against co-player ``m``, whose forward pass is one ``vmap`` over the
``M`` parameter sets on ``(M, B / M * C)`` observations. One-agent level spaces have no agent axis
and every function here is the identity on them, so their programs are unchanged.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from ued.agents.networks import Agent, step_agent
from ued.types import LevelEnv


class Seats(NamedTuple):
    """Who acts where (static).

    Attributes:
        agents: ``N``, agents per environment (1: no agent axis).
        student: ``S``, the student's slots per environment (the first ``S``).
        coplayers: ``M``, co-player parameter sets (0: none; the student has every slot).
    """

    agents: int
    student: int
    coplayers: int = 0

    @property
    def coplayer_slots(self) -> int:
        """``C = N - S``, the co-player's slots per environment."""
        return self.agents - self.student


def seats_of(env: LevelEnv, coplayers=None, num_envs: int | None = None) -> Seats:
    """The seats of a rollout of ``env`` with these co-players (``Proposal.coplayers`` or None).

    Raises:
        ValueError: co-players on a level space without co-player slots, or ``M`` not dividing
            the number of environments.
    """
    n = int(env.num_agents)
    if coplayers is None:
        return Seats(n, n, 0)
    if env.coplayer_slots < 1:
        raise ValueError(f"the {env.name} level space has no co-player slots (LevelEnv.coplayer_slots=0): "
                         "a curriculum with co-players needs a game with an opponent's role (e.g. env=lasertag)")
    m = int(jax.tree.leaves(coplayers)[0].shape[0])
    if num_envs is not None and num_envs % m:
        raise ValueError(f"{m} co-players must divide the {num_envs} environments (one group of levels each)")
    return Seats(n, n - int(env.coplayer_slots), m)


def student_part(tree, seats: Seats):
    """The student's slots, folded: leaves ``(B, N, ...)`` -> ``(B * S, ...)``."""
    if seats.agents == 1:
        return tree
    return jax.tree.map(lambda x: x[:, :seats.student].reshape((-1,) + x.shape[2:]), tree)


def coplayer_part(tree, seats: Seats):
    """The co-players' slots by co-player: leaves ``(B, N, ...)`` -> ``(M, B / M * C, ...)``."""
    return jax.tree.map(lambda x: x[:, seats.student:].reshape((seats.coplayers, -1) + x.shape[2:]), tree)


def per_column(x, seats: Seats):
    """A per-environment value ``(B, ...)`` repeated for the student's columns ``(B * S, ...)``."""
    return x if seats.agents == 1 else jnp.repeat(x, seats.student, axis=0)


def initial_carry(agent: Agent, seats: Seats, num_envs: int):
    """``(student carry for B * S columns, co-players' carry (M, B / M * C) or None)``."""
    student = agent.initial_carry(num_envs * seats.student)
    if not seats.coplayers:
        return student, None
    per = num_envs // seats.coplayers * seats.coplayer_slots
    return student, jax.tree.map(lambda x: jnp.broadcast_to(x, (seats.coplayers,) + x.shape),
                                 agent.initial_carry(per))


def act(agent: Agent, params, coplayers, carry, obs, first, key, greedy: bool, seats: Seats):
    """Every agent of ``B`` environments acts: the student in its slots, each co-player in its group's.

    Args:
        agent: the ``Agent`` (the student's architecture; co-players share it).
        params: the student's parameters.
        coplayers: ``M`` stacked parameter sets, or None.
        carry: ``initial_carry``'s pair.
        obs: the env's observations (``(B, N, ...)`` with agents).
        first: bool ``(B,)``, the step starts an episode.
        key: PRNG key.
        greedy: the student takes its policy's mode (co-players always sample).
        seats: the ``Seats``.

    Returns:
        ``(carry, env_actions, (action, dist, value))``: the env's actions (``(B, N, ...)`` with
        agents) and the student's ``(B * S, ...)`` action, distribution and values.
    """
    s_carry, c_carry = carry
    if seats.coplayers:
        key, k_co = jax.random.split(key)
    s_carry, action, dist, value = step_agent(agent, params, s_carry, student_part(obs, seats),
                                              per_column(first, seats), key, greedy)
    if seats.agents == 1:
        return (s_carry, c_carry), action, (action, dist, value)
    b = first.shape[0]
    mine = action.reshape((b, seats.student) + action.shape[1:])
    if not seats.coplayers:
        return (s_carry, c_carry), mine, (action, dist, value)
    c_first = jnp.repeat(first, seats.coplayer_slots).reshape(seats.coplayers, -1)
    c_carry, c_action, _, _ = jax.vmap(lambda p, c, o, f, k: step_agent(agent, p, c, o, f, k, False))(
        coplayers, c_carry, coplayer_part(obs, seats), c_first, jax.random.split(k_co, seats.coplayers))
    theirs = c_action.reshape((b, seats.coplayer_slots) + c_action.shape[2:])
    return (s_carry, c_carry), jnp.concatenate([mine, theirs.astype(mine.dtype)], axis=1), (action, dist, value)


def first_obs(obs, env: LevelEnv):
    """One agent's observation from an env's reset observation (for ``Agent.init``)."""
    return obs if env.num_agents == 1 else jax.tree.map(lambda x: x[0], obs)


__all__ = ["Seats", "act", "coplayer_part", "first_obs", "initial_carry", "per_column", "seats_of",
           "student_part"]
