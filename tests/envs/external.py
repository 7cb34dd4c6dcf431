"""What the adapters' configuration-only tests share: tiny settings per level space and the checks
(2-update runs of a curriculum, PAIRED designing levels or refused, the CVaR evaluator)."""

import math
import os

import jax
import numpy as np
import pytest
from hydra import compose, initialize_config_dir

from tests.extras import PACKAGES, require
from tests.tiny import ENV_STEPS, GENERAL_CURRICULA, shrink  # noqa: F401

# The curricula an adapter is trained with: one for each part of a level space a curriculum uses
# (DR: the generator and the evaluation, whose run the CVaR evaluator then reads; ACCEL: a replay
# buffer keyed on the level, a score of the student's rollout and the mutator; SFL: the student's
# sampling rollouts and the top-K buffer; PAIRED, where the space has an editor: tests of its own).
# PLR, robust PLR and score-weighted DR use nothing of a level space that these do not (ACCEL's
# replay is PLR's; they are tested on the maze by tests/test_contract.py); a new curriculum that
# needs another part of a level space joins here.
CURRICULA = [c for c in ("dr", "accel", "sfl", "paired") if c in GENERAL_CURRICULA]
from ued.evaluate.run import evaluate_runs
from ued.run.logger import read_jsonl
from ued.train import CONF_DIR, ConfigError, train

COMMON = ["num_envs=4", "num_steps=16", "num_updates=2", "updates_per_chunk=1", "eval.every=0", "eval.attempts=1",
          "eval.random_levels=0", "eval.render=false", "progress=false", "checkpoint_every=0"]
SPACES = {
    "jaxnav": ["env=jaxnav", "env.max_steps=12", "env.held_out=[SingleNav1]", "agent.network.embed=16",
               "agent.network.hidden=16", "agent.network.head=16", "agent.ppo.num_minibatches=2"],
    "jaxnav_multi": ["env=jaxnav_multi", "env.max_steps=12", "env.held_out=[BlankCross4]", "agent.network.embed=8",
                     "agent.network.hidden=8", "agent.network.head=8", "agent.ppo.num_minibatches=2",
                     "agent.ppo.update_epochs=1"],
    "xland": ["env=xland", "env.max_steps=12", "agent.network.hidden=16"],
    "craftax": ["env=craftax", "env.max_steps=12", "env.num_edits=2", "agent.network.embed=8", "agent.network.hidden=8",
                "agent.network.head=8", "agent.ppo.num_minibatches=2"],
    "navix": ["env=navix", "env.max_steps=12", "env.held_out=[Navix-Empty-8x8-v0]", "agent.network.hidden=16"],
    "kinetix": ["env=kinetix", "env.max_steps=12", "env.filter_steps=0", "env.num_edits=2",
                "env.held_out_levels=[s/h0_weak_thrust,s/h2_one_wheel_car]", "agent.network.embed=8",
                "agent.network.hidden=8", "agent.network.head=8", "agent.ppo.num_minibatches=2",
                "agent.ppo.update_epochs=1"],
    **{e: [f"env={e}", "env.max_steps=12", "env.held_out_points=2", "agent.network.embed=8", "agent.network.hidden=8",
           "agent.network.head=8", "agent.ppo.num_minibatches=2"] for e in ("cartpole", "acrobot", "pendulum")},
}
def overrides(space, xland_path, *extra):
    out = [*COMMON, *SPACES[space], *extra]
    if space == "xland":
        out.append(f"env.path={xland_path}")
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose(config_name="config", overrides=out)


def xland_path(space, request):
    return request.getfixturevalue("xland_benchmark") if space == "xland" else None


# trained by README's level-space commands as written (tests/test_documented_commands.py), so not again here
DOCUMENTED = {("jaxnav", "sfl"), ("xland", "plr"), ("navix", "accel"), ("cartpole", "robust_plr"), ("jaxnav_multi", "sfl")}


