"""The configuration's schema (Hydra structured config) and the package's config tree: unknown keys
and wrong types are refused by Hydra; ``ConfigError`` is every other refusal.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

# The configuration tree ships inside the package (``ued/conf``): found by Hydra as ``pkg://ued.conf``
# and read as files here (group listings, wiring checks), in an editable or a wheel install alike.
CONF_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "conf")
CONF_PACKAGE = "pkg://ued.conf"
RESUME_MODES = ("auto", True, False)
PROGRESS_MODES = ("auto", True, False)
NONFINITE_MODES = ("stop", "skip")


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the key, the value and what is allowed."""


# ---------------------------------------------------------------------------------------
# The schema (Hydra structured config): unknown keys and wrong types are refused by Hydra
# ---------------------------------------------------------------------------------------
@dataclass
class EvalSchema:
    enabled: bool = True
    at_start: bool = True
    every: int = 50
    attempts: int = 10
    render: bool = True
    render_levels: int = 2
    random_levels: int = 100
    cvar_alphas: List[float] = field(default_factory=lambda: [10.0, 50.0])


@dataclass
class LoggerSchema:
    wandb: bool = False
    project: str = "ued"
    entity: Optional[str] = None
    mode: str = "online"
    tags: List[str] = field(default_factory=list)


@dataclass
class UEDSchema:
    """The run-level keys of ``conf/config.yaml`` and their types.

    Components (``env``, ``agent``, ``curriculum`` and the component groups its YAML lists,
    ``score`` and ``buffer``) are checked by their own factories. Free-form keys go under
    ``notes`` (``+notes.purpose=ablation``): saved with the run's config, read by nothing.
    """

    env: Any = MISSING
    agent: Any = MISSING
    curriculum: Any = MISSING
    score: Any = None
    buffer: Any = None
    logger: LoggerSchema = field(default_factory=LoggerSchema)
    eval: EvalSchema = field(default_factory=EvalSchema)
    seed: int = 0
    num_seeds: int = 1
    num_envs: int = 32
    num_steps: int = 256
    num_updates: int = 400
    updates_per_chunk: int = 25
    progress: Any = "auto"
    run_dir: str = MISSING
    checkpoint_every: int = 50
    keep_checkpoints: int = 3
    resume: Any = "auto"
    session_updates: Optional[int] = None
    on_nonfinite: str = "stop"
    devices: Any = "all"
    shard: str = "auto"
    distributed: bool = False
    notes: Dict[str, Any] = field(default_factory=dict)


ConfigStore.instance().store(name="ued_schema", node=UEDSchema)


def check_schema(cfg: DictConfig, schema=UEDSchema, prefix: str = "") -> None:
    """Refuses keys the schema does not declare. Hydra refuses ``foo=1`` and wrong types itself,
    but ``+foo=1`` force-adds the key past a structured config; this catches it.

    Raises:
        ConfigError: naming the unknown key and where free-form keys go.
    """
    import dataclasses
    import typing

    fields = typing.get_type_hints(schema)
    for key in cfg.keys():
        if key not in fields:
            known = ", ".join(sorted(fields))
            raise ConfigError(f"unknown key {prefix}{key}: the keys here are {known}; "
                              f"put free-form keys under notes (+notes.{key}=...)")
        sub = fields[key]
        if isinstance(sub, type) and dataclasses.is_dataclass(sub) and OmegaConf.is_dict(cfg[key]):
            check_schema(cfg[key], sub, f"{prefix}{key}.")
