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
from flax import struct

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
        max_episode_steps: the episode time limit (a Python int): every episode ends within
            this many steps, so evaluators that play whole episodes run this long.
        num_agents: ``N``, the agents acting in one environment (1: a one-agent level space,
            whose observations, actions and outputs have no agent axis). With ``N > 1`` the
            observation leaves, the action, ``reward``, ``done`` and the ``info`` entries above
            carry a leading agent axis ``N`` (``episode_length`` too). The agents of a level
            start and end their episodes together (``done`` is equal over the agents; an agent
            that finishes early waits for the others), and ``solved`` says whether *that* agent
            achieved its goal, so a level's success is the fraction of its agents that did.
            Rollouts fold the agents into the batch (``B`` levels give ``B * N`` columns,
            level-major) and one parameter set acts in every slot (IPPO with shared parameters).
        coplayer_slots: the last ``C`` agent slots are a co-player's when a curriculum brings one
            (``Proposal.coplayers``: a two-player game's opponent); 0 where the level space has no
            co-player role. Without a co-player the student acts in every slot (self-play).

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
    max_episode_steps: int
    num_agents: int = 1
    coplayer_slots: int = 0


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
        build: ``(walls (H, W) bool, goal (2,) int32 (x, y), agent (2,) int32 (x, y), key,
            heading int32 ()) -> level``: the level with those walls and the goal and agent in
            those cells (distinct, free: the editor guarantees it), the agent facing ``heading``
            (in ``[0, headings)``; -1: drawn with ``key``); ``key`` draws what the editor does
            not choose. One level per call.
        headings: how many discrete start headings ``build`` takes (4 on the maze's grid; 0 where
            a level has none or a continuous one, which ``build`` draws itself).
    """

    height: int
    width: int
    build: Callable[[Array, Array, Array, Key, Array], Level]
    headings: int = 0


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
            ``(protagonist, antagonist)``), ``levels`` the ``B`` levels played, ``extra`` the
            levels' memory (``init_extra()`` for new levels). On a level space with several
            agents the rollout has ``B * S`` columns (``Rollout.agents = S``, the student's
            agents of each level) and scores stay per level: each agent's episodes are reduced,
            then averaged over the level's agents (``ued.rollout.level_episodes``: learnability's
            ``p`` is the fraction of the agents' episodes that reached their goals; the regrets
            are averaged over the agents, MaxMC's best return is that of the agents' mean return).
        init_extra: ``() -> extra`` for one level that has never been played (``{}`` for
            memoryless scores).
        name: a short identifier, used in logs.
        bind: ``level_space -> Score`` for a score that needs facts about the level space
            (the oracle's optimal return; a categorical policy for least confidence), or None.
            Curricula call it through ``ued.curricula.check_score`` when they are built, so a
            score that cannot work on a level space is refused before anything compiles
            (``ValueError`` naming the score, the level space and what is missing).
        rollouts: what ``compute`` scores: ``"student"`` (one ``Rollout`` of the student) or
            ``"pair"`` (``(protagonist, antagonist)``, PAIRED's regret). A curriculum that
            cannot supply it refuses the score.
        per_step: ``(rollout, levels, extra) -> float32 (T, B * S)``, per column, the per-step terms the score
            is made of (averaged per episode by the value-loss family, summed by MNA), for
            curricula that credit single steps (DEGen's dense generator reward); None for a
            score that has no per-step form (learnability, regrets of whole episodes).
    """

    compute: Callable[[Any, Level, Extra], ScoreResult]
    init_extra: Callable[[], Extra]
    name: str
    bind: Optional[Callable[["LevelSpace"], "Score"]] = None
    rollouts: str = "student"
    per_step: Optional[Callable[[Any, Level, Extra], Array]] = None


# ---------------------------------------------------------------------------------------
# Level buffers
# ---------------------------------------------------------------------------------------
BufferState = PyTree


class LevelBuffer(NamedTuple):
    """A prioritised level replay buffer: batched, fixed capacity, flashbax-style (PLR, ACCEL).

    Levels enter one by one (``insert``), a full buffer replaces the level it would least
    likely replay (``plr_buffer``'s ``eviction``), replayed levels are re-scored (``update``),
    and ``sample`` draws by priority, one level after another.

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
        capacity: the number of levels it holds (a Python int, for size checks before tracing).
    """

    init: Callable[..., BufferState]
    insert: Callable[..., BufferState]
    update: Callable[..., BufferState]
    sample: Callable[[BufferState, Key, int], tuple[BufferState, Array, Level]]
    weights: Callable[[BufferState], Array]
    ready: Callable[[BufferState], Array]
    capacity: int


class TopKBuffer(NamedTuple):
    """A top-K level buffer (SFL): each ``refill`` replaces the whole contents with the ``K``
    best levels of a large scored batch; ``sample`` is uniform. Not a replay buffer: nothing is
    re-scored or replaced level by level, so curricula that need one refuse the other.

    Attributes:
        init: ``(level, extra={}) -> state`` from single placeholders.
        refill: ``(state, levels, scores, extras=None, valid=None) -> state``; keeps the ``K``
            highest-scoring valid levels of the ``N >= K`` given (leading axis ``N``).
        sample: ``(state, key, num) -> (state, indices, levels)``, uniform over stored levels.
        weights: ``state -> (K,)`` sampling probabilities.
        ready: ``state -> bool ()``, whether it holds a level.
        capacity: ``K`` (a Python int).
    """

    init: Callable[..., BufferState]
    refill: Callable[..., BufferState]
    sample: Callable[[BufferState, Key, int], tuple[BufferState, Array, Level]]
    weights: Callable[[BufferState], Array]
    ready: Callable[[BufferState], Array]
    capacity: int


# ---------------------------------------------------------------------------------------
# Aleatoric parameters (SAMPLR)
# ---------------------------------------------------------------------------------------
class Aleatoric(NamedTuple):
    """The aleatoric part of a level space: the parameters of a level that are chance, not
    design (which fruit rewards, a coin an opponent tosses), with their ground-truth
    distribution. A curriculum may choose them (it stores whole levels), which shifts their
    distribution away from the real one (curriculum-induced covariate shift, Jiang et al. 2022);
    SAMPLR trains on transitions in which they are redrawn from the ground truth instead.

    Attributes:
        names: the parameters' names, ``P`` strings (for metrics).
        of_level: ``level -> float32 (P,)``, a single level's aleatoric parameters.
        prior: ``(key, level) -> level``, the level with its aleatoric parameters drawn from
            their ground-truth prior (everything else unchanged).
        posterior: ``(key, env_state) -> env_state``, the episode state with its aleatoric
            parameters drawn from their exact posterior under the ground-truth prior given the
            episode so far (everything the agent has seen); the rest of the state unchanged.
            Stepping that state is a fictitious transition from the belief the prior implies.
    """

    names: tuple
    of_level: Callable[[Level], Array]
    prior: Callable[[Key, Level], Level]
    posterior: Callable[[Key, EnvState], EnvState]


# ---------------------------------------------------------------------------------------
# Levels generated while they are played (DEGen)
# ---------------------------------------------------------------------------------------
class GeneratorObs(NamedTuple):
    """What a generator acting inside the episode sees of one environment (DEGen).

    Attributes:
        image: float32 ``(V, V, C)``: the cells of the student's view in the student's frame,
            one channel per tile kind, one for "not generated yet" and one for "outside the grid".
        features: float32 ``(F,)``: the student's direction (one-hot), its episode time and
            the generated fraction of the grid (both in [0, 1]), and whether the goal is placed.
        cell_mask: bool ``(V * V,)``: the view cells that may be written (inside the grid, not
            generated yet).
        tile_mask: bool ``(K,)``: the tile kinds that may be written now.
    """

    image: Array
    features: Array
    cell_mask: Array
    tile_mask: Array


class DynamicGrid(NamedTuple):
    """How a grid level space's levels are generated while the student plays them: the level
    starts with only the start cell generated, and a generator writes tiles into cells of the
    student's view that are not generated yet (Mead et al. 2026, DEGen). Single environments;
    vmap at the call site.

    Attributes:
        blank: ``key -> level``: a level whose only generated cell is the agent's start cell
            (random start pose), no goal placed.
        observe: ``env_state -> GeneratorObs``, what the generator sees.
        write: ``(env_state, cell, tile) -> (obs, env_state)``: generates view cell ``cell``
            (int32 ``()``, an index into the flattened ``V x V`` view) as tile kind ``tile``
            (int32 ``()``) in the state's level (kept by auto-replay for the student's next
            episodes) and returns the student's observation of the new state. A cell that may
            not be written (``cell_mask`` False) or a tile that may not (``tile_mask`` False:
            a second goal) leaves the state unchanged.
        view_cells: ``V * V``, the cells of the student's view.
        num_cells: the cells of the whole grid (at most this many can be generated).
        tile_names: the ``K`` tile kinds, e.g. ``("empty", "wall", "goal")``.
        tile_prior: ``K`` probabilities the generator's entropy bonus pulls its tile choice
            toward (Mead et al.: ``(0.495, 0.495, 0.01)`` for empty, wall, goal).
    """

    blank: Callable[[Key], Level]
    observe: Callable[[EnvState], GeneratorObs]
    write: Callable[[EnvState, Array, Array], tuple]
    view_cells: int
    num_cells: int
    tile_names: tuple
    tile_prior: tuple


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
        optimal_return: ``level -> float32 ()``, the best return achievable on a level (the
            maze's solver), or None where it is not computable; the oracle score needs it.
        aleatoric: the level's chance parameters and their ground-truth distribution (an
            ``Aleatoric``), or None where every level parameter is design (SAMPLR needs it).
        dynamic: how levels are generated while they are played (a ``DynamicGrid``), or None
            (DEGen needs it).
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
    optimal_return: Optional[Callable[[Level], Array]] = None
    aleatoric: Optional[Aleatoric] = None
    dynamic: Optional[DynamicGrid] = None


# ---------------------------------------------------------------------------------------
# Curricula
# ---------------------------------------------------------------------------------------
CurriculumState = PyTree


class TrainResult(NamedTuple):
    """What ``Student.train`` returns.

    Attributes:
        params: the agent's parameters after the update.
        opt_state: its optimizer state after the update.
        rollout: the ``Rollout`` it was updated on (before the update).
        metrics: float32 scalars of the rollout and the update (``loss``, ``return``, ...).
    """

    params: PyTree
    opt_state: PyTree
    rollout: Any
    metrics: dict


class Student(NamedTuple):
    """The agent as a curriculum sees it (read-only), and tools to run agents like it.

    Attributes:
        params: the agent's current parameters.
        rollout: ``(params, levels, key, num_steps) -> (Rollout, episode_info)``: rolls an
            agent of the student's architecture (any ``params``) out on ``B`` levels for
            ``num_steps`` (a static int) with auto-replay, as the training loop does.
            Curricula use it for extra passes (SFL's learnability sampling, PAIRED's
            antagonist). A keyword ``coplayers`` (as ``Proposal.coplayers``) seats co-players.
        update: int32 ``()``, the index of the current update in the run. It is the same for
            every seed (not vmapped), so schedules built on it stay real conditionals.
        init_agent: ``key -> (params, opt_state)`` of a fresh agent of the same architecture.
        train: ``(params, opt_state, levels, key) -> TrainResult``: one rollout and PPO update
            of such an agent on ``num_envs`` levels, exactly as the loop trains the student
            (PAIRED trains its antagonist with it).
    """

    params: PyTree
    rollout: Callable
    update: Array
    init_agent: Callable
    train: Callable


@struct.dataclass
class Proposal:
    """How a batch of proposed levels is to be used.

    Attributes:
        train_weights: float32 ``(B,)``, the gradient weight of each level's rollout
            (0: the agent does not learn from it, as for robust PLR's fresh levels).
        replayed: bool ``(B,)``, which levels came from a buffer (for metrics).
        data: what ``propose`` hands to ``observe``, typed per curriculum: a
            ``flax.struct.dataclass`` of arrays the curriculum defines (``ReplayChoice``,
            ``SFLChoice``, PAIRED's ``DesignTrajectory``), or None.
        coplayers: the co-players of this batch (MAESTRO, self-play baselines): ``M`` parameter
            sets of the student's architecture stacked on a leading axis ``M`` (``M`` divides
            ``B``); the levels are ``M`` contiguous groups of ``B / M`` and group ``m`` plays
            against ``coplayers[m]`` in the level space's ``coplayer_slots``, which the student
            then leaves (it keeps the first ``N - C`` slots). None: the student acts in every
            slot. Co-players act with their sampled policy and are never trained by the loop;
            their forward pass is one ``vmap`` over the ``M`` parameter sets.
    """

    train_weights: Array
    replayed: Array
    data: Any = None
    coplayers: Any = None


class Observed(NamedTuple):
    """What ``Curriculum.observe`` returns.

    Attributes:
        state: the curriculum's new state.
        metrics: a flat dict of float32 scalars, logged every update as ``curriculum/<name>``.
        env_steps: int32 ``()``, environment steps the curriculum spent in this update beyond
            the training rollout (SFL's sampling pass, PAIRED's antagonist rollout); 0 when it
            spent none. The loop adds it to ``TrainState.curriculum_env_steps`` and logs it.
            Count every ``LevelEnv.step`` of every environment; the contract test does.
        played: the ``num_levels`` levels as the student played them, where the curriculum built
            them inside the rollout (DEGen's generated levels), or None: the proposed levels.
            What the loop returns as the update's levels (``media/proposed_*.png``).
        train_weights: float32 gradient weights of this update's PPO step, set from this
            update's rollout: per level ``(num_levels,)`` or per step ``(num_steps, num_levels)``;
            they replace ``Proposal.train_weights``. None (the default) keeps the proposal's.
    """

    state: CurriculumState
    metrics: dict
    env_steps: Array
    played: Optional[Level] = None
    train_weights: Optional[Array] = None


class TopLevels(NamedTuple):
    """A curriculum's highest-scoring stored levels (what it shows in ``media/``), best first.

    Attributes:
        levels: leaves with leading axis ``K`` (``K`` static).
        scores: float32 ``(K,)``.
        valid: bool ``(K,)``, False for empty slots (fewer than ``K`` levels stored).
    """

    levels: Level
    scores: Array
    valid: Array


@struct.dataclass
class TrainTransition:
    """A transition PPO learns from in place of the one the rollout took (SAMPLR's fictitious
    transitions): same state and action, another outcome. Batched over ``B`` environments.

    Attributes:
        reward: float32 ``(B,)``.
        done: bool ``(B,)``, the fictitious episode ended with this step.
        obs: the fictitious next observation, leaves with leading axis ``B`` (its value is the
            bootstrap of the fictitious target).
    """

    reward: Array
    done: Array
    obs: Obs


class StepContext(NamedTuple):
    """What the rollout gives a ``StepHook`` at each step (batched over ``B`` environments).

    Attributes:
        states: the env states the student acts in.
        actions: the student's actions.
        values: float32 ``(B,)``, the student's value estimates ``V(s_t)``.
        env_step: ``(key, states, actions) -> (obs, states, rewards, dones, info)``: the level
            space's step for the batch, with auto-replay, exactly as the rollout takes it
            (``key`` is split over the batch inside).
    """

    states: EnvState
    actions: Array
    values: Array
    env_step: Callable


class HookStep(NamedTuple):
    """What ``StepHook.step`` returns besides its carry.

    Attributes:
        transition: ``(obs, states, rewards, dones, info)``, the step the rollout continues
            from (usually ``env_step``'s, possibly edited: a generator writing cells).
        train: a ``TrainTransition`` PPO learns from instead of ``transition``, or None.
        record: a pytree with leading axis ``B`` (or None), stacked over the rollout's steps into
            ``Rollout.hook`` (leading axes ``(T, B)``) for ``Curriculum.observe``.
    """

    transition: tuple
    train: Optional[TrainTransition] = None
    record: PyTree = None


class StepHook(NamedTuple):
    """A curriculum's hook into its training rollout: it runs at every step of the student's
    rollout, inside the one loop (DEGen's generator placing tiles as the student looks; SAMPLR's
    fictitious transitions). The curriculum owns it (``Curriculum.hook``); the loop calls it on
    the training rollout of every update and nowhere else, so the curriculum's extra passes
    (``Student.rollout``) and evaluation see the level space as it is.

    Attributes:
        init: ``(curriculum_state, proposal, key, obs, states) -> (carry, obs, states)``:
            the hook's carry for the rollout (any pytree: a generator's recurrent state and
            parameters), and the first observations and states (edited or as given); ``obs``
            and ``states`` are batched over ``B``.
        step: ``(carry, key, StepContext) -> (carry, HookStep)``. The carry after the last
            step reaches ``observe`` as ``Rollout.hook_carry`` (a generator's whole episode).
    """

    init: Callable
    step: Callable


class Curriculum(NamedTuple):
    """What the training loop sees of a curriculum (DR, PLR, ACCEL, SFL, PAIRED, ...).

    The loop is, in this order: ``propose`` levels -> roll the agent out on them -> ``observe``
    the rollout (score levels, update buffers, optionally set ``Observed.train_weights``) ->
    PPO update on that same rollout, weighted by ``Observed.train_weights`` where set, else by
    ``proposal.train_weights``. ``observe`` sees the student before its update. The loop never
    branches on which curriculum it runs.

    The contract (checked for every YAML in ``conf/curriculum/`` by ``tests/test_contract.py``):

    - all state lives in the pytree ``init`` returns (checkpoints save it; nothing on the host);
    - ``propose`` returns ``num_levels`` levels (the number of parallel environments) and a
      ``Proposal`` of ``(num_levels,)`` arrays;
    - ``observe`` returns ``Observed``: finite float scalars as metrics, and every env step it
      (or ``propose``) spent beyond the training rollout in ``env_steps``;
    - the components a curriculum is built from (a ``Score``, a ``LevelBuffer`` or
      ``TopKBuffer``) are checked by type in its factory (``TypeError`` naming what was given),
      and its YAML's defaults list names the component groups it uses (``/score``,
      ``/buffer``); a configuration that selects a group the curriculum does not list is
      refused before anything is built.

    Attributes:
        init: ``(key, student) -> state`` (the student gives the agent's architecture, e.g.
            for PAIRED's antagonist).
        propose: ``(state, key, student) -> (state, levels, proposal)``.
        observe: ``(state, key, levels, proposal, rollout, student) -> Observed``; ``rollout``
            is the student's ``Rollout`` on ``levels`` (before its update).
        top_levels: ``(state, count) -> TopLevels`` (``count`` static), the levels the
            curriculum rates highest, rendered in ``media/top_levels_*.png``; None for a
            curriculum that keeps no levels (DR, PAIRED).
        hook: a ``StepHook`` the training rollout calls at every step, or None. Its records
            reach ``observe`` as ``rollout.hook``; an env step it takes beyond the rollout's own
            (a fictitious transition) is counted in ``Observed.env_steps`` like any other.
    """

    init: Callable[[Key, Student], CurriculumState]
    propose: Callable[[CurriculumState, Key, Student], tuple]
    observe: Callable[..., Observed]
    top_levels: Optional[Callable[[CurriculumState, int], TopLevels]] = None
    hook: Optional[StepHook] = None
