"""Records reference implementations' outputs on generated cases into ``tests/data/``.

Run it in a side environment that has the reference installed (ued itself is not needed), e.g.::

    python3 -m venv /tmp/ref-venv
    /tmp/ref-venv/bin/pip install jaxued==0.0.1 "jax[cpu]==0.4.30" chex==0.1.86 flax==0.8.5 gymnax==0.0.8 six "numpy<2"
    /tmp/ref-venv/bin/python experiments/record_references.py plr

JaxUED 0.0.1 (the PyPI release) was written against jax 0.4 (``jax.tree_map``,
``jax.nn.softmax(initial=...)``), hence the pinned jax. The tests that replay the recordings
(``tests/buffers/test_plr_reference.py``) need neither jaxued nor this jax.

Cases:
  plr  JaxUED's ``LevelSampler``: long traces of insert_batch / sample_replay_levels / update_batch
       on toy levels (an id and a small grid) from a pool small enough to repeat, with scores rounded
       so that ties occur; after every operation the stored levels, scores, timestamps, size, episode
       count and replay weights (arrays ``<case>/<field>`` with a leading operation axis; ``kind`` 0
       insert, 1 sample, 2 update). -> tests/data/plr_jaxued.npz
  mutator  JaxUED's maze mutator (``make_level_mutator_minimax``) at 5 and 20 edits on 3,000 of its
       own 13x13, 25-wall mazes: the parents and each child's edit statistics (walls changed, the
       wall count's change, goal / agent / direction moved). -> tests/data/maze_mutator_jaxued.npz
  gymnax  JaxUED's CartPole, Acrobot and Pendulum level spaces: the held-out levels' parameters and
       the generator's levels for fixed keys. -> tests/data/gymnax_jaxued.npz
  maze  JaxUED's Maze on its own levels under random actions: every step's observation, reward
       and done. -> tests/data/maze_env_jaxued.npz
  editor  JaxUED's MazeEditor (PAIRED's designer) on generated action sequences: the levels they
       build. -> tests/data/maze_editor_jaxued.npz
  sfl  the SFL paper's code (a checkout: --sfl-repo): its per-level episode outcomes, learnability and
       top-K selection on generated rollouts. -> tests/data/sfl_reference.npz
"""

from __future__ import annotations

import argparse
import os

import numpy as np

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "tests", "data")

# (name, LevelSampler kwargs, number of operations, with a max_return extra)
PLR_CASES = [
    ("rank_dup", dict(capacity=16, staleness_coeff=0.3, minimum_fill_ratio=0.5, prioritization="rank",
                      prioritization_params={"temperature": 0.3}, duplicate_check=True), 60, True),
    ("rank_nodup", dict(capacity=12, staleness_coeff=0.5, minimum_fill_ratio=0.5, prioritization="rank",
                        prioritization_params={"temperature": 1.0}, duplicate_check=False), 60, False),
    ("topk_dup", dict(capacity=16, staleness_coeff=0.3, minimum_fill_ratio=0.5, prioritization="topk",
                      prioritization_params={"k": 4}, duplicate_check=True), 60, False),
    ("rank_nostale", dict(capacity=10, staleness_coeff=0.0, minimum_fill_ratio=1.0, prioritization="rank",
                          prioritization_params={"temperature": 0.5}, duplicate_check=True), 40, True),
]
BATCH = 6
POOL = 40  # level ids: small enough that levels repeat


def _pool_levels(ids):
    """Toy levels: an id and a 3x3 grid derived from it (two leaves, as a real level has)."""
    ids = np.asarray(ids, np.int32)
    grid = ((ids[:, None] * np.arange(1, 10)[None]) % 7 < 3).reshape(-1, 3, 3)
    return {"id": ids, "grid": grid}


