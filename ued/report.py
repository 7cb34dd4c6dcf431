"""Figures and tables from CVaR evaluation results: ``python -m ued.report``.

    python -m ued.report results=outputs/ out=figures/            # every evaluation found below outputs/
    python -m ued.report results=[runs/plr*,runs/dr*] out=figures pdf=true compare=[plr,dr]
    python -m ued.report results=outputs/ out=figures logger=wandb project=ued

Results are the directories ``python -m ued.evaluate`` writes (``summary.json``, ``levels.csv``,
``named.csv``); ``results=`` takes them, run directories (their latest evaluation) or any
parent directory (searched recursively). Runs are grouped by method (the evaluation's
``label``, by default the curriculum); each seed of each run is one sample, and figures show
the mean over samples with the standard error.

Figures (PNG, and PDF with ``pdf=true``):

- ``cvar_curve``: mean success on the worst alpha% of levels against alpha (log x-axis), the
  unbiased two-pass estimate (solid, with the standard error) and the biased single-pass one
  (dotted);
- ``mean_success``: mean success per method (bars);
- ``hist2d_<a>_vs_<b>``: per-level success of two methods (``compare=[a,b]``; default the first
  two methods) as a 2-D histogram;
- ``named_levels``: held-out named-level solve rates per method;

plus ``report.json`` with the numbers behind them.
"""

from __future__ import annotations

import csv
import glob
import json
import os
import sys
from typing import Any, Sequence

import numpy as np

from ued.run.logger import WANDB_MODES
from ued.utils import check_output_dir, glob_or_path, parse_cli_value


class ReportError(ValueError):
    """Bad report input."""


def find_results(paths: Sequence[str]) -> list[str]:
    """Evaluation directories (holding ``summary.json``) found at or below ``paths``.

    A run directory with several evaluations contributes its latest (highest update) one.
    """
    found = []
    for spec in paths:
        for p in glob_or_path(spec):
            if os.path.isfile(os.path.join(p, "summary.json")):
                found.append(p)
                continue
            if not os.path.isdir(p):
                raise ReportError(f"results={p!r} is not a directory")
            below = sorted(os.path.dirname(f) for f in glob.glob(os.path.join(p, "**", "summary.json"), recursive=True))
            latest: dict[str, str] = {}
            for d in below:  # <run>/evaluation/update_N: keep the latest per run
                parent = os.path.dirname(d) if os.path.basename(os.path.dirname(d)) == "evaluation" else d
                if parent not in latest or d > latest[parent]:
                    latest[parent] = d
            found.extend(sorted(latest.values()))
    found = list(dict.fromkeys(found))
    if not found:
        raise ReportError(f"no evaluation results (summary.json) found in {list(paths)}; run python -m ued.evaluate first")
    return found


def _read_csv(path: str, required: Sequence[str] = ()) -> dict[str, np.ndarray]:
    if not os.path.isfile(path):
        raise ReportError(f"{path} is missing; re-run python -m ued.evaluate on that run")
    try:
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
    except (UnicodeDecodeError, csv.Error) as e:
        raise ReportError(f"{path} is not a CSV file ({e}); re-run python -m ued.evaluate on that run") from None
    if len(rows) < 2:
        raise ReportError(f"{path} is empty (no header or no rows); re-run python -m ued.evaluate on that run")
    header, body = rows[0], rows[1:]
    missing = [c for c in required if c not in header]
    if missing:
        raise ReportError(f"{path} lacks the columns {missing} (it has {header}); re-run python -m ued.evaluate")
    ragged = next((i for i, r in enumerate(body, start=2) if len(r) != len(header)), None)
    if ragged is not None:
        raise ReportError(f"{path} line {ragged} has {len(body[ragged - 2])} fields, the header {len(header)}; the "
                          "file is damaged: re-run python -m ued.evaluate on that run")
    cols = {}
    for j, name in enumerate(header):
        values = [r[j] for r in body]
        try:
            cols[name] = np.array([float(v) if v != "" else np.nan for v in values])
        except ValueError:
            if name in required:
                raise ReportError(f"{path}: column {name} holds non-numbers; the file is damaged: re-run "
                                  "python -m ued.evaluate on that run") from None
            cols[name] = np.array(values)
    return cols


_SUMMARY_KEYS = {"method": str, "seeds": list, "alphas": list, "num_levels": int, "level_seed": int, "level_space": str}
_SEED_KEYS = ("mean", "cvar", "cvar_biased")


