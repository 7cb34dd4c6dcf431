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

from typing import Any, Callable, NamedTuple, Optional, Union

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
    """A continuous action space; actions are float32 arrays of ``shape``; ``low``/``high``
    are scalars or per-dimension tuples."""

    low: Any
    high: Any
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


class GridEditor(NamedTuple):
    """How a level-designing adversary (PAIRED) builds levels on a grid of cells.

    Attributes:
        height: rows of the editable grid.
        width: columns.
        build: ``(walls (H, W) bool, goal (2,) int32 (x, y), agent (2,) int32 (x, y), key)
            -> level``: the level with those walls and the goal and agent in those cells
            (distinct, free: the editor guarantees it); ``key`` draws what the editor does
            not choose (e.g. the agent's heading). One level per call.
    """

    height: int
    width: int
    build: Callable[[Array, Array, Array, Key], Level]


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


# ---------------------------------------------------------------------------------------
# Level spaces: what a config's ``env=`` selects
# ---------------------------------------------------------------------------------------
class LevelSpace(NamedTuple):
    """Everything the loop, curricula and evaluator need to know about a level space.

    Attributes:
        env: the ``LevelEnv``.
        generator: random levels (domain randomisation).
        mutator: ACCEL edits, or None where the space has none.
        held_out: named held-out evaluation levels, leaves with leading axis ``N``
            (padded to the generator's shape), or None.
        held_out_names: their names, ``N`` strings.
        level_stats: ``levels (B, ...) -> dict of (B,) arrays`` of per-level statistics for
            logging (e.g. walls, shortest path, solvability); jittable.
        render: ``level -> uint8 (H, W, 3)`` image of one level (jittable), or None.
        name: a short identifier.
        render_episode: ``(level, trace (T, 4)) -> uint8 (T, H, W, 3)`` frames from an
            evaluation trace of ``(x, y, dir, done)`` rows (jittable), or None.
        editor: a ``GridEditor`` for level-designing adversaries (PAIRED), or None.
        eval_generator: where evaluation's random levels come from (the CVaR evaluator's fixed
            set and training's held-out random levels) when they must be kept apart from
            training's (XLand's test split of a ruleset benchmark); None: ``generator``.
    """

    env: LevelEnv
    generator: LevelGenerator
    mutator: Optional[Mutator]
    held_out: Optional[Level]
    held_out_names: tuple
    level_stats: Callable[[Level], dict]
    render: Optional[Callable[[Level], Array]]
    name: str
    render_episode: Optional[Callable[[Level, Array], Array]] = None
    editor: Optional[GridEditor] = None
    eval_generator: Optional[LevelGenerator] = None


# ---------------------------------------------------------------------------------------
# Curricula
# ---------------------------------------------------------------------------------------
CurriculumState = PyTree


class Student(NamedTuple):
    """The agent as a curriculum sees it (read-only), and tools to run agents like it.

    Attributes:
        params: the agent's current parameters.
        rollout: ``(params, levels, key, num_steps) -> (Rollout, episode_info)``: rolls an
            agent of the student's architecture (any ``params``) out on ``B`` levels for
            ``num_steps`` (a static int) with auto-replay, as the training loop does.
            Curricula use it for extra passes (SFL's learnability sampling, PAIRED's
            antagonist).
        update: int32 ``()``, the index of the current update in the run. It is the same for
            every seed (not vmapped), so schedules built on it stay real conditionals.
        init_agent: ``key -> (params, opt_state)`` of a fresh agent of the same architecture.
        train: ``(params, opt_state, levels, key) -> (params, opt_state, rollout, metrics)``:
            one rollout and PPO update of such an agent on ``num_envs`` levels, exactly as the
            loop trains the student (PAIRED trains its antagonist with it).
    """

    params: PyTree
    rollout: Callable
    update: Array
    init_agent: Callable
    train: Callable


class Curriculum(NamedTuple):
    """What the training loop sees of a curriculum (DR, PLR, ACCEL, SFL, ...).

    The loop is: ``propose`` levels -> roll the agent out on them -> ``observe`` the rollout
    (score levels, update buffers) -> PPO update weighted by ``proposal.train_weights``.
    The loop never branches on which curriculum it runs.

    Attributes:
        init: ``(key, student) -> state`` (the student gives the agent's architecture, e.g.
            for PAIRED's antagonist).
        propose: ``(state, key, student) -> (state, levels, proposal)``; ``levels`` has
            leading axis ``num_levels`` (the number of parallel environments).
        observe: ``(state, key, levels, proposal, rollout, student) -> (state, metrics)``;
            ``metrics`` is a flat dict of scalars logged every update (the loop adds
            ``curriculum/`` to their names).
    """

    init: Callable[[Key, Student], CurriculumState]
    propose: Callable[[CurriculumState, Key, Student], tuple]
    observe: Callable[..., tuple]
