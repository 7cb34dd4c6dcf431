"""The jitted training loop: ``make_train`` builds pure functions from instantiated components.

One update is: propose levels -> roll the agent out on them -> let the curriculum observe the
rollout (score levels, update its buffers, optionally set gradient weights) -> PPO update on the
same rollout, weighted by ``Observed.train_weights`` where the curriculum set them, else by the
proposal's ``train_weights``.
``chunk`` runs ``updates_per_chunk`` updates with ``lax.scan`` in one compiled call; the host
(``ued.train``) calls it repeatedly and does logging, evaluation and checkpoints in between.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
from flax import struct

import chex

from ued.agents.networks import Agent
from ued.agents.ppo import PPOConfig, learning_rate, make_optimizer, ppo_update
from ued.agents.seats import first_obs
from ued.evaluate.cvar import make_success_evaluator, sample_eval_levels, success_passes
from ued.evaluate.heldout import make_level_evaluator
from ued.rollout import Rollout, make_rollout_fn
from ued.types import Curriculum, LevelSpace, Observed, Proposal, Student, TrainResult
from ued.utils import check_positive_int


@struct.dataclass
class StepCount:
    """An exact count of env steps in jitted state (int32 only): ``high * 2**24 + low``.

    Attributes:
        high: int32 ``()``, multiples of ``2**24``.
        low: int32 ``()``, in ``[0, 2**24)``.
    """

    high: jax.Array
    low: jax.Array

    BASE = 1 << 24

    @classmethod
    def zero(cls) -> "StepCount":
        return cls(high=jnp.zeros((), jnp.int32), low=jnp.zeros((), jnp.int32))

    def add(self, n) -> "StepCount":
        """Adds ``n`` (an int32 scalar, ``0 <= n < 2**31 - 2**24``)."""
        low = self.low + jnp.asarray(n, jnp.int32)
        return StepCount(high=self.high + low // self.BASE, low=low % self.BASE)

    def value(self):
        """The count as Python ints on the host (an int, or a list for a seed axis)."""
        import numpy as np

        total = np.asarray(self.high).astype(np.int64) * self.BASE + np.asarray(self.low).astype(np.int64)
        return total.tolist()


@struct.dataclass
class TrainState:
    """Everything that changes during training (one seed; vmapped for several).

    Attributes:
        params: agent parameters.
        opt_state: optimizer state.
        curriculum: the curriculum's state.
        key: PRNG key for the next update.
        update: int32 ``()``, updates done.
        curriculum_env_steps: env steps the curriculum spent beyond the training rollouts
            (the sum of ``Observed.env_steps``), counted exactly.
    """

    params: Any
    opt_state: Any
    curriculum: Any
    key: jax.Array
    update: jax.Array
    curriculum_env_steps: StepCount


def episode_metrics(rollout: Rollout, info: dict) -> dict:
    """Mean return, solve rate and length of the episodes that finished in a rollout."""
    n = jnp.sum(rollout.dones)
    denom = jnp.maximum(n, 1).astype(jnp.float32)
    return {
        "episodes": n.astype(jnp.float32),
        "return": jnp.sum(info["episode_return"]) / denom,
        "solve_rate": jnp.sum(rollout.solved) / denom,
        "episode_length": jnp.sum(info["episode_length"]).astype(jnp.float32) / denom,
    }


def check_proposal(levels, proposal: Proposal, num_envs: int) -> None:
    """Trace-time checks (chex) of what ``Curriculum.propose`` returns."""
    chex.assert_tree_shape_prefix(levels, (num_envs,))
    chex.assert_shape([proposal.train_weights, proposal.replayed], (num_envs,))
    chex.assert_type(proposal.train_weights, float)
    chex.assert_type(proposal.replayed, bool)


def check_observed(observed, num_levels: int, num_steps: int) -> None:
    """Trace-time checks (chex) of what ``Curriculum.observe`` returns: an ``Observed`` with
    scalar metrics, an integer scalar of env steps, and gradient weights (if any) per level
    ``(num_levels,)`` or per step ``(num_steps, num_levels)``."""
    if not isinstance(observed, Observed):
        raise TypeError(f"Curriculum.observe must return ued.types.Observed(state, metrics, env_steps), "
                        f"got {type(observed).__name__}")
    chex.assert_rank(list(observed.metrics.values()), 0)
    chex.assert_rank(observed.env_steps, 0)
    chex.assert_type(observed.env_steps, int)
    w = observed.train_weights
    if w is not None and tuple(w.shape) not in ((num_levels,), (num_steps, num_levels)):
        raise ValueError(f"Observed.train_weights must have shape ({num_levels},) per level or "
                         f"({num_steps}, {num_levels}) per step, got {tuple(w.shape)}")
    if w is not None:
        chex.assert_type(w, float)


SEED_AXIS = "seeds"  # the axis name of the vmap over seeds in ``Trainer.chunk``


def _any_seed(flag: jax.Array) -> tuple[jax.Array, bool]:
    """``(whether flag holds for any seed, whether this is traced inside the seed vmap)``: one
    predicate for every seed, so that a ``lax.cond`` on it stays a branch under ``vmap``."""
    try:
        return jax.lax.pmax(flag.astype(jnp.int32), SEED_AXIS) > 0, True
    except NameError:  # one seed, or outside the chunk (init runs seed by seed)
        return flag, False


def _all_finite(tree) -> jax.Array:
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree) if jnp.issubdtype(x.dtype, jnp.inexact)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.bool_(True)


class Trainer(NamedTuple):
    """The pure functions ``make_train`` returns (not yet jitted; ``ued.train`` jits them).

    Attributes:
        init: ``key -> TrainState`` (vmapped over seeds when ``num_seeds > 1``: ``keys (S,)``).
        chunk: ``(state, start_update, length=updates_per_chunk) -> (state, metrics, levels)``:
            ``length`` updates (a Python int: static under ``jit``, each value compiles once),
            numbered from ``start_update`` (an int32 scalar shared by all seeds); metrics are
            ``(length,)`` arrays (``(S, length)`` for seeds), levels the last update's proposed
            levels (as played, where the curriculum built them in the rollout: ``Observed.played``).
        evaluate: ``(params, key) -> {"named": ..., "random": ...}``: results (see
            ``make_level_evaluator``) on the level space's named held-out levels and on a fixed
            set of held-out random levels (plus ``"cvar_passes"``, the two ``(N,)`` success
            passes of ``ued.evaluate.success_passes`` for the CVaR); either entry is absent when
            not configured, and ``evaluate`` is None when neither is.
        rollout: the rollout function (see ``make_rollout_fn``).
        steps_per_update: env steps of the training rollouts in one update.
    """

    init: Callable
    chunk: Callable
    evaluate: Callable | None
    rollout: Callable
    steps_per_update: int


def _sharded_rollout(params, levels, key, steps, *, rollout_fn, shard_levels, **kwargs):
    return rollout_fn(params, shard_levels(levels), key, steps, **kwargs)


def _student_rollout(params, levels, key, steps, coplayers=None, *, rollout_fn):
    ro, _, info = rollout_fn(params, levels, key, steps, coplayers=coplayers)
    return ro, info


def _init_agent(key, *, level_space: LevelSpace, agent: Agent, optimizer):
    """A fresh agent's ``(params, opt_state)``, initialised on one observation of a sampled level."""
    k_level, k_obs, k_params = jax.random.split(key, 3)
    level = level_space.generator.sample(k_level)
    obs, _ = level_space.env.reset_to_level(k_obs, level, level_space.env.default_params)
    params = agent.init(k_params, first_obs(obs, level_space.env))
    return params, optimizer.init(params)


