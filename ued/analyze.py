"""Which levels do the scores rank high? The No-Regrets diagnostics for a trained run.

    python -m ued.analyze run_dir=outputs/.../plr_seed0
    python -m ued.analyze run_dir=RUN num_levels=2000 num_steps=256 scores=[max_mc,pvl,learnability]

Rutherford et al. ("No Regrets: Investigating and Improving Regret Approximations for Curriculum
Discovery", NeurIPS 2024, Section 4 and Figure 2) found that the regret approximations used by
PLR and ACCEL (MaxMC, PVL) track a level's *success rate* rather than its regret. This command
repeats that analysis on any trained run and any score in ``conf/score/``:

1. ``num_levels`` levels are drawn from the level space's generator (solvable ones where that is
   known: ``ued.evaluate.sample_eval_levels``, the evaluator's level set for the same ``seed``);
2. the student rolls out ``num_steps`` steps on each level (auto-replay, as in training; by
   default ``episodes`` times the level space's episode limit, so every level completes at least
   ``episodes`` episodes) and every score is computed from that rollout, each with a fresh level
   memory;
3. an independent rollout (another key) gives each level's success rate (over its completed
   episodes) and, where the level space has a solver, its oracle regret (optimal return minus
   the mean achieved return), so the reference does not share the scores' sampling noise;
4. Spearman rank correlations of every score with the success rate and with the oracle regret,
   with bootstrap 95% intervals over levels (levels with no completed episode in a rollout are
   left out of the pairs that need it; how many were kept, and why any were dropped, is printed
   and saved, and a correlation over fewer than ``min_levels`` levels is refused, not reported).

It writes into ``out`` (default ``<run_dir>/analysis/update_<N>/``): ``levels.csv`` (one row per
level: its statistics, success rate, oracle regret and every score), ``correlations.csv`` and
``correlations.json``, and ``scatter.png`` (each score against the success rate, coloured by
the oracle regret).
"""

from __future__ import annotations

import csv
import json
import os
import sys
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ued.evaluate.cvar import EVAL_LEVELS_KEY, sample_eval_levels
from ued.run.checkpoint import CheckpointError
from ued.utils import check_output_dir, parse_options

OPTIONS = {
    "run_dir": "the trained run",
    "checkpoint": "update number or checkpoint directory (default: the latest)",
    "seed_index": "which seed of a multi-seed run (default 0)",
    "num_levels": "levels analysed (default 1000)",
    "episodes": "whole episodes per level in each rollout (default 1): sets the default num_steps",
    "num_steps": "rollout steps per level (default: episodes x the level space's episode limit)",
    "min_levels": "fewest levels a correlation is reported over (default 10)",
    "scores": "scores from conf/score/ (default: every score that scores one student's rollout)",
    "seed": f"key of the level set (default {EVAL_LEVELS_KEY}); the rollout keys derive from it",
    "bootstrap": "bootstrap resamples for the intervals (default 1000)",
    "batch": "levels rolled out together (memory bound; default 256)",
    "out": "output directory (default <run_dir>/analysis/update_<N>)",
}


class AnalyzeError(ValueError):
    """Bad input to ``ued.analyze``; nothing has been written."""


def rank_correlation(x, y, bootstrap: int = 1000, seed: int = 0, level: float = 0.95) -> dict[str, float]:
    """Spearman's rank correlation of ``x`` and ``y`` with a percentile bootstrap interval.

    Args:
        x, y: ``(N,)`` paired values (ties get average ranks).
        bootstrap: resamples of the pairs for the interval (0: no interval).
        seed: the resampling's seed.
        level: the interval's coverage.

    Returns:
        ``{"rho", "low", "high", "n"}``; ``rho`` is NaN when either side is constant or N < 3.
    """
    from scipy.stats import rankdata

    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)

    def rho(a, b):
        if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
            return float("nan")
        return float(np.corrcoef(rankdata(a), rankdata(b))[0, 1])

    out = {"rho": rho(x, y), "low": float("nan"), "high": float("nan"), "n": int(len(x))}
    if bootstrap and not np.isnan(out["rho"]):
        rng = np.random.default_rng(seed)
        draws = np.array([rho(x[i], y[i]) for i in rng.integers(0, len(x), size=(bootstrap, len(x)))])
        draws = draws[~np.isnan(draws)]
        if len(draws):
            tail = (1 - level) / 2 * 100
            out["low"], out["high"] = (float(v) for v in np.percentile(draws, [tail, 100 - tail]))
    return out


