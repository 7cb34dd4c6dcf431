"""Published CVaR results of the SFL paper, recomputed from the per-level files its authors released.

    python experiments/published_results.py /path/to/sampling-for-learnability   # a checkout or a bare git dir

Rutherford et al. 2024 ("No Regrets", NeurIPS) released, for each method and training seed, the
win rate of the trained policy on each of 10,000 evaluation levels, measured twice with
independent rollouts (``sfl/data/eval/results/<domain>/eval_10000_envs_seed_{0,1}/<run>/<seed>.csv``).
Their protocol ranks the levels by the first measurement and averages the second over the worst
alpha% (so the selection does not bias the estimate); the figure shows the mean over training
seeds with the standard error. This script applies that protocol to the released files and
writes ``ued/published/sfl_<domain>.json``, which ``ued.study`` draws beside a study's own
curves. Nothing is copied but the numbers.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys

import numpy as np

ALPHAS = [0.01, 0.1, 1, 2, 5, 10, 20, 50, 100]
TOTAL = 10_000
SEEDS = 10
# run name in the released files -> the paper's label, and the ued curriculum/score it corresponds to
DOMAINS = {
    "minigrid": ("sfl_minigrid", {
        "minigrid_dr_single_v1": ("DR", "dr"),
        "minigrid_plr_maxmc_single_v1": ("PLR-MaxMC", "plr"),
        "minigrid_plr_pvl_single_v1": ("PLR-PVL", "plr score=pvl"),
        "minigrid_plr_l1vl_single_v1": ("PLR-L1VL", "plr score=l1_value_loss"),
        "minigrid_robust_plr_maxmc_single_v1": ("RobustPLR", "robust_plr"),
        "minigrid_accel_maxmc_fixed_single_v1": ("ACCEL-MaxMC", "accel"),
        "minigrid_robust_accel_maxmc_fixed_single_v1": ("RobustACCEL", "accel curriculum.exploratory_grad_updates=false"),
        "minigrid_learnability_single_v3_fixed": ("SFL", "sfl"),
    }),
    "jaxnav-single": ("sfl_jaxnav", {
        "rsim_dr_single_v4": ("DR", "dr"),
        "rsim_plr_maxmc_single_v4": ("PLR-MaxMC", "plr"),
        "rsim_plr_pvl_single_v4": ("PLR-PVL", "plr score=pvl"),
        "rsim_plr_l1vl_single_v4": ("PLR-L1VL", "plr score=l1_value_loss"),
        "rsim_robust_plr_maxmc_fixed_single_v2_good": ("RobustPLR", "robust_plr"),
        "rsim_accel_maxmc_fixed_single_v4": ("ACCEL-MaxMC", "accel"),
        "rsim_robust_accel_maxmc_fixed_single_v2_good": ("RobustACCEL", "accel curriculum.exploratory_grad_updates=false"),
        "rsim_learnability_single_v4": ("SFL", "sfl"),
    }),
}


def _reader(repo: str):
    bare = not os.path.isdir(os.path.join(repo, "sfl"))

    def read(path: str) -> str:
        if bare:
            return subprocess.run(["git", "-C", repo, "show", f"HEAD:{path}"], capture_output=True, text=True,
                                  check=True).stdout
        with open(os.path.join(repo, path)) as f:
            return f.read()

    return read


def win_rates(read, domain: str, run: str, rollout: int, seed: int) -> np.ndarray:
    text = read(f"sfl/data/eval/results/{domain}/eval_{TOTAL}_envs_seed_{rollout}/{run}/{seed}.csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    ids = np.array([int(r["env-id"]) for r in rows])
    assert (ids == np.arange(TOTAL)).all(), f"{run}/{seed}: levels out of order"
    return np.array([float(r["win-rates"]) for r in rows])


def cvar_unbiased(select: np.ndarray, measure: np.ndarray, alpha: float) -> float:
    """Mean of ``measure`` over the ``int(alpha% x N)`` levels lowest in ``select`` (at least one)."""
    n = max(1, int(alpha / 100 * len(select)))
    order = np.argsort(select, kind="stable")
    return float(measure[order[:n]].mean())


def main(repo: str) -> None:
    read = _reader(repo)
    out_dir = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "ued", "published")
    for domain, (name, runs) in DOMAINS.items():
        methods = {}
        for run, (label, ued_method) in runs.items():
            try:
                per_seed = [(win_rates(read, domain, run, 0, s), win_rates(read, domain, run, 1, s)) for s in range(SEEDS)]
            except (subprocess.CalledProcessError, FileNotFoundError):
                print(f"skip {domain}/{run}: not released", file=sys.stderr)
                continue
            cvar = {}
            for a in ALPHAS:
                vals = np.array([cvar_unbiased(first, second, a) for first, second in per_seed])
                cvar[str(float(a))] = [float(vals.mean()), float(vals.std() / np.sqrt(len(vals)))]
            means = np.array([second.mean() for _, second in per_seed])
            methods[label] = {"run": run, "ued": ued_method, "seeds": len(per_seed), "cvar": cvar,
                              "mean": [float(means.mean()), float(means.std() / np.sqrt(len(means)))]}
        doc = {
            "citation": "Rutherford et al. 2024, No Regrets: Investigating and Improving Regret Approximations for "
                        "Curriculum Discovery (NeurIPS); per-level results released at "
                        f"github.com/amacrutherford/sampling-for-learnability, sfl/data/eval/results/{domain}",
            "protocol": "10,000 levels; levels ranked by the first rollout (eval_10000_envs_seed_0), success "
                        "averaged from the second (seed_1) over the worst alpha%; mean and standard error "
                        "(std / sqrt(seeds)) over training seeds",
            "alphas": [float(a) for a in ALPHAS],
            "methods": methods,
        }
        path = os.path.join(out_dir, f"{name}.json")
        with open(path, "w") as f:
            json.dump(doc, f, indent=1)
        print(f"wrote {path}: {', '.join(methods)}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/work/.mirror/amacrutherford+sampling-for-learnability/repo")
