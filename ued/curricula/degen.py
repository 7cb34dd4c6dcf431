"""DEGen: a generator that builds the level inside the episode, where the student looks,
rewarded with the student's per-step regret terms (MNA by default).

Source: Mead, Lacerda, Foerster and Hawes, "Improving Regret Approximation for Unsupervised
Dynamic Environment Generation", 2026 (arXiv:2601.14957).

Each update starts every environment on a blank level of the level space's ``DynamicGrid``
(only the student's start cell generated). Whenever the student's view holds cells not
generated yet, the generator, a recurrent policy of its own, acts before the student: one cell
and one tile kind per generator step (empty, wall, or the goal while none is placed), until the
view is generated; then the student steps. What is generated stays, so the student's later
episodes in the rollout replay the same level. The student trains with PPO on its real
transitions as in every curriculum; the generator trains with PPO on its own steps of the
rollout (one episode per environment and update), with a dense reward: the score's per-step
term of each student step (``Score.per_step``; MNA's ``-M_t`` of a level the student solved)
credited to the last generator step before that student step (the student steps between two
generator steps all credit the first). A score without per-step terms gives its level score at
the generator's last step instead. The generator's action is a pair of categoricals (cell of
the view, tile kind) with masks; its entropy bonus is the cell choice's entropy minus the KL
divergence of the tile choice from ``DynamicGrid.tile_prior`` (as the paper's code does).

The generator's observation (``DynamicGrid.observe``): the student's view, with what is
generated, not generated or outside the grid, the student's direction, episode time, the
generated fraction and the goal flag, and the student's value estimate of its last state.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import struct

from ued.agents import PPOConfig, Trajectory, make_optimizer, ppo_update
from ued.agents.networks import Agent, ResetRNN, _init_from_one_obs
from ued.curricula.base import check_score, level_metrics
from ued.rollout import gae
from ued.scores import mna
from ued.types import Curriculum, HookStep, LevelSpace, Observed, Proposal, Score, StepHook
from ued.utils import check_positive_int

MASKED = -1e9  # the logit of a choice the masks forbid (finite: an all-masked padding step stays finite)


class GeneratorNet(nn.Module):
    """The generator's actor-critic: a 3x3 convolution over the student's view, the features and
    the student's value, an LSTM, then actor heads for the cell (``V * V`` logits) and the tile
    kind (``K`` logits), masked, and a critic head; layer norms and tanh heads as in the paper's
    code.

    Attributes:
        view_cells: ``V * V``.
        num_tiles: ``K``.
        conv_features: channels of the convolution (32).
        hidden: LSTM units (256).
        head: width of the actor and critic heads (256).
    """

    view_cells: int
    num_tiles: int
    conv_features: int = 32
    hidden: int = 256
    head: int = 256

    @nn.compact
    def __call__(self, carry, obs, resets):
        gobs, student_value = obs
        t, b = gobs.image.shape[:2]
        x = gobs.image.astype(jnp.float32).reshape((t * b,) + gobs.image.shape[2:])
        x = nn.relu(nn.Conv(self.conv_features, (3, 3), padding="VALID", name="conv")(x)).reshape(t, b, -1)
        x = jnp.concatenate([x, gobs.features.astype(jnp.float32), student_value[..., None].astype(jnp.float32)], -1)
        carry, x = ResetRNN(self.hidden, nn.OptimizedLSTMCell, name="lstm")(carry, x, resets)
        x = nn.LayerNorm(name="core_norm")(x)
        a = nn.tanh(nn.LayerNorm(name="actor_norm")(nn.Dense(self.head, name="actor_hidden")(x)))
        small = nn.initializers.orthogonal(0.01)
        cell = nn.Dense(self.view_cells, name="cell_out", kernel_init=small)(a)
        tile = nn.Dense(self.num_tiles, name="tile_out", kernel_init=small)(a)
        c = nn.tanh(nn.LayerNorm(name="critic_norm")(nn.Dense(self.head, name="critic_hidden")(x)))
        value = nn.Dense(1, name="critic_out", kernel_init=nn.initializers.orthogonal(1.0))(c)[..., 0]
        dist = (jnp.where(gobs.cell_mask, cell, MASKED), jnp.where(gobs.tile_mask, tile, MASKED))
        return carry, dist, value


def generator_agent(net: GeneratorNet, tile_prior) -> Agent:
    """The generator as an ``Agent``: ``dist = (cell_logits (.., V*V), tile_logits (.., K))``,
    actions int32 ``(.., 2)`` (cell, tile); ``entropy`` is the cell choice's entropy minus
    ``KL(tile choice || tile_prior)``."""
    log_prior = jnp.log(jnp.asarray(tile_prior, jnp.float32))

    def initial_carry(batch: int):
        h = jnp.zeros((batch, net.hidden), jnp.float32)
        return (h, h)

    def sample(key, dist):
        k_cell, k_tile = jax.random.split(key)
        return jnp.stack([jax.random.categorical(k_cell, dist[0]), jax.random.categorical(k_tile, dist[1])],
                         axis=-1).astype(jnp.int32)

    def log_prob(dist, actions):
        pick = lambda logits, a: jnp.take_along_axis(jax.nn.log_softmax(logits), a[..., None], axis=-1)[..., 0]
        return pick(dist[0], actions[..., 0]) + pick(dist[1], actions[..., 1])

    def entropy(dist):
        lp_cell, lp_tile = jax.nn.log_softmax(dist[0]), jax.nn.log_softmax(dist[1])
        h_cell = -jnp.sum(jnp.exp(lp_cell) * lp_cell, axis=-1)
        kl_tile = jnp.sum(jnp.exp(lp_tile) * (lp_tile - log_prior), axis=-1)
        return h_cell - kl_tile

    return Agent(init=_init_from_one_obs(net, initial_carry), initial_carry=initial_carry, apply=net.apply,
                 sample=sample,
                 greedy=lambda dist: jnp.stack([jnp.argmax(dist[0], -1), jnp.argmax(dist[1], -1)], -1).astype(jnp.int32),
                 log_prob=log_prob, entropy=entropy)


@struct.dataclass
class GeneratorEpisode:
    """The generator's steps in one rollout, per environment, padded to ``G`` (the grid's cells:
    each step generates one, so no environment takes more).

    Attributes:
        obs: ``(GeneratorObs, student_value)`` with leading axes ``(G, B)``.
        actions: int32 ``(G, B, 2)``, (view cell, tile kind).
        log_probs: float32 ``(G, B)``.
        values: float32 ``(G, B)``, the generator's value estimates.
        count: int32 ``(B,)``, the steps taken (entries ``>= count`` are padding).
    """

    obs: tuple
    actions: jax.Array
    log_probs: jax.Array
    values: jax.Array
    count: jax.Array


@struct.dataclass
class GeneratorCarry:
    """The DEGen hook's carry through the student's rollout.

    Attributes:
        params: the generator's parameters.
        rnn: its recurrent state ``(B, ...)``.
        episode: the ``GeneratorEpisode`` so far.
        levels: the ``B`` levels as generated so far.
    """

    params: object
    rnn: object
    episode: GeneratorEpisode
    levels: object


@struct.dataclass
class DEGenState:
    """State of DEGen: the generator's parameters and optimizer state."""

    generator: object
    generator_opt: object