def record_plr(out_path: str) -> None:
    import jax
    import jax.numpy as jnp

    if not hasattr(jax, "tree_map"):
        raise SystemExit("jaxued 0.0.1 needs jax 0.4 (jax.tree_map); see this script's docstring")
    from jaxued.level_sampler import LevelSampler

    # jax >= 0.5 (which ued needs) draws random bits the "partitionable" way; jax 0.4 can too, so the
    # recorded samples are the ones the same keys give under ued's jax
    jax.config.update("jax_threefry_partitionable", True)

    arrays = {}
    for name, kwargs, num_ops, with_extra in PLR_CASES:
        rng = np.random.default_rng([7, len(name), sum(map(ord, name))])
        sampler_obj = LevelSampler(**kwargs)
        placeholder = jax.tree_util.tree_map(lambda x: jnp.asarray(x[0]), _pool_levels([0]))
        extra0 = {"max_return": jnp.float32(-jnp.inf)} if with_extra else None
        sampler = sampler_obj.initialize(placeholder, extra0)
        insert = jax.jit(sampler_obj.insert_batch)
        sample = jax.jit(sampler_obj.sample_replay_levels, static_argnums=2)
        update = jax.jit(sampler_obj.update_batch)
        weights = jax.jit(sampler_obj.level_weights)
        kinds, recs, last_indices = [], {}, None
        for t in range(num_ops):
            size = int(sampler["size"])
            if last_indices is not None and rng.random() < 0.9:
                kind = "update"  # a replay is followed by its re-scoring, as in the loop
            elif size < kwargs["capacity"] // 2:
                kind = "insert"
            else:
                kind = str(rng.choice(["insert", "sample"]))
            scores = np.round(rng.normal(size=BATCH), 1).astype(np.float32)
            extra = np.round(rng.normal(size=BATCH), 2).astype(np.float32)
            ex = {"max_return": jnp.asarray(extra)} if with_extra else None
            ids = rng.integers(0, POOL, size=BATCH).astype(np.int32)
            key = np.asarray(jax.random.PRNGKey(int(rng.integers(0, 2**31))), np.uint32)
            indices = np.zeros(BATCH, np.int32)
            if kind == "insert":
                sampler, _ = insert(sampler, jax.tree_util.tree_map(jnp.asarray, _pool_levels(ids)),
                                    jnp.asarray(scores), ex)
                last_indices = None
            elif kind == "sample":
                sampler, (idx, _) = sample(sampler, jnp.asarray(key), BATCH)
                indices = last_indices = np.asarray(idx, np.int32)
            else:
                indices = last_indices
                sampler = update(sampler, jnp.asarray(last_indices), jnp.asarray(scores), ex)
                last_indices = None
            kinds.append(kind)
            rec = dict(kind=np.int32(("insert", "sample", "update").index(kind)), ids=ids, scores=scores, extra=extra,
                       key=key, indices=indices,
                       after_ids=np.asarray(sampler["levels"]["id"], np.int32),
                       after_scores=np.asarray(sampler["scores"], np.float32),
                       after_timestamps=np.asarray(sampler["timestamps"], np.int32),
                       after_size=np.int32(sampler["size"]), after_count=np.int32(sampler["episode_count"]),
                       after_weights=np.asarray(weights(sampler), np.float32))
            if with_extra:
                rec["after_extra"] = np.asarray(sampler["levels_extra"]["max_return"], np.float32)
            for k, v in rec.items():
                recs.setdefault(k, []).append(v)
        for k, v in kwargs.items():
            if k == "prioritization_params":
                for pk, pv in v.items():
                    arrays[f"{name}/param_{pk}"] = np.asarray(pv)
            else:
                arrays[f"{name}/{k}"] = np.asarray(v)
        arrays[f"{name}/with_extra"] = np.bool_(with_extra)
        for k, v in recs.items():
            arrays[f"{name}/{k}"] = np.stack(v)
        print(f"{name}: {num_ops} operations ({', '.join(f'{k} {kinds.count(k)}' for k in ('insert', 'sample', 'update'))}),"
              f" final size {int(sampler['size'])}, episode count {int(sampler['episode_count'])}")
    np.savez_compressed(out_path, **arrays)
    print(f"wrote {out_path} ({os.path.getsize(out_path)} bytes)")


