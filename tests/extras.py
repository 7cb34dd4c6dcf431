"""Optional level-space packages: skipped locally when missing, required in CI (UED_REQUIRE_EXTRAS=1)."""

import importlib
import os

import pytest


def require(module: str, extra: str):
    """Imports ``module`` or skips the test module; fails instead when ``UED_REQUIRE_EXTRAS`` is set."""
    try:
        return importlib.import_module(module)
    except ImportError:
        if os.environ.get("UED_REQUIRE_EXTRAS"):
            raise
        pytest.skip(f"{module} is not installed (pip install -e '.[{extra}]')", allow_module_level=True)