def generator_hook(level_space: LevelSpace, agent: Agent) -> StepHook:
    """The ``StepHook`` in which the generator builds the levels as the student looks.

    ``init`` starts the generator's episode on the blank levels and generates the student's
    first view; ``step`` takes the student's step, then lets the generator act (a
    ``lax.while_loop`` of generator steps, all environments together, each acting while its
    student's view has cells not generated) and hands the rollout the edited transition. Each
    student step records ``credit``: the index of the last generator step before it (-1: none).
    """
    dyn, env = level_space.dynamic, level_space.env
    capacity, view_cells = dyn.num_cells, dyn.view_cells

    def generate(carry: GeneratorCarry, key, obs, states, student_values):
        b = student_values.shape[0]
        cols = jnp.arange(b)

        def body(loop):
            i, carry, obs, states, gobs = loop
            acting = gobs.cell_mask.any(-1)
            inputs = (gobs, student_values)
            rnn, dist, value = agent.apply(carry.params, carry.rnn, jax.tree.map(lambda x: x[None], inputs),
                                           jnp.zeros((1, b), jnp.bool_))
            dist, value = jax.tree.map(lambda x: x[0], dist), value[0]
            action = agent.sample(jax.random.fold_in(key, i), dist)
            new_obs, new_states = jax.vmap(dyn.write)(states, action[:, 0], action[:, 1])
            pick = lambda new, old: jax.tree.map(
                lambda n, o: jnp.where(acting.reshape((b,) + (1,) * (n.ndim - 1)), n, o), new, old)
            ep = carry.episode
            row = jnp.where(acting, ep.count, capacity)  # out of range: dropped
            put = lambda buf, x: buf.at[row, cols].set(x, mode="drop")
            ep = ep.replace(obs=jax.tree.map(put, ep.obs, inputs), actions=put(ep.actions, action),
                            log_probs=put(ep.log_probs, agent.log_prob(dist, action)), values=put(ep.values, value),
                            count=jnp.minimum(ep.count + acting, capacity))
            states, obs = pick(new_states, states), pick(new_obs, obs)
            carry = carry.replace(rnn=pick(rnn, carry.rnn), episode=ep)
            return i + 1, carry, obs, states, jax.vmap(dyn.observe)(states)

        def more(loop):
            i, _, _, _, gobs = loop
            return (i < view_cells) & jnp.any(gobs.cell_mask)

        _, carry, obs, states, _ = jax.lax.while_loop(more, body, (jnp.int32(0), carry, obs, states, jax.vmap(dyn.observe)(states)))
        return carry.replace(levels=jax.vmap(env.get_level)(states)), obs, states

    def init(curriculum_state: DEGenState, proposal, key, obs, states):
        b = jax.tree.leaves(states)[0].shape[0]
        one = jax.eval_shape(dyn.observe, jax.tree.map(lambda x: x[0], states))  # shapes only: nothing computed
        blank_obs = (one, jax.ShapeDtypeStruct((), jnp.float32))
        pad = lambda x: jnp.zeros((capacity, b) + x.shape, x.dtype)
        episode = GeneratorEpisode(obs=jax.tree.map(pad, blank_obs), actions=jnp.zeros((capacity, b, 2), jnp.int32),
                                   log_probs=jnp.zeros((capacity, b)), values=jnp.zeros((capacity, b)),
                                   count=jnp.zeros((b,), jnp.int32))
        carry = GeneratorCarry(params=curriculum_state.generator, rnn=agent.initial_carry(b), episode=episode,
                               levels=jax.vmap(env.get_level)(states))
        return generate(carry, key, obs, states, jnp.zeros((b,), jnp.float32))

    def step(carry: GeneratorCarry, key, ctx):
        credit = carry.episode.count - 1
        obs, states, rewards, dones, info = ctx.env_step(key, ctx.states, ctx.actions)
        carry, obs, states = generate(carry, jax.random.fold_in(key, 1), obs, states, ctx.values)
        return carry, HookStep(transition=(obs, states, rewards, dones, info), record={"credit": credit})

    return StepHook(init=init, step=step)


