"""Configuration: the schema Hydra checks, wiring and size checks, and building the components.

Everything here runs before anything is compiled. Errors are ``ConfigError`` (or Hydra's own
for unknown keys and wrong types, which the schema makes it raise) with one line naming the
key, the value and what is allowed.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import yaml
from hydra.core.config_store import ConfigStore
from hydra.errors import InstantiationException
from hydra.utils import instantiate
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


def normalise_preset(argv: list[str]) -> list[str]:
    """``+preset=NAME`` (the form of earlier releases) as ``preset=NAME``: ``preset`` is an optional
    group of the primary config, so Hydra refuses to add it a second time."""
    return [a[1:] if a.startswith("+preset=") else a for a in argv]


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


# Hydra's command-line flags that take a value (``--cfg job``), and ``--info``'s optional one
_VALUE_FLAGS = ("--cfg", "-c", "--package", "-p", "--config-path", "-cp", "--config-name", "-cn", "--config-dir", "-cd",
                "--experimental-rerun")
_INFO_CHOICES = ("all", "config", "defaults", "defaults-tree", "plugins", "searchpath")


def hydra_overrides(argv: list[str]) -> list[str]:
    """The overrides of a command line: its words less Hydra's flags and their values
    (``--cfg job``, ``-cd DIR``, ``--info defaults``, ``-m`` anywhere)."""
    out, skip = [], False
    for i, a in enumerate(argv):
        if skip:
            skip = False
        elif a in _VALUE_FLAGS:
            skip = True
        elif a in ("--info", "-i"):
            skip = i + 1 < len(argv) and argv[i + 1] in _INFO_CHOICES
        elif not a.startswith("-"):
            out.append(a)
    return out


_MODES = {"--run": "--run", "-r": "--run", "--multirun": "-m", "-m": "-m", "--cfg": "--cfg", "-c": "--cfg",
          "--info": "--info", "-i": "--info", "--shell-completion": "--shell-completion", "-sc": "--shell-completion"}


def hydra_argv(argv: list[str]) -> list[str]:
    """A command line in the order Hydra's parser reads: flags (with their values) first, then
    the overrides, so that ``-m`` or ``--cfg job`` may stand anywhere among the overrides.

    Raises:
        ConfigError: two of Hydra's modes at once (``-m`` with ``--cfg``), which Hydra refuses.
    """
    overrides = hydra_overrides(argv)
    flags = [a for a in argv if a not in overrides]
    modes = sorted({_MODES[a.split("=", 1)[0]] for a in flags if a.split("=", 1)[0] in _MODES})
    if len(modes) > 1:
        raise ConfigError(f"{' and '.join(modes)} cannot be combined: Hydra runs one of --run, -m (--multirun), "
                          f"--cfg, --info and --shell-completion; drop all but one")
    return flags + overrides


HYDRA_FLAGS = ("-h", "--help", "--hydra-help", "--version", "--cfg", "-c", "--resolve", "--package", "-p", "--run", "-r",
               "--multirun", "-m", "--shell-completion", "-sc", "--config-path", "-cp", "--config-name", "-cn",
               "--config-dir", "-cd", "--experimental-rerun", "--info", "-i")


def check_flags(argv: list[str]) -> None:
    """Refuses a flag Hydra does not have (its own report is its whole usage text).

    Raises:
        ConfigError: naming the flag and Hydra's flags.
    """
    for i, a in enumerate(argv):
        if (a.startswith("-") and a.split("=", 1)[0] not in HYDRA_FLAGS
                and not (i > 0 and argv[i - 1] in _VALUE_FLAGS)):  # not a flag's value that starts with "-"
            raise ConfigError(f"unknown flag {a}: Hydra's flags are {', '.join(HYDRA_FLAGS)}; settings are key=value")


def check_config_dir(argv: list[str]) -> None:
    """Refuses ``--config-dir``/``-cd`` naming a directory that does not exist (Hydra's report
    of it is several lines).

    Raises:
        ConfigError: naming the path.
    """
    for i, a in enumerate(argv):
        flag, _, value = a.partition("=")
        if flag in ("--config-dir", "-cd"):
            value = value or (argv[i + 1] if i + 1 < len(argv) else "")
            if not value or not os.path.isdir(value):
                raise ConfigError(f"--config-dir {value or '(missing)'}: no such directory; give a directory of YAML "
                                  f"configs to search besides ued's own (conf/)")


_CUSTOM_SEARCH = ("--config-dir", "-cd", "--config-path", "-cp", "--config-name", "-cn", "--info", "-i")


def _one_line_compose_error(override_text: str, e: Exception, conf_dir: str) -> ConfigError:
    """Hydra's multi-line composition error as one line naming the override and the choices."""
    import re

    chain, cur = [], e
    while cur is not None and len(chain) < 5:
        chain.append(str(cur))
        cur = cur.__cause__ or cur.__context__
    text = "\n".join(chain)
    missing = re.search(r"Could not find '([^'/]+)/([^']+)'", text)
    if missing:
        group, option = missing.groups()
        folder = os.path.join(conf_dir, group)
        options = ", ".join(component_names(group, conf_dir)) if os.path.isdir(folder) else "none"
        return ConfigError(f"{group}={option}: no such option; the options of {group} are {options}")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith(("full_key", "object_type",
                                                                                                   "reference_type"))]
    lines = [ln for ln in lines if not ln.startswith(("Error merging override", "To append to your config"))]
    if "is not in struct" in text or "Could not override" in text:
        key = override_text.split("=", 1)[0].lstrip("+~")
        return ConfigError(f"{override_text}: there is no key {key} in the configuration (check its spelling; "
                           f"add a new key with +{override_text} where the component accepts it, or under notes)")
    key = re.search(r"full_key: (\S+)", text)
    where = f" ({key.group(1)})" if key and key.group(1) not in override_text else ""
    detail = lines[0] if lines else type(e).__name__
    return ConfigError(f"{override_text}: {detail}{where}")