def check_training(space, curriculum, tmp_path, request):
    """A 2-update run of ``curriculum`` on ``space`` from the configuration alone."""
    require(*PACKAGES[space])
    path = xland_path(space, request)
    # every level space's evaluation runs once as configured but for its size (random levels and renders
    # included: DR's run, ACCEL's where a space runs no DR)
    full_eval = curriculum == "dr" or (space, curriculum) in (("xland", "accel"), ("pendulum", "accel"))
    media = ["eval.render=true", "eval.random_levels=2"] if full_eval else []
    summary = train(overrides(space, path, f"curriculum={curriculum}", *shrink(curriculum), *media), str(tmp_path))
    assert summary["complete"]
    if full_eval:
        evals = read_jsonl(str(tmp_path / "eval.jsonl"))
        assert evals and all(any(k.startswith("eval/random/") and math.isfinite(v) for k, v in row.items()
                                 if isinstance(v, float)) for row in evals)
    rows = read_jsonl(str(tmp_path / "metrics.jsonl"))
    assert [r["update"] for r in rows] == [1, 2]
    assert all(math.isfinite(r["loss"]) and r["nonfinite"] == 0 for r in rows)
    assert any(k.startswith("curriculum/") for k in rows[0])
    if curriculum in ("plr", "accel"):
        assert rows[-1]["curriculum/buffer_fill"] > 0
    if space == "xland" and curriculum == "accel":  # images of the proposed and top-scoring rulesets
        assert {"proposed_0000002.png", "top_levels_0000002.png"} <= set(os.listdir(tmp_path / "media"))


def check_paired(space, tmp_path):
    """PAIRED's adversary designs the level space's levels (at most ``n_walls`` walls), and every env
    step it spends (the antagonist's rollout) is counted once per environment, against a counter in
    the env itself (on a level space with several agents too)."""
    require(*PACKAGES[space])
    target = overrides(space, None).env._target_
    ENV_STEPS[0] = 0
    cfg = overrides(space, None, "curriculum=paired", "curriculum.n_walls=5", "env._target_=tests.tiny.counting_maze",
                    f"+env.inner={target}", "env.held_out=[]")  # no evaluation steps in the count
    summary = train(cfg, str(tmp_path))
    assert summary["complete"]
    rows = read_jsonl(str(tmp_path / "metrics.jsonl"))
    assert all(math.isfinite(r["curriculum/regret"]) for r in rows)
    assert all(0 <= r["curriculum/level_walls"] <= 5 for r in rows)  # the adversary placed at most n_walls blocks
    per_update = cfg.num_envs * cfg.num_steps
    assert [r["curriculum_env_steps"] for r in rows] == [per_update * u for u in (1, 2)]  # the antagonist's rollouts
    jax.effects_barrier()  # the counting callbacks run asynchronously
    assert ENV_STEPS[0] == rows[-1]["total_env_steps"] == 2 * 2 * per_update
    return rows


def check_paired_refused(space, tmp_path, request):
    require(*PACKAGES[space])
    path = xland_path(space, request)
    with pytest.raises(ConfigError, match=f"the {space} level space has no editor for the adversary"):
        train(overrides(space, path, "curriculum=paired"), str(tmp_path))


def check_dr_and_cvar(space, tmp_path, request):
    """DR's 2-update run (``check_training``), then the CVaR evaluator on it; returns the
    evaluator's summary of the seed and its levels.csv."""
    check_training(space, "dr", tmp_path / "run", request)
    [summary] = evaluate_runs([str(tmp_path / "run")], num_levels=20, episodes=2, alphas=[10, 100],
                              parallel_episodes=16, verbose=False)
    assert summary["level_space"] == space and summary["num_levels"] == 20
    s = summary["seeds"][0]
    assert 0.0 <= s["cvar"]["10.0"] <= 1.0 and s["cvar_levels"]["10.0"] == 2
    return s, np.genfromtxt(f"{summary['path']}/levels.csv", delimiter=",", names=True)
