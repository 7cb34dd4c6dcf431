"""Resume policy: which checkpoint a run continues from, with which configuration, and what
may change on the way."""

from __future__ import annotations

import os
import sys
from typing import Any

from omegaconf import DictConfig, OmegaConf

from ued.run.checkpoint import (DAMAGED_PREFIX, CHECKPOINT_DIR, CheckpointDamaged, CheckpointInfo, checkpoint_dirs,
                                read_checkpoint, restore_state)
from ued.run.config import ConfigError
from ued.run.history import check_history

# Settings a resumed run may change: they do not touch the training state or what it computes
# (num_updates changes the learning-rate schedule from the resumed update on; that is allowed).
SAFE_TO_CHANGE = ("logger", "progress", "num_updates", "updates_per_chunk", "eval", "checkpoint_every",
                  "keep_checkpoints", "resume", "session_updates", "on_nonfinite", "run_dir", "notes",
                  "devices", "shard", "distributed")  # where it runs: a checkpoint resumes on any number of devices


# Sizes the run's counters and state depend on: a resume that changes one is refused
# (env_steps = update x num_envs x num_steps; the seeds' state and keys; the evaluation keys
# derive from seed). Changes of shapes elsewhere (agent width, buffer capacity) are refused by
# the state's manifest.
FIXED_ON_RESUME = ("num_envs", "num_steps", "num_seeds", "seed")


def _flat(d, prefix=""):
    out = {}
    if isinstance(d, dict):
        for k, v in d.items():
            out.update(_flat(v, f"{prefix}{k}."))
        if not d and prefix:
            out[prefix[:-1]] = {}
    else:
        out[prefix[:-1]] = d
    return out


def config_differences(old: dict, new: dict) -> list[tuple[str, Any, Any]]:
    """``(dotted key, old value, new value)`` for every leaf that differs between two configs."""
    a, b = _flat(old), _flat(new)
    missing = "<absent>"
    return [(k, a.get(k, missing), b.get(k, missing)) for k in sorted(set(a) | set(b)) if a.get(k, missing) != b.get(k, missing)]


def is_safe_change(key: str) -> bool:
    """Whether a resumed run may change this dotted config key (see ``SAFE_TO_CHANGE``)."""
    return any(key == s or key.startswith(s + ".") for s in SAFE_TO_CHANGE)


def restore_run_state(info: CheckpointInfo, cfg: DictConfig, init, keys, subject: str):
    """Restores a checkpoint's ``TrainState`` for a run configured by ``cfg``.

    Args:
        info: the checkpoint.
        cfg: the configuration the state is restored for.
        init: the run's ``init`` (only its output's structure is used).
        keys: ``init``'s argument.
        subject: how errors name the configuration (e.g. "this run's configuration").

    Returns:
        ``(state, unsafe)``: the state, and ``"key: old -> new"`` for every setting that differs
        from the checkpoint's and is not in ``SAFE_TO_CHANGE`` (named in the error when the
        state does not fit).

    Raises:
        CheckpointError: the state does not fit, or the checkpoint cannot be read.
    """
    import jax

    unsafe = [f"{k}: {a!r} -> {b!r}" for k, a, b in
              config_differences(info.meta["config"], OmegaConf.to_container(cfg, resolve=True)) if not is_safe_change(k)]
    what = subject + (", which differs from the checkpoint's in " + "; ".join(unsafe) if unsafe else "")
    return restore_state(info, jax.eval_shape(init, keys), what), unsafe


def check_fixed_sizes(ckpt: CheckpointInfo, cfg: DictConfig) -> None:
    """Refuses a resume that changes a key of ``FIXED_ON_RESUME``.

    Raises:
        ConfigError: naming every such key with its saved and new value.
    """
    saved = ckpt.meta["config"]
    changed = [(k, saved.get(k), cfg.get(k)) for k in FIXED_ON_RESUME if k in saved and saved.get(k) != cfg.get(k)]
    if changed:
        what = ", ".join(f"{k}: {a!r} -> {b!r}" for k, a, b in changed)
        keep = " ".join(f"{k}={a}" for k, a, _ in changed)
        raise ConfigError(f"cannot resume {ckpt.path} with {what}: the run's counters and state depend on "
                          f"{'it' if len(changed) == 1 else 'them'}; resume with {keep} or choose another run_dir")


