"""PAIRED: a level-designing adversary rewarded with the protagonist/antagonist regret.

Source: Dennis, Jaques, Vinitsky, Bayen, Russell, Critch and Levine, "Emergent Complexity and
Zero-shot Transfer via Unsupervised Environment Design", NeurIPS 2020.

The adversary is an editor policy over a blank ``H x W`` grid (the level space's
``GridEditor``: the maze, JaxNav's and NAVIX's interiors), one cell a step, under an editing
protocol (``ued.curricula.editing``): by default JaxUED's (goal, the agent's heading where the
level has one, the agent, then ``n_walls`` wall toggles), or PAIRED's own code's
(``protocol=dcd``: goal, agent, then ``n_walls`` walls placed on free cells).
Its observation is the level designed so far as an image (walls, goal, agent), the step index
and a random noise vector.
The protagonist (the loop's agent) and an antagonist (an agent of the same architecture,
owned by this curriculum) both play the built levels; the adversary's return is the PAIRED
regret estimate ``max antagonist return - mean protagonist return`` of the level it built,
given at its last step, and it is trained with PPO like the agents.
"""

from __future__ import annotations

from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import struct

from ued.agents import PPOConfig, Trajectory, make_optimizer, ppo_update
from ued.agents.networks import categorical_agent
from ued.curricula import editing
from ued.curricula.base import level_metrics
from ued.rollout import gae
from ued.scores import paired_regret
from ued.types import Curriculum, GridEditor, LevelSpace, Observed, Proposal
from ued.utils import check_positive_int


class EditorObs(NamedTuple):
    """The adversary's observation.

    Attributes:
        image: float32 ``(H, W, 3)``: wall, goal and agent planes of the partial level.
        time: int32 ``()``, the editing step.
        noise: float32 ``(Z,)``, a random vector drawn per level.
    """

    image: jax.Array
    time: jax.Array
    noise: jax.Array


class AdversaryNet(nn.Module):
    """Conv 3x3x16 over the partial level, step embedding, noise, dense core, per-cell logits."""

    num_cells: int
    num_steps: int
    hidden: int = 64

    @nn.compact
    def __call__(self, carry, obs: EditorObs, resets):
        t, b = obs.image.shape[:2]
        x = obs.image.reshape((t * b,) + obs.image.shape[2:])
        x = nn.relu(nn.Conv(16, (3, 3), padding="SAME")(x)).reshape(t, b, -1)
        step = nn.Embed(self.num_steps, 8)(jnp.clip(obs.time, 0, self.num_steps - 1))
        x = jnp.concatenate([x, step, obs.noise], axis=-1)
        x = nn.relu(nn.Dense(self.hidden)(x))
        logits = nn.Dense(self.num_cells, kernel_init=nn.initializers.orthogonal(0.01))(x)
        value = nn.Dense(1, kernel_init=nn.initializers.orthogonal(1.0))(nn.relu(nn.Dense(32)(x)))[..., 0]
        return carry, logits, value


@struct.dataclass
class DesignTrajectory:
    """The adversary's editing episode, handed from ``propose`` to ``observe`` (``Proposal.data``).

    Attributes:
        obs: ``EditorObs`` with leading axes ``(S, B)`` (``S`` editing steps: ``editing.num_steps``).
        actions: int32 ``(S, B)``, the cells chosen.
        log_probs: float32 ``(S, B)``.
        values: float32 ``(S, B)``, the adversary's value estimates.
    """

    obs: EditorObs
    actions: jax.Array
    log_probs: jax.Array
    values: jax.Array


@struct.dataclass
class PairedState:
    """State of PAIRED.

    Attributes:
        antagonist: the antagonist's parameters.
        antagonist_opt: its optimizer state.
        adversary: the adversary's parameters.
        adversary_opt: its optimizer state.
    """

    antagonist: object
    antagonist_opt: object
    adversary: object
    adversary_opt: object


