"""Evaluate trained runs with the CVaR protocol and save reloadable results.

    python -m ued.evaluate run_dir=outputs/.../plr_seed0 run_dir=outputs/.../dr_seed0
    python -m ued.evaluate run_dir='multirun/2026-11-21/*/*' num_levels=10000 episodes=10
    python -m ued.evaluate run_dir=RUN checkpoint=200 alphas=[1,10,100] label=plr-maxmc

For each run (and each seed of a multi-seed run) this writes, into
``<run_dir>/evaluation/update_<N>/`` (or ``out=DIR/<run name>/``):

- ``levels.csv``: one row per evaluated level and seed: ``seed, level_id``, the level space's
  statistics (for the maze ``walls, shortest_path, optimal_return``), ``success_pass1`` and
  ``success_pass2``;
- ``named.csv``: per named held-out level and seed: greedy and sampled solve rate, return and
  length over ``episodes`` attempts, plus the level's oracle statistics;
- ``summary.json``: the settings, and per seed the CVaR (unbiased and biased) per alpha, the
  mean success and the named-level results.

Every input is checked (run directories, checkpoints fitting their configuration, alphas,
``num_levels``) before any rollout, and each run's files are written aside and renamed into
place only when complete.
"""

from __future__ import annotations

import csv
import functools
import json
import os
import shutil
import sys
import tempfile
import time
from typing import Any, Sequence

import jax
import numpy as np
from omegaconf import OmegaConf

from ued.evaluate.cvar import (DEFAULT_ALPHAS, EVAL_LEVELS_KEY, check_alphas, evaluate_cvar, make_success_evaluator,
                               sample_eval_levels, success_passes)
from ued.evaluate.heldout import make_level_evaluator
from ued.run.checkpoint import CheckpointError
from ued.utils import check_output_dir, check_positive_int, directory_problem, glob_or_path, parse_options

OPTIONS = {
    "run_dir": "run directories (repeat, comma-separate or glob)",
    "checkpoint": "update number or checkpoint directory (default: each run's latest)",
    "num_levels": "size of the evaluation level set (default 10000)",
    "episodes": "episodes per level and pass (default 10)",
    "alphas": "CVaR percentages (default [0.01,0.1,1,2,5,10,20,50,100])",
    "seed": f"key of the level set (default {EVAL_LEVELS_KEY}); the rollout keys derive from it",
    "parallel_episodes": "episodes stepped together (memory bound; default 8192)",
    "named": "also evaluate the named held-out levels (default true)",
    "label": "method name in reports (default: the run's curriculum)",
    "out": "write results under this directory instead of inside each run",
}


class EvaluateError(ValueError):
    """Bad evaluation input; nothing has been written."""


def method_name(cfg) -> str:
    """The run's curriculum name (``ued.curricula.plr`` -> ``plr``), the default report label."""
    target = OmegaConf.select(cfg, "curriculum._target_", default="") or ""
    return target.rsplit(".", 1)[-1] or "run"


def _expand(run_dirs: Sequence[str]) -> list[str]:
    out = []
    for spec in run_dirs:
        for part in str(spec).split(","):
            part = part.strip()
            if not part:
                continue
            matches = glob_or_path(part)
            if not matches:
                raise EvaluateError(f"run_dir={part!r} matches no directory")
            out.extend(m for m in matches if os.path.isdir(m) or m == part)  # a named path is checked by load
    if not out:
        raise EvaluateError("give at least one run_dir=...")
    return list(dict.fromkeys(out))


def _write_csv(path: str, columns: dict[str, np.ndarray]) -> None:
    names = list(columns)
    n = len(next(iter(columns.values())))
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(names)
        for i in range(n):
            w.writerow([_fmt(columns[k][i]) for k in names])


def _fmt(v):
    if isinstance(v, (str, bytes)):
        return v
    v = np.asarray(v).item()
    if isinstance(v, float):
        return "" if np.isnan(v) else repr(v)
    return v


def check_evaluation(*, num_levels: int, episodes: int, alphas: Sequence[float], seed: int = EVAL_LEVELS_KEY,
                     parallel_episodes: int = 8192, named: bool = True, label: str | None = None,
                     checkpoint: int | str | None = None, out: str | None = None) -> list[float]:
    """Checks ``evaluate_runs``'s settings without touching a run (``ued.study`` checks its
    ``evaluate:`` block with it before training anything). Returns the alphas, checked.

    Raises:
        EvaluateError: naming the setting and what is allowed.
    """
    for name, v in (("num_levels", num_levels), ("episodes", episodes), ("parallel_episodes", parallel_episodes)):
        check_positive_int(v, f"{name}", error=EvaluateError)
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2 ** 32:
        raise EvaluateError(f"seed must be an integer in [0, 2^32), got {seed!r}")
    if not isinstance(named, bool):
        raise EvaluateError(f"named must be true or false, got {named!r}")
    if label is not None and (not isinstance(label, str) or not label.strip()):
        raise EvaluateError(f"label must be a non-empty name, got {label!r}")
    if checkpoint is not None and (isinstance(checkpoint, bool) or not isinstance(checkpoint, (int, str))
                                   or (isinstance(checkpoint, int) and checkpoint < 0)):
        raise EvaluateError(f"checkpoint must be an update number or a checkpoint directory, got {checkpoint!r}")
    if out is not None:
        check_output_dir(out, EvaluateError)
    try:
        return check_alphas(alphas, num_levels)
    except ValueError as e:
        raise EvaluateError(str(e)) from None