def generator_rewards(score: Score, rollout, levels, credit, count, capacity: int):
    """The generator's rewards ``(G, B)`` from the student's rollout.

    With per-step terms (``score.per_step``), the term of each student step is added to the
    generator step ``credit`` ``(T, B)`` recorded before it (steps with ``credit < 0`` are
    dropped); otherwise the level score (where valid) goes to the last generator step,
    ``count - 1``.

    Args:
        score: the ``Score``.
        rollout: the student's ``Rollout`` ``(T, B)``.
        levels: the ``B`` levels as generated.
        credit: int32 ``(T, B)``.
        count: int32 ``(B,)``, the generator's steps.
        capacity: ``G``.

    Returns:
        float32 ``(G, B)``.
    """
    b = count.shape[0]
    extra = jax.tree.map(lambda x: jnp.broadcast_to(x, (b,) + jnp.shape(x)), score.init_extra())
    rewards = jnp.zeros((capacity, b), jnp.float32)
    if score.per_step is not None:
        terms = score.per_step(rollout, levels, extra)
        rows = jnp.where(credit >= 0, credit, capacity)
        return rewards.at[rows, jnp.broadcast_to(jnp.arange(b), rows.shape)].add(terms, mode="drop")
    result = score.compute(rollout, levels, extra)
    rows = jnp.where(count > 0, count - 1, capacity)
    return rewards.at[rows, jnp.arange(b)].add(jnp.where(result.valid, result.scores, 0.0), mode="drop")