# Hydra launcher plugins behind ``hydra/launcher=<name>`` (ued's own launcher configs extend these).
LAUNCHER_PLUGINS = {
    "joblib": ("hydra_plugins.hydra_joblib_launcher", "hydra-joblib-launcher"),
    "submitit_slurm": ("hydra_plugins.hydra_submitit_launcher", "hydra-submitit-launcher"),
    "submitit_local": ("hydra_plugins.hydra_submitit_launcher", "hydra-submitit-launcher"),
}


def check_launcher(argv: list[str], conf_dir: str = CONF_DIR) -> None:
    """Refuses ``hydra/launcher=<name>`` when the Hydra plugin behind it is not installed (Hydra's own
    report is a page about search paths).

    Raises:
        ConfigError: naming the launcher and the ``pip install`` that provides it.
    """
    import importlib.util

    for a in argv:
        if not a.lstrip("+").startswith("hydra/launcher="):
            continue
        name = a.split("=", 1)[1]
        plugin = name
        path = os.path.join(conf_dir, "hydra", "launcher", f"{name}.yaml")
        if os.path.isfile(path):  # one of ued's launcher configs: the plugin config it extends
            with open(path) as f:
                defaults = (yaml.safe_load(f) or {}).get("defaults", [])
            plugin = next((d for d in defaults if isinstance(d, str) and d in LAUNCHER_PLUGINS), name)
        if plugin in LAUNCHER_PLUGINS:
            module, package = LAUNCHER_PLUGINS[plugin]
            if importlib.util.find_spec(module) is None:
                raise ConfigError(f"hydra/launcher={name} needs the Hydra plugin {package}: pip install {package} "
                                  f"(or pip install \"ued-jax[cluster]\")")
        elif name not in ("basic",) and not os.path.isfile(path):
            ours = sorted(f[:-5] for f in os.listdir(os.path.dirname(path)) if f.endswith(".yaml"))
            raise ConfigError(f"hydra/launcher={name}: no such launcher; the launchers are {', '.join(ours)} (ued's), "
                              f"basic (Hydra's default) and {', '.join(LAUNCHER_PLUGINS)} (the plugins')")