MUTATOR_CASES = [("edits5", 5), ("edits20", 20)]  # JaxUED's maze example uses 5, ACCEL's maze 20
MUTATOR_PARENTS = 3000


def record_mutator(out_path: str) -> None:
    """JaxUED's ``make_level_mutator_minimax`` on 13x13 mazes with 25 walls from its own generator:
    the parents (packed wall bits, positions) and, per child, how many wall cells changed, the
    change in the wall count, and whether the goal, agent or direction moved."""
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_threefry_partitionable", True)
    from jaxued.environments.maze.util import make_level_generator, make_level_mutator_minimax

    gen = jax.jit(jax.vmap(make_level_generator(13, 13, 25)))
    parents = gen(jax.random.split(jax.random.PRNGKey(11), MUTATOR_PARENTS))
    arrays = {"parent_walls": np.packbits(np.asarray(parents.wall_map).reshape(MUTATOR_PARENTS, -1), axis=1),
              "parent_goal": np.asarray(parents.goal_pos, np.int32), "parent_agent": np.asarray(parents.agent_pos, np.int32),
              "parent_dir": np.asarray(parents.agent_dir, np.int32)}
    for name, n in MUTATOR_CASES:
        mutate = make_level_mutator_minimax(100)
        children = jax.jit(jax.vmap(lambda k, lv: mutate(k, lv, n)))(
            jax.random.split(jax.random.PRNGKey(100 + n), MUTATOR_PARENTS), parents)
        pw, cw = np.asarray(parents.wall_map), np.asarray(children.wall_map)
        arrays[f"{name}/num_edits"] = np.int32(n)
        arrays[f"{name}/walls_changed"] = (pw != cw).reshape(MUTATOR_PARENTS, -1).sum(1).astype(np.int32)
        arrays[f"{name}/wall_delta"] = (cw.reshape(MUTATOR_PARENTS, -1).sum(1) - pw.reshape(MUTATOR_PARENTS, -1).sum(1)).astype(np.int32)
        arrays[f"{name}/goal_moved"] = np.any(np.asarray(children.goal_pos) != np.asarray(parents.goal_pos), axis=1)
        arrays[f"{name}/agent_moved"] = np.any(np.asarray(children.agent_pos) != np.asarray(parents.agent_pos), axis=1)
        arrays[f"{name}/dir_changed"] = np.asarray(children.agent_dir) != np.asarray(parents.agent_dir)
        on_goal = np.asarray(children.wall_map)[np.arange(MUTATOR_PARENTS), children.goal_pos[:, 1], children.goal_pos[:, 0]]
        assert not on_goal.any()
        print(f"mutator {name}: mean walls changed {arrays[f'{name}/walls_changed'].mean():.3f}, goal moved "
              f"{arrays[f'{name}/goal_moved'].mean():.3f}, agent moved {arrays[f'{name}/agent_moved'].mean():.3f}")
    np.savez_compressed(out_path, **arrays)
    print(f"wrote {out_path} ({os.path.getsize(out_path)} bytes)")


GYMNAX_FIELDS = {"cartpole": ("length", "masspole"), "acrobot": ("link_length_1", "link_mass_1"),
                 "pendulum": ("l", "m")}


