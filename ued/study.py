"""One command from a study description to the paper's table and CVaR figure: ``python -m ued.study``.

    python -m ued.study study=experiments/studies/maze_cpu.yaml
    python -m ued.study study=experiments/studies/sfl_minigrid.yaml scale=0.01 out=studies/sfl_small
    python -m ued.study study=FILE stage=report          # redraw from what is there
    python -m ued.study study=FILE dry_run=true          # print the training commands (for a cluster)
    python -m ued.study study=FILE seeds=1 overrides=[num_envs=8,num_steps=64] evaluate=[num_levels=100]  # try it small

A study file (YAML) names the methods, the seeds, an optional paper preset and the evaluation::

    name: maze_cpu
    preset: null                 # or a paper preset: sfl_minigrid, accel_maze, ... (docs/presets.md)
    scale: 1.0                   # multiplies the preset's num_updates (a small machine: 0.01)
    seeds: 3                     # training seeds first_seed .. first_seed + seeds - 1
    first_seed: 0
    seeds_together: true         # one run per method training its seeds vmapped (num_seeds); false: a run per seed
    common: [num_updates=200]    # overrides for every run
    methods:
      - label: DR
        overrides: [curriculum=dr]
        published: DR            # this method's name in the published results (optional)
      - label: SFL
        overrides: [curriculum=sfl, curriculum.num_samples=2000]
    evaluate: {num_levels: 1000, episodes: 5, alphas: [1, 10, 50, 100]}
    published: sfl_minigrid      # ued/published/<name>.json: the paper's numbers beside ours (optional)

Stages, each resumable (re-running a study continues where it stopped):

1. **train**: each run is ``python -m ued.train`` with the preset, the common and the method's
   overrides and ``run_dir=<out>/runs/<method>[_seed<k>]``; a run whose last checkpoint is its
   final update is skipped, an interrupted one resumes from its checkpoint.
2. **evaluate**: ``ued.evaluate``'s CVaR protocol (two passes on one fixed level set, no
   selection bias) on each run's final checkpoint, labelled with the method; an evaluation
   already there with the same settings is kept.
3. **report**: ``ued.report``'s figures over every seed (mean and standard error), the
   published curves dashed beside ours, and ``table.md`` / ``table.csv``: per method the
   components that actually ran (read from each run's saved configuration), the number of
   seeds, mean success and CVaR per alpha.

Outputs under ``out`` (default ``studies/<name>``): ``runs/``, ``report/``, ``table.md``,
``table.csv`` and ``study.json`` (the resolved plan: every run's command and components).
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any, Sequence

import yaml

from ued.utils import check_output_dir, parse_cli_value, parse_options

STUDY_KEYS = ("name", "preset", "scale", "seeds", "first_seed", "seeds_together", "common", "methods", "evaluate",
              "published", "out")
METHOD_KEYS = ("label", "overrides", "published")
EVALUATE_KEYS = {"num_levels": 10_000, "episodes": 10, "alphas": [0.01, 0.1, 1, 2, 5, 10, 20, 50, 100],
                 "parallel_episodes": 8192, "named": True}
STAGES = ("all", "train", "evaluate", "report")
PUBLISHED_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "published")


class StudyError(ValueError):
    """A bad study file or option; one line naming the key and what is allowed."""


@dataclass
class Method:
    label: str
    overrides: list[str]
    published: str | None = None


@dataclass
class Study:
    name: str
    methods: list[Method]
    preset: str | None = None
    scale: float = 1.0
    seeds: int = 1
    first_seed: int = 0
    seeds_together: bool = True
    extra: list[str] = field(default_factory=list)  # the command line's overrides= (kept where a method has the key)
    common: list[str] = field(default_factory=list)
    evaluate: dict = field(default_factory=lambda: dict(EVALUATE_KEYS))
    published: str | None = None
    out: str = ""


@dataclass
class Run:
    """One training run of a study: a method and the seeds it trains."""

    label: str
    run_dir: str
    seeds: list[int]
    overrides: list[str]
    num_updates: int


def published_names() -> list[str]:
    """The published result sets shipped in ``ued/published``."""
    return sorted(f[:-5] for f in os.listdir(PUBLISHED_DIR) if f.endswith(".json"))


def _strings(value, key: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and "=" in v for v in value):
        raise StudyError(f"{key} must be a list of key=value overrides, got {value!r}")
    return list(value)


def _int(value, key: str, minimum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise StudyError(f"{key} must be an integer >= {minimum}, got {value!r}")
    return value


def _read_methods(raw_methods) -> list:
    """The study's ``methods:`` list as ``Method`` s, refusing a malformed entry, a label with no
    letter or digit and two labels that would share a run directory."""
    if not isinstance(raw_methods, list) or not raw_methods:
        raise StudyError("methods must be a non-empty list of {label, overrides, published}")
    methods, folders = [], {}
    for i, m in enumerate(raw_methods):
        if not isinstance(m, dict) or set(m) - set(METHOD_KEYS) or not isinstance(m.get("label"), str):
            raise StudyError(f"methods[{i}] must be a mapping with a label and overrides (keys {', '.join(METHOD_KEYS)}), "
                             f"got {m!r}")
        label = m["label"]
        if not re.search(r"[^\W_]", label):
            raise StudyError(f"methods[{i}]: the label {label!r} has no letter or digit; a label names the method's "
                             f"run directory (runs/<label>), so give it one")
        folder = _slug(label)
        if folder in folders:
            other = folders[folder]
            same = "is used twice" if other == label else f"and {other!r} share the run directory runs/{folder}"
            raise StudyError(f"methods[{i}]: the label {label!r} {same}; give the methods distinct labels")
        folders[folder] = label
        own = _strings(m.get("overrides"), f"methods[{i}].overrides")
        _refuse_study_keys(own, f"method {label!r}")
        methods.append(Method(label, own, m.get("published")))
    return methods


def load_study(path: str, scale: float | None = None, out: str | None = None, seeds: int | None = None,
               overrides: Sequence[str] | None = None, evaluate: dict | None = None) -> Study:
    """Reads and checks a study file.

    Args:
        path: the YAML file.
        scale: overrides the file's ``scale``.
        out: overrides the file's ``out`` (default ``studies/<name>``).
        seeds: overrides the file's ``seeds``.
        overrides: ``ued.train`` overrides added after every method's own (e.g. smaller sizes
            to try a study on a small machine), to each method whose configuration has the key
            (``curriculum.num_samples`` shrinks SFL's sampling pass and leaves DR alone); one that
            no method has is an error.
        evaluate: keys of ``evaluate`` that replace the file's (e.g. ``{"num_levels": 100}``).

    Raises:
        StudyError: naming the key, the value and what is allowed.
    """
    if not isinstance(path, str) or not os.path.isfile(path):
        raise StudyError(f"study={path!r} is not a file; give the study's YAML file")
    try:
        with open(path) as f:
            doc = yaml.safe_load(f)
    except yaml.YAMLError as e:
        raise StudyError(f"study={path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(doc, dict):
        raise StudyError(f"study={path}: expected a mapping of {', '.join(STUDY_KEYS)}")
    unknown = sorted(set(doc) - set(STUDY_KEYS))
    if unknown:
        raise StudyError(f"study={path}: unknown key {unknown[0]!r}; the keys are {', '.join(STUDY_KEYS)}")
    name = doc.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[\w.-]+", name or ""):
        raise StudyError(f"name must be a word (letters, digits, _ . -), got {name!r}")
    methods = _read_methods(doc.get("methods"))
    study = Study(name=name, methods=methods)
    study.preset = doc.get("preset")
    if study.preset is not None and not isinstance(study.preset, str):
        raise StudyError(f"preset must be a preset's name or null, got {study.preset!r}")
    study.scale = doc.get("scale", 1.0) if scale is None else scale
    if isinstance(study.scale, bool) or not isinstance(study.scale, (int, float)) or not 0 < study.scale <= 1e6:
        raise StudyError(f"scale must be a positive number, got {study.scale!r}")
    study.seeds = _int(doc.get("seeds", 1) if seeds is None else seeds, "seeds", 1)
    study.first_seed = _int(doc.get("first_seed", 0), "first_seed", 0)
    study.seeds_together = doc.get("seeds_together", True)
    if not isinstance(study.seeds_together, bool):
        raise StudyError(f"seeds_together must be true or false, got {study.seeds_together!r}")
    study.common = _strings(doc.get("common"), "common")
    _refuse_study_keys(study.common, "common")
    study.extra = _strings(overrides, "overrides")
    _refuse_study_keys(study.extra, "overrides=")
    if evaluate is not None and not isinstance(evaluate, dict):
        raise StudyError(f"evaluate= must be a mapping of {', '.join(EVALUATE_KEYS)}, got {evaluate!r}")
    ev = {**(doc.get("evaluate") or {}), **(evaluate or {})}
    if not isinstance(ev, dict) or set(ev) - set(EVALUATE_KEYS):
        bad = sorted(set(ev) - set(EVALUATE_KEYS)) if isinstance(ev, dict) else ev
        raise StudyError(f"evaluate: unknown {bad!r}; its keys are {', '.join(EVALUATE_KEYS)}")
    study.evaluate = {**EVALUATE_KEYS, **ev}
    _check_evaluate_block(study.evaluate)
    study.published = doc.get("published")
    if study.published is not None:
        if study.published not in published_names():
            raise StudyError(f"published={study.published!r}: no such result set; the sets are "
                             f"{', '.join(published_names())}")
        known = set(_published(study.published)["methods"])
        for m in methods:
            if m.published is not None and m.published not in known:
                raise StudyError(f"method {m.label!r}: published={m.published!r} is not in {study.published}; "
                                 f"its methods are {', '.join(sorted(known))}")
    elif any(m.published for m in methods):
        raise StudyError("a method names published results but the study has no published= set")
    study.out = out or doc.get("out") or os.path.join("studies", name)
    check_output_dir(study.out, StudyError)
    return study


# keys the study sets itself on every run: a method's own value would be dropped or overwritten
STUDY_SET = {"seed": "the study's first_seed", "num_seeds": "the study's seeds", "run_dir": "the study's out"}


def _refuse_study_keys(overrides: Sequence[str], where: str) -> None:
    """Refuses an override of a key the study sets on every run (``STUDY_SET``)."""
    for o in overrides:
        key = o.split("=", 1)[0].lstrip("+~")
        if key in STUDY_SET:
            raise StudyError(f"{where}: {o!r} sets {key}, which the study sets on every run from "
                             f"{STUDY_SET[key]}; remove it and set {STUDY_SET[key].split()[-1]} instead")


def _check_evaluate_block(ev: dict) -> None:
    """The ``evaluate:`` block checked as ``ued.evaluate`` checks its options (before any training)."""
    from ued.evaluate.run import EvaluateError, check_evaluation

    try:
        check_evaluation(num_levels=ev["num_levels"], episodes=ev["episodes"], alphas=ev["alphas"],
                         parallel_episodes=ev["parallel_episodes"], named=ev["named"])
    except EvaluateError as e:
        raise StudyError(f"evaluate: {e}") from None


def _published(name: str) -> dict:
    with open(os.path.join(PUBLISHED_DIR, f"{name}.json")) as f:
        return json.load(f)


def _slug(label: str) -> str:
    """The run directory's name of a label: runs of other characters as ``_``, no leading dot."""
    return re.sub(r"[^\w.-]+", "_", label).strip("_.")  # never empty: load_study refuses a label without a letter


def _compose(overrides: list[str]):
    from hydra import compose, initialize_config_dir

    from ued.run.config import CONF_DIR

    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose(config_name="config", overrides=overrides)


def _scaled(cfg, scale: float) -> list[str]:
    """Overrides that multiply the budget by ``scale`` and keep the evaluation and checkpoint
    intervals valid multiples of the (possibly shorter) chunk."""
    if scale == 1:
        return []
    n = max(1, int(round(cfg.num_updates * scale)))
    chunk = min(cfg.updates_per_chunk, n)

    def every(v):
        return 0 if not v else max(chunk, int(round(v * scale / chunk)) * chunk)

    return [f"num_updates={n}", f"updates_per_chunk={chunk}", f"eval.every={every(cfg.eval.every)}",
            f"checkpoint_every={every(cfg.checkpoint_every)}"]


def plan(study: Study) -> list[Run]:
    """The training runs of a study, each with its full ``ued.train`` command line, checked by
    composing it (a bad override is found here, before anything runs).

    Raises:
        StudyError: naming the method and the problem.
    """
    from ued.run.config import ConfigError, check_overrides, normalise_preset, preflight

    runs = []
    preset = [f"preset={study.preset}"] if study.preset else []
    seed_groups = ([list(range(study.first_seed, study.first_seed + study.seeds))] if study.seeds_together
                   else [[s] for s in range(study.first_seed, study.first_seed + study.seeds)])
    used = set()
    for m in study.methods:
        base = normalise_preset(preset + study.common + m.overrides)
        try:
            check_overrides(base)
            preflight(base)
            if study.extra:  # the command line's sizes, where this method's configuration has the key
                base += _present(study.extra, _compose(base + ["run_dir=x"]), used)
                check_overrides(base)
            cfg = _compose(base + ["run_dir=x"])
        except ConfigError as e:
            raise StudyError(f"method {m.label!r}: {e}") from None
        scaled = _scaled(cfg, study.scale)
        n = int(dict(o.split("=", 1) for o in scaled).get("num_updates", cfg.num_updates))
        for seeds in seed_groups:
            name = _slug(m.label) + ("" if study.seeds_together else f"_seed{seeds[0]}")
            run_dir = os.path.abspath(os.path.join(study.out, "runs", name))
            overrides = base + scaled + [f"seed={seeds[0]}", f"num_seeds={len(seeds)}", f"run_dir={run_dir}",
                                         "progress=false"]
            runs.append(Run(m.label, run_dir, seeds, overrides, n))
    unused = [o for o in study.extra if o not in used]
    if unused:
        raise StudyError(f"overrides=: {unused[0]!r} sets a key that no method's configuration has")
    return runs


def _present(extra: Sequence[str], cfg, used: set) -> list[str]:
    """The command line's ``overrides=`` that ``cfg`` has a key for (a size such as
    ``curriculum.num_samples`` applies to the methods that have it), noted in ``used``."""
    from omegaconf import OmegaConf

    out = []
    for o in extra:
        key = o.split("=", 1)[0].lstrip("+~")
        if "/" in key or OmegaConf.select(cfg, key, default="__missing__") != "__missing__":
            out.append(o)
            used.add(o)
    return out


def _last_checkpoint(run_dir: str) -> int | None:
    from ued.run.checkpoint import checkpoint_dirs

    dirs = checkpoint_dirs(run_dir) if os.path.isdir(run_dir) else []
    return max((u for u, _ in dirs), default=None)


def train_runs(runs: Sequence[Run], verbose: bool = True) -> None:
    """Trains each run to its final update (skipping finished ones, resuming interrupted ones).

    Raises:
        StudyError: a run failed (its exit code and run directory; its checkpoints are kept).
    """
    for i, r in enumerate(runs):
        if _last_checkpoint(r.run_dir) == r.num_updates:
            if verbose:
                print(f"[{i + 1}/{len(runs)}] {r.label} seeds {r.seeds}: already trained ({r.run_dir})")
            continue
        if verbose:
            print(f"[{i + 1}/{len(runs)}] training {r.label} seeds {r.seeds}: {r.num_updates} updates -> {r.run_dir}",
                  flush=True)
        code = subprocess.run([sys.executable, "-m", "ued.train", *r.overrides]).returncode
        if code != 0:
            raise StudyError(f"training {r.label} (seeds {r.seeds}) exited with {code}; its checkpoints are in "
                             f"{r.run_dir}; re-run the study to resume it")


def _evaluation_dir(run: Run) -> str:
    return os.path.join(run.run_dir, "evaluation", f"update_{run.num_updates:08d}")


def evaluate_runs(study: Study, runs: Sequence[Run], verbose: bool = True) -> list[str]:
    """Evaluates each run's final checkpoint with the CVaR protocol (kept when already there with
    the same settings); returns the evaluation directories."""
    from ued.evaluate.run import evaluate_runs as evaluate

    ev = study.evaluate
    out = []
    for r in runs:
        d = _evaluation_dir(r)
        path = os.path.join(d, "summary.json")
        if os.path.isfile(path):
            with open(path) as f:
                s = json.load(f)
            same = (s.get("method") == r.label and s.get("num_levels") == ev["num_levels"]
                    and s.get("episodes") == ev["episodes"]
                    and [float(a) for a in s.get("alphas", [])] == [float(a) for a in ev["alphas"]])
            if same:
                out.append(d)
                continue
        if _last_checkpoint(r.run_dir) != r.num_updates:
            raise StudyError(f"{r.label}: {r.run_dir} is not trained to update {r.num_updates}; run stage=train first")
        [summary] = evaluate([r.run_dir], checkpoint=r.num_updates, num_levels=ev["num_levels"], episodes=ev["episodes"],
                 alphas=ev["alphas"], parallel_episodes=ev["parallel_episodes"], named=ev["named"], label=r.label,
                 verbose=verbose)
        out.append(summary["path"])
    return out


def components(run_dir: str) -> str:
    """What actually ran, from the run's saved configuration: curriculum, score and buffer
    (with its capacity), e.g. ``robust_plr / max_mc / plr_buffer(4000)``."""
    with open(os.path.join(run_dir, "config.yaml")) as f:
        cfg = yaml.safe_load(f)

    def short(node):
        return str(node.get("_target_", "?")).rsplit(".", 1)[-1] if isinstance(node, dict) else None

    parts = [short(cfg.get("curriculum"))]
    if isinstance(cfg.get("score"), dict):
        parts.append(short(cfg["score"]))
    if isinstance(cfg.get("buffer"), dict):
        parts.append(f"{short(cfg['buffer'])}({cfg['buffer'].get('capacity', '?')})")
    return " / ".join(p for p in parts if p)


def _fmt(v) -> str:
    return f"{v[0]:.3f} ± {v[1]:.3f}"


def write_tables(study: Study, runs: Sequence[Run], report: dict) -> dict[str, str]:
    """``table.md`` and ``table.csv``: per method its components, seeds, mean success and CVaR per
    alpha (mean ± standard error over seeds), then the published numbers where the study names them."""
    alphas = [float(a) for a in study.evaluate["alphas"]]
    comp: dict[str, set] = {}
    for r in runs:
        comp.setdefault(r.label, set()).add(components(r.run_dir))
    rows = []
    for m in study.methods:
        e = report["methods"].get(m.label)
        if e is None:
            continue
        rows.append({"method": m.label, "source": "ued", "components": "; ".join(sorted(comp.get(m.label, ()))),
                     "seeds": e["samples"], "mean": e["mean"],
                     **{f"cvar_{a:g}": e["cvar"].get(str(a)) for a in alphas}})
    cite = None
    if study.published:
        pub = _published(study.published)
        cite = pub["citation"]
        for m in study.methods:
            if m.published and m.published in pub["methods"]:
                p = pub["methods"][m.published]
                rows.append({"method": f"{m.label} (paper: {m.published})", "source": "published",
                             "components": p.get("ued", ""), "seeds": p["seeds"], "mean": p["mean"],
                             **{f"cvar_{a:g}": p["cvar"].get(str(a)) for a in alphas}})
    cols = ["method", "source", "components", "seeds", "mean"] + [f"cvar_{a:g}" for a in alphas]
    csv_path = os.path.join(study.out, "table.csv")
    with open(csv_path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols + [f"{c}_se" for c in cols[4:]])
        for row in rows:
            vals = [row[c] for c in cols[4:]]
            w.writerow([row[c] for c in cols[:4]] + [("" if v is None else f"{v[0]:.6f}") for v in vals]
                       + [("" if v is None else f"{v[1]:.6f}") for v in vals])
    md = [f"# Study {study.name}", "",
          f"preset: {study.preset or 'none'}; scale {study.scale:g}; seeds {study.first_seed}..{study.first_seed + study.seeds - 1}"
          f"; evaluation: {study.evaluate['num_levels']} levels x {study.evaluate['episodes']} episodes, two passes "
          "(CVaR of success on the worst alpha% of levels, mean ± standard error over seeds)", "",
          "| method | components | seeds | mean success | " + " | ".join(f"CVaR {a:g}%" for a in alphas) + " |",
          "|" + "---|" * (4 + len(alphas))]
    for row in rows:
        cells = [row["method"], row["components"], str(row["seeds"]), _fmt(row["mean"])]
        cells += ["" if row[f"cvar_{a:g}"] is None else _fmt(row[f"cvar_{a:g}"]) for a in alphas]
        md.append("| " + " | ".join(cells) + " |")
    if cite:
        md += ["", f"Published rows: {cite}; {_published(study.published)['protocol']}. They are the paper's "
               "full-scale runs; a scaled study is not expected to match them."]
    md_path = os.path.join(study.out, "table.md")
    with open(md_path, "w") as f:
        f.write("\n".join(md) + "\n")
    return {"table.md": md_path, "table.csv": csv_path}


def report_study(study: Study, runs: Sequence[Run], eval_dirs: Sequence[str]) -> dict[str, str]:
    """The figures (``ued.report``, with the published curves) and the tables."""
    from ued.report import make_report

    reference = None
    if study.published:
        pub = _published(study.published)
        reference = {"citation": pub["citation"], "methods": {
            f"{m.published} (paper)": pub["methods"][m.published] for m in study.methods if m.published}}
    out = os.path.join(study.out, "report")
    paths = make_report(list(eval_dirs), out, reference=reference)
    with open(os.path.join(out, "report.json")) as f:
        report = json.load(f)
    paths.update(write_tables(study, runs, report))
    return paths


def run_study(study: str, out: str | None = None, scale: float | None = None, stage: str = "all",
              dry_run: bool = False, verbose: bool = True, seeds: int | None = None,
              overrides: Sequence[str] | None = None, evaluate: dict | None = None) -> dict[str, Any]:
    """Runs a study's stages (see the module docstring; ``seeds``, ``overrides`` and ``evaluate``
    as in ``load_study``).

    Returns:
        ``{"runs": [...], "outputs": {name: path}}``.

    Raises:
        StudyError: a bad study file or option, or a failed stage (one line).
    """
    if stage not in STAGES:
        raise StudyError(f"stage={stage!r}: choose one of {', '.join(STAGES)}")
    s = load_study(study, scale=scale, out=out, seeds=seeds, overrides=overrides, evaluate=evaluate)
    runs = plan(s)
    if dry_run:
        for r in runs:
            print("python -m ued.train " + " ".join(r.overrides))
        return {"runs": runs, "outputs": {}}
    os.makedirs(s.out, exist_ok=True)
    with open(os.path.join(s.out, "study.json"), "w") as f:
        json.dump({"study": os.path.abspath(study), "name": s.name, "preset": s.preset, "scale": s.scale,
                   "evaluate": s.evaluate, "published": s.published,
                   "runs": [{"label": r.label, "seeds": r.seeds, "run_dir": r.run_dir, "num_updates": r.num_updates,
                             "command": "python -m ued.train " + " ".join(r.overrides)} for r in runs]}, f, indent=1)
    if stage in ("all", "train"):
        train_runs(runs, verbose=verbose)
    eval_dirs = []
    if stage in ("all", "evaluate"):
        eval_dirs = evaluate_runs(s, runs, verbose=verbose)
    outputs = {}
    if stage in ("all", "report"):
        if not eval_dirs:
            eval_dirs = [_evaluation_dir(r) for r in runs]
            missing = [d for d in eval_dirs if not os.path.isfile(os.path.join(d, "summary.json"))]
            if missing:
                raise StudyError(f"no evaluation at {missing[0]}; run stage=evaluate (or all) first")
        outputs = report_study(s, runs, eval_dirs)
        if verbose:
            print(f"study {s.name}: {outputs['table.md']}, {outputs.get('cvar_curve', '')}")
    return {"runs": runs, "outputs": outputs}


OPTIONS = {
    "study": "the study's YAML file (required)",
    "out": "output directory (default: the file's out, else studies/<name>)",
    "scale": "multiply the budget (num_updates) by this (default: the file's scale)",
    "stage": "all (default) | train | evaluate | report",
    "dry_run": "print the training commands and stop (default false)",
    "seeds": "number of training seeds (default: the file's seeds)",
    "overrides": "ued.train overrides after the file's, for every run whose configuration has the key, e.g. "
                 "overrides=[num_envs=8,num_steps=64,curriculum.num_samples=500]",
    "evaluate": "evaluation settings replacing the file's, e.g. evaluate=[num_levels=100,episodes=2]",
}
USAGE = ("usage: python -m ued.study study=FILE [out=DIR] [scale=X] [stage=all|train|evaluate|report] [dry_run=true] "
         "[seeds=N] [overrides=[...]] [evaluate=[...]]")


def _override_list(text: str, key: str) -> list[str]:
    """``[a=1,b.c=[x,y]]`` -> ``["a=1", "b.c=[x,y]"]``: split at the commas outside brackets."""
    body = text.strip()
    if not (body.startswith("[") and body.endswith("]")):
        raise StudyError(f"{key}= takes a list of key=value in brackets, e.g. {key}=[num_levels=100], got {text!r}")
    items, depth, cur = [], 0, ""
    for ch in body[1:-1]:
        depth += 1 if ch in "[{(" else -1 if ch in "]})" else 0
        if ch == "," and depth == 0:
            items.append(cur.strip())
            cur = ""
        else:
            cur += ch
    items = [i for i in items + [cur.strip()] if i]
    bad = [i for i in items if "=" not in i]
    if bad:
        raise StudyError(f"{key}=: {bad[0]!r} is not key=value")
    return items


def main(argv: Sequence[str] | None = None) -> int:
    """The ``python -m ued.study`` command; returns the exit code."""
    from ued.evaluate.run import EvaluateError
    from ued.report import ReportError
    from ued.run.checkpoint import CheckpointError

    argv = sys.argv[1:] if argv is None else argv
    try:
        args = parse_options(argv, OPTIONS, StudyError, USAGE, text=("study", "out", "stage", "overrides", "evaluate"))
        if "overrides" in args:
            args["overrides"] = _override_list(args["overrides"], "overrides")
        if "evaluate" in args:
            args["evaluate"] = {k: parse_cli_value(v) for k, v in
                                (o.split("=", 1) for o in _override_list(args["evaluate"], "evaluate"))}
        if "study" not in args:
            raise StudyError(f"study= is required; {USAGE}")
        if not isinstance(args.get("dry_run", False), bool):
            raise StudyError(f"dry_run must be true or false, got {args['dry_run']!r}")
        run_study(**args)
    except (StudyError, EvaluateError, ReportError, CheckpointError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
