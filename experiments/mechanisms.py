"""Does each curriculum's mechanism show at CPU scale? Short maze runs, one statistic each.

    python experiments/mechanisms.py plr robust_plr accel paired sfl maestro degen --updates 100 --json mechanisms.json

Each maze method trains on ued's default 13x13, 25-wall maze (32 environments x 128 steps, ACCEL
256, the LSTM agent; the buffers shrunk to 256 levels, SFL's sampling pass to 512 levels x 256 steps every 20
updates with K = 64), then the statistic its paper relies on is read from the run:

- ``plr``, ``robust_plr``: replayed levels score higher than fresh ones (the buffer's score,
  MaxMC, averaged over the batch: replay updates against new-level updates, once replaying).
- ``accel``: from empty rooms (``env.n_walls=0``), the replayed (buffer) levels grow in complexity:
  walls and shortest path, first against last quarter of the replay updates.
- ``paired``: the adversary's regret estimate is positive and its levels change (walls, first
  against last quarter).
- ``sfl``: the buffer's levels have intermediate success rates (0 < p < 1, over 10 sampled
  episodes of the final student) far more often than fresh random levels under the same student.

The numbers are means with standard errors over updates (or levels); a mechanism that does not
show at this scale is reported as such.

- ``maestro``: against FSP with the same settings on LaserTag, the student's return against the
  co-players it is matched with (last quarter of the run); MAESTRO's higher is the mechanism.
- ``degen``: against DR on the same dynamic maze, the statistics of the levels played (walls,
  shortest path, solvable; last quarter).

SAMPLR has its own figure in BENCHMARKS.md (``experiments/samplr_shift.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np

METHODS = ("plr", "robust_plr", "accel", "paired", "sfl", "maestro", "degen")
COMMON = ["num_envs=32", "updates_per_chunk=10", "eval.every=0", "eval.random_levels=0",
          "eval.render=false", "progress=false", "checkpoint_every=0"]
MAZE = ["num_steps=128", "env.held_out=[SixteenRooms]"]
OWN = {"plr": [*MAZE, "buffer.capacity=256"], "robust_plr": [*MAZE, "buffer.capacity=256"],
       # 256 steps (JaxUED's): a level joins the buffer once an episode ends on it (250 steps at most)
       "accel": ["num_steps=256", "env.held_out=[SixteenRooms]", "buffer.capacity=256", "env.n_walls=0",
                 "env.eval_n_walls=25"],
       "paired": MAZE, "sfl": [*MAZE, "curriculum.num_samples=512", "curriculum.sample_batch=512", "curriculum.rollout_steps=256",
                             "curriculum.refresh_every=20", "buffer.capacity=64"],
       # MAESTRO: a buffer of 64 per co-player (its default 4,000 fills after 250+ updates at 8 levels per
       # co-player and update) and a snapshot every 10 updates, so it replays and has a population here
       "maestro": ["num_steps=128", "buffer.capacity=64", "curriculum.snapshot_every=10"],
       "degen": ["num_steps=128"]}
# the method each is compared with, under the same settings on the same level space
PEERS = {"maestro": ["curriculum=fsp"], "degen": ["curriculum=dr", "env=dynamic_maze"]}


def _mean_se(x) -> dict:
    x = np.asarray(x, np.float64)
    x = x[np.isfinite(x)]
    se = float(x.std(ddof=1) / np.sqrt(len(x))) if len(x) > 1 else float("nan")
    return {"mean": float(x.mean()) if len(x) else float("nan"), "se": se, "n": int(len(x))}


def _train(method: str, updates: int, seed: int, out: str, choice=None, name=None):
    from hydra import compose, initialize_config_dir

    from ued.run.config import CONF_DIR
    from ued.run.logger import read_jsonl
    from ued.train import train

    choice = choice or [f"curriculum={method}"]
    overrides = [*choice, f"num_updates={updates}", f"seed={seed}", *COMMON, *OWN[method]]
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides)
    run_dir = os.path.join(out, name or method)
    start = time.time()
    train(cfg, run_dir)
    return read_jsonl(os.path.join(run_dir, "metrics.jsonl")), run_dir, time.time() - start, overrides


def replay_scores(rows) -> dict:
    """Batch score on replay updates against new-level updates, once the buffer replays."""
    first = next((i for i, r in enumerate(rows) if r["curriculum/replay"] > 0), len(rows))
    later = rows[first:]
    rep = [r["curriculum/batch_score_mean"] for r in later if r["curriculum/replay"] > 0]
    new = [r["curriculum/batch_score_mean"] for r in later if r["curriculum/replay"] == 0 and r["curriculum/mutate"] == 0]
    out = {"replayed": _mean_se(rep), "fresh": _mean_se(new), "first_replay_update": first + 1}
    out["shows"] = bool(out["replayed"]["mean"] > out["fresh"]["mean"])
    return out


def quarters(rows, keys, where) -> dict:
    sel = [r for r in rows if where(r)]
    q = max(1, len(sel) // 4)
    out = {}
    for k in keys:
        out[k] = {"first_quarter": _mean_se([r[k] for r in sel[:q]]), "last_quarter": _mean_se([r[k] for r in sel[-q:]])}
    return out


def last_quarter(rows, keys) -> dict:
    q = max(1, len(rows) // 4)
    return {k: _mean_se([r[k] for r in rows[-q:] if k in r]) for k in keys}


def against_peer(method: str, rows, updates: int, seed: int, out: str) -> dict:
    """The method's statistics beside its peer's (``PEERS``), last quarter of each run."""
    keys = {"maestro": ["return", "solve_rate", "curriculum/win_rate_mean", "replay_fraction", "curriculum/population"],
            "degen": ["curriculum/level_walls", "curriculum/level_shortest_path", "curriculum/level_solvable",
                      "return", "solve_rate"]}[method]
    peer_rows, _, seconds, overrides = _train(method, updates, seed, out, PEERS[method], name=method + "_peer")
    out = {method: last_quarter(rows, keys), "peer": last_quarter(peer_rows, keys), "peer_overrides": overrides,
           "peer_seconds": round(seconds, 1)}
    key = {"maestro": "return", "degen": "curriculum/level_walls"}[method]
    a, b = out[method][key], out["peer"][key]
    # MAESTRO: the student beats its matched co-players more (a higher return) than FSP's does;
    # DEGen: its levels differ from DR's (the statistic's means more than 2 standard errors apart)
    gap = a["mean"] - b["mean"]
    out["shows"] = bool(gap > 2 * np.hypot(a["se"], b["se"])) if method == "maestro" else \
        bool(abs(gap) > 2 * np.hypot(a["se"], b["se"]))
    return out


def sfl_intermediate(run_dir: str, levels: int = 256, episodes: int = 10) -> dict:
    """Fractions of the buffer's and of fresh levels with 0 < p < 1 under the final student."""
    import jax

    import ued
    from ued.curricula.base import sample_levels
    from ued.evaluate.cvar import make_success_evaluator

    run = ued.load(run_dir)
    space, buf = run.level_space, run.state.curriculum.buffer
    stored = jax.tree.map(lambda x: x[np.asarray(buf.filled)], buf.levels)
    fresh = sample_levels(space.generator, jax.random.key(123), levels)
    success = make_success_evaluator(space.env, run.agent, num_episodes=episodes)
    out = {}
    for name, lv in (("buffer", stored), ("fresh", fresh)):
        p = np.asarray(success(run.params, lv, jax.random.key(7)))
        inter = (p > 0) & (p < 1)
        out[name] = {"levels": int(len(p)), "intermediate": float(inter.mean()),
                     "se": float(np.sqrt(inter.mean() * (1 - inter.mean()) / len(p))), "mean_success": float(p.mean())}
    out["shows"] = bool(out["buffer"]["intermediate"] > out["fresh"]["intermediate"])
    return out