def default_scores() -> list[str]:
    """Every score in ``conf/score/`` that scores one student's rollout (not PAIRED's pair) and
    is not the oracle (the reference)."""
    from ued.run.config import component_names, compose_component

    return [n for n in component_names("score") if n != "oracle" and compose_component("score", n).rollouts == "student"]


def _build_scores(names: Sequence[str] | None, cfg, level_space) -> dict[str, Any]:
    """The scores to analyse, built with the run's discount and GAE lambda and bound to its level
    space; ``names=None``: every score of ``conf/score/`` that scores one student's rollout on
    this level space, except the oracle (the reference)."""
    from ued.run.config import component_names, compose_component

    known = component_names("score")
    ppo = (f"agent.ppo.gamma={cfg.agent.ppo.gamma}", f"agent.ppo.gae_lambda={cfg.agent.ppo.gae_lambda}")
    out = {}
    for name in names if names is not None else [n for n in known if n != "oracle"]:
        if name not in known:
            raise AnalyzeError(f"unknown score {name!r}; valid scores: {', '.join(known)}")
        score = compose_component("score", name, ppo)
        if score.rollouts != "student":
            if names is None:
                continue
            raise AnalyzeError(f"score {name} scores a pair of rollouts (PAIRED), not one student's; choose from "
                               f"{', '.join(default_scores())}")
        if score.bind is not None:
            try:
                score = score.bind(level_space)
            except ValueError as e:
                if names is None:  # by default, the scores this level space can compute
                    continue
                raise AnalyzeError(str(e)) from None
        out[name] = score
    return out


def _check_settings(num_levels, batch, bootstrap, num_steps, episodes, min_levels, seed, scores) -> None:
    """Refuses a bad setting with a one-line ``AnalyzeError`` naming it and what it must be."""
    for name, v, least in (("num_levels", num_levels, 1), ("batch", batch, 1), ("bootstrap", bootstrap, 0),
                           ("num_steps", 1 if num_steps is None else num_steps, 1), ("episodes", episodes, 1),
                           ("min_levels", min_levels, 3)):
        if not isinstance(v, int) or isinstance(v, bool) or v < least:
            what = "a non-negative integer" if least == 0 else "a positive integer" if least == 1 else f"an integer >= {least}"
            raise AnalyzeError(f"{name} must be {what}, got {v!r}")
    if num_levels < 3:
        raise AnalyzeError(f"num_levels must be at least 3 for a rank correlation, got {num_levels}")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise AnalyzeError(f"seed must be an integer, got {seed!r}")
    if scores is not None and (isinstance(scores, str) or not scores or not all(isinstance(s, str) for s in scores)):
        raise AnalyzeError(f"scores must be a non-empty list of score names (scores=[pvl,max_mc]), got {scores!r}")