def preflight(argv: list[str], conf_dir: str = CONF_DIR) -> None:
    """Composes the command line's configuration the way Hydra will (every value of a sweep
    once), so a bad override is one line and exit code 2 before Hydra starts.

    Covers what Hydra itself refuses with a multi-line report: a malformed override, an
    unknown config group option, an unknown key, a value of the wrong type (``seed=abc``). It
    is skipped when the command line adds user config directories (``--config-dir``,
    ``hydra.searchpath=``; Hydra reports then).

    Raises:
        ConfigError: one line naming the override and what is allowed.
    """
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from ued.run.fit import check_preset_fits

    if (any(a.split("=", 1)[0] in _CUSTOM_SEARCH or a.lstrip("+~").startswith("hydra.searchpath") for a in argv)
            or GlobalHydra.instance().is_initialized()):
        return  # user config directories (Hydra's to find), or inside a Hydra application already
    overrides = hydra_overrides(argv)
    overrides = [o for o in overrides if not o.lstrip("+~").startswith(("hydra.", "hydra/", "hydra="))]
    parser = OverridesParser.create()
    parsed = []
    for o in overrides:
        try:
            parsed.append(parser.parse_override(o))
        except Exception as e:  # noqa: BLE001 - Hydra's grammar errors
            first = (str(e).splitlines() or ["malformed"])[0]
            raise ConfigError(f"cannot parse the override {o!r}: {first}. Overrides are key=value, "
                              "+key=value (add), ~key (delete); quote values with spaces or = in them") from None
    base = []
    sweeps = []
    for o, text in zip(parsed, overrides):
        if o.is_sweep_override():
            values = [str(v) for v in o.sweep_string_iterator()]
            prefix = text.split("=", 1)[0]
            base.append(f"{prefix}={values[0]}")
            sweeps.append((len(base) - 1, prefix, values[1:]))
        else:
            base.append(text)
    combos = [(base, None)] + [(base[:i] + [f"{p}={v}"] + base[i + 1:], i) for i, p, vs in sweeps for v in vs]
    for combo, changed in combos:
        try:
            with initialize_config_dir(config_dir=conf_dir, version_base="1.3"):
                cfg = compose(config_name="config", overrides=combo)
            check_schema(cfg)
            check_preset_fits(combo, cfg, conf_dir)
        except ConfigError:
            raise
        except Exception as e:  # noqa: BLE001 - Hydra/OmegaConf composition errors
            text = " ".join(combo) if changed is None else combo[changed]
            named = [o for o in combo if o.split("=", 1)[0].lstrip("+~") in str(e)]  # the most specific key wins
            culprit = max(named, key=lambda o: len(o.split("=", 1)[0])) if named else text
            raise _one_line_compose_error(culprit, e, conf_dir) from None


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
# Building the components
# ---------------------------------------------------------------------------------------
def _instantiate(node: DictConfig, key: str, **kwargs):
    """``instantiate`` that reports a component's own ``ValueError``/``TypeError`` as a ``ConfigError`` on ``key``."""
    try:
        return instantiate(node, **kwargs)
    except InstantiationException as e:
        cause = e.__cause__ or e
        raise ConfigError(f"{key}: {cause}") from e
    except (ValueError, TypeError) as e:
        raise ConfigError(f"{key}: {e}") from e


