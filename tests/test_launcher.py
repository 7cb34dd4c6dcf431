"""Sweeps through Hydra's launcher plugins: a launcher that is missing or unknown is one line before
anything starts (README's local parallel sweep runs in tests/test_documented_commands.py)."""
import importlib.util
import os

import pytest

from ued.run.config import ConfigError, check_launcher

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_unknown_launcher_is_refused_with_the_choices():
    with pytest.raises(ConfigError, match=r"hydra/launcher=nope: no such launcher; the launchers are local, slurm"):
        check_launcher(["-m", "hydra/launcher=nope", "seed=0,1"])
    check_launcher(["hydra/launcher=basic"])  # Hydra's default


def test_missing_plugin_names_the_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name.startswith("hydra_plugins.hydra_submitit") else real(name, *a))
    with pytest.raises(ConfigError, match=r"hydra/launcher=slurm needs the Hydra plugin hydra-submitit-launcher: "
                                          r"pip install hydra-submitit-launcher"):
        check_launcher(["-m", "hydra/launcher=slurm"])
    with pytest.raises(ConfigError, match="needs the Hydra plugin hydra-submitit-launcher"):
        check_launcher(["hydra/launcher=submitit_local"])