def build_levels(editor: GridEditor, actions, keys, protocol: str = "jaxued"):
    """Applies an editing episode's actions to blank grids and builds the levels.

    Args:
        editor: the level space's ``GridEditor``.
        actions: int32 ``(S, B)`` flat cell indices ``y * width + x`` (the protocol gives each
            step its role: ``ued.curricula.editing``).
        keys: ``(B,)`` keys for what the editor draws itself (e.g. the agent's heading).
        protocol: ``"jaxued"`` or ``"dcd"``.

    Returns:
        The ``B`` built levels (always valid: distinct agent and goal on free cells).
    """
    return editing.design(editor, actions, keys, protocol=protocol)[0]


def paired(level_space: LevelSpace, num_levels: int, n_walls: int = 50, noise_dim: int = 50,
           adversary_hidden: int = 64, adversary_lr: float = 1e-4, adversary_ent_coef: float = 0.005,
           adversary_epochs: int = 5, num_updates: int = 1_000_000, protocol: str = "jaxued") -> Curriculum:
    """PAIRED (Dennis et al. 2020) on a grid level space whose levels are ``MazeLevel``s.

    Args:
        level_space: the level space (its generator fixes the level shape).
        num_levels: levels per update.
        n_walls: wall steps of the adversary (50 as in PAIRED's maze).
        noise_dim: size of the adversary's random input.
        adversary_hidden: width of the adversary's dense core.
        adversary_lr, adversary_ent_coef, adversary_epochs: the adversary's PPO settings.
        num_updates: horizon of the adversary's learning-rate annealing.
        protocol: how its actions build a level: ``"jaxued"`` (default) or ``"dcd"``
            (``ued.curricula.editing``).

    Returns:
        A ``Curriculum`` over ``PairedState``; the protagonist is the loop's agent.

    Env steps: the antagonist's rollout (``num_envs x num_steps`` per update) is returned as
    ``Observed.env_steps``; the adversary's editing steps are not env steps (logged as
    ``curriculum/adversary_steps``).

    Raises:
        ValueError: for a negative ``n_walls`` or a level space without a grid.
    """
    check_positive_int(num_levels, "paired: num_levels")
    if not isinstance(n_walls, int) or n_walls < 0:
        raise ValueError(f"paired: n_walls must be a non-negative integer, got {n_walls!r}")
    editor = level_space.editor
    if editor is None:
        raise ValueError(f"paired: the {level_space.name} level space has no editor for the adversary "
                         "(LevelSpace.editor; the maze and JaxNav have one): use another curriculum")
    if protocol not in editing.PROTOCOLS:
        raise ValueError(f"paired: unknown protocol {protocol!r}; choose one of {', '.join(editing.PROTOCOLS)}")
    height, width = editor.height, editor.width
    cells, steps = height * width, editing.num_steps(protocol, n_walls, editor.headings)
    net = AdversaryNet(num_cells=cells, num_steps=steps, hidden=adversary_hidden)
    adversary = categorical_agent(net, hidden=adversary_hidden, recurrent=False)
    adv_cfg = PPOConfig(lr=adversary_lr, ent_coef=adversary_ent_coef, update_epochs=adversary_epochs)
    adv_opt = make_optimizer(adv_cfg, num_updates)
    adv_update = ppo_update(adversary, adv_cfg, adv_opt)
    regret = paired_regret()

    def observe_draft(draft: editing.Draft, t, noise):
        """The adversary's view after ``t`` editing steps: the draft as an image."""
        image = jnp.stack([draft.walls, jax.nn.one_hot(draft.goal, cells) * draft.has_goal[:, None],
                           jax.nn.one_hot(draft.agent, cells) * draft.has_agent[:, None]], axis=-1)
        b = noise.shape[0]
        return EditorObs(image=image.astype(jnp.float32).reshape(b, height, width, 3),
                         time=jnp.full((b,), t, jnp.int32), noise=noise)

    def design(params, key):
        """Runs the adversary: returns levels and its trajectory pieces."""
        k_noise, k_dir, k_steps = jax.random.split(key, 3)
        noise = jax.random.normal(k_noise, (num_levels, noise_dim))

        def step(draft, inp):
            t, k = inp
            k_act, k_edit = jax.random.split(k)
            obs = observe_draft(draft, t, noise)
            _, logits, value = adversary.apply(params, (), jax.tree.map(lambda x: x[None], obs),
                                               jnp.zeros((1, num_levels), jnp.bool_))
            logits, value = logits[0], value[0]
            action = adversary.sample(k_act, logits)
            draft = editing.edit(draft, t, action, k_edit, protocol=protocol, headings=editor.headings)
            return draft, (obs, action, adversary.log_prob(logits, action), value)

        draft, (obs, acts, logps, values) = jax.lax.scan(
            step, editing.blank(num_levels, cells), (jnp.arange(steps), jax.random.split(k_steps, steps)))
        traj = DesignTrajectory(obs=obs, actions=acts, log_probs=logps, values=values)
        return editing.build(editor, draft, jax.random.split(k_dir, num_levels)), traj

    def init(key, student):
        k_ant, k_adv, k_probe = jax.random.split(key, 3)
        ant, ant_opt = student.init_agent(k_ant)
        obs = observe_draft(editing.blank(1, cells), 0, jnp.zeros((1, noise_dim)))
        adv_params = adversary.init(k_adv, jax.tree.map(lambda x: x[0], obs))
        return PairedState(antagonist=ant, antagonist_opt=ant_opt, adversary=adv_params,
                           adversary_opt=adv_opt.init(adv_params))

    def propose(state: PairedState, key, student):
        levels, traj = design(state.adversary, key)
        proposal = Proposal(train_weights=jnp.ones((num_levels,), jnp.float32),
                            replayed=jnp.zeros((num_levels,), jnp.bool_), data=traj)
        return state, levels, proposal

    def observe(state: PairedState, key, levels, proposal: Proposal, rollout, student):
        k_ant, k_adv = jax.random.split(key)
        ant, ant_opt, ant_rollout, ant_metrics = student.train(state.antagonist, state.antagonist_opt, levels, k_ant)  # a TrainResult
        result = regret.compute((rollout, ant_rollout), levels, {})
        reward = jnp.where(result.valid, result.scores, 0.0)
        traj = proposal.data
        rewards = jnp.zeros((steps, num_levels)).at[-1].set(reward)
        dones = jnp.zeros((steps, num_levels), jnp.bool_).at[-1].set(True)
        adv, targets = gae(rewards, traj.values, dones, jnp.zeros((num_levels,)), adv_cfg.gamma, adv_cfg.gae_lambda)
        batch = Trajectory(obs=traj.obs, resets=jnp.zeros((steps, num_levels), jnp.bool_), actions=traj.actions,
                           log_probs=traj.log_probs, values=traj.values, advantages=adv, targets=targets)
        adv_params, adv_opt_state, adv_metrics = adv_update(state.adversary, state.adversary_opt, batch, k_adv,
                                                            jnp.ones((num_levels,)))
        state = PairedState(antagonist=ant, antagonist_opt=ant_opt, adversary=adv_params, adversary_opt=adv_opt_state)
        metrics = {
            "regret": jnp.mean(reward),
            "adversary_return": jnp.mean(reward),
            "adversary_entropy": adv_metrics["entropy"],
            "adversary_value_loss": adv_metrics["value_loss"],
            "antagonist_return": ant_metrics["return"],
            "antagonist_solve_rate": ant_metrics["solve_rate"],
            "adversary_steps": jnp.float32(steps * num_levels),  # steps of the editing MDP, not env steps
            **level_metrics(level_space.level_stats, levels),
        }
        # (T, B * S): an env step is one step of one environment, whatever its number of agents S
        antagonist_steps = jnp.int32(ant_rollout.rewards.size // ant_rollout.agents)
        return Observed(state, metrics, antagonist_steps)

    return Curriculum(init=init, propose=propose, observe=observe)