class Components:
    """The built components of a training run (everything ``make_train`` needs), from a config.

    Attributes:
        cfg: the configuration.
        level_space, agent, ppo, curriculum: the components.
        chunk_size: updates per compiled call.
        placement: where the run's arrays live (``ued.run.devices.Placement``).
        trainer: the ``ued.loop.Trainer``.
    """

    def __init__(self, cfg: DictConfig):
        from ued.loop import make_train

        validate(cfg)
        self.cfg = cfg
        self.level_space = _instantiate(cfg.env, "env")
        self.agent = _instantiate(cfg.agent.network, "agent.network", action_space=self.level_space.env.action_space)
        self.ppo = _instantiate(cfg.agent.ppo, "agent.ppo")
        try:
            self.ppo.validate(cfg.num_envs)
        except ValueError as e:
            raise ConfigError(str(e)) from e
        factory = _instantiate(cfg.curriculum, "curriculum")
        try:
            self.curriculum = factory(level_space=self.level_space, num_levels=cfg.num_envs)
        except (ValueError, TypeError) as e:
            raise ConfigError(f"curriculum: {e}") from e
        self.chunk_size = min(cfg.updates_per_chunk, cfg.num_updates)
        self.placement = placement(cfg)
        self.trainer = make_train(
            self.level_space, self.curriculum, self.agent, self.ppo, num_envs=cfg.num_envs, num_steps=cfg.num_steps,
            num_updates=cfg.num_updates, updates_per_chunk=self.chunk_size, num_seeds=cfg.num_seeds,
            eval_attempts=cfg.eval.attempts, eval_random_levels=cfg.eval.random_levels,
            skip_nonfinite=cfg.get("on_nonfinite", "stop") == "skip",
            shard_levels=self.placement.constrain_levels if self.placement.mode == "envs" else None,
            evaluation=bool(cfg.eval.get("enabled", True)))


_BUILT: "OrderedDict[str, Components]" = OrderedDict()
BUILT_KEEP = 2  # the configurations whose built components a process keeps
# settings of the session, not of the components: where and how a run is written and resumed
SESSION_KEYS = ("logger", "seed", "progress", "run_dir", "checkpoint_every", "keep_checkpoints", "resume",
                "session_updates", "notes")
SESSION_EVAL_KEYS = ("at_start", "every", "render", "render_levels", "cvar_alphas")


def _build_key(cfg: DictConfig) -> str:
    import jax

    tree = OmegaConf.to_container(cfg, resolve=True)
    for k in SESSION_KEYS:
        tree.pop(k, None)
    for k in SESSION_EVAL_KEYS:
        (tree.get("eval") or {}).pop(k, None)
    where = [d.id for d in jax.devices()], jax.process_index()
    return yaml.safe_dump([tree, where], sort_keys=True)


def build_components(cfg: DictConfig) -> Components:
    """``Components(cfg)``, reused when this process built the same components (the configuration
    resolved, less the session's settings: ``SESSION_KEYS``, ``eval.`` ``SESSION_EVAL_KEYS``) on
    the same devices among its last ``BUILT_KEEP`` configurations. The components are pure
    functions, and the same function objects let ``jax.jit`` reuse their traced and compiled
    programs: a run resumed or reloaded in the same process is not compiled again. ``cfg`` is
    validated every time; the result's ``cfg`` is ``cfg``.

    Raises:
        ConfigError: as ``Components``.
    """
    import copy

    try:
        key = _build_key(cfg)
    except Exception:  # noqa: BLE001 - an interpolation that does not resolve: Components says what is wrong
        return Components(cfg)
    if key not in _BUILT:
        _BUILT[key] = Components(cfg)
        while len(_BUILT) > BUILT_KEEP:
            _BUILT.popitem(last=False)
        return _BUILT[key]
    validate(cfg)
    _BUILT.move_to_end(key)
    parts = copy.copy(_BUILT[key])
    parts.cfg = cfg
    return parts


def forget_built_components() -> None:
    """Drops the components ``build_components`` keeps (the next build of any configuration is new)."""
    _BUILT.clear()


def placement(cfg: DictConfig):
    """The run's ``ued.run.devices.Placement`` from ``devices`` and ``shard`` over the devices
    this process sees (all processes' after ``jax.distributed`` started: ``ued.train`` starts
    it, once, before anything touches a device; building components never does).

    Raises:
        ConfigError: when the devices or the split do not fit the run's sizes.
    """
    from ued.run.devices import DeviceConfigError, make_placement

    try:
        return make_placement(cfg.get("devices", "all"), cfg.get("shard", "auto"), cfg.num_seeds, cfg.num_envs)
    except DeviceConfigError as e:
        raise ConfigError(str(e)) from None


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