def resume_config(saved: dict, cfg: DictConfig, overrides: list[str] | None) -> tuple[DictConfig, list[str]]:
    """The configuration a resumed run continues with, and notes on what was not applied.

    With ``overrides`` (the command line's, from Hydra), the saved configuration is the base and
    only the overridden keys take their new values, so ``python -m ued.train run_dir=DIR``
    continues the run as it was configured. Without them (a Python call), ``cfg`` is taken whole.
    """
    if overrides is None:
        return cfg, []
    out = OmegaConf.create(saved)
    notes = []
    for o in overrides:
        key = o.split("=", 1)[0].lstrip("+~")
        if key.startswith("hydra.") or key in ("run_dir", "resume"):
            continue
        node = OmegaConf.select(cfg, key, default="__missing__")
        if isinstance(node, str) and node == "__missing__":
            notes.append(f"override {o!r} not applied on resume (its keys are already in the saved config; "
                         "set the keys it changes directly)")
            continue
        value = OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node
        OmegaConf.update(out, key, value, merge=False, force_add=True)
    return out, notes


def note_schedule_change(ckpt: CheckpointInfo, cfg: DictConfig) -> None:
    """Says how a changed ``num_updates`` moves an annealed learning rate (allowed, but visible)."""
    ppo = cfg.agent.get("ppo", {})
    changed = config_differences(ckpt.meta["config"], OmegaConf.to_container(cfg, resolve=True))
    for key, old, new in changed:
        if key == "num_updates" and ppo.get("anneal_lr", False) and isinstance(old, int) and old > 0:
            u, lr = ckpt.update, float(ppo.lr)
            print(f"note: num_updates {old} -> {new} with agent.ppo.anneal_lr=true: the learning rate now anneals to 0 "
                  f"at update {new}, so at update {u} it is {lr * max(0.0, 1 - u / new):.3g} instead of "
                  f"{lr * max(0.0, 1 - u / old):.3g}", file=sys.stderr)


def damaged_checkpoints(run_dir: str) -> list[str]:
    """Checkpoints of a run moved aside as damaged (``checkpoints/damaged-update_*``)."""
    root = os.path.join(run_dir, CHECKPOINT_DIR)
    if not os.path.isdir(root):
        return []
    return sorted(os.path.join(root, n) for n in os.listdir(root) if n.startswith(DAMAGED_PREFIX))


def newest_readable_checkpoint(run_dir: str, warn=None) -> CheckpointInfo | None:
    """The newest checkpoint whose metadata reads, moving damaged ones aside (``move_aside``).

    Args:
        run_dir: the run directory.
        warn: called with a message for each checkpoint moved aside.
    """
    from ued.run.checkpoint import move_aside

    for _, path in reversed(checkpoint_dirs(run_dir)):
        try:
            return read_checkpoint(path)
        except CheckpointDamaged as e:
            dest = move_aside(path)
            if warn is not None:
                warn(f"{e}; moved it to {dest} and looking for an earlier checkpoint")
    return None


def find_checkpoint(cfg: DictConfig, run_dir: str, warn=None) -> CheckpointInfo | None:
    """The checkpoint to resume from under the ``resume`` setting, or None to start afresh.

    Damaged checkpoints met on the way are moved aside (with ``warn``). When every checkpoint
    of a run is damaged, the run is refused rather than restarted over its logs.

    Raises:
        ConfigError: ``resume=true`` without a checkpoint, ``resume=false`` on a used directory, a
            run directory whose parts disagree (``ued.run.history.check_history``).
        CheckpointDamaged: the run has checkpoints, all damaged.
    """
    info = newest_readable_checkpoint(run_dir, warn) if cfg.resume is not False else None
    if info is None and cfg.resume is not False:
        refuse_if_all_damaged(run_dir)
    if cfg.resume is True and info is None:
        raise ConfigError(f"resume=true but {run_dir} has no checkpoint to resume from")
    if cfg.resume is False:
        found = checkpoint_dirs(run_dir)
        if found:
            raise ConfigError(f"{run_dir} already holds a run (checkpoint at update {found[-1][0]}); "
                              "use resume=auto to continue it or choose another run_dir")
        metrics = os.path.join(run_dir, "metrics.jsonl")
        if os.path.exists(metrics) and os.path.getsize(metrics) > 0:
            raise ConfigError(f"{run_dir} already holds a run's metrics; choose another run_dir")
    check_history(run_dir, info, cfg, warn)
    return info


def refuse_if_all_damaged(run_dir: str) -> None:
    """Raises ``CheckpointDamaged`` when a run has damaged checkpoints and no intact one."""
    damaged = damaged_checkpoints(run_dir)
    if damaged and not checkpoint_dirs(run_dir):
        raise CheckpointDamaged(f"every checkpoint of {run_dir} is damaged (kept as {', '.join(damaged)}); the "
                                "run's logs were not touched. To start the run afresh, move its checkpoints/, "
                                "metrics.jsonl and eval.jsonl away, or choose another run_dir")
