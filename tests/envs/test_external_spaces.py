"""Every curriculum and the CVaR evaluator on the adapters' level spaces (JaxNav, XLand, gymnax's
classic control) through config only (2 updates each)."""

import math
import os

import numpy as np
import pytest
from hydra import compose, initialize_config_dir

from tests.extras import require
from tests.tiny import CURRICULA, shrink
from ued.evaluate.run import evaluate_runs
from ued.run.logger import read_jsonl
from ued.train import CONF_DIR, ConfigError, train

COMMON = ["num_envs=4", "num_steps=16", "num_updates=2", "updates_per_chunk=1", "eval.every=0", "eval.attempts=1",
          "eval.random_levels=0", "eval.render=false", "progress=false", "checkpoint_every=0"]
SPACES = {
    "jaxnav": ["env=jaxnav", "env.max_steps=12", "env.held_out=[SingleNav1]", "agent.network.embed=16",
               "agent.network.hidden=16", "agent.network.head=16", "agent.ppo.num_minibatches=2"],
    "xland": ["env=xland", "env.max_steps=12", "agent.network.hidden=16"],
    "craftax": ["env=craftax", "env.max_steps=12", "env.num_edits=2", "agent.network.embed=8", "agent.network.hidden=8",
                "agent.network.head=8", "agent.ppo.num_minibatches=2"],
    "navix": ["env=navix", "env.max_steps=12", "env.held_out=[Navix-Empty-8x8-v0]", "agent.network.hidden=16"],
    **{e: [f"env={e}", "env.max_steps=12", "env.held_out_points=2", "agent.network.embed=8", "agent.network.hidden=8",
           "agent.network.head=8", "agent.ppo.num_minibatches=2"] for e in ("cartpole", "acrobot", "pendulum")},
}
PACKAGES = {"jaxnav": ("jaxmarl", "jaxnav"), "xland": ("xminigrid", "xland"), "navix": ("navix", "navix"),
            "craftax": ("craftax", "craftax"),
            **{e: ("gymnax", "gymnax") for e in ("cartpole", "acrobot", "pendulum")}}
# every curriculum on each package's first space; the other gymnax systems differ only in the system
# PAIRED: test_paired_designs_*_levels where the level space has an editor, refused elsewhere
RUNS = [(space, c) for space in ("jaxnav", "xland", "navix", "cartpole") for c in CURRICULA if c != "paired"]
RUNS += [("acrobot", "dr"), ("pendulum", "accel"), ("craftax", "dr"), ("craftax", "accel")]  # Craftax compiles slowly


@pytest.fixture(scope="module")
def xland_benchmark(tmp_path_factory):
    require("xminigrid", "xland")
    from tests.envs.xland.test_xland import write_benchmark

    return write_benchmark(str(tmp_path_factory.mktemp("xland") / "tiny.bz2"))


def overrides(space, xland_path, *extra):
    out = [*COMMON, *SPACES[space], *extra]
    if space == "xland":
        out.append(f"env.path={xland_path}")
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose(config_name="config", overrides=out)


@pytest.mark.slow
@pytest.mark.parametrize("space,curriculum", RUNS)
def test_every_curriculum_trains_on_the_level_space(space, curriculum, tmp_path, request):
    require(*PACKAGES[space])
    path = request.getfixturevalue("xland_benchmark") if space == "xland" else None
    media = ["eval.render=true", "eval.random_levels=2"] if (space, curriculum) == ("xland", "plr") else []
    summary = train(overrides(space, path, f"curriculum={curriculum}", *shrink(curriculum), *media), str(tmp_path))
    assert summary["complete"]
    rows = read_jsonl(str(tmp_path / "metrics.jsonl"))
    assert [r["update"] for r in rows] == [1, 2]
    assert all(math.isfinite(r["loss"]) and r["nonfinite"] == 0 for r in rows)
    assert any(k.startswith("curriculum/") for k in rows[0])
    if curriculum in ("plr", "accel"):
        assert rows[-1]["curriculum/buffer_fill"] > 0
    if space == "xland" and curriculum == "plr":  # images of the proposed and top-scoring rulesets
        assert {"proposed_0000002.png", "top_levels_0000002.png"} <= set(os.listdir(tmp_path / "media"))


