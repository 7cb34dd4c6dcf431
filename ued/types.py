"""Core interfaces shared by every ued component.

Every component is a small factory returning a ``NamedTuple`` of pure functions (in the
style of optax). The training loop only ever sees these interfaces, so adding a level space,
a score, a buffer or a curriculum never needs an edit to the loop.

Conventions used in the shapes below:
    ``L``  a single level (any pytree of arrays; vmap at the call site for batches)
    ``B``  a batch dimension (levels, environments)
    ``T``  a time dimension (rollout steps)
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Union

import jax

Array = jax.Array
Key = jax.Array  # a typed key from ``jax.random.key`` (or a legacy uint32[2] key)
PyTree = Any
Level = PyTree  # a single level; batched levels are the same pytree with a leading axis
EnvState = PyTree
EnvParams = PyTree
Obs = PyTree


# ---------------------------------------------------------------------------------------
# Action spaces
# ---------------------------------------------------------------------------------------
class Discrete(NamedTuple):
    """A discrete action space ``{0, ..., n - 1}``; actions are int32 scalars."""

    n: int


class Box(NamedTuple):
    """A continuous action space; actions are float32 arrays of ``shape``."""

    low: float
    high: float
    shape: tuple[int, ...]


ActionSpace = Union[Discrete, Box]


# ---------------------------------------------------------------------------------------
# Level-parameterised environments
# ---------------------------------------------------------------------------------------
class LevelEnv(NamedTuple):
    """A level-parameterised environment: it resets to an explicitly given level.

    All functions are pure, jittable and act on a *single* environment; batch with
    ``jax.vmap`` at the call site (levels, states, actions and keys batched, params shared).

    Attributes:
        reset_to_level: ``(key, level, params) -> (obs, state)``. Starts an episode on
            ``level``. The returned state must keep the level so that wrappers (auto-replay)
            can reset to it again.
        step: ``(key, state, action, params) -> (obs, state, reward, done, info)``.
            ``reward`` is a float32 scalar, ``done`` a bool scalar. ``info`` is a dict with
            at least:

            - ``"solved"``: bool scalar, True on the step that achieves the level's goal
              (the binary outcome used by learnability-style scores);
            - ``"episode_return"``: float32 scalar, the undiscounted return of the episode
              that ends on this step (meaningful where ``done``, 0 elsewhere);
            - ``"episode_length"``: int32 scalar, its number of steps (likewise).

            After ``done`` the state is terminal; use a wrapper from ``ued.envs.wrappers``
            to continue (auto-replay or auto-reset).
        default_params: the environment's dynamic parameters (a pytree, shared across
            the batch), e.g. the episode time limit.
        action_space: a ``Discrete`` or ``Box``.
        get_level: ``state -> level``, the level an episode state is playing.
        name: a short identifier, used in logs.

    To adapt another level space (JaxNav, XLand-MiniGrid, a gymnax environment with
    parameterised resets), implement these five functions; nothing else in ued needs to
    change. See ``ued/envs/README.md``.
    """

    reset_to_level: Callable[[Key, Level, EnvParams], tuple[Obs, EnvState]]
    step: Callable[[Key, EnvState, Array, EnvParams], tuple[Obs, EnvState, Array, Array, dict]]
    default_params: EnvParams
    action_space: ActionSpace
    get_level: Callable[[EnvState], Level]
    name: str


class LevelGenerator(NamedTuple):
    """Samples random levels (domain randomisation).

    Attributes:
        sample: ``key -> level``. One level per key; ``jax.vmap`` over keys for a batch.
    """

    sample: Callable[[Key], Level]


class Mutator(NamedTuple):
    """Edits levels (ACCEL-style).

    Attributes:
        mutate: ``(key, level) -> level``. One level per call; ``jax.vmap`` for a batch.
            The result is always a valid level.
    """

    mutate: Callable[[Key, Level], Level]


# ---------------------------------------------------------------------------------------
# Level scores
# ---------------------------------------------------------------------------------------
Extra = PyTree  # per-level memory a score keeps between rollouts (e.g. the best return)


class ScoreResult(NamedTuple):
    """What a score returns for a batch of ``B`` levels.

    Attributes:
        scores: float32 ``(B,)``; 0 where not ``valid``.
        valid: bool ``(B,)``; False where the rollout gave no evidence to score the level
            (e.g. no completed episode). Buffers neither insert nor re-score such levels,
            so they never win prioritisation by accident.
        extra: the per-level memory after this rollout, leaves with leading axis ``B``.
    """

    scores: Array
    valid: Array
    extra: Extra


class Score(NamedTuple):
    """A level score (regret approximation, learnability, ...).

    Attributes:
        compute: ``(rollout, levels, extra) -> ScoreResult``. ``rollout`` is a
            ``ued.rollout.Rollout`` of ``(T, B)`` arrays (PAIRED takes a pair
            ``(protagonist, antagonist)``), ``levels`` the ``B`` levels played (used by the
            oracle score), ``extra`` the levels' memory (``init_extra()`` for new levels).
        init_extra: ``() -> extra`` for one level that has never been played (``{}`` for
            memoryless scores).
        name: a short identifier, used in logs.
    """

    compute: Callable[[Any, Level, Extra], ScoreResult]
    init_extra: Callable[[], Extra]
    name: str


# ---------------------------------------------------------------------------------------
# Level buffers
# ---------------------------------------------------------------------------------------
BufferState = PyTree


class LevelBuffer(NamedTuple):
    """A batched, fixed-capacity store of levels with scores (flashbax-style).

    Attributes:
        init: ``(level, extra={}) -> state``; ``level`` and ``extra`` are single
            placeholders that fix the stored shapes.
        insert: ``(state, levels, scores, extras=None, valid=None) -> state``; adds ``B``
            new levels (leading axis ``B``).
        update: ``(state, indices, scores, extras=None, valid=None) -> state``; re-scores
            the stored levels at ``indices`` ``(B,)`` after they were replayed.
        sample: ``(state, key, num) -> (state, indices, levels)``; draws ``num`` levels by
            the buffer's weights (``num`` static).
        weights: ``state -> (capacity,)`` sampling probabilities (non-negative, sum to 1
            once the buffer holds a level).
        ready: ``state -> bool ()``, whether the buffer is filled enough to replay from.
    """

    init: Callable[..., BufferState]
    insert: Callable[..., BufferState]
    update: Callable[..., BufferState]
    sample: Callable[[BufferState, Key, int], tuple[BufferState, Array, Level]]
    weights: Callable[[BufferState], Array]
    ready: Callable[[BufferState], Array]