# the generator's PPO settings: PPOConfig's field -> the curriculum's parameter (for error messages)
_GENERATOR_PPO = (("update_epochs", "generator_epochs"), ("num_minibatches", "generator_minibatches"),
                  ("gae_lambda", "generator_gae_lambda"), ("clip_eps", "generator_clip_eps"),
                  ("ent_coef", "generator_ent_coef"), ("gamma", "generator_gamma"), ("lr", "generator_lr"))


def _generator_ppo(num_levels: int, **settings) -> PPOConfig:
    """The generator's ``PPOConfig``, validated for ``num_levels`` environments; an error names the
    curriculum's parameter (``curriculum.generator_epochs``), not the agent's."""
    cfg = PPOConfig(**settings)
    try:
        cfg.validate(num_levels)
    except ValueError as err:
        message = str(err)
        for field, param in _GENERATOR_PPO:
            message = message.replace(f"agent.ppo.{field}", f"curriculum.{param}")
        raise ValueError(f"degen: {message}") from None
    return cfg


def _generator_batch(ep, rewards, cfg: PPOConfig):
    """The generator's PPO batch from its episodes (one per level, ``ep.count`` steps of the
    ``C`` cells): ``(Trajectory (C, B), live (C, B) float32)``, GAE over each episode's steps and
    ``live`` masking the steps after its end."""
    capacity, num_levels = rewards.shape
    rows = jnp.arange(capacity)[:, None]
    live = rows < ep.count[None, :]
    adv, targets = gae(rewards, ep.values, rows >= ep.count[None, :] - 1, jnp.zeros((num_levels,)),
                       cfg.gamma, cfg.gae_lambda)
    batch = Trajectory(obs=ep.obs, resets=jnp.broadcast_to(rows == 0, live.shape), actions=ep.actions,
                       log_probs=ep.log_probs, values=ep.values, advantages=adv, targets=targets)
    return batch, live.astype(jnp.float32)


