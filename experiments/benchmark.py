"""ued benchmarks. Prints a table and writes JSON.

    python experiments/benchmark.py env --num-envs 4096 --num-steps 256 --json env.json
    python experiments/benchmark.py train [HYDRA OVERRIDES ...] --updates 10 --json dr.json
    python experiments/benchmark.py components --json components.json
    python experiments/benchmark.py evaluate [--run-dir RUN] --levels 10000 --episodes 10 --json eval.json
    python experiments/benchmark.py eval-speed maze jaxnav jaxnav_multi xland navix --lanes 32 --json eval_speed.json
    python experiments/benchmark.py xland-tables --rulesets 1000000 --json xland.json
    python experiments/benchmark.py update-gap --rounds 5 --updates 4 --seeds 4 --json gap.json
    python experiments/benchmark.py adapters [SPACES ...] --num-envs 4096 --num-steps 64 --json adapters.json
    python experiments/benchmark.py pair --a "curriculum=degen" --b "curriculum=dr env=dynamic_maze" --json degen.json

Subcommands:
    env         jitted random-policy rollout over many parallel mazes (auto-replay): compile
                time and steady-state env steps per second (after ``block_until_ready``).
    train       a training configuration (the default config plus Hydra overrides): time from
                process launch to the first finished update, compile time, steady-state env
                steps per second over ``--updates`` updates, peak memory.
    components  one PLR buffer insert+sample step (capacity 4,000, batch 32), scoring a
                256 x 32 rollout with each score, and one PPO update of the default agent.
    evaluate    the CVaR evaluator (``ued.evaluate``): sampling the solvable level set, compile
                time, and two passes of ``--levels`` x ``--episodes`` stochastic episodes with the
                default LSTM agent (untrained: every episode runs to the time limit, the worst
                case) or a trained run's agent (``--run-dir``): levels x episodes per second, env
                steps per second, peak memory.
    eval-speed  per level space, env steps per second of training's rollout, of training's
                held-out evaluator and of the CVaR passes' success evaluator, on the same number
                of parallel episodes of the space's time limit (untrained default agent), in
                alternating rounds; the ratios evaluator / training per env step.
    xland-tables  compile time, program size and memory of an XLand DR update drawing from a
                synthetic table of ``--rulesets`` rulesets, with the package's sampler (tables
                closed over: embedded in the program) and with ued's (tables on the host).
    update-gap  ued's DR update (32 x 256 by default) against a minimal hand-written rollout + PPO
                update on the same env and network, timed alternately in one process: the median
                ratio; with ``--seeds S`` also DR, robust PLR and ACCEL with S vmapped seeds.
    adapters    each external level space (gymnax's classic control, NAVIX, Craftax) under
                ``auto_replay`` with random actions against the package's own random rollout
                (its auto-resetting ``step`` from its own resets), both on ``--num-envs``
                parallel environments, alternated in one process: env steps per second and the
                median time ratio (adapter / package); ``--train-updates N`` also times N DR
                updates on each space.
    pair        two configurations (``--a``, ``--b``: Hydra overrides) compiled in one process,
                ``--warmup`` updates each, then timed in alternating rounds: seconds per update
                of each and their ratio (DEGen against DR, SAMPLR against robust PLR).
    program     a digest of each curriculum's compiled training chunk, to compare two trees.
    results     a digest of each curriculum's parameters and metrics after ``--updates`` tiny
                updates, to compare two trees: the same digest is the same training, bit for bit.
    trees       one configuration's training throughput in this tree and in ``--other`` (another
                checkout), alternating fresh processes: the before/after ratio of a change.

Figures are recorded in BENCHMARKS.md with the command and machine that produced them.
"""

from __future__ import annotations

import time

_LAUNCH = time.time()  # before the heavy imports: "launch" for the time-to-first-update figure

import argparse
import functools
import json
import os
import platform
import resource
import sys

import jax
import jax.numpy as jnp
import optax

from ued.demo import random_rollout
from ued.envs.maze import make_maze, random_maze_generator


