"""Every command of README.md and docs/ runs as written, from a fresh working directory.

The commands come from the files' fenced code blocks (``tests/documented.py``), so a command is
tested the day it is written. Each runs verbatim with only size overrides appended at the end of
its arguments (fewer environments, steps, updates, levels; a curriculum's own large settings
capped as ``tests/tiny.py`` caps them), in a temporary directory holding only the repository's
committed ``experiments/`` files, with relative paths as a user types them. Blocks that only
train run first (they make the runs the other commands read), then every other block in
document order; Python blocks run as scripts, their size keywords (``num_envs=32``) made small.
Install and test commands are CI's (``.ci/run`` must run each); the two commands this machine
cannot run (a SLURM cluster, the Kinetix environment) are named with the reason.
"""

from __future__ import annotations

import glob
import math
import os
import re
import shlex
import subprocess
import sys
import time

import pytest
from hydra import compose, initialize_config_dir

from tests.documented import ROOT, Command, code_blocks, copy_tracked
from tests.envs.external import SPACES
from tests.extras import PACKAGES, require
from tests.tiny import shrink
from ued.run.config import CONF_DIR
from ued.run.logger import read_jsonl

MODULES_RUN = {"ued.train", "ued.evaluate", "ued.report", "ued.analyze", "ued.study", "ued.curves",
               "ued.evaluate.crossplay", "ued.demo"}
EXCLUDED = [  # (an argument that marks the command, why this machine cannot run it)
    ("hydra/launcher=slurm", "submits SLURM jobs: needs a SLURM cluster"),
    ("env=kinetix", "needs the Kinetix environment (jax 0.9.0): .ci/run tests the adapter there"),
]
TRAIN = ["num_envs=4", "num_steps=8", "num_updates=1", "updates_per_chunk=1", "eval.attempts=1",
         "eval.random_levels=2"]
MAZE_LIKE = ["env.max_steps=8", "agent.network.hidden=8"]
SIZES = {
    "ued.evaluate": ["num_levels=20", "episodes=1", "alphas=[10,50,100]", "parallel_episodes=64"],
    "ued.analyze": ["num_levels=12", "batch=12", "bootstrap=20", "min_levels=3"],
    "ued.evaluate.crossplay": ["levels=8", "episodes=1"],
    "ued.demo": ["--num-envs", "8", "--num-steps", "8"],
    "ued.study": ["seeds=1", "overrides=[" + ",".join(
        TRAIN + MAZE_LIKE + ["buffer.capacity=16", "curriculum.num_samples=16",
                             "curriculum.sample_batch=16", "curriculum.rollout_steps=8"]) + "]",
                  "evaluate=[num_levels=20,episodes=1,alphas=[10,50,100],parallel_episodes=64]"],
}
PYTHON_SIZES = {"num_envs": 4, "num_levels": 4, "num_steps": 8, "num_updates": 2, "updates_per_chunk": 1}


def classify(cmd: Command) -> tuple[str, str]:
    """``("run", "")``, ``("ci", why)`` or ``("excluded", why)``; ``("unknown", ...)`` fails the test."""
    prog = os.path.basename(cmd.argv[0]) if cmd.argv else ""
    if prog == "pip" or cmd.module in ("pip", "pytest", "venv"):
        return "ci", "an install or test command: .ci/run runs it"
    for marker, why in EXCLUDED:
        if marker in cmd.args:
            return "excluded", why
    if cmd.module in MODULES_RUN:
        return "run", ""
    return "unknown", f"{cmd.source}: {cmd.text()!r} has no rule in tests/test_documented_commands.py"


def _choice(args, key):
    values = [a.split("=", 1)[1] for a in args if a.startswith(key + "=")]
    return values[-1].split(",")[0] if values else None


def train_sizes(cmd: Command) -> list[str]:
    """Size overrides for a ``ued.train`` command: the run sizes, the level space's agent and episode
    sizes, and, where the command trains one curriculum, its large settings capped."""
    args = [a for a in cmd.args if a not in ("-m", "--multirun")]
    single = [a for a in args if not a.startswith("hydra") and "," not in a.split("=", 1)[-1]
              or a.startswith("env.held_out")]
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(config_name="config", overrides=[*single, *[f"{a.split('=')[0]}={_choice(args, a.split('=')[0])}"
                                                                   for a in args if a not in single and
                                                                   not a.startswith("hydra")]],
                      return_hydra_config=True)
    env = cfg.hydra.runtime.choices.env
    space = [o for o in SPACES.get(env, MAZE_LIKE) if not o.startswith(("env=", "env.held_out=", "env.path="))]
    curricula = [a.split("=", 1)[1] for a in args if a.startswith("curriculum=")]
    capped = []
    if not curricula or "," not in curricula[-1]:
        base = [a for a in args if a.startswith("preset=")]
        capped = shrink(curricula[-1] if curricula else "dr", base=base)
    return [*TRAIN, *space, *capped]


def sizes(cmd: Command) -> list[str]:
    return train_sizes(cmd) if cmd.module == "ued.train" else SIZES.get(cmd.module, [])


def bash_script(block) -> str:
    lines = ["set -e"]
    for kind, item in block.order:
        if kind == "export":
            lines.append(item)
            continue
        parts = []
        for cmd in item:
            what, why = classify(cmd)
            parts.append(cmd.text(sizes(cmd)) if what == "run" else ": " + shlex.quote(f"not run here: {why}"))
        lines.append(" && ".join(parts))
    lines.append("for job in $(jobs -p); do wait $job; done")  # a background command's failure fails the block
    return "\n".join(lines)


def python_script(block) -> str:
    return re.sub(r"\b(%s)=(\d+)" % "|".join(PYTHON_SIZES), lambda m: f"{m.group(1)}={PYTHON_SIZES[m.group(1)]}",
                  block.text)