def record_gymnax(out_path: str) -> None:
    """JaxUED's classic-control level spaces: each system's held-out levels (the varied length and
    mass of every level, the default system last) and its generator's levels for 512 keys."""
    import importlib

    import jax

    jax.config.update("jax_threefry_partitionable", True)
    arrays = {}
    for name, (length, mass) in GYMNAX_FIELDS.items():
        mod = importlib.import_module(f"jaxued.environments.gymnax.{name}")
        levels, names = mod.make_eval_levels_and_names()
        arrays[f"{name}/held_out"] = np.stack([np.asarray(getattr(levels, length)), np.asarray(getattr(levels, mass))], 1)
        arrays[f"{name}/held_out_last_is_default"] = np.bool_(names[-1] == "default")
        sample = jax.jit(jax.vmap(mod.make_level_generator()))
        drawn = sample(jax.random.split(jax.random.PRNGKey(3), 512))
        arrays[f"{name}/generated"] = np.stack([np.asarray(getattr(drawn, length)), np.asarray(getattr(drawn, mass))], 1)
        print(f"gymnax {name}: {len(names)} held-out levels, generated range "
              f"[{arrays[f'{name}/generated'].min():.3f}, {arrays[f'{name}/generated'].max():.3f}]")
    np.savez_compressed(out_path, **arrays)
    print(f"wrote {out_path} ({os.path.getsize(out_path)} bytes)")


MAZE_LEVELS, MAZE_STEPS = 64, 300


def record_maze(out_path: str) -> None:
    """JaxUED's ``Maze`` (13x13, view 5) on 64 of its generator's 25-wall levels under random
    actions for 300 steps, restarting a level's episode when it ends: every step's egocentric
    image, direction, reward and done."""
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_threefry_partitionable", True)
    from jaxued.environments.maze import Maze
    from jaxued.environments.maze.util import make_level_generator

    env = Maze(max_height=13, max_width=13, agent_view_size=5, normalize_obs=False)
    params = env.default_params
    levels = jax.vmap(make_level_generator(13, 13, 25))(jax.random.split(jax.random.PRNGKey(21), MAZE_LEVELS))
    rng = np.random.default_rng(21)
    # mostly forward moves, so that agents reach goals within the episode limit
    actions = rng.choice(7, size=(MAZE_STEPS, MAZE_LEVELS), p=[0.2, 0.2, 0.5, 0.025, 0.025, 0.025, 0.025])

    def run(level, acts, key):
        obs, state = env.reset_to_level(key, level, params)

        def step(carry, a):
            obs, state = carry
            o2, s2, r, d, _ = env.step_env(key, state, a, params)
            o3, s3 = env.reset_to_level(key, level, params)
            new = jax.tree_util.tree_map(lambda x, y: jax.lax.select(d, x, y), (o3, s3), (o2, s2))
            return new, (obs.image, obs.agent_dir, r, d)

        _, out = jax.lax.scan(step, (obs, state), acts)
        return out

    images, dirs, rewards, dones = jax.jit(jax.vmap(run, in_axes=(0, 1, 0)))(
        levels, jnp.asarray(actions, jnp.int32), jax.random.split(jax.random.PRNGKey(22), MAZE_LEVELS))
    arrays = {"wall_map": np.packbits(np.asarray(levels.wall_map).reshape(MAZE_LEVELS, -1), axis=1),
              "goal_pos": np.asarray(levels.goal_pos, np.int32), "agent_pos": np.asarray(levels.agent_pos, np.int32),
              "agent_dir": np.asarray(levels.agent_dir, np.int32), "actions": actions.astype(np.int8),
              "images": np.asarray(images, np.uint8), "dirs": np.asarray(dirs, np.int8),
              "rewards": np.asarray(rewards, np.float32), "dones": np.asarray(dones, bool)}
    print(f"maze: {MAZE_LEVELS} levels x {MAZE_STEPS} steps, {int(arrays['dones'].sum())} episodes ended, "
          f"{int((arrays['rewards'] > 0).sum())} solved")
    np.savez_compressed(out_path, **arrays)
    print(f"wrote {out_path} ({os.path.getsize(out_path)} bytes)")


EDITOR_SEQUENCES, EDITOR_STEPS = 400, 50  # JaxUED's maze_paired: adv_num_steps 50 on 13x13