@pytest.mark.slow
def test_paired_designs_navix_levels(tmp_path):
    require(*PACKAGES["navix"])
    summary = train(overrides("navix", None, "curriculum=paired", "curriculum.n_walls=5"), str(tmp_path))
    assert summary["complete"]
    rows = read_jsonl(str(tmp_path / "metrics.jsonl"))
    assert all(math.isfinite(r["curriculum/regret"]) for r in rows)
    assert all(0 <= r["curriculum/level_walls"] <= 5 and r["curriculum/level_has_door"] == 0 for r in rows)


@pytest.mark.slow
def test_paired_designs_jaxnav_levels(tmp_path):
    require(*PACKAGES["jaxnav"])
    summary = train(overrides("jaxnav", None, "curriculum=paired", "curriculum.n_walls=5"), str(tmp_path))
    assert summary["complete"]
    rows = read_jsonl(str(tmp_path / "metrics.jsonl"))
    assert all(math.isfinite(r["curriculum/regret"]) for r in rows)
    assert all(0 <= r["curriculum/level_walls"] <= 5 for r in rows)  # the adversary placed at most n_walls blocks


@pytest.mark.parametrize("space", ["xland", "cartpole"])
def test_paired_is_refused_where_the_level_space_has_no_editor(space, tmp_path, request):
    require(*PACKAGES[space])
    path = request.getfixturevalue("xland_benchmark") if space == "xland" else None
    with pytest.raises(ConfigError, match=f"the {space} level space has no editor for the adversary"):
        train(overrides(space, path, "curriculum=paired"), str(tmp_path))


@pytest.mark.slow
@pytest.mark.parametrize("space", ["jaxnav", "xland", "navix", "cartpole"])
def test_the_cvar_evaluator_runs_on_the_level_space(space, tmp_path, request):
    require(*PACKAGES[space])
    path = request.getfixturevalue("xland_benchmark") if space == "xland" else None
    train(overrides(space, path, "num_updates=1"), str(tmp_path / "run"))
    [summary] = evaluate_runs([str(tmp_path / "run")], num_levels=20, episodes=2, alphas=[10, 100],
                              parallel_episodes=16, verbose=False)
    assert summary["level_space"] == space and summary["num_levels"] == 20
    s = summary["seeds"][0]
    assert 0.0 <= s["cvar"]["10.0"] <= 1.0 and s["cvar_levels"]["10.0"] == 2
    if space == "jaxnav":  # filtered to solvable levels; the test case is evaluated by name
        assert set(s["named"]) == {"SingleNav1"}
        levels = np.genfromtxt(f"{summary['path']}/levels.csv", delimiter=",", names=True)
        assert (levels["shortest_path"] > 0).all()
    if space == "navix":  # the package's DoorKey layouts; its fixed layout evaluated by name
        assert set(s["named"]) == {"Navix-Empty-8x8-v0"}
        levels = np.genfromtxt(f"{summary['path']}/levels.csv", delimiter=",", names=True)
        assert (levels["has_door"] == 1).all() and (levels["walls"] >= 5).all()
    if space == "cartpole":  # the held-out grid by name; each level's physical parameters in levels.csv
        assert set(s["named"]) == {"length=0.05,masspole=0.05", "length=0.05,masspole=10", "length=10,masspole=0.05",
                                   "length=10,masspole=10", "default"}
        levels = np.genfromtxt(f"{summary['path']}/levels.csv", delimiter=",", names=True)
        assert ((0.01 <= levels["length"]) & (levels["length"] <= 10.01)).all()