def machine() -> dict:
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "backend": jax.default_backend(),
        "devices": [str(d) for d in jax.devices()],
        "cpu_count": os.cpu_count(),
    }


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far (MiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_env(args) -> dict:
    env = make_maze()
    gen = random_maze_generator()
    levels = jax.jit(jax.vmap(gen.sample))(jax.random.split(jax.random.key(0), args.num_envs))
    fn = jax.jit(functools.partial(random_rollout, env), static_argnums=2)
    t0 = time.perf_counter()
    compiled = fn.lower(levels, jax.random.key(1), args.num_steps).compile()
    compile_s = time.perf_counter() - t0
    jax.block_until_ready(compiled(levels, jax.random.key(1)))  # warm-up
    times = []
    for i in range(args.repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(compiled(levels, jax.random.key(2 + i)))
        times.append(time.perf_counter() - t0)
    steps = args.num_envs * args.num_steps
    best, median = min(times), sorted(times)[len(times) // 2]
    return {
        "benchmark": "env_random_rollout",
        "num_envs": args.num_envs,
        "num_steps": args.num_steps,
        "compile_s": compile_s,
        "median_s": median,
        "steps_per_s_median": steps / median,
        "steps_per_s_best": steps / best,
        "peak_rss_mib": peak_rss_mib(),
    }


def process_start() -> float:
    """Wall-clock time the process started (falls back to this module's import)."""
    try:
        import psutil

        return psutil.Process().create_time()
    except Exception:  # pragma: no cover - psutil is optional
        return _LAUNCH


def bench_train(args) -> dict:
    from hydra import compose, initialize_config_dir

    from ued.run.config import CONF_DIR, Components

    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(config_name="config", overrides=list(args.overrides) + ["updates_per_chunk=1",
                                                                              f"num_updates={max(args.updates + 1, 2)}"])
    trainer = Components(cfg).trainer
    keys = jax.random.split(jax.random.key(0), cfg.num_seeds) if cfg.num_seeds > 1 else jax.random.key(0)
    state = jax.block_until_ready(jax.jit(trainer.init)(keys))
    t0 = time.perf_counter()
    compiled = jax.jit(trainer.chunk).lower(state, jnp.int32(0)).compile()
    compile_s = time.perf_counter() - t0
    state, metrics, _ = compiled(state, jnp.int32(0))
    jax.block_until_ready(state)
    first_update = time.time() - process_start()
    t0 = time.perf_counter()
    extra, trained = 0.0, []
    for i in range(args.updates):
        state, metrics, _ = compiled(state, jnp.int32(i + 1))
        trained.append(metrics["trained"])
        extra += float(jnp.sum(metrics["curriculum_env_steps"]))
    jax.block_until_ready(state)
    dt = time.perf_counter() - t0
    trained_fraction = float(jnp.mean(jnp.stack(trained)))
    steps = args.updates * trainer.steps_per_update * cfg.num_seeds
    return {
        "benchmark": "train",
        "overrides": " ".join(args.overrides) or "(defaults)",
        "num_envs": cfg.num_envs, "num_steps": cfg.num_steps, "num_seeds": cfg.num_seeds,
        "launch_to_first_update_s": first_update,
        "compile_s": compile_s,
        "seconds_per_update": dt / args.updates,
        "trained_fraction": trained_fraction,
        "seconds_per_gradient_update": dt / max(args.updates * trained_fraction, 1e-9),
        "train_steps_per_s": steps / dt,
        "curriculum_steps_per_s": extra / dt,
        "peak_rss_mib": peak_rss_mib(),
    }


def bench_pair(args) -> dict:
    """Seconds per update of two configurations in one process, timed in alternating rounds after
    ``--warmup`` updates each (a buffer fills, replay starts), so that both see the same machine
    load: the ratio is the figure, the absolute times move with the load."""
    import statistics

    from hydra import compose, initialize_config_dir

    from ued.run.config import CONF_DIR, Components

    runs = {}
    for name, overrides in (("a", args.a), ("b", args.b)):
        with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
            cfg = compose(config_name="config", overrides=overrides.split() + [
                "updates_per_chunk=1", f"num_updates={args.warmup + args.rounds * args.updates + 1}"])
        trainer = Components(cfg).trainer
        state = jax.block_until_ready(jax.jit(trainer.init)(jax.random.key(0)))
        compiled = jax.jit(trainer.chunk).lower(state, jnp.int32(0)).compile()
        for i in range(args.warmup):
            state, _, _ = compiled(state, jnp.int32(i))
        runs[name] = {"compiled": compiled, "state": jax.block_until_ready(state), "update": args.warmup,
                      "times": [], "trained": []}
    for _ in range(args.rounds):
        for run in runs.values():
            state = run["state"]
            t0 = time.perf_counter()
            for _ in range(args.updates):
                state, metrics, _ = run["compiled"](state, jnp.int32(run["update"]))
                run["update"] += 1
                run["trained"].append(float(metrics["trained"][0]))
            jax.block_until_ready(state)
            run["times"].append((time.perf_counter() - t0) / args.updates)
            run["state"] = state
    out = {"benchmark": "pair", "a": args.a, "b": args.b, "updates_per_round": args.updates, "rounds": args.rounds}
    for name, run in runs.items():
        out[f"{name}_seconds_per_update"] = statistics.median(run["times"])
        out[f"{name}_trained_fraction"] = sum(run["trained"]) / len(run["trained"])
    out["ratio_a_over_b"] = out["a_seconds_per_update"] / out["b_seconds_per_update"]
    out["round_ratios"] = [round(x / y, 3) for x, y in zip(runs["a"]["times"], runs["b"]["times"])]
    out["peak_rss_mib"] = peak_rss_mib()
    return out


def bench_trees(args) -> dict:
    """One configuration's training throughput in this tree and in ``--other`` (another checkout of
    ued, imported through ``PYTHONPATH``), alternating fresh processes (``train``) for ``--rounds``
    rounds so that both see the same machine load: the median ratio is the figure (before/after a
    change)."""
    import statistics
    import subprocess
    import sys
    import tempfile

    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    trees = {"this": here, "other": os.path.abspath(args.other)}
    rates = {k: [] for k in trees}
    for _ in range(args.rounds):
        for name, tree in trees.items():
            with tempfile.NamedTemporaryFile(suffix=".json") as f:
                env = {**os.environ, "PYTHONPATH": tree}
                subprocess.run([sys.executable, os.path.abspath(__file__), "train", *args.overrides, "--updates",
                                str(args.updates), "--json", f.name], check=True, env=env, cwd=tree,
                               stdout=subprocess.DEVNULL)
                rates[name].append(json.load(open(f.name))["train_steps_per_s"])
    out = {"benchmark": "trees", "overrides": " ".join(args.overrides) or "(defaults)", "other": trees["other"],
           "rounds": args.rounds, "updates": args.updates}
    for name in trees:
        out[f"{name}_env_steps_per_s"] = statistics.median(rates[name])
        out[f"{name}_rounds"] = [round(r) for r in rates[name]]
    out["ratio_this_over_other"] = out["this_env_steps_per_s"] / out["other_env_steps_per_s"]
    return out


def bench_program(args) -> dict:
    """A digest of the training chunk's lowered program (StableHLO, source locations removed), per
    curriculum: equal digests from two trees (``PYTHONPATH=<other tree>``) mean XLA compiles the
    same program, so the two run at the same speed by construction."""
    import hashlib
    import re

    from hydra import compose, initialize_config_dir

    import ued
    from ued.run.config import CONF_DIR, Components

    out = {"benchmark": "program", "ued": os.path.dirname(ued.__file__)}
    for name in args.curricula:
        with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
            cfg = compose(config_name="config", overrides=[f"curriculum={name}", "updates_per_chunk=1", "num_updates=2"])
        trainer = Components(cfg).trainer
        state = jax.eval_shape(trainer.init, jax.random.key(0))
        text = jax.jit(trainer.chunk).lower(state, jnp.int32(0)).as_text(debug_info=False)
        text = re.sub(r"#loc\d*", "", re.sub(r"loc\([^)]*\)", "", text))
        out[f"{name}_sha256"] = hashlib.sha256(text.encode()).hexdigest()[:16]
    return out


def bench_results(args) -> dict:
    """A digest of each curriculum's final parameters and metrics after a few tiny updates (4
    envs x 16 steps, integer settings capped at 16, the ``tests/tiny.py`` sizes): equal digests
    from two trees (``PYTHONPATH=<other tree>``) mean the two train bit for bit the same, where
    ``program`` digests can differ with the order ops are traced in."""
    import hashlib

    import numpy as np

    import ued
    from ued.run.config import Components

    sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # after PYTHONPATH's tree
    from tests.tiny import tiny_config

    out = {"benchmark": "results", "ued": os.path.dirname(ued.__file__), "updates": args.updates}
    for name in args.curricula:
        n = args.updates
        cfg = tiny_config(name, f"num_updates={n}", f"updates_per_chunk={n}", f"eval.every={n}", f"checkpoint_every={n}")
        trainer = Components(cfg).trainer
        state, metrics, _ = jax.jit(trainer.chunk)(jax.jit(trainer.init)(jax.random.key(0)), jnp.int32(0))
        digest = hashlib.sha256(b"".join(np.asarray(x).tobytes() for x in jax.tree.leaves(state.params)))
        digest.update(json.dumps({k: np.asarray(v).tolist() for k, v in sorted(metrics.items())}).encode())
        out[f"{name}_sha256"] = digest.hexdigest()[:16]
        out[f"{name}_trained"] = float(np.asarray(metrics["trained"]).sum())
    return out


def _time(fn, repeats):
    jax.block_until_ready(fn())
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def bench_components(args) -> dict:
    import numpy as np

    from ued.agents import PPOConfig, make_optimizer, maze_agent, ppo_update
    from ued.buffers import plr_buffer
    from ued.envs.maze import maze_level_space
    from ued.rollout import make_rollout_fn
    from ued.rollout import make_rollout
    from ued.run.config import component_names, compose_component

    out = {"benchmark": "components", "repeats": args.repeats}
    ls = maze_level_space()
    gen_batch = jax.jit(jax.vmap(ls.generator.sample))
    # Buffer: capacity 4,000, batches of 32: insert 32 scored levels, then sample 32.
    buf = plr_buffer(capacity=4000)
    placeholder = jax.tree.map(lambda x: x[0], gen_batch(jax.random.split(jax.random.key(0), 1)))
    state = buf.init(placeholder, {"max_return": jnp.float32(-jnp.inf)})
    fill = gen_batch(jax.random.split(jax.random.key(1), 4000))
    state = jax.jit(buf.insert)(state, fill, jax.random.uniform(jax.random.key(2), (4000,)),
                                {"max_return": jnp.zeros(4000)})
    levels = gen_batch(jax.random.split(jax.random.key(3), 32))

    @jax.jit
    def step(state, key):
        state = buf.insert(state, levels, jax.random.uniform(key, (32,)), {"max_return": jnp.zeros(32)})
        return buf.sample(state, key, 32)

    out["buffer_insert_sample_ms"] = 1000 * _time(lambda: step(state, jax.random.key(4)), args.repeats)
    nodup = plr_buffer(capacity=4000, deduplicate=False)

    @jax.jit
    def step_nodup(state, key):
        state = nodup.insert(state, levels, jax.random.uniform(key, (32,)), {"max_return": jnp.zeros(32)})
        return nodup.sample(state, key, 32)

    out["buffer_insert_sample_no_dedup_ms"] = 1000 * _time(lambda: step_nodup(state, jax.random.key(4)), args.repeats)

    # Scores on a 256 x 32 rollout.
    rng = np.random.default_rng(0)
    t_len, b = 256, 32
    dones = rng.random((t_len, b)) < 0.02
    solved = dones & (rng.random((t_len, b)) < 0.5)
    ro = make_rollout(np.where(solved, 0.8, 0.0), dones, rng.normal(size=(t_len, b)), rng.normal(size=b), solved,
                      0.995, 0.98, dist_params=jnp.asarray(rng.normal(size=(t_len, b, 7)), jnp.float32))
    for name in component_names("score"):
        score = compose_component("score", name)
        score = score.bind(ls) if score.bind is not None else score
        arg = (ro, ro) if score.rollouts == "pair" else ro
        extra = jax.tree.map(lambda x: jnp.broadcast_to(x, (b,)), score.init_extra())
        fn = jax.jit(score.compute)
        out[f"score_{name}_ms"] = 1000 * _time(lambda: fn(arg, levels, extra), args.repeats)

    # One PPO update (5 epochs, 1 minibatch) of the default LSTM agent on a 256 x 32 rollout.
    cfg = PPOConfig()
    agent = maze_agent(ls.env.action_space)
    obs, _ = ls.env.reset_to_level(jax.random.key(0), placeholder, ls.env.default_params)
    params = agent.init(jax.random.key(5), obs)
    opt = make_optimizer(cfg, 100)
    rollout = jax.jit(functools.partial(make_rollout_fn(ls.env, agent, cfg.gamma, cfg.gae_lambda), num_steps=256))
    _, traj, _ = rollout(params, levels, jax.random.key(6))
    upd = jax.jit(ppo_update(agent, cfg, opt))
    opt_state = opt.init(params)
    out["rollout_256x32_ms"] = 1000 * _time(lambda: rollout(params, levels, jax.random.key(7)), args.repeats)
    out["ppo_update_ms"] = 1000 * _time(lambda: upd(params, opt_state, traj, jax.random.key(8), jnp.ones(32)), args.repeats)

    # SFL's learnability pass: the policy on a batch of fresh levels, scored with learnability.
    from ued.scores import learnability

    lrn = learnability()
    roll_fn = make_rollout_fn(ls.env, agent, cfg.gamma, cfg.gae_lambda)
    n_pass, l_pass = args.sfl_batch, args.sfl_steps

    @jax.jit
    def sfl_pass(key):
        lv = jax.vmap(ls.generator.sample)(jax.random.split(key, n_pass))
        ro, _, _ = roll_fn(params, lv, key, l_pass)
        return lrn.compute(ro, lv, {}).scores

    out["sfl_pass_levels"], out["sfl_pass_steps"] = n_pass, l_pass
    out["sfl_pass_s"] = _time(lambda: sfl_pass(jax.random.key(9)), max(1, args.repeats // 2))
    out["sfl_pass_steps_per_s"] = n_pass * l_pass / out["sfl_pass_s"]
    out["peak_rss_mib"] = peak_rss_mib()
    return out


def _minimal_update(env, agent, cfg, optimizer, generator, num_envs: int, num_steps: int):
    """A hand-written DR update on the same env and network as ued's, with nothing but what one
    needs: fresh levels, a ``lax.scan`` rollout with auto-reset to the same level, GAE, and
    ``update_epochs`` x ``num_minibatches`` clipped-PPO steps with Adam. The floor that ued's
    update (curriculum, weights, metrics, checks) is measured against."""
    params_env = env.default_params

    def update(params, opt_state, key):
        k_lv, k_reset, k_steps, k_ppo = jax.random.split(key, 4)
        levels = jax.vmap(generator.sample)(jax.random.split(k_lv, num_envs))
        obs, state = jax.vmap(env.reset_to_level, in_axes=(0, 0, None))(jax.random.split(k_reset, num_envs), levels,
                                                                         params_env)

        def step(carry, key):
            obs, state, rnn, first = carry
            k_act, k_env, k_reset = jax.random.split(key, 3)
            seq = jax.tree.map(lambda x: x[None], obs)
            rnn, dist, value = agent.apply(params, rnn, seq, first[None])
            dist = jax.tree.map(lambda x: x[0], dist)
            action = agent.sample(k_act, dist)
            nobs, nstate, reward, done, _ = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
                jax.random.split(k_env, num_envs), state, action, params_env)
            robs, rstate = jax.vmap(env.reset_to_level, in_axes=(0, 0, None))(jax.random.split(k_reset, num_envs),
                                                                             levels, params_env)
            pick = lambda a, b: jax.vmap(jnp.where)(done, a, b)
            nobs = jax.tree.map(pick, robs, nobs)
            nstate = jax.tree.map(pick, rstate, nstate)
            return (nobs, nstate, rnn, done), (obs, first, action, agent.log_prob(dist, action), value[0], reward, done)

        init = (obs, state, agent.initial_carry(num_envs), jnp.ones((num_envs,), bool))
        (obs, state, rnn, first), tr = jax.lax.scan(step, init, jax.random.split(k_steps, num_steps))
        t_obs, t_first, t_act, t_logp, t_val, t_rew, t_done = tr
        _, _, last = agent.apply(params, rnn, jax.tree.map(lambda x: x[None], obs), first[None])

        def back(adv_next, x):
            delta, nd = x
            adv = delta + cfg.gamma * cfg.gae_lambda * nd * adv_next
            return adv, adv
        next_v = jnp.concatenate([t_val[1:], last], 0)
        nd = 1.0 - t_done.astype(jnp.float32)
        deltas = t_rew + cfg.gamma * next_v * nd - t_val
        _, adv = jax.lax.scan(back, jnp.zeros(num_envs), (deltas, nd), reverse=True)
        targets = adv + t_val
        per = num_envs // cfg.num_minibatches

        def loss_fn(p, idx):
            sel = lambda x: x[:, idx]
            _, dist, values = agent.apply(p, agent.initial_carry(per), jax.tree.map(sel, t_obs), sel(t_first))
            logp = agent.log_prob(dist, sel(t_act))
            a = sel(adv)
            a = (a - a.mean()) / (a.std() + 1e-8)
            ratio = jnp.exp(logp - sel(t_logp))
            pg = -jnp.minimum(ratio * a, jnp.clip(ratio, 1 - cfg.clip_eps, 1 + cfg.clip_eps) * a).mean()
            vc = sel(t_val) + jnp.clip(values - sel(t_val), -cfg.clip_eps, cfg.clip_eps)
            vl = 0.5 * jnp.maximum((values - sel(targets)) ** 2, (vc - sel(targets)) ** 2).mean()
            return pg + cfg.vf_coef * vl - cfg.ent_coef * agent.entropy(dist).mean()

        def minibatch(carry, idx):
            p, o = carry
            g = jax.grad(loss_fn)(p, idx)
            u, o = optimizer.update(g, o, p)
            return (optax.apply_updates(p, u), o), None

        def epoch(carry, key):
            perm = jax.random.permutation(key, num_envs).reshape(cfg.num_minibatches, per)
            return jax.lax.scan(minibatch, carry, perm)[0], None

        (params, opt_state), _ = jax.lax.scan(epoch, (params, opt_state), jax.random.split(k_ppo, cfg.update_epochs))
        return params, opt_state
    return update


def bench_update_gap(args) -> dict:
    """ued's DR update against the minimal hand-written update, same env, network and PPO, timed in
    alternation in one process (``--rounds`` rounds of ``--updates`` updates each); reports the
    median ratio. Also the seed-vmapped replay curricula against DR (the PPO work a per-seed
    ``lax.cond`` turns into a ``select`` under ``vmap``)."""
    import numpy as np
    from hydra import compose, initialize_config_dir

    from ued.agents import make_optimizer
    from ued.run.config import CONF_DIR, Components

    def compose_cfg(*overrides):
        with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
            return compose(config_name="config", overrides=[f"num_envs={args.num_envs}", f"num_steps={args.num_steps}",
                                                            "updates_per_chunk=1", "num_updates=1000", *overrides])

    parts = Components(compose_cfg())
    trainer = parts.trainer
    state = jax.block_until_ready(jax.jit(trainer.init)(jax.random.key(0)))
    ued_chunk = jax.jit(trainer.chunk, donate_argnums=0)
    state = jax.block_until_ready(ued_chunk(state, jnp.int32(0))[0])

    ls, cfg = parts.level_space, parts.ppo
    opt = make_optimizer(cfg, 1000)
    minimal = jax.jit(_minimal_update(ls.env, parts.agent, cfg, opt, ls.generator, args.num_envs, args.num_steps),
                      donate_argnums=(0, 1))
    p, o = jax.tree.map(jnp.copy, state.params), jax.tree.map(jnp.copy, state.opt_state)
    p, o = jax.block_until_ready(minimal(p, o, jax.random.key(1)))

    ued_times, min_times = [], []
    for r in range(args.rounds):
        t0 = time.perf_counter()
        for i in range(args.updates):
            state = ued_chunk(state, jnp.int32(1 + r * args.updates + i))[0]
        jax.block_until_ready(state)
        ued_times.append((time.perf_counter() - t0) / args.updates)
        t0 = time.perf_counter()
        for i in range(args.updates):
            p, o = minimal(p, o, jax.random.key(100 + r * args.updates + i))
        jax.block_until_ready(p)
        min_times.append((time.perf_counter() - t0) / args.updates)
    ratios = np.array(ued_times) / np.array(min_times)
    out = {"benchmark": "update-gap", "num_envs": args.num_envs, "num_steps": args.num_steps, "rounds": args.rounds,
           "ued_s_per_update": float(np.median(ued_times)), "minimal_s_per_update": float(np.median(min_times)),
           "ued_over_minimal": float(np.median(ratios)), "ratio_min": float(ratios.min()),
           "ratio_max": float(ratios.max())}
    # where a gap could come from, without timing noise: XLA's cost model of the two compiled programs
    costs = {}
    for name, compiled in (("ued", ued_chunk.lower(state, jnp.int32(0)).compile()),
                           ("minimal", minimal.lower(p, o, jax.random.key(0)).compile())):
        cost = compiled.cost_analysis()
        cost = cost[0] if isinstance(cost, (list, tuple)) else cost
        costs[name] = {k: float(cost.get(k, float("nan"))) for k in ("flops", "transcendentals", "bytes accessed")}
    for k in ("flops", "transcendentals", "bytes accessed"):
        out[f"ued_over_minimal_{k.replace(' ', '_')}"] = costs["ued"][k] / costs["minimal"][k]

    if args.seeds > 1:
        # seed-vmapped: DR (every seed trains every update) against robust PLR / ACCEL, which take a
        # gradient step only on replay updates: while the buffer fills (the first
        # min_fill * capacity / num_envs updates, none replays) and, once replaying, on updates where
        # no seed replays, the PPO branch is skipped for all seeds; otherwise it runs batched for
        # every seed and the seeds that do not train discard it
        runs = (("dr", []), ("robust_plr", []), ("robust_plr_replaying", ["buffer.min_fill=0.002"]),
                ("accel", []), ("accel_replaying", ["buffer.min_fill=0.002"]))
        for label, extra in runs:
            name = label.replace("_replaying", "")
            t = Components(compose_cfg(f"curriculum={name}", f"num_seeds={args.seeds}", *extra)).trainer
            keys = jax.random.split(jax.random.key(0), args.seeds)
            st = jax.block_until_ready(jax.jit(t.init)(keys))
            ch = jax.jit(t.chunk, donate_argnums=0)
            for i in range(3):  # compile, and fill the shrunk buffers past min_fill
                st = ch(st, jnp.int32(i))[0]
            jax.block_until_ready(st)
            t0, trained = time.perf_counter(), []
            for i in range(args.updates * 2):
                st, m, _ = ch(st, jnp.int32(i + 3))
                trained.append(np.asarray(m["trained"]))
            jax.block_until_ready(st)
            trained = np.concatenate([np.reshape(x, (args.seeds, -1)) for x in trained], axis=1)  # (seeds, updates)
            out[f"vmap{args.seeds}_{label}_s_per_update"] = (time.perf_counter() - t0) / (args.updates * 2)
            out[f"vmap{args.seeds}_{label}_trained_fraction"] = float(trained.mean())
            out[f"vmap{args.seeds}_{label}_any_seed_trains_fraction"] = float(trained.max(axis=0).mean())
    out["peak_rss_mib"] = peak_rss_mib()
    return out


def bench_evaluate(args) -> dict:
    from hydra import compose, initialize_config_dir

    from ued.evaluate import make_success_evaluator, sample_eval_levels
    from ued.run.config import CONF_DIR, Components

    if args.run_dir:
        import ued

        loaded = ued.load(args.run_dir, overrides={"eval.random_levels": 0})
        ls, agent, params, what = loaded.level_space, loaded.agent, loaded.seed_params(0), f"trained ({args.run_dir}, update {loaded.update})"
    else:
        with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
            cfg = compose(config_name="config", overrides=["eval.random_levels=0"])
        parts = Components(cfg)
        ls, agent = parts.level_space, parts.agent
        params = jax.jit(parts.trainer.init)(jax.random.key(0)).params
        what = "untrained default LSTM agent"
    t0 = time.perf_counter()
    levels, _, ids = sample_eval_levels(ls, args.levels)
    t_levels = time.perf_counter() - t0
    fn = jax.jit(make_success_evaluator(ls.env, agent, args.episodes, parallel_episodes=args.parallel_episodes,
                                        return_steps=True))
    t0 = time.perf_counter()
    compiled = fn.lower(params, levels, jax.random.key(1)).compile()
    t_compile = time.perf_counter() - t0
    times, steps = [], 0
    for i in range(2):  # the protocol's two passes
        t0 = time.perf_counter()
        rates, s = compiled(params, levels, jax.random.key(10 + i))
        jax.block_until_ready(rates)
        times.append(time.perf_counter() - t0)
        steps += int(s)
    total = sum(times)
    episodes = 2 * args.levels * args.episodes
    return {"agent": what, "levels": args.levels, "episodes_per_level": args.episodes,
            "parallel_episodes": args.parallel_episodes, "candidates_drawn": int(ids.max()) + 1,
            "level_sampling_s": t_levels, "compile_s": t_compile, "two_passes_s": total,
            "mean_success": float(rates.mean()),
            "level_episodes_per_s": episodes / total, "env_steps_per_s": steps / total, "env_steps": steps,
            "peak_rss_mib": peak_rss_mib()}


def _eval_space_config(space: str, lanes: int, tmp: str):
    """The default config of ``space`` (XLand on a local 3-ruleset benchmark file: no download)."""
    from hydra import compose, initialize_config_dir

    from ued.run.config import CONF_DIR

    extra = []
    if space == "xland":
        sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        from tests.envs.xland.test_xland import write_benchmark

        write_benchmark(os.path.join(tmp, "xland.pkl"))
        extra = [f"env.path={os.path.join(tmp, 'xland.pkl')}", "env.test_fraction=0"]
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose(config_name="config", overrides=[f"env={space}", f"num_envs={lanes}", "eval.random_levels=0",
                                                        *extra])


def bench_eval_speed(args) -> dict:
    """Env steps per second of the evaluation against training's rollout on each level space,
    all on ``--lanes`` parallel episodes of the space's time limit with the untrained default agent:
    the training rollout (``Trainer.rollout``, auto-replay), the held-out evaluator of training
    (``make_level_evaluator``: greedy and sampled, ``--attempts`` per level) and the CVaR passes'
    success evaluator (``make_success_evaluator``, its computed steps counted), timed in
    alternating rounds; the ratios are evaluator / training per env step."""
    import tempfile

    from ued.evaluate import make_level_evaluator, make_success_evaluator, sample_eval_levels
    from ued.run.config import Components

    out = {}
    for space in args.spaces:
        with tempfile.TemporaryDirectory() as tmp:
            parts = Components(_eval_space_config(space, args.lanes, tmp))
        ls, agent, steps = parts.level_space, parts.agent, parts.level_space.env.max_episode_steps
        params = jax.jit(parts.trainer.init)(jax.random.key(0)).params
        n = args.lanes // args.attempts
        levels = jax.tree.map(jnp.asarray, sample_eval_levels(ls, n)[0])
        lanes = jax.tree.map(lambda x: jnp.repeat(x, args.attempts, axis=0), levels)
        train = jax.jit(lambda p, lv, k: parts.trainer.rollout(p, lv, k, steps)[0].rewards)
        heldout = jax.jit(make_level_evaluator(ls.env, agent, args.attempts))
        success = jax.jit(make_success_evaluator(ls.env, agent, args.attempts, parallel_episodes=args.lanes,
                                                 return_steps=True))
        fns = {"train_rollout": (lambda k: train(params, lanes, k), n * args.attempts * steps),
               "heldout": (lambda k: heldout(params, levels, k), 2 * n * args.attempts * steps),
               "cvar_pass": (lambda k: success(params, levels, k), None)}
        times = {name: [] for name in fns}
        done = {name: 0 for name in fns}
        for r in range(args.rounds + 1):  # round 0 compiles
            for name, (fn, count) in fns.items():
                t0 = time.perf_counter()
                result = jax.block_until_ready(fn(jax.random.key(r)))
                if r:
                    times[name].append(time.perf_counter() - t0)
                    done[name] += count if count is not None else int(result[1])
        sps = {name: done[name] / sum(times[name]) for name in fns}
        out[space] = {"max_steps": steps, "lanes": n * args.attempts, **{f"{k}_steps_per_s": v for k, v in sps.items()},
                      "heldout_vs_train": sps["heldout"] / sps["train_rollout"],
                      "cvar_pass_vs_train": sps["cvar_pass"] / sps["train_rollout"]}
        print(space, {k: round(v, 3) for k, v in out[space].items()}, flush=True)
    return {"spaces": out, "rounds": args.rounds, "attempts": args.attempts}


def bench_xland_tables(args) -> dict:
    """Compile cost of XLand training with a large ruleset table: the package's sampler (the
    tables closed over, so embedded in the program) against ours (tables on the host)."""
    import tempfile

    import numpy as np
    from xminigrid.benchmarks import Benchmark, save_bz2_pickle

    from ued.envs.xland import xland_generator, xland_level_space
    from ued.agents import maze_agent, PPOConfig
    from ued.curricula import dr
    from ued.loop import make_train
    from ued.types import LevelGenerator

    n, rng = args.rulesets, np.random.default_rng(0)
    shapes = {"goals": (n, 5), "rules": (n, args.max_rules, 7), "init_tiles": (n, args.max_tiles, 2)}
    tables = {k: rng.integers(0, 10, size=s, dtype=np.uint8) for k, s in shapes.items()}
    bench = Benchmark(num_rules=np.zeros(n, np.uint8), **tables)
    nbytes = sum(v.nbytes for v in tables.values())
    with tempfile.TemporaryDirectory() as d:  # the level space needs a file; a 1-ruleset one
        path = os.path.join(d, "one.bz2")
        save_bz2_pickle({k: v[:1] for k, v in tables.items()} | {"num_rules": np.zeros(1, np.uint8)}, path)
        base = xland_level_space(path=path)
    agent = maze_agent(base.env.action_space, hidden=args.hidden)
    out = {"benchmark": "xland-tables", "rulesets": n, "table_mib": nbytes / 2**20}
    samplers = {"embedded": lambda: LevelGenerator(sample=bench.sample_ruleset), "host": lambda: xland_generator(bench)}
    for name in ([args.sampler] if args.sampler != "both" else list(samplers)):
        gen = samplers[name]()
        ls = base._replace(generator=gen)
        trainer = make_train(ls, dr(ls, args.num_envs), agent, PPOConfig(), num_envs=args.num_envs,
                             num_steps=args.num_steps, num_updates=2, updates_per_chunk=1)
        state = jax.block_until_ready(jax.jit(trainer.init)(jax.random.key(0)))
        t0 = time.perf_counter()
        lowered = jax.jit(trainer.chunk).lower(state, jnp.int32(0))
        hlo = len(lowered.as_text())
        compiled = lowered.compile()
        out[f"{name}_compile_s"] = time.perf_counter() - t0
        out[f"{name}_hlo_mib"] = hlo / 2**20
        t0 = time.perf_counter()
        jax.block_until_ready(compiled(state, jnp.int32(0)))
        out[f"{name}_update_s"] = time.perf_counter() - t0
        out[f"{name}_peak_rss_mib"] = peak_rss_mib()  # the process's: run one sampler per process to compare
    return out


def _random_action(key, space, shape=()):
    from ued.types import Box

    if isinstance(space, Box):
        return jax.random.uniform(key, shape + tuple(space.shape), minval=space.low, maxval=space.high)
    return jax.random.randint(key, shape, 0, space.n)


def _checksum(obs):
    return sum(jnp.sum(jnp.asarray(x, jnp.float32)) for x in jax.tree.leaves(obs))


def _adapter_rollout(env, num_envs: int, num_steps: int):
    """ued's side: the adapter under ``auto_replay``, random actions, ``num_envs`` levels."""
    from ued.envs.wrappers import auto_replay

    wrapped = auto_replay(env)
    step = jax.vmap(wrapped.step, in_axes=(0, 0, 0, None))

    def run(levels, key):
        _, state = jax.vmap(env.reset_to_level, in_axes=(0, 0, None))(jax.random.split(key, num_envs), levels,
                                                                      env.default_params)

        def body(carry, key):
            state, total = carry
            k_act, k_step = jax.random.split(key)
            actions = _random_action(k_act, env.action_space, (num_envs,))
            obs, state, reward, done, _ = step(jax.random.split(k_step, num_envs), state, actions, env.default_params)
            return (state, total + _checksum(obs) + jnp.sum(reward)), None

        return jax.lax.scan(body, (state, 0.0), jax.random.split(key, num_steps))[0][1]

    return run


def _package_rollouts(name: str, num_envs: int, num_steps: int):
    """The package's own random rollout with its own auto-reset ``step`` (and its own reset
    distribution): ``key -> checksum``."""

    def scan(reset, step, action_of, levels=None):
        def run(key):
            keys = jax.random.split(key, num_envs)
            carry = jax.vmap(reset)(keys if levels is None else (keys, levels))

            def body(c, key):
                carry, total = c
                k_act, k_step = jax.random.split(key)
                actions = action_of(k_act)
                carry, obs, reward = jax.vmap(step)(jax.random.split(k_step, num_envs), carry, actions)
                return (carry, total + _checksum(obs) + jnp.sum(reward)), None

            return jax.lax.scan(body, (carry, 0.0), jax.random.split(key, num_steps))[0][1]

        return run

    if name in ("cartpole", "acrobot", "pendulum"):
        import gymnax

        env, params = gymnax.make({"cartpole": "CartPole-v1", "acrobot": "Acrobot-v1", "pendulum": "Pendulum-v1"}[name])
        space = env.action_space(params)

        def reset(k):
            return env.reset(k, params)[1]

        def step(k, s, a):
            obs, s, r, *_ = env.step(k, s, a, params)
            return s, obs, r

        def act(k):
            if hasattr(space, "n"):
                return jax.random.randint(k, (num_envs,), 0, space.n)
            return jax.random.uniform(k, (num_envs, *space.shape), minval=space.low, maxval=space.high)

        return scan(reset, step, act)
    if name == "navix":
        import navix
        from navix import observations

        env = navix.make("Navix-DoorKey-Random-8x8-v0", observation_fn=observations.symbolic_first_person)

        def step(k, ts, a):
            ts = env.step(ts, a)
            return ts, ts.observation, ts.reward

        return scan(env.reset, step, lambda k: jax.random.randint(k, (num_envs,), 0, 7))
    if name == "craftax":
        from craftax.craftax_classic.envs.craftax_symbolic_env import CraftaxClassicSymbolicEnv

        env = CraftaxClassicSymbolicEnv()
        params = env.default_params

        def step(k, s, a):
            obs, s, r, *_ = env.step(k, s, a, params)
            return s, obs, r

        return scan(lambda k: env.reset(k, params)[1], step, lambda k: jax.random.randint(k, (num_envs,), 0, 17))
    if name == "kinetix":  # the package's own auto-reset to a given level (``override_reset_state``), on ours
        from kinetix.environment import ActionType, EnvParams, ObservationType, make_kinetix_env
        from kinetix.environment import static_env_params_from_size

        params = EnvParams()
        env = make_kinetix_env(ActionType.DISCRETE, ObservationType.SYMBOLIC_FLAT, None, params,
                               static_env_params_from_size("s"))
        n = int(env.action_space(params).n)

        def reset_to(level):
            return lambda k: (env.reset(k, params, override_reset_state=level)[1], level)

        def step(k, carry, a):
            s, level = carry
            obs, s, r, *_ = env.step(k, s, a, params, override_reset_state=level)
            return (s, level), obs, r

        return lambda levels: scan(lambda kl: reset_to(kl[1])(kl[0]), step,
                                   lambda k: jax.random.randint(k, (num_envs,), 0, n), levels)
    raise ValueError(name)


def bench_adapters(args) -> dict:
    """Each adapter's random rollout against the package's own, alternated in one process; and
    optionally a DR training update on each."""
    from hydra import compose, initialize_config_dir

    from ued.run.config import CONF_DIR
    from hydra.utils import instantiate

    out = {"benchmark": "adapters", "num_envs": args.num_envs, "num_steps": args.num_steps, "rounds": args.rounds}
    for name in args.spaces:
        with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
            cfg = compose(config_name="config", overrides=[f"env={name}"])
        space = instantiate(cfg.env)
        levels = jax.jit(jax.vmap(space.generator.sample))(jax.random.split(jax.random.key(0), args.num_envs))
        ours = jax.jit(_adapter_rollout(space.env, args.num_envs, args.num_steps))
        theirs = _package_rollouts(name, args.num_envs, args.num_steps)
        theirs = jax.jit(theirs(levels) if name == "kinetix" else theirs)  # kinetix: replays our levels
        jax.block_until_ready(ours(levels, jax.random.key(1)))
        jax.block_until_ready(theirs(jax.random.key(1)))
        t_ours, t_theirs = [], []
        for r in range(args.rounds):  # alternate, so machine load hits both alike
            t0 = time.perf_counter()
            jax.block_until_ready(ours(levels, jax.random.key(2 + r)))
            t_ours.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            jax.block_until_ready(theirs(jax.random.key(2 + r)))
            t_theirs.append(time.perf_counter() - t0)
        steps = args.num_envs * args.num_steps
        med = lambda x: sorted(x)[len(x) // 2]  # noqa: E731
        ratios = sorted(a / b for a, b in zip(t_ours, t_theirs))
        out[f"{name}_adapter_steps_per_s"] = steps / med(t_ours)
        out[f"{name}_package_steps_per_s"] = steps / med(t_theirs)
        out[f"{name}_time_ratio_median"] = ratios[len(ratios) // 2]
        out[f"{name}_time_ratio_range"] = f"{ratios[0]:.3f}-{ratios[-1]:.3f}"
        if args.train_updates:
            targs = argparse.Namespace(overrides=[f"env={name}", "curriculum=dr", f"num_envs={args.train_envs}",
                                                  f"num_steps={args.train_steps}"], updates=args.train_updates)
            res = bench_train(targs)
            out[f"{name}_dr_seconds_per_update"] = res["seconds_per_update"]
            out[f"{name}_dr_train_steps_per_s"] = res["train_steps_per_s"]
        dr = (f", DR {out[f'{name}_dr_seconds_per_update']:.2f} s/update "
              f"({out[f'{name}_dr_train_steps_per_s']:,.0f} steps/s)") if args.train_updates else ""
        print(f"{name}: adapter {out[f'{name}_adapter_steps_per_s']:,.0f} steps/s, package "
              f"{out[f'{name}_package_steps_per_s']:,.0f} steps/s, time ratio {out[f'{name}_time_ratio_median']:.3f}"
              f"{dr}", flush=True)
    out["peak_rss_mib"] = peak_rss_mib()
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="which", required=True)
    p_env = sub.add_parser("env", help="random-policy maze rollout throughput")
    p_env.add_argument("--num-envs", type=int, default=4096)
    p_env.add_argument("--num-steps", type=int, default=256)
    p_env.add_argument("--repeats", type=int, default=5)
    p_env.add_argument("--json", default=None, help="write the result here")
    p_train = sub.add_parser("train", help="training throughput and start-up time of a config")
    p_train.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. curriculum=dr")
    p_train.add_argument("--updates", type=int, default=10, help="updates timed after the first")
    p_train.add_argument("--json", default=None)
    p_comp = sub.add_parser("components", help="buffer, score and PPO update costs")
    p_comp.add_argument("--repeats", type=int, default=5)
    p_comp.add_argument("--sfl-batch", type=int, default=5000, help="levels in the timed SFL learnability pass")
    p_comp.add_argument("--sfl-steps", type=int, default=200, help="steps per level in that pass")
    p_comp.add_argument("--json", default=None)
    p_eval = sub.add_parser("evaluate", help="CVaR evaluator throughput")
    p_eval.add_argument("--run-dir", default=None, help="a trained run (default: the untrained default agent)")
    p_eval.add_argument("--levels", type=int, default=10_000)
    p_eval.add_argument("--episodes", type=int, default=10)
    p_eval.add_argument("--parallel-episodes", type=int, default=8192)
    p_eval.add_argument("--json", default=None)
    p_es = sub.add_parser("eval-speed", help="env steps/s of the evaluators against training's rollout, per space")
    p_es.add_argument("spaces", nargs="*", default=["maze", "jaxnav", "jaxnav_multi", "xland", "navix"])
    p_es.add_argument("--lanes", type=int, default=32, help="parallel episodes of each")
    p_es.add_argument("--attempts", type=int, default=2, help="episodes per level of the evaluators")
    p_es.add_argument("--rounds", type=int, default=3)
    p_es.add_argument("--json", default=None)
    p_xl = sub.add_parser("xland-tables", help="XLand compile cost with a large ruleset table")
    p_xl.add_argument("--rulesets", type=int, default=1_000_000)
    p_xl.add_argument("--max-rules", type=int, default=9, help="rules per ruleset in the synthetic table")
    p_xl.add_argument("--max-tiles", type=int, default=10, help="initial tiles per ruleset")
    p_xl.add_argument("--num-envs", type=int, default=32)
    p_xl.add_argument("--num-steps", type=int, default=64)
    p_xl.add_argument("--hidden", type=int, default=256)
    p_xl.add_argument("--sampler", choices=("both", "embedded", "host"), default="both")
    p_xl.add_argument("--json", default=None)

    p_gap = sub.add_parser("update-gap", help="ued's DR update against a minimal hand-written one")
    p_gap.add_argument("--num-envs", type=int, default=32)
    p_gap.add_argument("--num-steps", type=int, default=256)
    p_gap.add_argument("--updates", type=int, default=4, help="updates per timed round")
    p_gap.add_argument("--rounds", type=int, default=5, help="alternating rounds of ued and minimal updates")
    p_gap.add_argument("--seeds", type=int, default=0, help="also time DR, robust PLR and ACCEL with this many vmapped seeds")
    p_gap.add_argument("--json", default=None)
    p_prog = sub.add_parser("program", help="digest of each curriculum's compiled training chunk (compare two trees)")
    p_prog.add_argument("curricula", nargs="*", default=["dr", "plr", "robust_plr", "accel", "sfl", "paired"])
    p_prog.add_argument("--json", default=None)
    p_res = sub.add_parser("results", help="digest of each curriculum's parameters and metrics after tiny updates (compare two trees)")
    p_res.add_argument("curricula", nargs="*", default=["dr", "plr", "robust_plr", "accel", "sfl", "paired", "maestro",
                                                         "degen", "samplr"])
    p_res.add_argument("--updates", type=int, default=3)
    p_res.add_argument("--json", default=None)
    p_trees = sub.add_parser("trees", help="a config's training throughput in this tree and another, alternating")
    p_trees.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. curriculum=dr")
    p_trees.add_argument("--other", required=True, help="another ued checkout (e.g. a git worktree of the commit before)")
    p_trees.add_argument("--updates", type=int, default=5)
    p_trees.add_argument("--rounds", type=int, default=3)
    p_trees.add_argument("--json", default=None)
    p_pair = sub.add_parser("pair", help="seconds per update of two configs, alternating in one process")
    p_pair.add_argument("--a", required=True, help="Hydra overrides of the first, e.g. 'curriculum=degen'")
    p_pair.add_argument("--b", required=True, help="Hydra overrides of the second, e.g. 'curriculum=dr env=dynamic_maze'")
    p_pair.add_argument("--warmup", type=int, default=2, help="untimed updates of each first")
    p_pair.add_argument("--updates", type=int, default=2, help="updates per timed round")
    p_pair.add_argument("--rounds", type=int, default=3)
    p_pair.add_argument("--json", default=None)
    p_ad = sub.add_parser("adapters", help="each adapter's random rollout against its package's own")
    p_ad.add_argument("spaces", nargs="*", default=["cartpole", "acrobot", "pendulum", "navix", "craftax"],
                      help="level spaces; kinetix too, in the Kinetix environment (jax 0.9.0)")
    p_ad.add_argument("--num-envs", type=int, default=4096)
    p_ad.add_argument("--num-steps", type=int, default=64)
    p_ad.add_argument("--rounds", type=int, default=5)
    p_ad.add_argument("--train-updates", type=int, default=0, help="also time this many DR updates on each space")
    p_ad.add_argument("--train-envs", type=int, default=32)
    p_ad.add_argument("--train-steps", type=int, default=256)
    p_ad.add_argument("--json", default=None)
    args = parser.parse_args(argv)

    result = {"pair": bench_pair, "trees": bench_trees, "program": bench_program, "results": bench_results, "adapters": bench_adapters, "update-gap": bench_update_gap, "env": bench_env, "train": bench_train, "components": bench_components,
              "evaluate": bench_evaluate, "eval-speed": bench_eval_speed, "xland-tables": bench_xland_tables}[args.which](args)
    result["machine"] = machine()
    width = max(len(k) for k in result)
    for k, v in result.items():
        if k != "machine":
            print(f"{k:<{width}}  {v:,.3f}" if isinstance(v, float) else f"{k:<{width}}  {v}")
    print(f"{'machine':<{width}}  {result['machine']['backend']}, {result['machine']['cpu_count']} cores, jax {result['machine']['jax']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