def record_editor(out_path: str) -> None:
    """JaxUED's ``MazeEditor`` (PAIRED's level designer in its maze example) stepped from its empty
    13x13 level through generated action sequences: step 0 the goal cell, step 1 a heading (the
    editor's action mask allows 0-3 there), step 2 the agent cell (one sequence in ten on the goal's
    cell), then wall toggles drawn from a few cells so that cells are toggled more than once."""
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_threefry_partitionable", True)
    from jaxued.environments.maze import Maze
    from jaxued.environments.maze.env_editor import MazeEditor
    from jaxued.environments.maze.level import Level

    env = Maze(max_height=13, max_width=13, agent_view_size=5, normalize_obs=True)
    editor = MazeEditor(env)
    empty = Level(wall_map=jnp.zeros((13, 13), jnp.bool_), goal_pos=jnp.array([0, 0], jnp.uint32),
                  agent_pos=jnp.array([1, 1], jnp.uint32), agent_dir=jnp.array(0, jnp.uint8), width=13, height=13)
    rng = np.random.default_rng(50)
    cells = 13 * 13
    actions = rng.integers(0, cells, size=(EDITOR_SEQUENCES, EDITOR_STEPS))
    actions[:, 1] = rng.integers(0, 4, size=EDITOR_SEQUENCES)
    on_goal = rng.random(EDITOR_SEQUENCES) < 0.1
    actions[on_goal, 2] = actions[on_goal, 0]
    few = rng.integers(0, cells, size=(EDITOR_SEQUENCES, 12))  # repeated cells: toggled on and off
    pick = rng.random((EDITOR_SEQUENCES, EDITOR_STEPS - 3)) < 0.5
    actions[:, 3:] = np.where(pick, np.take_along_axis(few, rng.integers(0, 12, pick.shape), 1), actions[:, 3:])
    actions[:EDITOR_SEQUENCES // 10, 3:6] = actions[:EDITOR_SEQUENCES // 10, [0, 2, 0]]  # toggles on goal / agent

    def run(seq, key):
        _, state = editor.reset_env_to_level(key, empty, editor.default_params)

        def step(state, inp):
            a, k = inp
            _, state, _, _, _ = editor.step_env(k, state, a, editor.default_params)
            return state, None

        state, _ = jax.lax.scan(step, state, (seq, jax.random.split(key, EDITOR_STEPS)))
        return state.level

    levels = jax.jit(jax.vmap(run))(jnp.asarray(actions, jnp.int32), jax.random.split(jax.random.PRNGKey(9), EDITOR_SEQUENCES))
    arrays = {"actions": actions.astype(np.int16), "agent_on_goal": on_goal,
              "wall_map": np.packbits(np.asarray(levels.wall_map).reshape(EDITOR_SEQUENCES, -1), axis=1),
              "goal_pos": np.asarray(levels.goal_pos, np.int32), "agent_pos": np.asarray(levels.agent_pos, np.int32),
              "agent_dir": np.asarray(levels.agent_dir, np.int32)}
    print(f"editor: {EDITOR_SEQUENCES} sequences of {EDITOR_STEPS} steps, mean walls "
          f"{np.asarray(levels.wall_map).reshape(EDITOR_SEQUENCES, -1).sum(1).mean():.1f}")
    np.savez_compressed(out_path, **arrays)
    print(f"wrote {out_path} ({os.path.getsize(out_path)} bytes)")


SFL_CASES = [("paper_like", 256, 512, 64), ("short", 60, 512, 100)]  # (name, rollout steps T, levels B, K)


def _sfl_outcomes_fn(sfl_repo: str):
    """The SFL code's own per-level episode outcomes (``_calc_outcomes_by_agent`` of
    ``sfl/train/minigrid_sfl.py``, nested in its ``make_train``): its source is taken from the
    checkout and defined here as written."""
    import ast
    from functools import partial  # noqa: F401  (the function's decorators)

    import jax  # noqa: F401
    import jax.numpy as jnp  # noqa: F401

    path = os.path.join(sfl_repo, "sfl", "train", "minigrid_sfl.py")
    with open(path) as f:
        source = f.read()
    node = next(n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.FunctionDef)
                and n.name == "_calc_outcomes_by_agent")
    namespace = {"partial": partial, "jax": jax, "jnp": jnp}
    exec(compile(ast.Module(body=[node], type_ignores=[]), path, "exec"), namespace)  # noqa: S102
    return namespace["_calc_outcomes_by_agent"]


