"""Checks of a composed configuration and of overrides against it: groups a curriculum does not use,
the run directory, the wiring of components and the run-level settings.
"""

from __future__ import annotations

import os

import yaml
from omegaconf import DictConfig, OmegaConf

from ued.run.catalog import component_groups, curriculum_groups, preset_curricula, preset_fixes, preset_names
from ued.run.schema import CONF_DIR, NONFINITE_MODES, PROGRESS_MODES, RESUME_MODES, ConfigError, check_schema

def _unused_group_error(curriculum: str, group: str, groups: dict[str, tuple[str, ...]], given: str) -> ConfigError:
    takes = ", ".join(groups.get(curriculum, ())) or "no component groups"
    users = ", ".join(c for c, g in groups.items() if group in g)
    return ConfigError(f"curriculum={curriculum} does not use a {group} ({given} would be ignored); it takes {takes}. "
                       f"Drop {group}=, or choose a curriculum that uses one: {users}")


def check_overrides(overrides: list[str], conf_dir: str = CONF_DIR) -> list[str]:
    """Refuses command-line overrides of a component group that the chosen curriculum (or any
    curriculum of a sweep) does not use, an unknown preset, and a group a preset fixes, before
    Hydra composes anything.

    Returns:
        Notes for the user: a chosen curriculum a chosen preset has no settings of its own for.

    Raises:
        ConfigError: e.g. ``curriculum=dr score=mna``, naming the curriculum and the groups it takes.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser


    groups = curriculum_groups(conf_dir)
    known = component_groups(conf_dir)
    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except Exception:  # noqa: BLE001 - Hydra reports malformed overrides itself
        return []

    def chosen(group):
        """The values a group is given (every value of a sweep; the last override wins), or None."""
        out = None
        for o in parsed:
            if o.key_or_group == group and o.package is None and not o.is_delete():
                out = ([str(v) for v in o.sweep_string_iterator()] if o.is_sweep_override() else [str(o.value())])
        return out

    curricula = chosen("curriculum")
    if curricula is None:
        with open(os.path.join(conf_dir, "config.yaml")) as f:
            defaults = yaml.safe_load(f).get("defaults", [])
        curricula = [next(iter(e.values())) for e in defaults if isinstance(e, dict) and "curriculum" in e]
    presets = chosen("preset") or [None]
    custom = any(o.key_or_group.startswith("hydra.searchpath") for o in parsed)
    for p in presets:  # an optional group: Hydra would silently skip an unknown preset
        if p is not None and not custom and p not in preset_names(conf_dir):
            raise ConfigError(f"preset={p}: no such preset; the presets are {', '.join(preset_names(conf_dir))} "
                              "(docs/presets.md); your own go in a search path (hydra.searchpath=[file://DIR], DIR/preset/)")
    for o in parsed:
        if o.key_or_group in known and o.package is None and not o.is_delete():
            for c in curricula:
                if c in groups and o.key_or_group not in groups[c]:
                    raise _unused_group_error(c, o.key_or_group, groups, o.input_line)
                for p in presets:
                    if p is not None and o.key_or_group in preset_fixes(p, c, conf_dir):
                        fixed = preset_fixes(p, c, conf_dir)[o.key_or_group]
                        target = fixed.get("_target_", "?") if isinstance(fixed, dict) else fixed
                        raise ConfigError(
                            f"{o.input_line}: preset={p} fixes the {o.key_or_group} of curriculum={c} to the paper's "
                            f"({target}, conf/preset_curriculum/{p}/{c}.yaml); to run another {o.key_or_group} under "
                            f"this preset, override its target ({o.key_or_group}._target_=...) or its keys instead")
    return [f"preset={p} has no settings of its own for curriculum={c} (it has them for "
            f"{', '.join(preset_curricula(p, conf_dir)) or 'none'}); {c} runs with its defaults under the preset's "
            "environment, agent and budget"
            for p in presets if p is not None and p in preset_names(conf_dir)
            for c in curricula if c not in preset_curricula(p, conf_dir)]



def check_run_dir(run_dir: str) -> None:
    """Refuses a run directory that is a file or cannot be written, without creating anything.

    Raises:
        ConfigError: naming the path and the problem.
    """
    from ued.utils import directory_problem

    if not str(run_dir).strip():
        raise ConfigError("run_dir is empty, which would write the run into the current directory: give it a "
                          "directory (run_dir=runs/NAME) or leave run_dir out for the default "
                          "outputs/DATE/TIME_CURRICULUM_seedN")
    problem = directory_problem(run_dir)
    if problem is not None:
        fix = " or fix its permissions" if "writable" in problem else ""
        raise ConfigError(f"run_dir {run_dir} {problem}; choose another run_dir{fix}")


def check_run_dir_override(argv: list[str]) -> None:
    """``check_run_dir`` on a command line's ``run_dir=`` (before Hydra creates the directory)."""
    for a in argv:
        if a.startswith("run_dir=") and "${" not in a:
            value = a.split("=", 1)[1].strip("'\"")
            if "," not in value:
                check_run_dir(value)


