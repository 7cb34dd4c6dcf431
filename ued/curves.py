"""Learning curves without wandb: ``python -m ued.curves`` (``ued-curves``).

    python -m ued.curves runs=outputs/ out=curves/                       # every run found below outputs/
    python -m ued.curves runs=[multirun/2026-11-22/*] out=curves x=update smooth=20 pdf=true
    python -m ued.curves runs=outputs/ metrics=[solve_rate,curriculum/replay_fraction] eval=[eval/random/cvar/10]

Reads each run directory's ``metrics.jsonl`` (one row per update and seed) and ``eval.jsonl`` (one
row per evaluation, already the mean over the run's vmapped seeds) and draws, per metric, one
curve per label with the mean over samples and a band of one standard error:

- a run is labelled by the components that ran (from its ``config.yaml``: the curriculum, and
  the score and buffer where it has them, e.g. ``plr/max_mc``), or by its directory's name with
  ``label=dir``;
- a training sample is one seed of one run (a ``num_seeds=4`` run gives four); an evaluation
  sample is one run;
- samples are compared at the x values all of them reached (a shorter run cuts the curve), after
  a trailing moving average of ``smooth`` rows (training curves only).

Writes ``train_<metric>.png`` and ``eval_<metric>.png`` (``eval/`` dropped, ``/`` becoming ``-``; PDF too
with ``pdf=true``) and ``curves.json`` with the numbers behind every curve.
"""

from __future__ import annotations

import glob
import json
import os
import sys
from collections import defaultdict
from typing import Any, Sequence

import numpy as np

from ued.run.logger import LogFileError, read_jsonl
from ued.utils import check_output_dir, glob_or_path, parse_cli_value

X_AXES = ("env_steps", "total_env_steps", "update")
LABELS = ("components", "dir")
TRAIN_METRICS = ("solve_rate", "return")
EVAL_METRICS = ("eval/random/sampled/solve_rate_mean", "eval/named/sampled/solve_rate_mean", "eval/random/cvar/10")


class CurvesError(ValueError):
    """Bad input to ``ued.curves``: one line naming the problem and what is allowed."""


def find_runs(paths: Sequence[str]) -> list[str]:
    """Run directories (those holding a ``metrics.jsonl``) given as paths, globs or parents.

    Raises:
        CurvesError: a path that matches nothing or holds no run.
    """
    found = []
    for p in paths:
        matches = [m for m in glob_or_path(p) if os.path.exists(m)]
        if not matches:
            raise CurvesError(f"runs={p}: no such file or directory")
        before = len(found)
        for m in matches:
            if os.path.isfile(os.path.join(m, "metrics.jsonl")):
                found.append(m)
            elif os.path.isdir(m):
                found.extend(sorted(os.path.dirname(f) for f in
                                    glob.glob(os.path.join(m, "**", "metrics.jsonl"), recursive=True)))
        if len(found) == before:
            raise CurvesError(f"runs={p}: no run directory (with a metrics.jsonl) there or below it")
    return list(dict.fromkeys(os.path.normpath(f) for f in found))


def _component(node: Any) -> str | None:
    if isinstance(node, dict) and isinstance(node.get("_target_"), str):
        return node["_target_"].rsplit(".", 1)[-1]
    return None


def run_label(run_dir: str, how: str = "components") -> str:
    """A run's label: ``dir`` (the directory's name) or ``components`` (curriculum[/score][/buffer]
    from its ``config.yaml``; the directory's name when that is missing)."""
    if how == "dir":
        return os.path.basename(os.path.normpath(run_dir))
    import yaml

    try:
        with open(os.path.join(run_dir, "config.yaml")) as f:
            cfg = yaml.safe_load(f) or {}
    except (OSError, yaml.YAMLError):
        return os.path.basename(os.path.normpath(run_dir))
    parts = [_component(cfg.get(k)) for k in ("curriculum", "score", "buffer")]
    parts = [p for p in parts if p]
    return "/".join(parts) if parts else os.path.basename(os.path.normpath(run_dir))