def degen(level_space: LevelSpace, num_levels: int, score: Score | None = None, generator_lr: float = 1e-3,
          generator_ent_coef: float = 0.05, generator_gamma: float = 0.99, generator_gae_lambda: float = 0.95,
          generator_clip_eps: float = 0.2, generator_epochs: int = 4, generator_minibatches: int = 4,
          generator_hidden: int = 256, generator_head: int = 256, generator_conv: int = 32,
          num_updates: int = 1_000_000) -> Curriculum:
    """DEGen (Mead et al. 2026) on a level space with a ``DynamicGrid`` (``env=dynamic_maze``).

    Args:
        level_space: the level space; its ``dynamic`` builds levels.
        num_levels: parallel environments.
        score: the student's score whose per-step terms reward the generator (default MNA with
            the maze literature's gamma and lambda; the YAML passes the run's).
        generator_lr, generator_ent_coef, generator_gamma, generator_gae_lambda,
            generator_clip_eps, generator_epochs, generator_minibatches: the generator's PPO
            (the paper's code: 1e-3, 0.05, 0.99, 0.95, 0.2, 4, 4); its learning rate anneals
            to 0 over ``num_updates``.
        generator_hidden, generator_head, generator_conv: its widths (256, 256, 32).
        num_updates: horizon of the annealing.

    Returns:
        A ``Curriculum`` over ``DEGenState`` with a ``StepHook``; no stored levels; the levels as
        generated are ``Observed.played`` (shown in media). Generator steps are not env steps
        (``Observed.env_steps`` is 0; ``curriculum/generator_steps`` logs them).

    Raises:
        ValueError: the level space has no ``DynamicGrid``, or bad sizes or PPO settings.
        TypeError: ``score`` is not a ``Score``.
    """
    if level_space.dynamic is None:
        raise ValueError(f"degen needs a level space whose levels are generated while they are played "
                         f"(LevelSpace.dynamic), and {level_space.name} has none; choose env=dynamic_maze")
    check_positive_int(num_levels, "degen: num_levels")
    for name, v in (("generator_hidden", generator_hidden), ("generator_head", generator_head),
                    ("generator_conv", generator_conv)):
        check_positive_int(v, f"degen: {name}")
    score = check_score(score, "degen", level_space, mna)
    dyn = level_space.dynamic
    cfg = _generator_ppo(num_levels, lr=generator_lr, gamma=generator_gamma, gae_lambda=generator_gae_lambda,
                         clip_eps=generator_clip_eps, ent_coef=generator_ent_coef, update_epochs=generator_epochs,
                         num_minibatches=generator_minibatches)
    net = GeneratorNet(view_cells=dyn.view_cells, num_tiles=len(dyn.tile_names), conv_features=generator_conv,
                       hidden=generator_hidden, head=generator_head)
    agent = generator_agent(net, dyn.tile_prior)
    optimizer = make_optimizer(cfg, num_updates)
    update = ppo_update(agent, cfg, optimizer)
    hook = generator_hook(level_space, agent)
    capacity = dyn.num_cells

    def init(key, student):
        k_level, k_params = jax.random.split(key)
        _, state = level_space.env.reset_to_level(k_level, dyn.blank(k_level), level_space.env.default_params)
        params = agent.init(k_params, (dyn.observe(state), jnp.zeros((), jnp.float32)))
        return DEGenState(generator=params, generator_opt=optimizer.init(params))

    def propose(state: DEGenState, key, student):
        levels = jax.vmap(dyn.blank)(jax.random.split(key, num_levels))
        return state, levels, Proposal(train_weights=jnp.ones((num_levels,), jnp.float32),
                                       replayed=jnp.zeros((num_levels,), jnp.bool_))

    def observe(state: DEGenState, key, levels, proposal, rollout, student):
        carry: GeneratorCarry = rollout.hook_carry
        ep = carry.episode
        rewards = generator_rewards(score, rollout, carry.levels, rollout.hook["credit"], ep.count, capacity)
        batch, live = _generator_batch(ep, rewards, cfg)
        params, opt_state, m = update(state.generator, state.generator_opt, batch, key, live)
        metrics = {
            "generator_return": jnp.mean(jnp.sum(rewards, axis=0)),
            "generator_steps": jnp.mean(ep.count.astype(jnp.float32)),
            "generator_entropy": m["entropy"],
            "generator_value_loss": m["value_loss"],
            "generator_policy_loss": m["policy_loss"],
            **level_metrics(level_space.level_stats, carry.levels),
        }
        return Observed(DEGenState(generator=params, generator_opt=opt_state), metrics, jnp.zeros((), jnp.int32),
                        played=carry.levels)

    return Curriculum(init=init, propose=propose, observe=observe, hook=hook)
