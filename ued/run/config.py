"""Configuration: the schema Hydra checks, wiring and size checks, and building the components.

Everything here runs before anything is compiled. Errors are ``ConfigError`` (or Hydra's own
for unknown keys and wrong types, which the schema makes it raise) with one line naming the
key, the value and what is allowed.

The code lives in five modules, re-exported here: ``ued.run.schema`` (the schema, ``ConfigError``),
``ued.run.catalog`` (which components, curricula and presets exist), ``ued.run.cli`` (the command line
before Hydra), ``ued.run.checks`` (checks of a composed config) and ``ued.run.build`` (``Components``).
"""

from ued.run.schema import (  # noqa: F401
    CONF_DIR, CONF_PACKAGE, RESUME_MODES, PROGRESS_MODES, NONFINITE_MODES, ConfigError, EvalSchema,
    LoggerSchema, UEDSchema, check_schema,
)
from ued.run.catalog import (  # noqa: F401
    curriculum_groups, curriculum_level_spaces, component_groups,
    preset_names, preset_curricula, preset_fixes, compose_component, component_names,
)
from ued.run.cli import (  # noqa: F401
    normalise_preset, hydra_overrides, hydra_argv, HYDRA_FLAGS, check_flags,
    check_config_dir, LAUNCHER_PLUGINS, check_launcher, preflight,
)
from ued.run.checks import (  # noqa: F401
    check_overrides, check_run_dir, check_run_dir_override, curriculum_name,
    check_wiring, check_resume, validate,
)
from ued.run.build import (  # noqa: F401
    Components, BUILT_KEEP, SESSION_KEYS, SESSION_EVAL_KEYS, build_components,
    forget_built_components, placement,
)
