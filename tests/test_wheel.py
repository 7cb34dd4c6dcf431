"""The distribution as a user gets it: the wheel built from a copy of this tree's tracked files (a
file never added to git is missing here as it is from a clean clone, and nothing is written into the
tree while other tests read it), installed with its declared
dependencies into a fresh virtual environment, runs ``ued-train`` from a directory outside the
repository (its configuration found inside the package, a user's config directory added on the
command line).

Slow (about 1.5 minutes: the venv's dependencies come from the package registry), so it is one test.
"""
import glob
import json
import os
import subprocess
import sys
import venv

import pytest

from tests.documented import copy_tracked

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["num_updates=2", "num_envs=4", "num_steps=16", "eval.random_levels=4", "eval.render=false",
        "progress=false"]


def _run(cmd, cwd, env=None, timeout=900):
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.mark.slow
def test_wheel_in_a_fresh_venv_runs_from_anywhere(tmp_path):
    dist = tmp_path / "dist"
    source = tmp_path / "source"
    assert copy_tracked(source), "git ls-files found no tracked files"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(source)], cwd=tmp_path)
    wheels = glob.glob(str(dist / "ued_jax-*.whl"))
    assert len(wheels) == 1, os.listdir(dist)

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)  # fresh: nothing of this machine's site-packages
    py = env_dir / "bin" / "python"
    _run([str(py), "-m", "pip", "install", "-q", wheels[0]], cwd=tmp_path)

    elsewhere = tmp_path / "elsewhere"
    user_conf = elsewhere / "my_conf" / "preset"
    user_conf.mkdir(parents=True)
    (user_conf / "tiny.yaml").write_text("# @package _global_\nnotes:\n  source: from a user config directory\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{env_dir / 'bin'}{os.pathsep}{env.get('PATH', '')}"

    where = _run([str(py), "-c", "import ued, ued.conf; print(ued.__file__)"], cwd=elsewhere, env=env)
    assert str(env_dir) in where.stdout, f"ued imported from {where.stdout} instead of the venv"

    run_dir = elsewhere / "run"
    _run(["ued-train", *TINY, f"run_dir={run_dir}", f"hydra.searchpath=[file://{elsewhere / 'my_conf'}]",
          "+preset=tiny"], cwd=elsewhere, env=env)
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["update"] == 2
    saved = (run_dir / "config.yaml").read_text()
    assert "from a user config directory" in saved

    # A bad option is still one line with the choices (the pre-flight reads the packaged tree).
    bad = subprocess.run(["ued-train", "curriculum=nope"], cwd=elsewhere, env=env, capture_output=True, text=True,
                         timeout=300)
    assert bad.returncode == 2
    assert "the options of curriculum are" in bad.stderr and "robust_plr" in bad.stderr