def _collect(params, levels, key, hook_input=None, coplayers=None, *, rollout_fn, hook, num_steps: int):
    """The rollout of one update: ``(rollout, trajectory, info)``. ``hook_input`` (the
    curriculum's state and proposal) runs the curriculum's ``StepHook`` in the rollout;
    ``coplayers`` (``Proposal.coplayers``) take the level space's co-player slots."""
    hooked = {} if hook_input is None else {"hook": hook, "hook_input": hook_input}
    return rollout_fn(params, levels, key, num_steps, coplayers=coplayers, **hooked)


def _ppo_step(params, opt_state, traj, key, weights, agents: int, *, update_agent, ppo: PPOConfig,
              num_updates: int, skip_nonfinite: bool):
    """The (weighted) PPO update on a collected trajectory; skipped when every weight is 0.
    ``weights``: per level ``(B,)`` or per step ``(T, B)``, repeated for each of a level's
    ``agents`` student columns. Returns ``(params, opt_state, metrics)``."""
    if agents > 1:
        weights = jnp.repeat(weights, agents, axis=weights.ndim - 1)
    trains = jnp.any(weights > 0)

    def skip(args):
        shape = jax.eval_shape(lambda a: update_agent(*a, traj, key, weights), args)[2]
        return (*args, jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shape))

    # under the seed vmap a per-seed predicate would turn the branch into a select that always
    # pays for the update; the predicate is "any seed trains", and the other seeds keep their state
    any_trains, seed_axis = _any_seed(trains)

    def do_update(args):
        out = update_agent(*args, traj, key, weights)
        if seed_axis:
            out = jax.tree.map(lambda new, old: jnp.where(trains, new, old), out, skip(args))
        return out

    new_params, new_opt_state, metrics = jax.lax.cond(any_trains, do_update, skip, (params, opt_state))
    finite = jnp.isfinite(metrics["loss"]) & _all_finite(new_params)
    if skip_nonfinite:
        keep = lambda new, old: jnp.where(finite, new, old)
        new_params = jax.tree.map(keep, new_params, params)
        new_opt_state = jax.tree.map(keep, new_opt_state, opt_state)
    metrics = {**metrics, "lr": learning_rate(ppo, num_updates, new_opt_state),
               "trained": trains.astype(jnp.float32), "nonfinite": (~finite).astype(jnp.float32)}
    return new_params, new_opt_state, metrics