def _load_runs(run_dirs: Sequence[str], checkpoint, label: str | None, out: str | None) -> list:
    """``[(run_dir, loaded run)]`` for every run directory (``*`` patterns expanded), refusing what
    would mislabel or overwrite results: one ``label`` for several curricula, two runs whose
    results would share a folder of ``out``, a file where a run's results would go."""
    from ued.run.load import load

    runs = [(d, load(d, checkpoint, overrides={"eval.random_levels": 0})) for d in _expand(run_dirs)]
    if label is not None and len(runs) > 1 and len({method_name(r.config) for _, r in runs}) > 1:
        raise EvaluateError("label= names one method; these runs use several curricula (evaluate them separately)")
    if out is not None:
        names = [os.path.basename(os.path.normpath(d)) for d, _ in runs]
        if len(set(names)) != len(names):
            raise EvaluateError(f"out= needs run directories with distinct names, got {names}")
        for n in names:
            if os.path.exists(os.path.join(out, n)) and not os.path.isdir(os.path.join(out, n)):
                raise EvaluateError(f"out={out}: {os.path.join(out, n)} is a file, where this run's results would go")
    else:
        for d, _ in runs:
            _check_out(os.path.join(d, "evaluation"), what=f"the evaluation directory of {d}")
    return runs


_NAMED_METRICS = [(mode, m) for mode in ("greedy", "sampled") for m in ("solve_rate", "return", "length")]


def _named_results(res: dict, names: Sequence[str], seed: int, named_stats: dict) -> tuple[dict, dict]:
    """One seed's named-level results: ``({level: {"greedy_solve_rate": ...}}, columns)``, the
    columns (``(n,)`` each: seed, level, the six metrics, the levels' statistics) for the table."""
    entry = {name: {f"{mode}_{m}": float(np.asarray(res[mode][m])[i]) for mode, m in _NAMED_METRICS}
             for i, name in enumerate(names)}
    cols = {"seed": np.full(len(names), seed), "level": np.array(names),
            **{f"{mode}_{m}": np.asarray(res[mode][m]) for mode, m in _NAMED_METRICS},
            **{k: np.asarray(v) for k, v in named_stats.items() if k != "solvable"}}
    return entry, cols


