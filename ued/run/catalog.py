"""The catalogue of the config tree: which components, curricula and presets exist, which groups
each curriculum uses and which level space it defaults to, read from the YAML files.
"""

from __future__ import annotations

import os

import yaml
from hydra.utils import instantiate

from ued.run.schema import CONF_DIR

# ---------------------------------------------------------------------------------------
# Wiring: which component groups each curriculum uses (its YAML's defaults list)
# ---------------------------------------------------------------------------------------
def _curriculum_defaults(conf_dir: str):
    """``(curriculum, key, value)`` for every entry of the defaults lists of ``conf/curriculum/*.yaml``."""
    folder = os.path.join(conf_dir, "curriculum")
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".yaml"):
            continue
        with open(os.path.join(folder, name)) as f:
            node = yaml.safe_load(f) or {}
        yield name[:-5], None, None  # every curriculum, with or without entries
        for entry in node.get("defaults", []) or []:
            if isinstance(entry, dict):
                for key, value in entry.items():
                    yield name[:-5], key, value


def curriculum_groups(conf_dir: str = CONF_DIR) -> dict[str, tuple[str, ...]]:
    """``{curriculum: component groups it uses}``, read from the defaults lists of
    ``conf/curriculum/*.yaml`` (entries ``/score@_global_.score: max_mc`` name the group ``score``;
    an ``override /env@_global_.env`` entry is its default level space, not a group it uses)."""
    out = {}
    for name, key, _ in _curriculum_defaults(conf_dir):
        groups = out.setdefault(name, ())
        if key is not None and not key.startswith("override "):
            out[name] = groups + (key.lstrip("/").split("@")[0],)
    return out


def curriculum_level_spaces(conf_dir: str = CONF_DIR) -> dict[str, str]:
    """``{curriculum: level space}`` for the curricula whose YAML selects a level space of their
    own by default (``override /env@_global_.env: fruit_maze``: SAMPLR needs an aleatoric part);
    ``env=`` on the command line still wins, and the curriculum refuses a level space it cannot use."""
    return {name: value for name, key, value in _curriculum_defaults(conf_dir)
            if key is not None and key.startswith("override ") and key.split()[1].lstrip("/").split("@")[0] == "env"}


def component_groups(conf_dir: str = CONF_DIR) -> tuple[str, ...]:
    """Every component group some curriculum uses (``score``, ``buffer``)."""
    return tuple(sorted({g for groups in curriculum_groups(conf_dir).values() for g in groups}))



def preset_names(conf_dir: str = CONF_DIR) -> tuple[str, ...]:
    """The presets shipped in ``conf/preset``."""
    return tuple(component_names("preset", conf_dir))


def preset_curricula(preset: str, conf_dir: str = CONF_DIR) -> tuple[str, ...]:
    """The curricula a preset has its own settings for (``conf/preset_curriculum/<preset>/*.yaml``)."""
    folder = os.path.join(conf_dir, "preset_curriculum", preset)
    if not os.path.isdir(folder):
        return ()
    return tuple(sorted(f[:-5] for f in os.listdir(folder) if f.endswith(".yaml")))


def preset_fixes(preset: str, curriculum: str, conf_dir: str = CONF_DIR) -> dict:
    """The top-level nodes a preset's settings for a curriculum set (``{}`` when it has none)."""
    path = os.path.join(conf_dir, "preset_curriculum", preset, f"{curriculum}.yaml")
    if not os.path.isfile(path):
        return {}
    with open(path) as f:
        return yaml.safe_load(f) or {}


def compose_component(group: str, name: str, overrides: tuple[str, ...] = (), conf_dir: str = CONF_DIR):
    """One component built from its YAML in the context of the default run (so interpolations
    such as ``${agent.ppo.gamma}`` resolve), e.g. ``compose_component("score", "mna")``.

    Returns:
        The instantiated component (a ``Score``, a ``LevelBuffer``, ...). Scores that need a
        level space (``Score.bind``) are returned unbound.
    """
    from hydra import compose, initialize_config_dir

    selected = f"{group}={name}" if group in ("env", "agent", "curriculum", "logger", "eval") else f"+{group}={name}"
    base = [] if group == "curriculum" else ["curriculum=dr"]
    with initialize_config_dir(config_dir=conf_dir, version_base="1.3"):
        cfg = compose(config_name="config", overrides=[*base, selected, *overrides])
    return instantiate(cfg[group])


def component_names(group: str, conf_dir: str = CONF_DIR) -> list[str]:
    """The options of a config group: the YAML files in ``conf/<group>/``."""
    return sorted(f[:-5] for f in os.listdir(os.path.join(conf_dir, group)) if f.endswith(".yaml"))