def _is_training_block(block) -> bool:
    cmds = [c for kind, x in getattr(block, "order", []) if kind == "line" for c in x]
    return bool(cmds) and all(c.module == "ued.train" or classify(c)[0] != "run" for c in cmds)


def test_every_documented_command_has_a_rule_and_ci_runs_the_install_and_test_commands():
    blocks = code_blocks()
    commands = [c for b in blocks if hasattr(b, "order") for kind, x in b.order if kind == "line" for c in x]
    assert len(commands) > 30  # README's blocks were found
    unknown = [why for c in commands for what, why in [classify(c)] if what == "unknown"]
    assert not unknown, "\n".join(unknown)
    ci = _ci_commands()
    for c in commands:
        if classify(c)[0] == "ci":
            assert any(_covers(run, c.argv) for run in ci), f"{c.source}: .ci/run does not run {c.text()!r}"
    assert {b.lang for b in blocks} <= {"bash", "python"}, "a code block in a language this test cannot run"


def _ci_commands() -> list[list[str]]:
    """The commands of ``.ci/run`` as argument lists (environment prefixes dropped, ``$KVENV`` as
    the README's path), for comparing with the README's."""
    with open(os.path.join(ROOT, ".ci", "run")) as f:
        text = f.read().replace('"$KVENV', '"/tmp/ued-kinetix-venv').replace("$KVENV", "/tmp/ued-kinetix-venv")
    out = []
    for line in text.splitlines():
        try:
            tokens = shlex.split(line, comments=True)
        except ValueError:
            continue
        cur = []
        for t in tokens + ["&&"]:
            if t in ("&&", "||", ";", "&", "(", ")") or t.startswith(("(", ">")):
                if cur:
                    out.append([a for a in cur if not re.match(r"^[A-Z_]+=", a)])
                cur = []
            else:
                cur.append(t.rstrip(";)"))
    return out


def _covers(ci: list[str], readme: list[str]) -> bool:
    """``ci`` runs the README's command: the same arguments (a ``.[extra]`` install covers ``.``)."""
    if len(ci) < len(readme):
        return False
    return all(a == b or (b == "." and a.startswith(".[")) for a, b in zip(ci, readme))


def _workdir(tmp_path):
    """A fresh working directory holding the repository's committed experiments/ files only."""
    work = tmp_path / "work"
    work.mkdir()
    assert copy_tracked(work, "experiments"), "git ls-files found no committed experiments/ files"
    return work


@pytest.mark.slow
def test_every_documented_command_runs_as_written(tmp_path):
    for space in ("jaxnav", "xland", "navix", "cartpole"):  # the level spaces its commands train on
        require(*PACKAGES[space])
    work = _workdir(tmp_path)
    env = {**os.environ, "PYTHONUNBUFFERED": "1",  # the test run's compilation cache (conftest.py) comes along
           "XLAND_MINIGRID_DATA": str(_xland_data(tmp_path))}
    blocks = code_blocks()
    order = [b for b in blocks if _is_training_block(b)] + [b for b in blocks if not _is_training_block(b)]
    timings = []
    for block in order:
        if block.lang == "python":
            script, argv = python_script(block), [sys.executable, "-c"]
        else:
            script, argv = bash_script(block), ["bash", "-c"]
        start = time.time()
        block_env = env
        if re.search(r"\bdevices=(4|all)\b", script):
            block_env = {**env, "XLA_FLAGS": "--xla_force_host_platform_device_count=4"}  # the machine it is for
        r = subprocess.run(argv + [script], cwd=work, env=block_env, capture_output=True, text=True, timeout=1800)
        timings.append(f"{block.source}: {time.time() - start:.0f} s")
        print(timings[-1], flush=True)
        assert r.returncode == 0, f"{block.source} failed ({r.returncode}):\n{script}\n--- output:\n" \
                                  f"{(r.stdout + r.stderr)[-6000:]}"
    print("\n".join(timings))
    # every run the commands trained (sweep jobs and launcher jobs included) finished with finite losses
    runs = [os.path.dirname(p) for p in glob.glob(str(work / "**" / "metrics.jsonl"), recursive=True)]
    assert len(runs) >= 30, runs
    for run in runs:
        rows = read_jsonl(os.path.join(run, "metrics.jsonl"))
        assert rows and all(math.isfinite(r["loss"]) and r["nonfinite"] == 0 for r in rows), run
        assert os.listdir(os.path.join(run, "checkpoints")), run
    sweep = [r for r in runs if os.sep + "multirun" + os.sep in r]
    assert len(sweep) >= 8  # the score sweep, the preset sweep and the local launcher's jobs
    # what the commands wrote, where the README says
    assert (work / "outputs" / "plr" / "evaluation").is_dir() and (work / "outputs" / "plr" / "analysis").is_dir()
    assert (work / "figures").is_dir() and (work / "xp" / "crossplay.json").is_file()
    assert (work / "studies" / "maze_cpu" / "table.md").is_file() and (work / "studies" / "sfl_small" / "table.md").is_file()
    assert (work / "curves" / "curves.json").is_file() and (work / "demo_out").is_dir()


def _xland_data(tmp_path):
    """XLand's benchmark directory holding the README's ``small-1m`` benchmark as a tiny local file
    in the package's format (the package downloads a benchmark once into this directory; this
    machine has no network)."""
    from xminigrid.benchmarks import NAME2HFFILENAME

    from tests.envs.xland.test_xland import write_benchmark

    path = tmp_path / "xland_data"
    path.mkdir()
    write_benchmark(str(path / NAME2HFFILENAME["small-1m"]))
    return path