def _in_batches(one_batch, levels, num_levels: int, batch: int, key) -> dict:
    """``one_batch(levels, key) -> {name: (values (b,), valid (b,))}`` over ``num_levels`` levels,
    ``batch`` at a time (the last batch padded with the first levels, the padding dropped); batch
    ``i`` gets ``fold_in(key, i)``. Returns ``{name: (values (num_levels,), valid (num_levels,))}``."""
    pad = (-num_levels) % batch if num_levels > batch else 0
    size = min(batch, num_levels)
    padded = jax.tree.map(lambda x: jnp.concatenate([x, x[:pad]]) if pad else x, levels)
    parts = []
    for i in range((num_levels + pad) // size):
        lv = jax.tree.map(lambda x: x[i * size:(i + 1) * size], padded)
        parts.append(jax.device_get(one_batch(lv, jax.random.fold_in(key, i))))
    return {name: (np.concatenate([p[name][0] for p in parts])[:num_levels],
                   np.concatenate([p[name][1] for p in parts])[:num_levels]) for name in parts[0]}


def analyze_run(run_dir: str, checkpoint: int | str | None = None, seed_index: int = 0, num_levels: int = 1000,
                num_steps: int | None = None, scores: Sequence[str] | None = None, seed: int = EVAL_LEVELS_KEY,
                bootstrap: int = 1000, batch: int = 256, out: str | None = None, verbose: bool = True,
                episodes: int = 1, min_levels: int = 10) -> dict:
    """Runs the diagnostics on one trained run and writes their files (see the module docstring).

    Returns:
        ``{"out", "num_levels", "update", "kept", "correlations": {score: {"success_rate": {...},
        "oracle_regret": {...}}}}`` (``oracle_regret`` only where the level space has a solver;
        ``kept``: per score and reference, the levels with a completed episode; a correlation over
        fewer than ``min_levels`` levels has ``rho`` None and a ``refused`` reason).

    Raises:
        AnalyzeError: bad input, found before any rollout.
        CheckpointError: the run cannot be loaded.
    """
    from ued.rollout import make_rollout_fn
    from ued.run.load import load
    from ued.scores import success_rate

    _check_settings(num_levels=num_levels, batch=batch, bootstrap=bootstrap, num_steps=num_steps, episodes=episodes,
                    min_levels=min_levels, seed=seed, scores=scores)
    if not os.path.isdir(run_dir):
        raise AnalyzeError(f"run_dir {run_dir} is not a directory")
    if out is not None:
        check_output_dir(out, AnalyzeError)
    loaded = load(run_dir, checkpoint, overrides={"eval.random_levels": 0})
    try:
        params = loaded.seed_params(seed_index)
    except ValueError as e:
        raise AnalyzeError(f"seed_index: {e}") from None
    cfg, ls = loaded.config, loaded.level_space
    steps = episodes * int(ls.env.max_episode_steps) if num_steps is None else num_steps
    built = _build_scores(None if scores is None else list(scores), cfg, ls)
    oracle = _build_scores(["oracle"], cfg, ls)["oracle"] if ls.optimal_return is not None else None
    if out is None:
        out = os.path.join(run_dir, "analysis", f"update_{loaded.update:08d}")
        check_output_dir(out, AnalyzeError)

    levels, stats, ids = sample_eval_levels(ls, num_levels, seed)
    rollout_fn = make_rollout_fn(ls.env, loaded.agent, cfg.agent.ppo.gamma, cfg.agent.ppo.gae_lambda)

    @jax.jit
    def one_batch(lv, key):
        k_score, k_ref = jax.random.split(key)
        ro, _, _ = rollout_fn(params, lv, k_score, steps)
        n = jax.tree.leaves(lv)[0].shape[0]
        result = {}
        for name, score in built.items():
            extra = jax.vmap(lambda _: score.init_extra())(jnp.arange(n))
            r = score.compute(ro, lv, extra)
            result[name] = (r.scores, r.valid)
        ref, _, _ = rollout_fn(params, lv, k_ref, steps)  # the reference, from its own episodes
        p, count = success_rate(ref)
        result["success_rate"] = (p, count > 0)
        if oracle is not None:
            r = oracle.compute(ref, lv, {})
            result["oracle_regret"] = (r.scores, r.valid)
        return result

    columns = _in_batches(one_batch, levels, num_levels, batch, jax.random.fold_in(jax.random.key(seed), 1))

    refs = ["success_rate"] + (["oracle_regret"] if oracle is not None else [])
    correlations = correlate(columns, list(built), refs, bootstrap, seed, min_levels)
    kept = {name: int(np.sum(columns[name][1])) for name in [*refs, *built]}
    summary = {"run_dir": run_dir, "update": loaded.update, "seed_index": seed_index, "num_levels": num_levels,
               "num_steps": steps, "episodes": episodes, "seed": seed, "bootstrap": bootstrap, "min_levels": min_levels,
               "scores": list(built), "kept": kept, "correlations": correlations, "out": out}
    _write(out, summary, columns, stats, ids, list(built), refs)
    if verbose:
        print(kept_note(summary))
        print(format_table(summary, refs))
        print(f"wrote {out}")
    return summary


def correlate(columns: dict, scores: Sequence[str], refs: Sequence[str], bootstrap: int, seed: int,
              min_levels: int) -> dict:
    """Rank correlations of every score with every reference over the levels valid in both; one
    over fewer than ``min_levels`` levels is refused (``rho`` None, with the reason)."""
    out = {}
    for name in scores:
        value, valid = columns[name]
        out[name] = {}
        for ref in refs:
            r_value, r_valid = columns[ref]
            both = valid & r_valid
            n = int(both.sum())
            if n < min_levels:
                out[name][ref] = {"rho": None, "low": None, "high": None, "n": n,
                                  "refused": f"only {n} levels have a completed episode in both rollouts; at least "
                                             f"min_levels={min_levels} are needed"}
            else:
                out[name][ref] = rank_correlation(value[both], r_value[both], bootstrap, seed=seed)
    return out


def kept_note(summary: dict) -> str:
    """Which levels the correlations use, and why any were dropped."""
    n, kept = summary["num_levels"], summary["kept"]
    dropped = {k: n - v for k, v in kept.items() if v < n}
    line = f"{n} levels, {summary['num_steps']} steps each"
    if not dropped:
        return line + ": every level completed an episode in both rollouts; all are kept"
    what = ", ".join(f"{k} {v}" for k, v in dropped.items())
    return (line + f": levels without a completed episode (or a score) are dropped: {what} "
            f"(more steps keep more: episodes= or num_steps=)")


def format_table(summary: dict, refs: Sequence[str]) -> str:
    """The correlations as a text table (one row per score)."""
    head = "score".ljust(18) + "".join(f"rho vs {r} [95% CI]".ljust(38) for r in refs)
    rows = [head]
    for name, c in summary["correlations"].items():
        cells = "".join((f"refused: n={c[r]['n']} < {summary['min_levels']}" if c[r]["rho"] is None else
                         f"{c[r]['rho']:+.3f} [{c[r]['low']:+.3f}, {c[r]['high']:+.3f}] n={c[r]['n']}").ljust(38)
                        for r in refs)
        rows.append(name.ljust(18) + cells)
    return "\n".join(rows)


def _write(out: str, summary: dict, columns: dict, stats: dict, ids, scores: list[str], refs: list[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(out, exist_ok=True)
    names = ["level_id", *stats, *refs, *scores]
    with open(os.path.join(out, "levels.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(names)
        for i in range(len(ids)):
            row = [int(ids[i])] + [np.asarray(stats[k])[i].item() for k in stats]
            row += [columns[c][0][i].item() if columns[c][1][i] else "" for c in [*refs, *scores]]
            w.writerow(row)
    with open(os.path.join(out, "correlations.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["score", "reference", "rho", "low", "high", "n"])
        for name, per in summary["correlations"].items():
            for ref, c in per.items():
                w.writerow([name, ref, c["rho"], c["low"], c["high"], c["n"]])
    with open(os.path.join(out, "correlations.json"), "w") as f:
        json.dump(summary, f, indent=1)

    cols = min(4, len(scores))
    rows = -(-len(scores) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.9 * rows), squeeze=False)
    success, s_valid = columns["success_rate"]
    colour = columns["oracle_regret"][0] if "oracle_regret" in columns else None
    for ax, name in zip(axes.flat, scores):
        value, valid = columns[name]
        both = valid & s_valid
        sc = ax.scatter(success[both], value[both], s=6, alpha=0.6, c=None if colour is None else colour[both],
                        cmap="viridis")
        c = summary["correlations"][name]["success_rate"]
        ax.set_title(f"{name}  " + ("too few levels" if c["rho"] is None else f"rho={c['rho']:+.2f}"), fontsize=9)
        ax.set_xlabel("success rate", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(scores):]:
        ax.axis("off")
    if colour is not None:
        fig.colorbar(sc, ax=axes, shrink=0.8, label="oracle regret")
    fig.suptitle(f"scores against success rate, {summary['num_levels']} levels, update {summary['update']}",
                 fontsize=10)
    fig.savefig(os.path.join(out, "scatter.png"), dpi=120)
    plt.close(fig)


def parse_args(argv: Sequence[str]) -> dict[str, Any]:
    """``key=value`` arguments (values parsed as YAML)."""
    args = parse_options(argv, OPTIONS, AnalyzeError, "usage: python -m ued.analyze run_dir=DIR [key=value ...]",
                         text=("run_dir", "out"))
    if isinstance(args.get("scores"), str):
        args["scores"] = [args["scores"]]
    if "run_dir" not in args:
        raise AnalyzeError("run_dir= is required: python -m ued.analyze run_dir=DIR")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """The ``python -m ued.analyze`` command; returns the exit code."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        analyze_run(**parse_args(argv))
    except (AnalyzeError, CheckpointError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
