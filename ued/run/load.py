"""Load a trained agent from a run directory: ``ued.load(run_dir)``."""

from __future__ import annotations

import os
import sys
from typing import Any, NamedTuple

import jax
from omegaconf import DictConfig, OmegaConf

from ued.run.checkpoint import (CheckpointDamaged, CheckpointError, CheckpointInfo, CheckpointVanished, checkpoint_dirs,
                                latest_checkpoint, read_checkpoint)
from ued.run.config import ConfigError, build_components
from ued.run.resume import restore_run_state


class LoadedRun(NamedTuple):
    """A trained run, restored from one of its checkpoints.

    Attributes:
        config: the run's resolved configuration (``DictConfig``).
        level_space: its ``LevelSpace``.
        agent: its ``Agent`` (``agent.apply(params, carry, obs, resets)``).
        params: the agent parameters; with ``num_seeds > 1`` every leaf has a leading seed axis
            (use ``seed_params``).
        state: the whole ``TrainState`` (optimizer and curriculum state included).
        update: updates done when the checkpoint was saved.
        path: the checkpoint's directory.
        components: the built components (``ued.run.config.Components``), e.g. ``components.curriculum``.
    """

    config: DictConfig
    level_space: Any
    agent: Any
    params: Any
    state: Any
    update: int
    path: str
    components: Any

    @property
    def num_seeds(self) -> int:
        return int(self.config.num_seeds)

    def seed_params(self, seed: int = 0):
        """The parameters of one seed (the only ones when the run trained a single seed)."""
        if self.num_seeds == 1:
            if seed != 0:
                raise ValueError(f"this run trained one seed; seed must be 0, got {seed}")
            return self.params
        if not 0 <= seed < self.num_seeds:
            raise ValueError(f"seed must be in [0, {self.num_seeds}), got {seed}")
        return jax.tree.map(lambda x: x[seed], self.params)


def find_checkpoint(run_dir: str, checkpoint: int | str | None = None) -> CheckpointInfo:
    """The checkpoint of a run: the latest (None), the one of an update (int) or a directory (str).

    Raises:
        CheckpointError: no such checkpoint, or it is partial or corrupted.
    """
    if checkpoint is None:
        info = latest_checkpoint(run_dir)
        if info is None:
            what = "is not a directory" if not os.path.isdir(run_dir) else "has no checkpoint (checkpoints/update_*)"
            raise CheckpointError(f"run directory {run_dir} {what}")
        return info
    if isinstance(checkpoint, int):
        found = dict(checkpoint_dirs(run_dir))
        if checkpoint not in found:
            raise CheckpointError(f"run directory {run_dir} has no checkpoint of update {checkpoint}; it has "
                                  f"{sorted(found) or 'none'}")
        return read_checkpoint(found[checkpoint])
    path = checkpoint if os.path.isabs(checkpoint) or os.path.isdir(checkpoint) else os.path.join(run_dir, checkpoint)
    return read_checkpoint(path)


ROTATION_RETRIES = 5  # how often a read of the latest checkpoint starts again when training rotated it away


def load(run_dir: str, checkpoint: int | str | None = None, overrides: dict | None = None) -> LoadedRun:
    """Restores a trained run for use in Python or the evaluator.

    Reading the latest checkpoint of a run that is still training is safe: when the training run
    removes that checkpoint while it is being read (its ``keep_checkpoints`` rotation), the read
    starts again on the newest one, with a note on stderr; a vanished checkpoint is never called
    damaged.

    Args:
        run_dir: the run directory (holding ``checkpoints/``).
        checkpoint: None for the latest, an update number, or a checkpoint directory.
        overrides: dotted config keys to change before building (e.g. ``{"eval.random_levels": 0}``);
            anything that changes the state's shapes fails with the differing leaves named. The run
            is loaded on one device of this process (``devices=1``, ``distributed=false``) unless
            overridden here.

    Returns:
        A ``LoadedRun``.

    Raises:
        CheckpointError: no checkpoint, or a partial/corrupted one, or one that does not fit.
    """
    if os.path.exists(run_dir) and not os.path.isdir(run_dir):
        raise CheckpointError(f"run directory {run_dir} is a file, not a directory")
    for _ in range(ROTATION_RETRIES):
        try:
            info = find_checkpoint(run_dir, checkpoint)
            return _load_checkpoint(run_dir, info, overrides)
        except CheckpointVanished as e:
            if checkpoint is not None or not checkpoint_dirs(run_dir):
                raise
            print(f"note: checkpoint {e.path} was removed while it was being read (a training run writing to "
                  f"{run_dir} rotates its checkpoints: keep_checkpoints); reading the newest one instead",
                  file=sys.stderr)
    raise CheckpointError(f"the latest checkpoint of {run_dir} was removed while being read {ROTATION_RETRIES} times "
                          "in a row (a training run rotating them faster than they can be read); pass checkpoint=N "
                          "of one it keeps, or raise its keep_checkpoints")


def _load_checkpoint(run_dir: str, info: CheckpointInfo, overrides: dict | None) -> LoadedRun:
    """``load`` of one checkpoint: the run's configuration (``config.yaml``, else the checkpoint's),
    its components, and the state restored and verified."""
    config_file = os.path.join(run_dir, "config.yaml")  # the run's configuration (a checkpoint may come from elsewhere)
    if os.path.exists(config_file):
        try:
            cfg = OmegaConf.load(config_file)
        except Exception as e:  # noqa: BLE001 - yaml and OmegaConf parse errors
            first = (str(e).splitlines() or [type(e).__name__])[0]
            raise CheckpointError(f"{config_file} is not a valid configuration ({first}); restore it, or delete it to "
                                  f"use the configuration saved in the checkpoint {info.path}") from None
        if not isinstance(cfg, DictConfig) or "env" not in cfg or "agent" not in cfg:
            raise CheckpointError(f"{config_file} is not a run's configuration (no env/agent keys); restore it, or "
                                  f"delete it to use the configuration saved in the checkpoint {info.path}")
    else:
        cfg = OmegaConf.create(info.meta["config"])
    # a loaded run lives in this one process, on its default device, whatever it was trained on
    placement = {"devices": 1, "shard": "auto", "distributed": False}
    for key, value in {**placement, **(overrides or {})}.items():
        OmegaConf.update(cfg, key, value, merge=False, force_add=True)
    try:
        parts = build_components(cfg)
    except ConfigError as e:
        raise CheckpointError(f"the configuration of {run_dir} does not build: {e}") from None
    keys = jax.random.split(jax.random.key(0), cfg.num_seeds) if cfg.num_seeds > 1 else jax.random.key(0)
    try:
        state, _ = restore_run_state(info, cfg, parts.trainer.init, keys, f"the configuration of {run_dir}")
    except CheckpointDamaged as e:
        others = [u for u, p in checkpoint_dirs(run_dir) if os.path.abspath(p) != os.path.abspath(info.path)]
        hint = (f"; the run's other checkpoints are updates {others} (pass checkpoint=N)" if others
                else "; the run has no other checkpoint")
        raise CheckpointDamaged(f"{e}{hint}") from None
    return LoadedRun(config=cfg, level_space=parts.level_space, agent=parts.agent, params=state.params, state=state,
                     update=info.update, path=info.path, components=parts)
