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
        result = json.load(f)
    # across processes only the env split (its update all-reduces gradients between hosts); the seed split
    # shares the same process-spanning mesh code and is checked on one process above
    result["multihost"] = {"envs": multihost(out, "envs")}
    return result


def multihost(out, shard):
    """Two processes of one ``distributed=true`` run (2 simulated CPU devices each, gloo on
    localhost), stopped after one update and resumed; process 1 is given another run_dir."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dirs = [out / f"multihost_{shard}", out / f"multihost_{shard}_process1"]
    procs = []
    for i in range(2):
        env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu",
               "JAX_COORDINATOR_ADDRESS": f"127.0.0.1:{port}", "JAX_NUM_PROCESSES": "2", "JAX_PROCESS_ID": str(i)}
        procs.append(subprocess.Popen([sys.executable, "-m", "tests.multihost_runs", str(dirs[i]), "plr", shard],
                                      cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outputs = [p.communicate(timeout=900) for p in procs]
    for p, (stdout, stderr) in zip(procs, outputs):
        assert p.returncode == 0, stderr[-3000:]
    run_dir = dirs[0]
    with open(run_dir / "metrics.jsonl") as f:
        rows = [json.loads(line) for line in f]
    with open(run_dir / "eval.jsonl") as f:
        evals = [json.loads(line) for line in f]
    from ued.run.load import load

    params = load(str(run_dir)).state.params  # the checkpoint both processes wrote, read by one
    return {"rows": rows, "evals": evals, "update": 2, "reports": [json.loads(o.strip().splitlines()[-1]) for o, _ in outputs],
            "stdout": [o for o, _ in outputs], "process1_dir_exists": dirs[1].exists(),
            "checkpoints": sorted(os.listdir(run_dir / "checkpoints")),
            "params": {jax.tree_util.keystr(p): np.ravel(x).tolist()
                       for p, x in jax.tree_util.tree_flatten_with_path(params)[0]}}


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


@pytest.mark.parametrize("shard,alone", [("envs", "envs_1")])
def test_multi_host_run_equals_one_device(sharded, shard, alone):
    """Two processes (2 devices each) train one run into process 0's directory: it equals the
    one-device run, through a checkpoint both wrote and both resumed from; only process 0 writes
    files or prints progress."""
    run = sharded["multihost"][shard]
    _assert_same_run(sharded[alone], run)
    assert sorted(r["process"] for r in run["reports"]) == [0, 1]
    assert all(r["first"] == 1 and r["second"] == 2 and r["resumed_from"] == 1 for r in run["reports"])
    assert run["checkpoints"] == ["update_00000001", "update_00000002"]
    assert not run["process1_dir_exists"]
    assert "update 2/2" in run["stdout"][0] and "update" not in run["stdout"][1]


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
