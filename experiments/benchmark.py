"""ued benchmarks. Prints a table and writes JSON.

    python experiments/benchmark.py env --num-envs 4096 --num-steps 256 --json env.json

Subcommands:
    env   jitted random-policy rollout over many parallel mazes (auto-replay): compile time
          and steady-state env steps per second (after ``block_until_ready``).

Figures are recorded in BENCHMARKS.md with the command and machine that produced them.
"""

from __future__ import annotations

import argparse
import functools
import json
import platform
import resource
import time

import jax

from ued.demo import random_rollout
from ued.envs.maze import make_maze, random_maze_generator


def machine() -> dict:
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "backend": jax.default_backend(),
        "devices": [str(d) for d in jax.devices()],
        "cpu_count": __import__("os").cpu_count(),
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


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="which", required=True)
    p_env = sub.add_parser("env", help="random-policy maze rollout throughput")
    p_env.add_argument("--num-envs", type=int, default=4096)
    p_env.add_argument("--num-steps", type=int, default=256)
    p_env.add_argument("--repeats", type=int, default=5)
    p_env.add_argument("--json", default=None, help="write the result here")
    args = parser.parse_args(argv)

    result = {"env": bench_env}[args.which](args)
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
