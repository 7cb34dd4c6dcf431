"""A run directory's parts checked against each other before a session writes anything.

A run directory holds its history twice: in its logs (``metrics.jsonl``, ``eval.jsonl``) and in
its checkpoints. A resume cuts the logs back to the checkpoint it continues from, which is right
after a kill between two checkpoints (those rows are produced again, bit for bit) and wrong when
the checkpoints are gone: the run would start over and write over its history. So:

- ``checkpoints`` that is not a directory is refused (nothing could be read or saved);
- logs that reach an update at which a checkpoint was saved, with no checkpoint left, are
  refused (the run would start from update 0 over them);
- logs that stop before the checkpoint's update (a deleted or cut ``metrics.jsonl``) are said
  in a warning: the resumed file continues from the checkpoint's update, with a gap.
"""

from __future__ import annotations

import os

from omegaconf import DictConfig, OmegaConf

from ued.run.checkpoint import CHECKPOINT_DIR, CheckpointInfo
from ued.run.config import ConfigError
from ued.run.logger import LogFileError, read_jsonl

LOGS = ("metrics.jsonl", "eval.jsonl")


def last_logged_update(path: str) -> int | None:
    """The highest ``update`` of a JSONL log's rows; None when the file is missing, empty or
    damaged (a damaged file is refused later, by the step that repairs the logs)."""
    if not os.path.isfile(path):
        return None
    try:
        updates = [r.get("update") for r in read_jsonl(path)]
    except (LogFileError, OSError):
        return None
    updates = [u for u in updates if isinstance(u, int)]
    return max(updates) if updates else None


def first_save(run_dir: str, cfg: DictConfig) -> int:
    """The first update at which the run saved (or would have saved) a checkpoint, from the
    configuration it wrote (``config.yaml``), else ``cfg``'s: ``checkpoint_every`` or, with 0,
    the end. A stopped run also saves, so logs past this update imply a checkpoint."""
    saved = cfg
    path = os.path.join(run_dir, "config.yaml")
    if os.path.isfile(path):
        try:
            saved = OmegaConf.load(path)
        except Exception:  # an unreadable config.yaml: judge by this session's settings
            saved = cfg
    every, total = saved.get("checkpoint_every", 0) or 0, saved.get("num_updates", 1) or 1
    return min(every, total) if isinstance(every, int) and every > 0 else total


def check_history(run_dir: str, info: CheckpointInfo | None, cfg: DictConfig, warn=None) -> None:
    """Refuses a session that would train over a run's history; warns where history is missing.

    Args:
        run_dir: the run directory.
        info: the checkpoint the session resumes from, or None for a start from update 0.
        cfg: the session's configuration.
        warn: called with a message for logs that stop before the checkpoint.

    Raises:
        ConfigError: ``checkpoints`` is not a directory, or logs past the first checkpoint's update
            with no checkpoint to resume from; one line naming what is inconsistent and what to do.
    """
    root = os.path.join(run_dir, CHECKPOINT_DIR)
    if os.path.lexists(root) and not os.path.isdir(root):
        raise ConfigError(f"{root} is not a directory, so this run's checkpoints can be neither read nor saved; "
                          "move it away (or put the checkpoints directory back) and run again")
    logged = {name: last_logged_update(os.path.join(run_dir, name)) for name in LOGS}
    if info is None:
        reach = max((u for u in logged.values() if u is not None), default=None)
        if reach is not None and reach >= first_save(run_dir, cfg):
            state = "is missing" if not os.path.lexists(root) else "holds no checkpoint"
            raise ConfigError(f"{run_dir} has logs up to update {reach} but {CHECKPOINT_DIR}/ {state}: a new run "
                              f"would start from update 0 over that history; put the checkpoints back to resume, "
                              f"or move metrics.jsonl and eval.jsonl away to start afresh, or choose another run_dir")
        return
    u = logged["metrics.jsonl"]
    if (u is None or u < info.update) and warn is not None:
        have = "is missing or has no rows" if u is None else f"stops at update {u}"
        warn(f"metrics.jsonl {have} but the checkpoint is at update {info.update}: the rows before it are not "
             f"there, and the resumed file continues from update {info.update + 1}")
