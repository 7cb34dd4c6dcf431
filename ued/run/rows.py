"""Metric rows: what a chunk of updates and an evaluation write to ``metrics.jsonl`` / ``eval.jsonl``."""

from __future__ import annotations

import numpy as np

from ued.evaluate.cvar import cvar_from_passes, worst_count


def update_rows(metrics: dict, first_update: int, steps_per_update: int, curriculum_steps_end, num_seeds: int):
    """Per-update (and per-seed) JSON rows from a chunk's metrics.

    Args:
        metrics: the chunk's metrics, ``(length,)`` arrays (``(S, length)`` with seeds); the
            loop's ``curriculum_env_steps`` is each update's spend.
        first_update: updates done before the chunk.
        steps_per_update: env steps of the training rollouts per update.
        curriculum_steps_end: the state's exact ``curriculum_env_steps`` after the chunk (an int,
            or a list with one per seed).
        num_seeds: seeds trained together.

    Returns:
        Rows with ``update``, ``env_steps`` (training), ``curriculum_env_steps`` and
        ``total_env_steps`` (cumulative, exact), ``seed`` (with several) and every metric.
    """
    metrics = {k: np.asarray(v) for k, v in metrics.items()}
    if num_seeds == 1:
        metrics = {k: v[None] for k, v in metrics.items()}
        curriculum_steps_end = [curriculum_steps_end]
    spent = metrics.pop("curriculum_env_steps").astype(np.int64)
    n = spent.shape[1]
    rows = []
    for s in range(num_seeds):
        # the cumulative count after update i: the exact total at the chunk's end less what came after
        after = np.concatenate([np.cumsum(spent[s, ::-1])[::-1][1:], [0]])
        for i in range(n):
            update = first_update + i + 1
            curriculum = int(curriculum_steps_end[s]) - int(after[i])
            row = {"update": update, "env_steps": update * steps_per_update, "curriculum_env_steps": curriculum,
                   "total_env_steps": update * steps_per_update + curriculum}
            if num_seeds > 1:
                row["seed"] = s
            row.update({k: float(v[s, i]) for k, v in metrics.items()})
            rows.append(row)
    return rows


def eval_row(results: dict, names, update: int, env_steps: int, seed_axis: bool, alphas=()) -> dict:
    """Flat eval row: ``eval/{named,random}/{greedy,sampled}/{metric}_mean``, for the named
    levels ``eval/named/{mode}/{metric}/{level}``, and for the random levels the CVaR of the
    sampled policy's success from the protocol's two passes, ``eval/random/cvar/{alpha}``
    (unbiased: ranked by pass 1, scored by pass 2) and ``eval/random/cvar_biased/{alpha}``
    (means over seeds)."""
    row = {"update": update, "env_steps": env_steps}
    random = results.get("random")
    if random is not None and "cvar_passes" in random:
        n = np.shape(random["cvar_passes"][0])[-1]
        p1, p2 = (np.asarray(p).reshape(-1, n) for p in random["cvar_passes"])
        usable = [a for a in alphas if worst_count(a, n) >= 1]
        if usable:
            per_seed = [cvar_from_passes(a, b, usable) for a, b in zip(p1, p2)]
            for a in usable:
                row[f"eval/random/cvar/{a:g}"] = float(np.mean([r.cvar[float(a)] for r in per_seed]))
                row[f"eval/random/cvar_biased/{a:g}"] = float(np.mean([r.cvar_biased[float(a)] for r in per_seed]))
    for set_name, result in results.items():
        for mode in ("greedy", "sampled"):
            for metric, values in result[mode].items():
                values = np.asarray(values)
                per_level = values.mean(axis=0) if seed_axis else values
                if set_name == "named":
                    for name, v in zip(names, per_level):
                        row[f"eval/named/{mode}/{metric}/{name}"] = float(v)
                row[f"eval/{set_name}/{mode}/{metric}_mean"] = float(per_level.mean())
    return row


def first_nonfinite(rows: list[dict]) -> tuple[dict, str] | None:
    """The first row with a non-finite loss (any metric named ``*loss``) or parameters."""
    for row in sorted(rows, key=lambda r: (r["update"], r.get("seed", 0))):
        for k, v in row.items():
            if (k.endswith("loss") and not np.isfinite(v)) or (k == "nonfinite" and v):
                return row, k
    return None