def _train_agent(params, opt_state, levels, key, weights=None, hook_input=None, coplayers=None, *, collect, ppo_step,
                 num_envs: int) -> TrainResult:
    """One rollout and (weighted) PPO update (``Student.train``): ``collect`` then ``ppo_step``."""
    k_rollout, k_update = jax.random.split(key)
    ro, traj, info = collect(params, levels, k_rollout, hook_input, coplayers)
    weights = jnp.ones((num_envs,), jnp.float32) if weights is None else weights.astype(jnp.float32)
    params, opt_state, metrics = ppo_step(params, opt_state, traj, k_update, weights, ro.agents)
    return TrainResult(params, opt_state, ro, {**episode_metrics(ro, info), **metrics})


def _make_student(params, update, *, rollout, init_agent, train) -> Student:
    return Student(params=params, rollout=rollout, update=update, init_agent=init_agent, train=train)


def _init(key, *, curriculum: Curriculum, init_agent, make_student) -> TrainState:
    k_agent, k_cur, k_next = jax.random.split(key, 3)
    params, opt_state = init_agent(k_agent)
    cur = curriculum.init(k_cur, make_student(params, jnp.zeros((), jnp.int32)))
    return TrainState(params=params, opt_state=opt_state, curriculum=cur, key=k_next,
                      update=jnp.zeros((), jnp.int32), curriculum_env_steps=StepCount.zero())


def _one_update(state: TrainState, update_index, *, curriculum: Curriculum, collect, ppo_step, make_student,
                num_envs: int, num_steps: int):
    """One update, in the order of ``ued.types.Curriculum``: propose, collect, observe, update."""
    key, k_propose, k_train, k_observe = jax.random.split(state.key, 4)
    student = make_student(state.params, update_index)

    # PROPOSE LEVELS
    cur, levels, proposal = curriculum.propose(state.curriculum, k_propose, student)
    check_proposal(levels, proposal, num_envs)

    # COLLECT THE ROLLOUT (through the curriculum's step hook, if any) with the current policy
    k_rollout, k_update = jax.random.split(k_train)
    hook_input = None if curriculum.hook is None else (cur, proposal)  # the curriculum's hook, if it has one
    ro, traj, info = collect(state.params, levels, k_rollout, hook_input, proposal.coplayers)

    # SCORE LEVELS AND UPDATE THE CURRICULUM (it sees this update's rollout; it may set the weights)
    observed = curriculum.observe(cur, k_observe, levels, proposal, ro, student)
    check_observed(observed, num_envs, num_steps)
    if observed.played is not None:  # levels the curriculum built in the rollout: same structure as proposed
        chex.assert_trees_all_equal_shapes_and_dtypes(observed.played, levels)
    weights = (proposal.train_weights if observed.train_weights is None else observed.train_weights)
    weights = weights.astype(jnp.float32)

    # UPDATE THE AGENT on the same rollout (skipped when every weight is 0)
    params, opt_state, agent_metrics = ppo_step(state.params, state.opt_state, traj, k_update, weights, ro.agents)
    metrics = {**episode_metrics(ro, info), **agent_metrics,
               "train_fraction": jnp.mean(weights > 0).astype(jnp.float32),
               "replay_fraction": jnp.mean(proposal.replayed).astype(jnp.float32),
               "curriculum_env_steps": jnp.asarray(observed.env_steps, jnp.int32)}
    metrics.update({f"curriculum/{k}": v for k, v in observed.metrics.items()})
    new_state = TrainState(params=params, opt_state=opt_state, curriculum=observed.state, key=key,
                           update=state.update + 1,
                           curriculum_env_steps=state.curriculum_env_steps.add(observed.env_steps))
    return new_state, (metrics, levels if observed.played is None else observed.played)