def curriculum_name(cfg: DictConfig) -> str:
    """The curriculum a config selects (its factory's name, e.g. ``plr``)."""
    return str(cfg.curriculum.get("_target_", "?")).rsplit(".", 1)[-1]


def check_wiring(cfg: DictConfig, conf_dir: str = CONF_DIR) -> None:
    """A component group present in the config must be one the curriculum uses.

    Raises:
        ConfigError: e.g. a ``score`` given (``+score=mna``) to ``dr``.
    """
    groups = curriculum_groups(conf_dir)
    name = curriculum_name(cfg)
    for group in component_groups(conf_dir):
        if cfg.get(group) is not None and group not in cfg.curriculum:
            target = cfg[group].get("_target_", "?") if OmegaConf.is_dict(cfg[group]) else cfg[group]
            raise _unused_group_error(name, group, groups, f"{group}: {target}")


# ---------------------------------------------------------------------------------------
# Run-level settings
# ---------------------------------------------------------------------------------------
def _int(cfg, key, minimum: int):
    value = OmegaConf.select(cfg, key)
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        kind = "a positive integer" if minimum == 1 else "a non-negative integer"
        raise ConfigError(f"{key} must be {kind}, got {value!r}")
    return value


def check_resume(cfg: DictConfig) -> None:
    if cfg.resume not in RESUME_MODES:
        raise ConfigError(f"resume must be auto, true or false, got {cfg.resume!r}")


def validate(cfg: DictConfig) -> None:
    """Checks the run-level settings before anything is built or compiled.

    Raises:
        ConfigError: naming the key, the bad value and what is allowed.
    """
    from ued.evaluate.cvar import check_alphas
    from ued.run.logger import WANDB_MODES

    check_schema(cfg)
    for key in ("num_envs", "num_steps", "num_updates", "updates_per_chunk", "num_seeds", "eval.attempts",
                "keep_checkpoints"):
        _int(cfg, key, 1)
    for key in ("eval.random_levels", "eval.every", "eval.render_levels", "checkpoint_every"):
        _int(cfg, key, 0)
    chunk = min(cfg.updates_per_chunk, cfg.num_updates)
    if cfg.eval.every % chunk:
        raise ConfigError(f"eval.every={cfg.eval.every} must be a multiple of updates_per_chunk={chunk} (or 0)")
    try:
        check_alphas(cfg.eval.get("cvar_alphas") or [100])
    except (ValueError, TypeError) as e:
        raise ConfigError(f"eval.cvar_alphas: {e}") from None
    if cfg.checkpoint_every % chunk:
        raise ConfigError(f"checkpoint_every must be 0 or a positive multiple of updates_per_chunk={chunk}, "
                          f"got {cfg.checkpoint_every!r}")
    check_resume(cfg)
    if cfg.on_nonfinite not in NONFINITE_MODES:
        raise ConfigError(f"on_nonfinite must be stop or skip, got {cfg.on_nonfinite!r}")
    session = cfg.session_updates
    if session is not None and (not isinstance(session, int) or isinstance(session, bool) or session <= 0
                                or session % chunk):
        raise ConfigError(f"session_updates must be null or a positive multiple of updates_per_chunk={chunk}, "
                          f"got {session!r}")
    if cfg.progress not in PROGRESS_MODES:
        raise ConfigError(f"progress must be auto, true or false, got {cfg.progress!r}")
    if cfg.logger.wandb and cfg.logger.get("mode", "online") not in WANDB_MODES:
        raise ConfigError(f"logger.mode must be one of {', '.join(WANDB_MODES)}, got {cfg.logger.mode!r}")
    check_wiring(cfg)


# ---------------------------------------------------------------------------------------