def _smooth(y: np.ndarray, window: int) -> np.ndarray:
    if window <= 1:
        return y
    c = np.cumsum(np.insert(y, 0, 0.0))
    n = np.minimum(np.arange(1, len(y) + 1), window)
    return (c[1:] - c[np.arange(len(y)) + 1 - n]) / n


def _curve(samples: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, list]:
    """Mean and standard error over samples at the x values every sample has."""
    common = samples[0][0]
    for x, _ in samples[1:]:
        common = np.intersect1d(common, x)
    ys = np.stack([y[np.searchsorted(x, common)] for x, y in samples])
    se = ys.std(axis=0, ddof=1) / np.sqrt(len(ys)) if len(ys) > 1 else np.zeros(len(common))
    return {"x": common.tolist(), "mean": ys.mean(axis=0).tolist(), "se": se.tolist(), "samples": len(ys)}


def collect(runs: Sequence[str], metrics: Sequence[str], eval_metrics: Sequence[str], x: str = "env_steps",
            smooth: int = 1, label: str = "components") -> dict[str, dict[str, dict]]:
    """The curves of ``runs``: ``{"train/<metric>" | "eval/<metric>": {label: curve}}``, each curve
    ``{"x", "mean", "se", "samples"}``. A metric no run logged is left out.

    Raises:
        CurvesError: an unreadable log (naming the file and line).
    """
    train = defaultdict(lambda: defaultdict(list))
    evals = defaultdict(lambda: defaultdict(list))
    for run in runs:
        name = run_label(run, label)
        try:
            rows = read_jsonl(os.path.join(run, "metrics.jsonl"))
            erows = read_jsonl(os.path.join(run, "eval.jsonl")) if os.path.exists(os.path.join(run, "eval.jsonl")) else []
        except LogFileError as e:
            raise CurvesError(str(e)) from None
        by_seed = defaultdict(list)
        for r in rows:
            by_seed[r.get("seed", 0)].append(r)
        for seed_rows in by_seed.values():
            seed_rows.sort(key=lambda r: r["update"])
            for m in metrics:
                pts = [(r[x], r[m]) for r in seed_rows if m in r and x in r and r[m] is not None]
                if pts:
                    xs, ys = map(np.asarray, zip(*pts))
                    train[m][name].append((xs, _smooth(ys.astype(np.float64), smooth)))
        ex = "update" if x == "update" else "env_steps"  # evaluations record update and training env steps
        erows = sorted(erows, key=lambda r: r["update"])
        for m in eval_metrics:
            pts = [(r[ex], r[m]) for r in erows if m in r and r[m] is not None]
            if pts:
                xs, ys = map(np.asarray, zip(*pts))
                evals[m][name].append((xs, ys.astype(np.float64)))
    out = {}
    for kind, table in (("train", train), ("eval", evals)):
        for m, by_label in table.items():
            out[f"{kind}/{m}"] = {lab: _curve(s) for lab, s in sorted(by_label.items())}
    return out