def read_summary(d: str) -> dict[str, Any]:
    """An evaluation's ``summary.json``, checked for what the report uses.

    Raises:
        ReportError: a missing, empty, malformed or incomplete file, naming it and the problem.
    """
    path = os.path.join(d, "summary.json")
    try:
        with open(path) as f:
            summary = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ReportError(f"{path} is not valid JSON ({e}); re-run python -m ued.evaluate on that run") from None
    except OSError as e:
        raise ReportError(f"{path} cannot be read: {e.strerror or e}") from None
    if not isinstance(summary, dict):
        raise ReportError(f"{path} is not an evaluation summary (a JSON object); re-run python -m ued.evaluate")
    for key, kind in _SUMMARY_KEYS.items():
        if not isinstance(summary.get(key), kind) or isinstance(summary.get(key), bool):
            raise ReportError(f"{path}: {key!r} is missing or not a {kind.__name__}; re-run python -m ued.evaluate")
    if not summary["seeds"]:
        raise ReportError(f"{path} has no seeds (an evaluation of nothing); re-run python -m ued.evaluate")
    for i, seed in enumerate(summary["seeds"]):
        if not isinstance(seed, dict) or any(k not in seed for k in _SEED_KEYS):
            raise ReportError(f"{path}: seed entry {i} lacks {list(_SEED_KEYS)}; re-run python -m ued.evaluate")
    return summary


def load_results(paths: Sequence[str]) -> list[dict[str, Any]]:
    """Reads evaluation directories: each summary dict gets ``levels`` (and ``named``) columns."""
    out = []
    for d in find_results(paths):
        summary = read_summary(d)
        summary["levels"] = _read_csv(os.path.join(d, "levels.csv"), ("level_id", "success_pass1", "success_pass2"))
        named = os.path.join(d, "named.csv")
        summary["named_table"] = _read_csv(named) if os.path.exists(named) else None
        summary["path"] = d
        out.append(summary)
    return out


def _mean_se(values) -> tuple[float, float, int]:
    v = np.asarray(values, np.float64)
    se = float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else 0.0
    return float(v.mean()), se, len(v)


def aggregate(results: list[dict]) -> dict[str, Any]:
    """Per method: CVaR per alpha (unbiased and biased), mean success and named-level solve
    rates, each as mean, standard error and number of samples (run x seed)."""
    methods: dict[str, list] = {}
    for r in results:
        for s in r["seeds"]:
            methods.setdefault(r["method"], []).append((r, s))
    alphas = sorted({float(a) for r in results for a in r["alphas"]})
    table = {}
    for m, samples in methods.items():
        entry = {"samples": len(samples), "cvar": {}, "cvar_biased": {}, "named": {}}
        for a in alphas:
            vals = [s["cvar"][str(a)] for _, s in samples if str(a) in s["cvar"]]
            bvals = [s["cvar_biased"][str(a)] for _, s in samples if str(a) in s["cvar_biased"]]
            if vals:
                entry["cvar"][a] = _mean_se(vals)
                entry["cvar_biased"][a] = _mean_se(bvals)
        entry["mean"] = _mean_se([s["mean"] for _, s in samples])
        names = sorted({n for _, s in samples for n in s.get("named", {})})
        for n in names:
            entry["named"][n] = _mean_se([s["named"][n]["sampled_solve_rate"] for _, s in samples if n in s.get("named", {})])
        table[m] = entry
    return {"alphas": alphas, "methods": table}


def per_level_success(results: list[dict], method: str) -> tuple[np.ndarray, np.ndarray]:
    """``(level_ids, success)`` of a method: per-level success averaged over its runs, seeds and passes."""
    rows = [r for r in results if r["method"] == method]
    if not rows:
        raise ReportError(f"no results for method {method!r}; methods: {sorted({r['method'] for r in results})}")
    sets = {(r["num_levels"], r["level_seed"], r["level_space"]) for r in rows}
    if len(sets) > 1:
        raise ReportError(f"method {method!r} was evaluated on different level sets: {sorted(sets)}")
    acc: dict[int, list] = {}
    for r in rows:
        lv = r["levels"]
        for lid, a, b in zip(lv["level_id"], lv["success_pass1"], lv["success_pass2"]):
            acc.setdefault(int(lid), []).append((a + b) / 2)
    ids = np.array(sorted(acc))
    return ids, np.array([np.mean(acc[i]) for i in ids])


def check_out_dir(out: str) -> None:
    """Refuses an ``out=`` that is a file or cannot be created/written, before anything is read.

    Raises:
        ReportError: naming the path.
    """
    check_output_dir(out, ReportError)


