"""Maze demo: render levels to PNG and roll a random policy out on thousands of mazes.

    python -m ued.demo --out demo_out --num-envs 4096

Writes ``named_level.png``, ``random_levels.png`` and ``episode.gif`` into ``--out`` and prints
the random policy's returns next to the solver's optimal returns.
"""

from __future__ import annotations

import argparse
import functools
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from ued.agents import random_agent
from ued.envs.maze import level_to_string, make_maze, named_level, random_maze_generator, render_level, render_state, solve
from ued.rollout import make_rollout_fn
from ued.run.media import save_gif, save_png, tile_images


def random_rollout(env, levels, key, num_steps):
    """Rolls a uniform random policy (``ued.agents.random_agent``) out on a batch of levels with
    the training rollout (auto-replay).

    Args:
        env: a ``LevelEnv`` with a discrete action space.
        levels: a batch of levels, leading axis ``B``.
        key: PRNG key.
        num_steps: steps per environment ``T``.

    Returns:
        ``(rewards, dones, solved)``, each ``(T, B)``.
    """
    agent = random_agent(env.action_space)
    ro, _, _ = make_rollout_fn(env, agent, 1.0, 1.0)({}, levels, key, num_steps)
    return ro.rewards, ro.dones, ro.solved


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="demo_out", help="output folder for the PNGs and GIF")
    parser.add_argument("--num-envs", type=int, default=4096, help="parallel random mazes")
    parser.add_argument("--num-steps", type=int, default=250, help="steps per maze")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.num_envs <= 0 or args.num_steps <= 0:
        parser.error("--num-envs and --num-steps must be positive")

    os.makedirs(args.out, exist_ok=True)
    key = jax.random.key(args.seed)
    k_levels, k_roll, k_gif = jax.random.split(key, 3)
    env = make_maze()
    gen = random_maze_generator()

    named = named_level("SixteenRooms")
    print("SixteenRooms:\n" + level_to_string(named) + "\n")
    save_png(render_level(named), os.path.join(args.out, "named_level.png"))

    levels = jax.jit(jax.vmap(gen.sample))(jax.random.split(k_levels, args.num_envs))
    first = jax.tree.map(lambda x: x[0], levels)
    print("A random level:\n" + level_to_string(first) + "\n")
    save_png(tile_images(jax.vmap(render_level)(jax.tree.map(lambda x: x[:16], levels)), columns=4),
             os.path.join(args.out, "random_levels.png"))

    rollout = jax.jit(functools.partial(random_rollout, env), static_argnums=2)
    start = time.perf_counter()
    rewards, dones, solved = jax.block_until_ready(rollout(levels, k_roll, args.num_steps))
    elapsed = time.perf_counter() - start
    episodes = int(dones.sum())
    sol = jax.jit(jax.vmap(solve))(levels)
    print(f"random policy on {args.num_envs} random mazes x {args.num_steps} steps "
          f"({elapsed:.1f} s with compilation):")
    print(f"  episodes finished: {episodes}, solved: {int(solved.sum())} "
          f"({float(solved.sum()) / max(episodes, 1):.1%})")
    print(f"  mean return per finished episode: {float(rewards.sum()) / max(episodes, 1):.3f}")
    print(f"  solvable levels: {float(sol.is_solvable.mean()):.1%}; mean optimal return: "
          f"{float(jnp.where(sol.is_solvable, sol.optimal_return, 0).mean()):.3f}")

    # An episode GIF of the random policy on the named level.
    @jax.jit
    def episode(key):
        _, state = env.reset_to_level(key, named, env.default_params)

        def step(state, key):
            k_act, k_step = jax.random.split(key)
            a = jax.random.randint(k_act, (), 0, env.action_space.n)
            _, nxt, _, _, _ = env.step(k_step, state, a, env.default_params)
            return nxt, render_state(state)

        return jax.lax.scan(step, state, jax.random.split(key, 60))[1]

    gif = save_gif(np.asarray(episode(k_gif)), os.path.join(args.out, "episode.gif"))
    print(f"\nwrote {os.path.join(args.out, 'named_level.png')}, "
          f"{os.path.join(args.out, 'random_levels.png')} and {gif}")


if __name__ == "__main__":
    main()
