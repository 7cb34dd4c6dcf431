"""Training over several devices (ued/run/devices.py): the sharded run equals the unsharded one on 4
simulated CPU devices, a checkpoint resumes on another number of devices, and settings that do not
fit are one line before anything compiles."""
import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from ued.run.config import ConfigError
from ued.run.devices import make_placement, resolve
from ued.train import train

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def sharded(tmp_path_factory):
    out = tmp_path_factory.mktemp("sharded")
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4", "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([sys.executable, "-m", "tests.sharded_runs", str(out), "plr"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(out / "result.json") as f:
        return json.load(f)


def _assert_same_run(a, b):
    """Same updates, same integer counters, float metrics and parameters equal to float32 rounding
    (XLA compiles a different program per device count, so sums are ordered differently)."""
    assert a["update"] == b["update"] == 2
    assert len(a["rows"]) == len(b["rows"]) > 0
    for ra, rb in zip(a["rows"], b["rows"]):
        assert ra.keys() == rb.keys()
        for k, v in ra.items():
            if isinstance(v, int):
                assert v == rb[k], k
            elif isinstance(v, float):
                np.testing.assert_allclose(v, rb[k], rtol=1e-4, atol=1e-6, err_msg=k)
    assert a["params"].keys() == b["params"].keys()
    for k in a["params"]:
        np.testing.assert_allclose(a["params"][k], b["params"][k], rtol=0, atol=1e-5, err_msg=k)
    assert a["evals"] == b["evals"]  # discrete outcomes of the held-out episodes: identical


def test_seed_split_equals_one_device(sharded):
    _assert_same_run(sharded["seeds_1"], sharded["seeds_4"])
    facts = sharded["placement"]["seeds"]
    assert facts["mode"] == "seeds" and facts["devices"] == 4
    assert facts["global_shape"][0] == 4 and facts["shard_shape"][0] == 1  # one seed per device


def test_env_split_equals_one_device(sharded):
    _assert_same_run(sharded["envs_1"], sharded["envs_4"])
    facts = sharded["placement"]["envs"]
    assert facts["mode"] == "envs" and facts["devices"] == 4
    assert facts["shard_shape"] == facts["global_shape"]  # parameters replicated ...
    assert facts["all_reduce"]  # ... and the gradient reduced across devices


def test_checkpoint_of_a_sharded_run_resumes_on_one_device(sharded):
    _assert_same_run(sharded["envs_1"], sharded["envs_4_then_1"])


def test_settings_that_do_not_fit():
    assert jax.device_count() == 1  # this process: the default CPU device
    with pytest.raises(ValueError, match=r"devices=2 but JAX sees 1 \(cpu\); use devices=all or at most 1"):
        resolve(2, "auto", 1, 4)
    with pytest.raises(ValueError, match=r"devices must be all or a positive integer, got 'two'"):
        resolve("two", "auto", 1, 4)
    with pytest.raises(ValueError, match=r"shard must be one of auto, seeds, envs, got 'batch'"):
        resolve(1, "batch", 1, 4)
    assert resolve("all", "auto", 3, 5) == (1, "none")
    assert make_placement(1).constrain_levels("untouched") == "untouched"


def test_split_checks_on_simulated_counts(monkeypatch):
    monkeypatch.setattr(jax, "device_count", lambda: 4)
    assert resolve(4, "auto", 8, 6) == (4, "seeds")
    assert resolve(4, "auto", 1, 8) == (4, "envs")
    assert resolve(4, "auto", 3, 8) == (4, "envs")
    with pytest.raises(ValueError, match=r"shard=seeds splits num_seeds=6 over 4 devices, which needs a multiple of 4; "
                                         r"use shard=envs, num_seeds=4 or devices=3"):
        resolve(4, "seeds", 6, 8)
    with pytest.raises(ValueError, match=r"shard=envs splits num_envs=6 over 4 devices, which needs a multiple of 4; "
                                         r"use num_envs=4 or devices=3"):
        resolve(4, "auto", 1, 6)


def test_bad_devices_setting_is_a_config_error_before_compiling(tmp_path):
    from tests.tiny import tiny_config

    with pytest.raises(ConfigError, match=r"devices=3 but JAX sees 1"):
        train(tiny_config("dr", "devices=3"), str(tmp_path / "run"))
    assert not os.path.exists(tmp_path / "run" / "metrics.jsonl")