def make_report(paths: Sequence[str], out: str, pdf: bool = False, compare: Sequence[str] | None = None,
                wandb_cfg: dict | None = None, reference: dict | None = None) -> dict[str, str]:
    """Draws every figure from stored results into ``out``; returns figure name -> PNG path.

    ``reference`` (``ued.study``'s published results): ``{"citation": str, "methods": {label:
    {"cvar": {alpha: [mean, se]}}}}``, drawn dashed on the CVaR curve and kept in ``report.json``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    check_out_dir(out)
    results = load_results(paths)
    agg = aggregate(results)
    methods = list(agg["methods"])
    if compare is not None:
        compare = list(compare)
        if len(compare) != 2:
            raise ReportError(f"compare= names two methods, got {compare}")
        missing = [m for m in compare if m not in methods]
        if missing:
            raise ReportError(f"compare= names unknown methods {missing}; methods: {methods}")
    os.makedirs(out, exist_ok=True)
    figures: dict[str, Any] = {}
    colors = {m: plt.get_cmap("tab10")(i % 10) for i, m in enumerate(methods)}

    fig, ax = plt.subplots(figsize=(5.5, 4))
    for m in methods:
        pts = sorted(agg["methods"][m]["cvar"].items())
        x = np.array([a for a, _ in pts])
        y = np.array([v[0] for _, v in pts])
        se = np.array([v[1] for _, v in pts])
        ax.plot(x, y, marker="o", ms=3, label=f"{m} (n={agg['methods'][m]['samples']})", color=colors[m])
        ax.fill_between(x, y - se, y + se, alpha=0.2, color=colors[m])
        biased = [agg["methods"][m]["cvar_biased"][a][0] for a in x]
        ax.plot(x, biased, ls=":", lw=1, color=colors[m], label=f"{m}, single pass (biased)")
    for i, (m, e) in enumerate((reference or {}).get("methods", {}).items()):
        pts = sorted((float(a), v) for a, v in e["cvar"].items())
        x = np.array([a for a, _ in pts])
        y = np.array([v[0] for _, v in pts])
        se = np.array([v[1] for _, v in pts])
        c = plt.get_cmap("Dark2")(i % 8)
        ax.plot(x, y, ls="--", lw=1.2, marker="s", ms=2.5, color=c, label=m)
        ax.fill_between(x, y - se, y + se, alpha=0.12, color=c)
    ax.set_xscale("log")
    ax.set_xlabel(r"$\alpha$ (% worst levels)")
    ax.set_ylabel(r"mean success on the worst $\alpha$%")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title("CVaR of success rate")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    figures["cvar_curve"] = fig

    fig, ax = plt.subplots(figsize=(max(3.0, 1.0 + 0.8 * len(methods)), 3.5))
    means = [agg["methods"][m]["mean"] for m in methods]
    ax.bar(range(len(methods)), [v[0] for v in means], yerr=[v[1] for v in means], capsize=3,
           color=[colors[m] for m in methods])
    ax.set_xticks(range(len(methods)), methods, rotation=30, ha="right")
    ax.set_ylabel("mean success")
    ax.set_ylim(0, 1)
    ax.set_title("Mean success")
    figures["mean_success"] = fig

    pair = compare or methods[:2]
    if len(pair) == 2:
        ids_a, a = per_level_success(results, pair[0])
        ids_b, b = per_level_success(results, pair[1])
        common, ia, ib = np.intersect1d(ids_a, ids_b, return_indices=True)
        if len(common) == 0:
            raise ReportError(f"{pair[0]} and {pair[1]} share no evaluation levels (different level sets)")
        fig, ax = plt.subplots(figsize=(4.5, 4))
        bins = np.linspace(0, 1, 12)
        h = ax.hist2d(a[ia], b[ib], bins=bins, cmap="viridis", norm=matplotlib.colors.LogNorm())
        fig.colorbar(h[3], ax=ax, label="levels")
        ax.plot([0, 1], [0, 1], color="white", lw=0.8, ls="--")
        ax.set_xlabel(f"{pair[0]} success")
        ax.set_ylabel(f"{pair[1]} success")
        ax.set_title(f"Per-level success ({len(common)} levels)")
        figures[f"hist2d_{pair[0]}_vs_{pair[1]}"] = fig

    names = sorted({n for m in methods for n in agg["methods"][m]["named"]})
    if names:
        fig, ax = plt.subplots(figsize=(max(5.0, 0.9 * len(names) + 2), 3.8))
        width = 0.8 / len(methods)
        for i, m in enumerate(methods):
            vals = [agg["methods"][m]["named"].get(n, (np.nan, 0.0, 0)) for n in names]
            ax.bar(np.arange(len(names)) + (i - (len(methods) - 1) / 2) * width, [v[0] for v in vals], width,
                   yerr=[v[1] for v in vals], capsize=2, label=m, color=colors[m])
        ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
        ax.set_ylabel("solve rate (sampled)")
        ax.set_ylim(0, 1.05)
        ax.set_title("Held-out named levels")
        ax.legend(fontsize=8)
        figures["named_levels"] = fig

    paths_out = {}
    for name, fig in figures.items():
        fig.tight_layout()
        paths_out[name] = os.path.join(out, f"{name}.png")
        fig.savefig(paths_out[name], dpi=150)
        if pdf:
            fig.savefig(os.path.join(out, f"{name}.pdf"))
        plt.close(fig)
    table = {"alphas": agg["alphas"], "methods": {
        m: {"samples": e["samples"], "mean": e["mean"][:2],
            "cvar": {str(a): v[:2] for a, v in e["cvar"].items()},
            "cvar_biased": {str(a): v[:2] for a, v in e["cvar_biased"].items()},
            "named_sampled_solve_rate": {n: v[:2] for n, v in e["named"].items()}}
        for m, e in agg["methods"].items()}, "results": [r["path"] for r in results]}
    if reference:
        table["reference"] = reference
    with open(os.path.join(out, "report.json"), "w") as f:
        json.dump(table, f, indent=1)
    if wandb_cfg is not None:
        import wandb

        run = wandb.init(project=wandb_cfg.get("project", "ued"), entity=wandb_cfg.get("entity"),
                         mode=wandb_cfg.get("mode", "online"), dir=out, job_type="report", config={"results": table["results"]})
        run.log({f"report/{k}": wandb.Image(p) for k, p in paths_out.items()})
        run.finish()
    return paths_out


USAGE = """usage: python -m ued.report results=PATH [results=PATH ...] [out=DIR] [pdf=true] [compare=[a,b]]
                            [logger=wandb project=NAME entity=NAME mode=online|offline]"""


def crossplay_heatmap(summary: dict, path: str) -> str:
    """Draws a cross-play round-robin (``ued.evaluate.crossplay``'s ``crossplay.json`` content) as a
    heatmap: cell ``(i, j)`` is the win rate of run ``i`` (row, student's seat) against run ``j``
    (column, co-player's seat), annotated. Returns ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    win = np.asarray(summary["win"], float)
    names = summary["names"]
    k = len(names)
    fig, ax = plt.subplots(figsize=(1.2 + 0.9 * k, 0.9 + 0.8 * k))
    im = ax.imshow(win, vmin=0.0, vmax=1.0, cmap="RdYlGn")
    for i in range(k):
        for j in range(k):
            ax.text(j, i, f"{win[i, j]:.2f}", ha="center", va="center", fontsize=8)
    ax.set_xticks(range(k), names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(k), names, fontsize=8)
    ax.set_xlabel("co-player")
    ax.set_ylabel("student")
    ax.set_title(f"cross-play win rate ({summary.get('level_space', '')})", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args: dict[str, Any] = {"results": [], "out": "figures", "pdf": False, "compare": None}
    wandb_cfg: dict[str, Any] = {}
    try:
        for a in argv:
            if a in ("-h", "--help") or "=" not in a:
                raise ReportError(USAGE)
            k, v = a.split("=", 1)
            parsed = parse_cli_value(v)
            if k == "results":
                args["results"].extend(parsed if isinstance(parsed, list) else [v])
            elif k in ("out",):
                args[k] = v
            elif k in ("pdf", "compare"):
                args[k] = parsed
            elif k in ("logger", "project", "entity", "mode"):
                wandb_cfg[k] = v
            else:
                raise ReportError(f"unknown option {k!r}\n{USAGE}")
        if not args["results"]:
            raise ReportError(f"give results=...\n{USAGE}")
        if not isinstance(args["pdf"], bool):
            raise ReportError(f"pdf must be true or false, got {args['pdf']!r}")
        if args["compare"] is not None and (not isinstance(args["compare"], list)
                                            or not all(isinstance(m, str) for m in args["compare"])):
            raise ReportError(f"compare= takes two method names, e.g. compare=[plr,dr], got {args['compare']!r}")
        if wandb_cfg and wandb_cfg.get("logger") != "wandb":
            raise ReportError("project/entity/mode need logger=wandb")
        if wandb_cfg.get("mode", "online") not in WANDB_MODES:
            raise ReportError(f"mode must be one of {', '.join(WANDB_MODES)}, got {wandb_cfg['mode']!r}")
        paths = make_report(args["results"], args["out"], bool(args["pdf"]), args["compare"],
                            wandb_cfg if wandb_cfg else None)
    except ReportError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for name, p in paths.items():
        print(f"{name}: {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