def evaluate_runs(run_dirs: Sequence[str], checkpoint: int | str | None = None, num_levels: int = 10_000,
                  episodes: int = 10, alphas: Sequence[float] = DEFAULT_ALPHAS, seed: int = EVAL_LEVELS_KEY,
                  parallel_episodes: int = 8192, named: bool = True, label: str | None = None,
                  out: str | None = None, verbose: bool = True) -> list[dict]:
    """Evaluates runs with the CVaR protocol and writes their result files.

    Args: see the module docstring (the command's options have the same names).

    Returns:
        The summary dict of each run, in order (also written as ``summary.json``).

    Raises:
        EvaluateError: bad input, found before any rollout.
        CheckpointError: a missing, corrupted or mismatched checkpoint, found before any rollout.
    """
    alphas = check_evaluation(num_levels=num_levels, episodes=episodes, alphas=alphas, seed=seed,
                              parallel_episodes=parallel_episodes, named=named, label=label, checkpoint=checkpoint,
                              out=out)
    runs = _load_runs(run_dirs, checkpoint, label, out)

    level_sets, compiled, summaries = {}, {}, []
    for run_dir, run in runs:
        start = time.perf_counter()
        ls, cfg = run.level_space, run.config
        env_key = json.dumps(OmegaConf.to_container(cfg.env, resolve=True), sort_keys=True)
        if env_key not in level_sets:
            level_sets[env_key] = sample_eval_levels(ls, num_levels, seed)
        levels, stats, ids = level_sets[env_key]
        agent_key = (env_key, json.dumps(OmegaConf.to_container(cfg.agent.network, resolve=True), sort_keys=True))
        if agent_key not in compiled:
            success = make_success_evaluator(ls.env, run.agent, episodes, parallel_episodes=parallel_episodes)
            success = jax.jit(functools.partial(success_passes, success))
            named_fn = jax.jit(make_level_evaluator(ls.env, run.agent, episodes)) if named and ls.held_out is not None else None
            compiled[agent_key] = (success, named_fn)
        success, named_fn = compiled[agent_key]
        named_stats = jax.device_get(ls.level_stats(ls.held_out)) if named_fn is not None else None

        key = jax.random.key(seed)
        per_seed, level_cols, named_cols = [], [], []
        for s in range(run.num_seeds):
            params = run.seed_params(s)
            ev = evaluate_cvar(success, params, levels, jax.random.fold_in(key, 1), alphas)
            entry = {"seed": s, "train_seed": int(cfg.seed), "mean": ev.mean,
                     "mean_pass1": float(ev.pass1.mean()), "mean_pass2": float(ev.pass2.mean()),
                     "cvar": {str(a): v for a, v in ev.result.cvar.items()},
                     "cvar_biased": {str(a): v for a, v in ev.result.cvar_biased.items()},
                     "cvar_levels": {str(a): v for a, v in ev.result.counts.items()}}
            level_cols.append({"seed": np.full(num_levels, s), "level_id": ids,
                               **{k: np.asarray(v) for k, v in stats.items() if k != "solvable"},
                               "success_pass1": ev.pass1, "success_pass2": ev.pass2})
            if named_fn is not None:
                res = jax.device_get(named_fn(params, ls.held_out, jax.random.fold_in(key, 2)))
                entry["named"], cols = _named_results(res, ls.held_out_names, s, named_stats)
                named_cols.append(cols)
            per_seed.append(entry)
        summary = {"method": label or method_name(cfg), "run_dir": os.path.abspath(run_dir), "checkpoint": run.path,
                   "update": run.update, "env_steps": run.update * cfg.num_envs * cfg.num_steps,
                   "level_space": ls.name, "num_levels": num_levels, "episodes": episodes, "alphas": list(alphas),
                   "level_seed": seed, "solvable_only": True, "seconds": time.perf_counter() - start,
                   "seeds": per_seed}
        dest = (os.path.join(out, os.path.basename(os.path.normpath(run_dir))) if out is not None
                else os.path.join(run_dir, "evaluation", f"update_{run.update:08d}"))
        _commit(dest, summary, level_cols, named_cols)
        summary["path"] = dest
        summaries.append(summary)
        if verbose:
            worst = min(alphas, key=lambda a: abs(a - 10.0))
            print(f"{run_dir}: update {run.update}, {num_levels} levels x {episodes} episodes x 2 passes in "
                  f"{summary['seconds']:.0f} s; mean success {np.mean([e['mean'] for e in per_seed]):.3f}, "
                  f"CVaR {worst:g}% {np.mean([e['cvar'][str(worst)] for e in per_seed]):.3f} "
                  f"(biased {np.mean([e['cvar_biased'][str(worst)] for e in per_seed]):.3f}) -> {dest}", flush=True)
    return summaries


def _check_out(path: str, what: str) -> None:
    """Refuses a run's evaluation directory that is a file or cannot be written (before any rollout)."""
    problem = directory_problem(path)
    if problem is not None:
        raise EvaluateError(f"{what} {problem}; choose another out=")


def _commit(dest: str, summary: dict, level_cols: list[dict], named_cols: list[dict]) -> None:
    """Writes a run's result files into a temporary directory, then moves it to ``dest``."""
    parent = os.path.dirname(os.path.abspath(dest))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".tmp-eval-", dir=parent)
    try:
        cat = lambda cols: {k: np.concatenate([c[k] for c in cols]) for k in cols[0]}
        _write_csv(os.path.join(tmp, "levels.csv"), cat(level_cols))
        if named_cols:
            _write_csv(os.path.join(tmp, "named.csv"), cat(named_cols))
        with open(os.path.join(tmp, "summary.json"), "w") as f:
            json.dump(summary, f, indent=1)
        if os.path.exists(dest):
            old = tempfile.mkdtemp(prefix=".old-eval-", dir=parent)
            os.replace(dest, os.path.join(old, "x"))
            os.replace(tmp, dest)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def parse_args(argv: Sequence[str]) -> dict[str, Any]:
    """``key=value`` arguments (values parsed as YAML; ``run_dir`` may repeat)."""
    args = parse_options(argv, OPTIONS, EvaluateError,
                         "usage: python -m ued.evaluate run_dir=DIR [run_dir=DIR ...] [key=value ...]",
                         text=("label", "out"), repeated=("run_dir",))
    args["run_dirs"] = args.pop("run_dir")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """The ``python -m ued.evaluate`` command; returns the exit code."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        evaluate_runs(**parse_args(argv))
    except (EvaluateError, CheckpointError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0