def draw(curves: dict, out: str, x: str, pdf: bool = False) -> dict[str, str]:
    """One figure per metric (mean line, standard-error band per label); returns the PNG paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = sorted({lab for c in curves.values() for lab in c})
    colors = {lab: plt.get_cmap("tab10")(i % 10) for i, lab in enumerate(labels)}
    paths = {}
    for key, by_label in curves.items():
        fig, ax = plt.subplots(figsize=(5.5, 3.8))
        for lab, c in by_label.items():
            xs, mean, se = (np.asarray(c[k]) for k in ("x", "mean", "se"))
            ax.plot(xs, mean, color=colors[lab], label=f"{lab} (n={c['samples']})", marker="o" if len(xs) < 3 else None)
            ax.fill_between(xs, mean - se, mean + se, color=colors[lab], alpha=0.25, linewidth=0)
        kind, metric = key.split("/", 1)
        ax.set_xlabel(x.replace("_", " ") if kind == "train" or x == "update" else "env steps")
        ax.set_ylabel(metric)
        ax.set_title(("training: " if kind == "train" else "held-out evaluation: ") + metric, fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        name = f"{kind}_{metric.removeprefix('eval/').replace('/', '-')}"
        paths[name] = os.path.join(out, f"{name}.png")
        fig.savefig(paths[name], dpi=150)
        if pdf:
            fig.savefig(os.path.join(out, f"{name}.pdf"))
        plt.close(fig)
    return paths


def make_curves(runs: Sequence[str], out: str, metrics: Sequence[str] = TRAIN_METRICS,
                eval_metrics: Sequence[str] = EVAL_METRICS, x: str = "env_steps", smooth: int = 1,
                label: str = "components", pdf: bool = False) -> dict[str, str]:
    """Finds the runs, collects their curves, draws them into ``out`` and writes ``curves.json``.

    Returns:
        ``{figure name: PNG path}``.

    A metric that no run logged is not drawn; its name is printed on stderr and listed as
    ``missing`` in ``curves.json``.

    Raises:
        CurvesError: bad options, no runs, unreadable logs, or none of the metrics logged.
    """
    if x not in X_AXES:
        raise CurvesError(f"x must be one of {', '.join(X_AXES)}, got {x!r}")
    if label not in LABELS:
        raise CurvesError(f"label must be one of {', '.join(LABELS)}, got {label!r}")
    if not isinstance(smooth, int) or isinstance(smooth, bool) or smooth < 1:
        raise CurvesError(f"smooth must be a positive integer (rows in the moving average), got {smooth!r}")
    check_output_dir(out, CurvesError)
    found = find_runs(runs)
    curves = collect(found, metrics, eval_metrics, x, smooth, label)
    if not curves:
        raise CurvesError(f"none of the metrics {', '.join([*metrics, *eval_metrics])} is in the runs' logs "
                          f"({len(found)} run(s)); see a metrics.jsonl for the names")
    missing = [m for m in metrics if f"train/{m}" not in curves] + [m for m in eval_metrics if f"eval/{m}" not in curves]
    if missing:  # said, not skipped silently: a misspelt name would otherwise look like an empty result
        print(f"curves: not in any run's log, so not drawn: {', '.join(missing)} "
              f"(see a metrics.jsonl or eval.jsonl for the names)", file=sys.stderr)
    os.makedirs(out, exist_ok=True)
    paths = draw(curves, out, x, pdf)
    with open(os.path.join(out, "curves.json"), "w") as f:
        json.dump({"x": x, "smooth": smooth, "runs": found, "missing": missing, "curves": curves}, f)
    return paths


USAGE = ("usage: python -m ued.curves runs=PATH [runs=PATH ...] [out=DIR] [metrics=[a,b]] [eval=[a,b]] "
         "[x=env_steps|total_env_steps|update] [smooth=N] [label=components|dir] [pdf=true]")


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args: dict[str, Any] = {"runs": [], "out": "curves", "metrics": list(TRAIN_METRICS),
                            "eval_metrics": list(EVAL_METRICS), "x": "env_steps", "smooth": 1,
                            "label": "components", "pdf": False}
    try:
        for a in argv:
            if a in ("-h", "--help") or "=" not in a:
                raise CurvesError(USAGE)
            k, v = a.split("=", 1)
            parsed = parse_cli_value(v)
            if k == "runs":
                args["runs"].extend(parsed if isinstance(parsed, list) else [v])
            elif k in ("metrics", "eval"):
                names = parsed if isinstance(parsed, list) else [v]
                if not all(isinstance(n, str) for n in names):
                    raise CurvesError(f"{k}= takes metric names, e.g. {k}=[solve_rate,return], got {v!r}")
                args["metrics" if k == "metrics" else "eval_metrics"] = names
            elif k in ("out", "x", "label"):
                args[k] = v
            elif k in ("smooth", "pdf"):
                args[k] = parsed
            else:
                raise CurvesError(f"unknown option {k!r}; {USAGE}")
        if not args["runs"]:
            raise CurvesError(f"give runs=...; {USAGE}")
        if not isinstance(args["pdf"], bool):
            raise CurvesError(f"pdf must be true or false, got {args['pdf']!r}")
        paths = make_curves(**args)
    except CurvesError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for name, p in paths.items():
        print(f"{name}: {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