def _chunk(state: TrainState, start_update, length: int | None = None, *, one_update, default_length: int):
    length = default_length if length is None else length
    indices = jnp.asarray(start_update, jnp.int32) + jnp.arange(length, dtype=jnp.int32)
    state, (metrics, levels) = jax.lax.scan(one_update, state, indices)
    return state, metrics, jax.tree.map(lambda x: x[-1], levels)


def _seeds_chunk(state, start_update, length: int | None = None, *, chunk, default_length: int):
    length = default_length if length is None else length
    return jax.vmap(lambda s, u: chunk(s, u, length), in_axes=(0, None), axis_name=SEED_AXIS)(state, start_update)


def make_evaluate(level_space: LevelSpace, agent: Agent, *, attempts: int, random_levels: int = 0,
                  shard_levels: Callable | None = None) -> Callable | None:
    """The held-out evaluation of training: ``(params, key) -> {"named": ..., "random": ...}``.

    Args:
        level_space: the ``LevelSpace`` (its named ``held_out`` levels).
        agent: the ``Agent``.
        attempts: episodes per level and policy mode.
        random_levels: the first levels of the CVaR evaluator's fixed set
            (``ued.evaluate.sample_eval_levels``), evaluated beside the named ones with the CVaR
            protocol's two sampled passes (``cvar_passes``, two ``(N,)`` success arrays); 0 for none.
        shard_levels: the sharding constraint applied to the levels (see ``make_train``).

    Returns:
        The function (results per set: see ``make_level_evaluator``), or None when the level
        space has no named held-out levels and ``random_levels`` is 0.
    """
    eval_sets = {}
    if level_space.held_out is not None:
        eval_sets["named"] = level_space.held_out
    if random_levels:
        # the first levels of the CVaR evaluator's fixed set (solvable ones where the level space knows)
        eval_sets["random"] = jax.tree.map(jnp.asarray, sample_eval_levels(level_space, random_levels)[0])
    if not eval_sets:
        return None
    evaluator = make_level_evaluator(level_space.env, agent, attempts)
    success = make_success_evaluator(level_space.env, agent, attempts, parallel_episodes=8192)
    return functools.partial(_evaluate, eval_sets=eval_sets, evaluator=evaluator, success=success,
                             place=shard_levels or (lambda levels: levels))


def evaluation_env_steps(level_space: LevelSpace, *, attempts: int, random_levels: int = 0) -> int:
    """The env steps one call of ``make_evaluate``'s function computes, at most (one seed): the
    greedy and sampled ``attempts`` episodes of ``max_episode_steps`` on each named and random
    level, and the CVaR protocol's two passes of as many episodes on the random levels."""
    named = len(level_space.held_out_names) if level_space.held_out is not None else 0
    episodes = 2 * (named + random_levels) + 2 * random_levels
    return attempts * level_space.env.max_episode_steps * episodes


def _evaluate(params, key, *, eval_sets, evaluator, success, place):
    keys = jax.random.split(key, len(eval_sets))
    out = {name: evaluator(params, place(levels), k) for (name, levels), k in zip(eval_sets.items(), keys)}
    if "random" in out:  # the CVaR protocol's two passes, exactly as ued.evaluate runs them
        out["random"]["cvar_passes"] = success_passes(success, params, eval_sets["random"], jax.random.fold_in(key, 1))
    return out


