"""Sweeps through Hydra's launcher plugins: a local parallel sweep (hydra/launcher=local, joblib)
writes every job's run directory, and a launcher that is missing or unknown is one line before
anything starts."""
import importlib.util
import json
import os
import subprocess
import sys

import pytest

from ued.run.config import ConfigError, check_launcher

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
def test_local_parallel_sweep_writes_every_job(tmp_path):
    sweep = tmp_path / "sweep"
    cmd = [sys.executable, "-m", "ued.train", "-m", "hydra/launcher=local", "hydra.launcher.n_jobs=2", "seed=0,1",
           "num_updates=2", "num_envs=4", "num_steps=16", "eval.random_levels=4", "eval.render=false",
           "progress=false", f"hydra.sweep.dir={sweep}", "hydra.sweep.subdir=seed${seed}"]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Joblib" in proc.stdout + proc.stderr  # the plugin ran the jobs, not Hydra's basic launcher
    for seed in (0, 1):
        run = sweep / f"seed{seed}"
        rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        assert rows[-1]["update"] == 2
        assert "seed: " + str(seed) in (run / "config.yaml").read_text()
        assert "update_00000002" in os.listdir(run / "checkpoints")
    # the two jobs trained different seeds, so their first rows differ
    first = [json.loads((sweep / f"seed{s}" / "metrics.jsonl").read_text().splitlines()[0]) for s in (0, 1)]
    assert first[0]["loss"] != first[1]["loss"]


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
