"""Two-player evaluation: cross-play between trained students (MAESTRO's round-robin win-rate
matrix) and matches against fixed opponents on named arenas.

A match seats one policy in the student's slots and the other in the co-player's
(``LevelEnv.coplayer_slots``) and plays each level's first episode ``episodes`` times with the
sampled policies; on a zero-sum game a player wins when its env flags ``solved``, loses when its
return is negative and draws otherwise. Levels are random levels of the level space (both players'
start poses drawn by its generator, so neither seat is favoured on average) or its named arenas.

``python -m ued.evaluate.crossplay runs=[A,B,C] out=DIR [levels=256] [episodes=4] [seed=0]``
writes ``crossplay.json`` (the matrix, per-run names, each student against a random policy on
every named arena) and ``crossplay.png``, the heatmap ``ued.report.crossplay_heatmap`` draws.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ued.agents.networks import Agent
from ued.rollout import make_rollout_fn
from ued.run.checkpoint import CheckpointError
from ued.types import LevelEnv
from ued.utils import check_output_dir, check_positive_int

USAGE = "usage: python -m ued.evaluate.crossplay runs=[RUN_DIR,...] out=DIR [levels=256] [episodes=4] [seed=0]"


class CrossPlayError(ValueError):
    """A bad cross-play request (one line, naming the problem)."""


def make_match(env: LevelEnv, agent: Agent, episodes: int = 4) -> Callable:
    """Builds ``match(params, opponent, levels, key) -> {"win", "loss", "draw"}`` each ``(N,)``:
    per level, the fraction of ``episodes`` first episodes that ``params`` (student's seat) won,
    lost and drew against ``opponent`` (co-player's seat; a single parameter set).

    Raises:
        CrossPlayError: a level space without a co-player's seat.
    """
    if env.coplayer_slots < 1:
        raise CrossPlayError(f"cross-play needs a two-player level space; {env.name} has no co-player slots")
    check_positive_int(episodes, "episodes", error=CrossPlayError)
    rollout = make_rollout_fn(env, agent, 1.0, 1.0)

    def match(params, opponent, levels, key):
        n = jax.tree.leaves(levels)[0].shape[0]
        tiled = jax.tree.map(lambda x: jnp.repeat(x, episodes, axis=0), levels)
        coplayers = jax.tree.map(lambda x: x[None], opponent)
        ro, _, _ = rollout(params, tiled, key, env.max_episode_steps, replay=False, coplayers=coplayers)
        done = ro.dones.astype(jnp.int32)
        live = (jnp.cumsum(done, axis=0) - done) == 0  # the first episode's steps
        won = jnp.any(live & ro.solved, axis=0)
        lost = ~won & (jnp.sum(jnp.where(live, ro.rewards, 0.0), axis=0) < 0)
        per_level = lambda x: x.astype(jnp.float32).reshape(n, -1).mean(axis=1)
        return {"win": per_level(won), "loss": per_level(lost), "draw": per_level(~won & ~lost)}

    return match


def cross_play(match: Callable, params: Sequence, levels, key) -> dict:
    """The round-robin of ``params`` (``K`` parameter sets): ``win[i, j]`` is the mean win rate of
    ``i`` (student's seat) against ``j`` over the levels; likewise ``loss``. Host-side loop over pairs
    of one jitted ``match``."""
    k = len(params)
    win, loss = np.zeros((k, k)), np.zeros((k, k))
    for i in range(k):
        for j in range(k):
            out = match(params[i], params[j], levels, jax.random.fold_in(key, i * k + j))
            win[i, j], loss[i, j] = float(jnp.mean(out["win"])), float(jnp.mean(out["loss"]))
    return {"win": win, "loss": loss}


def _parse(argv):
    from ued.utils import parse_cli_value

    args = {"runs": [], "out": None, "levels": 256, "episodes": 4, "seed": 0}
    for a in argv:
        if a in ("-h", "--help") or "=" not in a:
            raise CrossPlayError(USAGE)
        k, v = a.split("=", 1)
        if k not in args:
            raise CrossPlayError(f"unknown option {k!r}; options: {', '.join(args)}")
        value = parse_cli_value(v)
        args[k] = (value if isinstance(value, list) else [v]) if k == "runs" else (v if k == "out" else value)
    if len(args["runs"]) < 1 or not args["out"]:
        raise CrossPlayError(f"give runs=[...] and out=DIR; {USAGE}")
    for k in ("levels", "episodes"):
        check_positive_int(args[k], f"{k}", error=CrossPlayError)
    if not isinstance(args["seed"], int) or isinstance(args["seed"], bool):
        raise CrossPlayError(f"seed must be an integer, got {args['seed']!r}")
    _check_paths(args["runs"], args["out"])
    return args


def _check_paths(runs: Sequence[str], out: str) -> None:
    """Refuses run directories that are missing or files, and an output directory that cannot be
    written, before any run is loaded."""
    for r in runs:
        if not isinstance(r, str) or not os.path.isdir(r):
            what = "is a file, not a run directory" if isinstance(r, str) and os.path.exists(r) else "does not exist"
            raise CrossPlayError(f"runs: {r} {what}; give the run directories of trained runs")
    check_output_dir(out, CrossPlayError)


def run_cross_play(runs: Sequence[str], out: str, levels: int = 256, episodes: int = 4, seed: int = 0) -> dict:
    """Loads each run's latest checkpoint (seed 0), plays the round-robin on ``levels`` random
    levels and every student against a random policy on the named arenas; writes
    ``out/crossplay.json`` and ``out/crossplay.png``. Returns the JSON's content."""
    from ued.evaluate.cvar import sample_eval_levels
    from ued.report import crossplay_heatmap
    from ued.run.load import load

    loaded = [load(r) for r in runs]
    space, agent = loaded[0].level_space, loaded[0].agent
    names = [os.path.basename(os.path.normpath(r)) for r in runs]
    for r, lr in zip(runs, loaded):
        if lr.level_space.name != space.name:
            raise CrossPlayError(f"{r} trained on {lr.level_space.name}, {runs[0]} on {space.name}: cross-play needs one level space")
    match = jax.jit(make_match(space.env, agent, episodes))
    params = [lr.seed_params(0) for lr in loaded]
    eval_levels = jax.tree.map(jnp.asarray, sample_eval_levels(space, levels, seed=seed + 1)[0])
    result = cross_play(match, params, eval_levels, jax.random.key(seed))
    summary = {"level_space": space.name, "runs": list(runs), "names": names, "levels": levels, "episodes": episodes,
               "win": result["win"].tolist(), "loss": result["loss"].tolist()}
    if space.held_out is not None:  # each student against a fresh random policy (a fixed opponent) per arena
        k_init, k_play = jax.random.split(jax.random.key(seed + 2))
        obs, _ = space.env.reset_to_level(k_init, jax.tree.map(lambda x: x[0], space.held_out), space.env.default_params)
        random_policy = agent.init(k_init, jax.tree.map(lambda x: x[0], obs))
        summary["arenas"] = {name: {arena: float(w) for arena, w in zip(
            space.held_out_names, match(p, random_policy, space.held_out, k_play)["win"])}
            for name, p in zip(names, params)}
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "crossplay.json"), "w") as f:
        json.dump(summary, f, indent=1)
    crossplay_heatmap(summary, os.path.join(out, "crossplay.png"))
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = _parse(sys.argv[1:] if argv is None else argv)
        summary = run_cross_play(**args)
    except (CrossPlayError, CheckpointError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for name, row in zip(summary["names"], summary["win"]):
        print(f"{name:>24}  " + "  ".join(f"{w:.2f}" for w in row))
    print(f"results in {args['out']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