def make_train(level_space: LevelSpace, curriculum: Curriculum, agent: Agent, ppo: PPOConfig, *, num_envs: int,
               num_steps: int, num_updates: int, updates_per_chunk: int, num_seeds: int = 1,
               eval_attempts: int = 10, eval_random_levels: int = 0, skip_nonfinite: bool = False,
               shard_levels: Callable | None = None, evaluation: bool = True) -> Trainer:
    """Builds the training functions from already-instantiated components.

    Args:
        level_space: the ``LevelSpace``.
        curriculum: a ``Curriculum`` proposing ``num_envs`` levels per update.
        agent: the ``Agent``.
        ppo: PPO hyperparameters.
        num_envs: parallel environments (levels) per update.
        num_steps: rollout length per update.
        num_updates: total updates of the run (sets the learning-rate schedule).
        updates_per_chunk: updates per compiled call (the default ``length`` of ``chunk``).
        num_seeds: independent seeds trained in one compiled call (vmapped).
        eval_attempts: episodes per held-out level and policy mode.
        eval_random_levels: size of a fixed set of held-out random levels evaluated alongside
            the named ones: the first levels of the CVaR evaluator's fixed set
            (``ued.evaluate.sample_eval_levels``: solvable where known, a key no training run
            uses), with the CVaR protocol's two sampled passes (``cvar_passes``).
        skip_nonfinite: when an update's loss or new parameters are not finite, keep the
            previous parameters and optimizer state (the update is skipped). Either way the
            metric ``nonfinite`` (1.0 for such an update) lets the host stop the run.
        shard_levels: applied to every batch of levels before it is rolled out (training, the
            curriculum's own rollouts through ``Student.rollout``, evaluation): a sharding
            constraint that splits the environment axis over devices
            (``ued.run.devices.Placement.constrain_levels``); None for one device.
        evaluation: False: no held-out evaluation is built (``Trainer.evaluate`` is None).

    Returns:
        A ``Trainer``.

    Raises:
        ValueError: for non-positive sizes or PPO settings that do not fit ``num_envs``.
    """
    if not isinstance(eval_random_levels, int) or eval_random_levels < 0:
        raise ValueError(f"eval_random_levels must be a non-negative integer, got {eval_random_levels!r}")
    for name, v in (("num_envs", num_envs), ("num_steps", num_steps), ("num_updates", num_updates),
                    ("updates_per_chunk", updates_per_chunk), ("num_seeds", num_seeds)):
        check_positive_int(v, f"{name}")
    ppo.validate(num_envs)
    optimizer = make_optimizer(ppo, num_updates)
    rollout_fn = make_rollout_fn(level_space.env, agent, ppo.gamma, ppo.gae_lambda)
    if shard_levels is not None:
        rollout_fn = functools.partial(_sharded_rollout, rollout_fn=rollout_fn, shard_levels=shard_levels)
    collect = functools.partial(_collect, rollout_fn=rollout_fn, hook=curriculum.hook, num_steps=num_steps)
    ppo_step = functools.partial(_ppo_step, update_agent=ppo_update(agent, ppo, optimizer), ppo=ppo,
                                 num_updates=num_updates, skip_nonfinite=skip_nonfinite)
    init_agent = functools.partial(_init_agent, level_space=level_space, agent=agent, optimizer=optimizer)
    train_agent = functools.partial(_train_agent, collect=collect, ppo_step=ppo_step, num_envs=num_envs)
    student_rollout = functools.partial(_student_rollout, rollout_fn=rollout_fn)
    make_student = functools.partial(_make_student, rollout=student_rollout, init_agent=init_agent, train=train_agent)
    init = functools.partial(_init, curriculum=curriculum, init_agent=init_agent, make_student=make_student)
    one_update = functools.partial(_one_update, curriculum=curriculum, collect=collect, ppo_step=ppo_step,
                                   make_student=make_student, num_envs=num_envs, num_steps=num_steps)
    chunk = functools.partial(_chunk, one_update=one_update, default_length=updates_per_chunk)
    evaluate = make_evaluate(level_space, agent, attempts=eval_attempts, random_levels=eval_random_levels,
                             shard_levels=shard_levels) if evaluation else None
    if num_seeds > 1:
        # seed by seed, not vmapped: a vmapped init batches the orthogonal initialisers' QR
        # decompositions, and jaxlib's CPU kernel for a batched QR can deadlock when two run at
        # once on a small thread pool (seen with jax 0.10.2 on 2 cores: init never returned)
        init_fn = functools.partial(jax.lax.map, init)
        chunk_fn = functools.partial(_seeds_chunk, chunk=chunk, default_length=updates_per_chunk)
        eval_fn = jax.vmap(evaluate) if evaluate is not None else None
    else:
        init_fn, chunk_fn, eval_fn = init, chunk, evaluate
    return Trainer(init=init_fn, chunk=chunk_fn, evaluate=eval_fn, rollout=rollout_fn,
                   steps_per_update=num_envs * num_steps)