def measure(method: str, updates: int, seed: int, out: str) -> dict:
    rows, run_dir, seconds, overrides = _train(method, updates, seed, out)
    result = {"overrides": overrides, "seconds": round(seconds, 1)}
    if method in ("plr", "robust_plr"):
        result.update(replay_scores(rows))
    elif method == "accel":
        q = quarters(rows, ["curriculum/level_walls", "curriculum/level_shortest_path"],
                     lambda r: r["curriculum/replay"] > 0)
        result["replayed_levels"] = q
        result["shows"] = bool(q["curriculum/level_walls"]["last_quarter"]["mean"]
                               > q["curriculum/level_walls"]["first_quarter"]["mean"])
    elif method == "paired":
        result["regret"] = _mean_se([r["curriculum/regret"] for r in rows])
        result["levels"] = quarters(rows, ["curriculum/level_walls", "curriculum/level_shortest_path"], lambda r: True)
        w = result["levels"]["curriculum/level_walls"]
        result["shows"] = bool(result["regret"]["mean"] > 0
                               and abs(w["last_quarter"]["mean"] - w["first_quarter"]["mean"]) > 0)
    elif method == "sfl":
        result.update(sfl_intermediate(run_dir))
    elif method in PEERS:
        result.update(against_peer(method, rows, updates, seed, out))
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("methods", nargs="+", choices=METHODS)
    parser.add_argument("--updates", type=int, default=120)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    results = {}
    with tempfile.TemporaryDirectory(prefix="ued-mechanisms-") as out:
        for m in args.methods:
            results[m] = measure(m, args.updates, args.seed, out)
            print(m, json.dumps(results[m], indent=1), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
