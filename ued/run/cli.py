"""The command line before Hydra: flag parsing, the launcher plugin and ``preflight``, which refuses a
bad command with one line before anything is composed or compiled.
"""

from __future__ import annotations

import os

import yaml

from ued.run.catalog import component_names
from ued.run.schema import CONF_DIR, ConfigError, check_schema

# Hydra's command-line flags that take a value (``--cfg job``), and ``--info``'s optional one
_VALUE_FLAGS = ("--cfg", "-c", "--package", "-p", "--config-path", "-cp", "--config-name", "-cn", "--config-dir", "-cd",
                "--experimental-rerun")
_INFO_CHOICES = ("all", "config", "defaults", "defaults-tree", "plugins", "searchpath")


def normalise_preset(argv: list[str]) -> list[str]:
    """``+preset=NAME`` (the form of earlier releases) as ``preset=NAME``: ``preset`` is an optional
    group of the primary config, so Hydra refuses to add it a second time."""
    return [a[1:] if a.startswith("+preset=") else a for a in argv]


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
