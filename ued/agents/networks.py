"""Actor-critic networks and the ``Agent`` interface the training loop uses.

The default is the maze actor-critic of the UED literature (PLR, ACCEL, JaxUED): a 3x3
convolution with 16 channels over the egocentric view, an embedding of the agent's
direction, an LSTM with 256 units whose state is reset at episode boundaries, and separate
actor and critic heads of 32 units. ``recurrent=False`` gives the feed-forward variant.

Networks take time-major sequences: observations with leading axes ``(T, B)``, and ``resets``
bool ``(T, B)`` saying that step ``t`` starts a new episode (the recurrent state is zeroed
before processing it). A rollout calls them with ``T = 1``; training with the whole sequence.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from ued.types import Box, Discrete
from ued.utils import check_positive_int


class ResetRNN(nn.Module):
    """A recurrent cell over a ``(T, B, F)`` sequence that zeroes its state where ``resets`` is True.

    Attributes:
        features: the cell's width.
        cell_type: a flax cell: ``nn.OptimizedLSTMCell`` (carry ``(c, h)``, each
            ``(B, features)``) or ``nn.GRUCell`` (carry ``(B, features)``).
    """

    features: int
    cell_type: type = nn.OptimizedLSTMCell

    @nn.compact
    def __call__(self, carry, x, resets):
        cell = self.cell_type(self.features)

        def step(cell, carry, inputs):
            xt, reset = inputs
            carry = jax.tree.map(lambda c: jnp.where(reset[:, None], jnp.zeros_like(c), c), carry)
            return cell(carry, xt)

        scan = nn.scan(step, variable_broadcast="params", split_rngs={"params": False})
        return scan(cell, carry, (x, resets))


def _check_sizes(**sizes) -> None:
    for name, v in sizes.items():
        check_positive_int(v, f"agent.{name}")


class ActorCritic(nn.Module):
    """The maze actor-critic.

    Attributes:
        num_actions: size of the discrete action space.
        conv_features: channels of the 3x3 convolution (16).
        dir_embed: size of the direction embedding (5; 0 disables it).
        hidden: LSTM units (256), or the width of the dense core when not recurrent.
        head: width of the actor and critic heads (32).
        recurrent: use the LSTM core.
    """

    num_actions: int
    conv_features: int = 16
    dir_embed: int = 5
    hidden: int = 256
    head: int = 32
    recurrent: bool = True

    @nn.compact
    def __call__(self, carry, obs, resets):
        image, direction = obs.image, obs.agent_dir
        t, b = image.shape[:2]
        x = image.astype(jnp.float32).reshape((t * b,) + image.shape[2:])
        x = nn.relu(nn.Conv(self.conv_features, (3, 3), padding="VALID", name="conv")(x))
        x = x.reshape(t, b, -1)
        if self.dir_embed:
            x = jnp.concatenate([x, nn.Embed(4, self.dir_embed, name="dir_embed")(direction)], axis=-1)
        if self.recurrent:
            carry, x = ResetRNN(self.hidden, nn.OptimizedLSTMCell, name="lstm")(carry, x, resets)
        else:
            x = nn.relu(nn.Dense(self.hidden, name="core")(x))
        actor = nn.relu(nn.Dense(self.head, name="actor_hidden")(x))
        logits = nn.Dense(self.num_actions, name="actor_out", kernel_init=nn.initializers.orthogonal(0.01))(actor)
        critic = nn.relu(nn.Dense(self.head, name="critic_hidden")(x))
        value = nn.Dense(1, name="critic_out", kernel_init=nn.initializers.orthogonal(1.0))(critic)[..., 0]
        return carry, logits, value


class Agent(NamedTuple):
    """What the training loop needs from an agent.

    Attributes:
        init: ``(key, obs) -> params`` from a single unbatched observation.
        initial_carry: ``batch -> carry`` (zeros; ``()``-leaved when feed-forward).
        apply: ``(params, carry, obs, resets) -> (carry, dist, values)`` over ``(T, B)``
            sequences; ``dist`` parameterises the action distribution, ``values`` ``(T, B)``.
        sample: ``(key, dist) -> actions``.
        greedy: ``dist -> actions`` (the mode).
        log_prob: ``(dist, actions) -> (T, B)``.
        entropy: ``dist -> (T, B)``.
    """

    init: Callable[[Any, Any], Any]
    initial_carry: Callable[[int], Any]
    apply: Callable
    sample: Callable
    greedy: Callable
    log_prob: Callable
    entropy: Callable


def step_agent(agent: Agent, params, carry, obs, first, key, greedy: bool = False):
    """Applies an agent to one time step of ``B`` environments: the one place every rollout,
    evaluator and curriculum turns observations into actions.

    Args:
        agent: the ``Agent``.
        params: its parameters.
        carry: its recurrent state for ``B`` environments (``initial_carry(B)``).
        obs: observations with leading axis ``B``.
        first: bool ``(B,)``, the step starts an episode (the recurrent state is zeroed).
        key: PRNG key for sampling (unused when ``greedy``).
        greedy: take the mode instead of sampling (static).

    Returns:
        ``(carry, action, dist, value)``: the new recurrent state, actions ``(B, ...)``, the
        distribution's parameters and the values ``(B,)``.
    """
    carry, dist, value = agent.apply(params, carry, jax.tree.map(lambda x: x[None], obs), first[None])
    dist, value = jax.tree.map(lambda x: x[0], dist), value[0]
    action = agent.greedy(dist) if greedy else agent.sample(key, dist)
    return carry, action, dist, value


def _init_from_one_obs(network: nn.Module, initial_carry: Callable) -> Callable:
    """``(key, obs) -> params``: initialises ``network`` on one unbatched observation (a ``(1, 1)`` sequence)."""

    def init(key, obs):
        seq = jax.tree.map(lambda x: jnp.asarray(x)[None, None], obs)
        return network.init(key, initial_carry(1), seq, jnp.zeros((1, 1), jnp.bool_))

    return init


def categorical_agent(network: nn.Module, hidden: int, recurrent: bool, cell: str = "lstm") -> Agent:
    """Wraps a network producing logits into an ``Agent`` with a categorical policy.

    ``cell`` is the network's recurrent cell (``"lstm"``: carry ``(c, h)``; ``"gru"``: ``h``),
    each ``(B, hidden)``.
    """

    def initial_carry(batch: int):
        if not recurrent:
            return ()
        h = jnp.zeros((batch, hidden), jnp.float32)
        return (h, h) if cell == "lstm" else h

    def log_prob(logits, actions):
        logp = jax.nn.log_softmax(logits)
        return jnp.take_along_axis(logp, actions[..., None].astype(jnp.int32), axis=-1)[..., 0]

    def entropy(logits):
        logp = jax.nn.log_softmax(logits)
        return -jnp.sum(jnp.exp(logp) * logp, axis=-1)

    return Agent(
        init=_init_from_one_obs(network, initial_carry),
        initial_carry=initial_carry,
        apply=network.apply,
        sample=lambda key, logits: jax.random.categorical(key, logits).astype(jnp.int32),
        greedy=lambda logits: jnp.argmax(logits, axis=-1).astype(jnp.int32),
        log_prob=log_prob,
        entropy=entropy,
    )


def maze_agent(action_space: Discrete, conv_features: int = 16, dir_embed: int = 5, hidden: int = 256,
               head: int = 32, recurrent: bool = True) -> Agent:
    """The maze actor-critic (see ``ActorCritic``) as an ``Agent``.

    Args:
        action_space: the env's ``Discrete`` action space.
        conv_features, dir_embed, hidden, head, recurrent: see ``ActorCritic``.

    Raises:
        ValueError: for non-positive sizes or a non-discrete action space.
    """
    if not isinstance(action_space, Discrete):
        raise ValueError(f"maze_agent needs a Discrete action space, got {action_space!r}; "
                         "for continuous actions (env=jaxnav) use agent=jaxnav")
    _check_sizes(conv_features=conv_features, hidden=hidden, head=head)
    if not isinstance(dir_embed, int) or dir_embed < 0:
        raise ValueError(f"agent.dir_embed must be a non-negative integer, got {dir_embed!r}")
    net = ActorCritic(num_actions=action_space.n, conv_features=conv_features, dir_embed=dir_embed,
                      hidden=hidden, head=head, recurrent=recurrent)
    return categorical_agent(net, hidden, recurrent)


class VectorActorCritic(nn.Module):
    """Actor-critic for vector observations (JaxNav's LiDAR, gymnax's classic control).

    ``obs (T, B, F)`` -> dense ``embed`` (ReLU) -> GRU ``hidden`` (reset at episode starts;
    a dense ``hidden`` layer (ReLU) when not ``recurrent``) -> actor head (dense ``head``,
    ReLU, dense to the logits or the action mean) and critic head (dense ``head``, ReLU,
    dense to the value). For continuous actions the log standard deviation is a learned
    state-independent vector. SFL (Rutherford et al., 2024) uses a 512 dense layer and a 512
    GRU for JaxNav; JaxUED's gymnax example a 64 dense layer and a 256 GRU.

    Attributes:
        action_dim: the number of discrete actions, or the size of a continuous action.
        continuous: a diagonal Gaussian policy (else categorical).

    Returns ``(carry, logits (T, B, A), value (T, B))``, or with ``continuous``
    ``(carry, (mean (T, B, A), log_std (T, B, A)), value (T, B))``.
    """

    action_dim: int
    embed: int = 512
    hidden: int = 512
    head: int = 512
    recurrent: bool = True
    continuous: bool = True

    @nn.compact
    def __call__(self, carry, obs, resets):
        x = nn.relu(nn.Dense(self.embed, name="embed")(obs.astype(jnp.float32)))
        if self.recurrent:
            carry, x = ResetRNN(self.hidden, nn.GRUCell, name="gru")(carry, x, resets)
        a = nn.relu(nn.Dense(self.head, name="actor_hidden")(x))
        out = nn.Dense(self.action_dim, name="actor_mean" if self.continuous else "actor_out",
                       kernel_init=nn.initializers.orthogonal(0.01))(a)
        c = nn.relu(nn.Dense(self.head, name="critic_hidden")(x))
        value = nn.Dense(1, name="critic")(c)[..., 0]
        if not self.continuous:
            return carry, out, value
        log_std = self.param("log_std", nn.initializers.zeros, (self.action_dim,))
        return carry, (out, jnp.broadcast_to(log_std, out.shape)), value


GaussianActorCritic = VectorActorCritic  # the continuous case (its parameter names are unchanged)


def gaussian_agent(network: nn.Module, hidden: int, recurrent: bool) -> Agent:
    """Wraps a network producing ``(mean, log_std)`` into an ``Agent`` with a diagonal Gaussian policy.

    The env receives the raw sample (the env clips it to its limits, as JaxNav does);
    ``greedy`` is the mean.
    """

    def initial_carry(batch: int):
        return jnp.zeros((batch, hidden), jnp.float32) if recurrent else ()

    def sample(key, dist):
        mean, log_std = dist
        return mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape)

    def log_prob(dist, actions):
        mean, log_std = dist
        z = (actions - mean) * jnp.exp(-log_std)
        return jnp.sum(-0.5 * z**2 - log_std - 0.5 * jnp.log(2 * jnp.pi), axis=-1)

    def entropy(dist):
        _, log_std = dist
        return jnp.sum(log_std + 0.5 * (1.0 + jnp.log(2 * jnp.pi)), axis=-1)

    return Agent(init=_init_from_one_obs(network, initial_carry), initial_carry=initial_carry, apply=network.apply,
                 sample=sample,
                 greedy=lambda dist: dist[0], log_prob=log_prob, entropy=entropy)


def vector_agent(action_space, embed: int = 64, hidden: int = 256, head: int = 64, recurrent: bool = True) -> Agent:
    """``VectorActorCritic`` as an ``Agent``: categorical over a ``Discrete`` action space,
    a diagonal Gaussian over a ``Box`` (gymnax's CartPole and Acrobot; Pendulum).

    The defaults are JaxUED's gymnax example's widths (dense 64, GRU 256, heads 64).

    Raises:
        ValueError: for non-positive sizes or an unknown action space.
    """
    _check_sizes(embed=embed, hidden=hidden, head=head)
    if isinstance(action_space, Box):
        net = VectorActorCritic(action_dim=int(np.prod(action_space.shape)), embed=embed, hidden=hidden, head=head,
                                recurrent=recurrent, continuous=True)
        return gaussian_agent(net, hidden, recurrent)
    if isinstance(action_space, Discrete):
        net = VectorActorCritic(action_dim=action_space.n, embed=embed, hidden=hidden, head=head,
                                recurrent=recurrent, continuous=False)
        return categorical_agent(net, hidden, recurrent, cell="gru")
    raise ValueError(f"vector_agent needs a Discrete or Box action space, got {action_space!r}")


def lidar_agent(action_space, embed: int = 512, hidden: int = 512, head: int = 512, recurrent: bool = True) -> Agent:
    """The JaxNav agent: ``VectorActorCritic`` with a Gaussian policy as an ``Agent``.

    Raises:
        ValueError: for non-positive sizes or a non-continuous action space.
    """
    if not isinstance(action_space, Box):
        raise ValueError(f"lidar_agent needs a continuous (Box) action space, got {action_space!r}; "
                         "for the maze use agent=lstm or agent=ff")
    return vector_agent(action_space, embed=embed, hidden=hidden, head=head, recurrent=recurrent)


def random_agent(action_space: Discrete) -> Agent:
    """A uniformly random policy over a discrete action space, as an ``Agent`` (no parameters;
    values 0), so the demo and benchmarks roll it out with the training rollout.

    Its action is shifted by a checksum of the observation (still uniform), so that, as with a
    real policy, XLA cannot skip computing the observations.
    """
    if not isinstance(action_space, Discrete):
        raise ValueError(f"random_agent needs a Discrete action space, got {action_space!r}")
    n = action_space.n

    def apply(params, carry, obs, resets):
        leaves = jax.tree.leaves(obs)
        t, b = leaves[0].shape[:2]
        checksum = sum(x.reshape(t, b, -1).astype(jnp.int32).sum(-1) for x in leaves)
        return carry, {"checksum": checksum}, jnp.zeros((t, b), jnp.float32)

    def sample(key, dist):
        return ((jax.random.randint(key, dist["checksum"].shape, 0, n) + dist["checksum"]) % n).astype(jnp.int32)

    log_n = float(np.log(n))
    return Agent(
        init=lambda key, obs: {},
        initial_carry=lambda batch: (),
        apply=apply,
        sample=sample,
        greedy=lambda dist: jnp.zeros(dist["checksum"].shape, jnp.int32),
        log_prob=lambda dist, actions: jnp.full(actions.shape, -log_n, jnp.float32),
        entropy=lambda dist: jnp.full(dist["checksum"].shape, log_n, jnp.float32),
    )
