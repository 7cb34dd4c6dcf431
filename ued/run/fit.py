"""Whether a preset fits the level space a command line ends up with, checked before anything runs.

A preset (``conf/preset/NAME.yaml``) sets a level space's settings by name (``env.map_size`` for
JaxNav, ``env.sample_n_walls`` for the maze). Combined with another level space, chosen by
``env=`` or by a curriculum that selects its own (``curriculum=maestro`` selects LaserTag), those
settings reach a function that does not take them; this names the preset, the setting and the
level space instead of the function's ``TypeError``.
"""

from __future__ import annotations

import inspect
import os

import yaml
from omegaconf import DictConfig

from ued.run.config import CONF_DIR, ConfigError, curriculum_level_spaces, hydra_overrides


def target_parameters(target: str) -> set[str] | None:
    """The keyword parameters of the function a ``_target_`` names; None when it takes ``**kwargs``
    or cannot be imported (the component reports then)."""
    from hydra.utils import get_method

    try:
        params = inspect.signature(get_method(target)).parameters.values()
    except Exception:  # noqa: BLE001 - an optional package missing: its own error comes at build time
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return {p.name for p in params}


def _preset_env_keys(preset: str, curriculum: str, conf_dir: str) -> tuple[set[str], str]:
    """The ``env.*`` keys a preset sets (its own file and its settings for ``curriculum``) and the
    level space it is written for (its ``override /env``, else the default, the maze)."""
    keys, written_for = set(), "maze"
    for path in (os.path.join(conf_dir, "preset", f"{preset}.yaml"),
                 os.path.join(conf_dir, "preset_curriculum", preset, f"{curriculum}.yaml")):
        if not os.path.isfile(path):
            continue
        with open(path) as f:
            node = yaml.safe_load(f) or {}
        keys |= set((node.get("env") or {}).keys())
        for d in node.get("defaults", []) or []:
            if isinstance(d, dict):
                for k, v in d.items():
                    if k.startswith("override ") and k.split()[1].lstrip("/").split("@")[0] == "env":
                        written_for = v
    return keys, written_for


def check_preset_fits(argv: list[str], cfg: DictConfig, conf_dir: str = CONF_DIR) -> None:
    """Refuses a preset whose level-space settings the run's level space does not take.

    Args:
        argv: the command line (``preset=NAME``, ``env=...``, ``curriculum=...``).
        cfg: its composed configuration.
        conf_dir: the config directory.

    Raises:
        ConfigError: naming the preset, the setting, the level space and how to fix it.
    """
    given = dict(a.split("=", 1) for a in hydra_overrides(argv) if "=" in a)
    preset = given.get("preset")
    if not preset or "," in preset:
        return
    curriculum = given.get("curriculum", "dr")
    keys, written_for = _preset_env_keys(preset, curriculum, conf_dir)
    params = target_parameters(str(cfg.env.get("_target_", "")))
    bad = sorted(k for k in keys if params is not None and k not in params)
    if not bad:
        return
    env = given.get("env") or curriculum_level_spaces(conf_dir).get(curriculum, "maze")
    why = f"env={env}" if "env" in given else f"env={env}, which curriculum={curriculum} selects"
    raise ConfigError(f"preset={preset} does not fit {why}: it sets {', '.join('env.' + k for k in bad)}, settings of "
                      f"env={written_for}, the level space it is written for; use the preset with env={written_for} "
                      f"(and a curriculum that runs there), or leave the preset out")
