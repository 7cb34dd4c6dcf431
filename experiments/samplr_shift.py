"""Curriculum-induced covariate shift on the fruit maze, and SAMPLR's correction, at CPU scale.

    python experiments/samplr_shift.py --out /tmp/cics            # trains both, then measures
    python experiments/samplr_shift.py --out /tmp/cics --updates 400 --figure docs/samplr_shift.png
    python experiments/samplr_shift.py --out /tmp/cics1x5 --layout corridor --updates 600

Trains robust PLR and SAMPLR (Jiang et al. 2022, "Grounding Aleatoric Uncertainty for
Unsupervised Environment Design") with the oracle regret score on 5x5 open fruit mazes
(``banana_prob`` 0.3: the apple rewards 70% of the time), same seed and settings, then measures
for each:

- the replay distribution of the aleatoric parameter over training (``replay_banana_good``,
  the buffer's mean under its sampling weights) against the prior;
- the trained policy under the real distribution: on 2,000 fresh levels drawn from the
  generator (the prior), how often it eats the apple and the banana, and its success rate.

A run directory that already holds a finished run is measured, not retrained.
"""

from __future__ import annotations

import argparse
import json
import os

import jax
import jax.numpy as jnp
import numpy as np

COMMON = ["env=fruit_maze", "score=oracle", "env.n_walls=0", "num_envs=32", "updates_per_chunk=25", "eval.every=50",
          "eval.random_levels=200", "eval.attempts=2", "eval.render=false", "checkpoint_every=0", "progress=false"]
LAYOUTS = {  # the levels: open 5x5 rooms, or a 1x5 corridor (the smallest choice; its few hundred distinct levels need a small buffer to fill)
    "room": ["env.height=5", "env.width=5", "env.max_steps=32", "num_steps=64"],
    "corridor": ["env.height=1", "env.width=5", "env.max_steps=8", "num_steps=32", "buffer.capacity=128"],
}
CURRICULA = ("robust_plr", "samplr")


def train_run(curriculum: str, run_dir: str, updates: int, seed: int, layout: str = "room") -> None:
    from hydra import compose, initialize_config_dir

    from ued.run.config import CONF_DIR
    from ued.train import train

    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(config_name="config", overrides=[f"curriculum={curriculum}", *COMMON, *LAYOUTS[layout],
                                                       f"num_updates={updates}", f"seed={seed}"])
    train(cfg, run_dir)


def choices(run_dir: str, num_levels: int = 2000, seed: int = 123) -> dict:
    """The trained (sampled) policy on ``num_levels`` levels from the prior: fractions of first
    episodes that eat the apple, the banana, neither, and the success rate."""
    import ued
    from ued.rollout import make_rollout_fn

    run = ued.load(run_dir)
    space = run.level_space
    levels = jax.vmap(space.generator.sample)(jax.random.split(jax.random.key(seed), num_levels))
    rollout = make_rollout_fn(space.env, run.agent, 0.99, 0.95)
    record = lambda s: s.agent_pos
    ro, _, info = jax.jit(rollout, static_argnames=("num_steps", "replay", "record"))(
        run.params, levels, jax.random.key(seed + 1), num_steps=space.env.max_episode_steps, replay=False,
        record=record)
    # the first episode of each column: the step it ended, and the cell in front of the agent then
    first_done = np.argmax(np.asarray(ro.dones), axis=0)
    ended = np.asarray(ro.dones).any(axis=0)
    solved = np.asarray(ro.solved)[first_done, np.arange(num_levels)] & ended
    banana_good = np.asarray(levels.banana_good)
    ate = ended & (np.asarray(info["episode_length"])[first_done, np.arange(num_levels)] < space.env.max_episode_steps)
    ate_banana = ate & (solved == banana_good)  # the good fruit is the banana exactly when banana_good
    ate_apple = ate & ~ate_banana
    return {"apple": float(ate_apple.mean()), "banana": float(ate_banana.mean()), "neither": float((~ate).mean()),
            "success": float(solved.mean()), "prior_banana": float(banana_good.mean()), "update": run.update}


def replay_curve(run_dir: str) -> tuple[np.ndarray, np.ndarray]:
    rows = [json.loads(line) for line in open(os.path.join(run_dir, "metrics.jsonl"))]
    return (np.array([r["update"] for r in rows]), np.array([r["curriculum/replay_banana_good"] for r in rows]))


def figure(results: dict, curves: dict, prior: float, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
    for name, (u, v) in curves.items():
        a.plot(u, v, label=name, lw=1.2)
    a.axhline(prior, color="k", ls="--", lw=1, label=f"prior P(banana good) = {prior}")
    a.set(xlabel="update", ylabel="replay P(banana good)", title="replay distribution of the aleatoric parameter")
    a.legend(fontsize=8)
    names = list(results)
    x = np.arange(len(names))
    for i, (what, colour) in enumerate((("apple", "tab:red"), ("banana", "tab:olive"), ("success", "tab:green"))):
        b.bar(x + (i - 1) * 0.27, [results[n][what] for n in names], 0.27, color=colour, label=what)
    b.set_xticks(x, names)
    b.set(ylim=(0, 1), title="trained policy on levels from the prior", ylabel="fraction of episodes")
    b.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="directory of the two run directories")
    p.add_argument("--updates", type=int, default=400)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--figure", default=None, help="write the figure here (PNG)")
    p.add_argument("--layout", choices=sorted(LAYOUTS), default="room", help="open 5x5 rooms or a 1x5 corridor")
    args = p.parse_args()
    results, curves = {}, {}
    for name in CURRICULA:
        run_dir = os.path.join(args.out, name)
        if not os.path.exists(os.path.join(run_dir, "metrics.jsonl")):
            train_run(name, run_dir, args.updates, args.seed, args.layout)
        results[name] = choices(run_dir)
        curves[name] = replay_curve(run_dir)
        u, v = curves[name]
        half = v[len(v) // 2:]
        results[name]["replay_banana_good_second_half"] = float(np.mean(half))
        results[name]["replay_banana_good_abs_dev"] = float(np.mean(np.abs(half - 0.3)))
    print(json.dumps(results, indent=1))
    if args.figure:
        figure(results, curves, 0.3, args.figure)


if __name__ == "__main__":
    main()