def record_sfl(out_path: str, sfl_repo: str) -> None:
    """The SFL code's learnability and top-K on generated rollouts: per level a success
    probability, episodes of random lengths (a solved one ends with MiniGrid's reward
    ``1 - 0.9 t / T_max``, a failed one at the time limit with 0), every level completing at least
    one episode (as at the paper's 2,000-step passes). Then, as the code does after its rollouts:
    ``p (1 - p)`` and ``argsort(learnability)[-K:]``."""
    import jax
    import jax.numpy as jnp

    outcomes = _sfl_outcomes_fn(sfl_repo)
    rng = np.random.default_rng(2024)
    arrays = {}
    for name, steps, levels, k in SFL_CASES:
        p_true = rng.choice(np.linspace(0, 1, 11), size=levels)
        dones = np.zeros((steps, levels), bool)
        rewards = np.zeros((steps, levels), np.float32)
        limit = max(4, steps // 6)
        for b in range(levels):
            t = -1
            while True:
                solved = rng.random() < p_true[b]
                length = int(rng.integers(1, limit + 1)) if solved else limit
                if t + length >= steps:
                    break
                t += length
                dones[t, b] = True
                rewards[t, b] = (1.0 - 0.9 * length / limit) if solved else 0.0
            if not dones[:, b].any():  # at least one completed episode per level
                dones[limit - 1, b] = True
        o = outcomes(steps, jnp.asarray(dones), jnp.asarray(rewards), jnp.zeros((steps, levels)))
        success = o["success_rate"].reshape((1, levels))
        learn = (success * (1 - success)).sum(axis=0)
        top = jnp.argsort(learn)[-k:]
        arrays.update({f"{name}/dones": np.packbits(dones, axis=0), f"{name}/steps": np.int32(steps),
                       f"{name}/rewards": rewards, f"{name}/k": np.int32(k),
                       f"{name}/success_rate": np.asarray(o["success_rate"], np.float32),
                       f"{name}/num_episodes": np.asarray(o["num_episodes"], np.int32),
                       f"{name}/learnability": np.asarray(learn, np.float32), f"{name}/top": np.asarray(top, np.int32)})
        print(f"sfl {name}: T={steps} B={levels} K={k}: {int((np.asarray(learn) == float(learn[top[0]])).sum())} levels "
              f"tie at the K-th score {float(learn[top[0]]):.3f}")
    np.savez_compressed(out_path, **arrays)
    print(f"wrote {out_path} ({os.path.getsize(out_path)} bytes)")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("case", choices=["plr", "mutator", "gymnax", "editor", "maze", "sfl", "all"])
    parser.add_argument("--sfl-repo", help="a checkout of the SFL paper's code (amacrutherford/sampling-for-learnability)")
    args = parser.parse_args(argv)
    os.makedirs(DATA, exist_ok=True)
    if args.case in ("plr", "all"):
        record_plr(os.path.join(DATA, "plr_jaxued.npz"))
    if args.case in ("mutator", "all"):
        record_mutator(os.path.join(DATA, "maze_mutator_jaxued.npz"))
    if args.case in ("gymnax", "all"):
        record_gymnax(os.path.join(DATA, "gymnax_jaxued.npz"))
    if args.case in ("maze", "all"):
        record_maze(os.path.join(DATA, "maze_env_jaxued.npz"))
    if args.case in ("editor", "all"):
        record_editor(os.path.join(DATA, "maze_editor_jaxued.npz"))
    if args.case in ("sfl", "all"):
        if not args.sfl_repo:
            parser.error("sfl needs --sfl-repo (a checkout of the SFL paper's code)")
        record_sfl(os.path.join(DATA, "sfl_reference.npz"), args.sfl_repo)


if __name__ == "__main__":
    main()
