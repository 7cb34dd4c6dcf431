"""Optional level-space packages: skipped locally when missing, required in CI.

``UED_REQUIRE_EXTRAS=1`` (CI's main environment) makes a missing package a failure, except the
extras in ``OWN_ENVIRONMENT``, whose packages cannot share that environment (kinetix-env pins
jax<=0.9.0): CI tests those in a second environment with ``UED_REQUIRE_EXTRAS=kinetix``, a
comma-separated list of the extras that must be present there.
"""

import importlib
import os

import pytest

OWN_ENVIRONMENT = {"kinetix"}
# level space (conf/env/<name>.yaml) -> (the module its package provides, ued's extra that installs it)
PACKAGES = {"jaxnav": ("jaxmarl", "jaxnav"), "jaxnav_multi": ("jaxmarl", "jaxnav"), "xland": ("xminigrid", "xland"), "navix": ("navix", "navix"),
            "craftax": ("craftax", "craftax"), "kinetix": ("kinetix", "kinetix"),
            **{e: ("gymnax", "gymnax") for e in ("cartpole", "acrobot", "pendulum")}}


def required(extra: str) -> bool:
    """Whether this run must have ``extra``'s package (``UED_REQUIRE_EXTRAS``, see above)."""
    setting = os.environ.get("UED_REQUIRE_EXTRAS", "")
    if setting == "1":
        return extra not in OWN_ENVIRONMENT
    return extra in {s.strip() for s in setting.split(",") if s.strip()}


def require(module: str, extra: str):
    """Imports ``module`` or skips the test module; fails instead where ``required(extra)``."""
    try:
        return importlib.import_module(module)
    except ImportError:
        if required(extra):
            raise
        where = " (CI tests it in its own environment: see README)" if extra in OWN_ENVIRONMENT else ""
        pytest.skip(f"{module} is not installed (pip install -e '.[{extra}]'){where}", allow_module_level=True)
