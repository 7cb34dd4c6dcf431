"""Evaluation during training that a user can see, size and switch off: where it happens
(``eval.every``, ``eval.at_start``, ``eval.enabled``), what it costs (an upper bound on its env
steps, checked against a counter in the env, and a note at start when it outweighs training), the
lines it prints, and each level space's own sizes."""

import jax
import pytest

from tests.tiny import ENV_STEPS, compose_config, tiny_config
from ued.run.config import build_components
from ued.run.logger import read_jsonl
from ued.train import eval_env_steps, eval_updates, train

COUNTED = ["env._target_=tests.tiny.counting_maze", "num_updates=2", "checkpoint_every=0"]


def test_the_evaluations_fall_where_the_settings_say():
    every2 = tiny_config("dr", "num_updates=4", "eval.every=2")
    assert eval_updates(every2, 0, 4) == [0, 2, 4]
    assert eval_updates(every2, 2, 4) == [4]  # a resumed session does not evaluate the untrained policy
    assert eval_updates(every2, 0, 3) == [0, 2]  # a session that stops at update 3
    assert eval_updates(tiny_config("dr", "num_updates=4", "eval.every=0"), 0, 4) == [0, 4]
    assert eval_updates(tiny_config("dr", "num_updates=4", "eval.every=0", "eval.at_start=false"), 0, 4) == [4]
    assert eval_updates(tiny_config("dr", "num_updates=4", "eval.enabled=false"), 0, 4) == []


def test_an_evaluation_costs_at_most_its_bound_and_a_costly_one_is_noted_at_start(tmp_path, capsys):
    cfg = tiny_config("dr", *COUNTED, "eval.every=0", "eval.at_start=false")
    training = 2 * cfg.num_envs * cfg.num_steps
    ENV_STEPS[0] = 0
    summary = train(cfg, str(tmp_path / "end_only"))
    jax.effects_barrier()  # the counting callbacks run asynchronously
    assert [r["update"] for r in read_jsonl(str(tmp_path / "end_only" / "eval.jsonl"))] == [2]
    bound = eval_env_steps(cfg, build_components(cfg))
    levels = 1 + cfg.eval.random_levels  # one named level (tests/tiny.py) and the random ones
    exact = 2 * levels * cfg.eval.attempts * cfg.env.max_steps  # greedy and sampled, rolled to the time limit
    assert exact < ENV_STEPS[0] - training <= bound == exact + 2 * cfg.eval.random_levels * cfg.eval.attempts * cfg.env.max_steps
    assert 0 < summary["eval_seconds"] < summary["seconds"]
    out = capsys.readouterr()
    assert f"evaluating at update 2: up to {bound:,} env steps" in out.out
    assert "evaluated at update 2 in" in out.out
    assert bound < training and "the held-out evaluation will cost" not in out.err
    # at the start as well: twice the bound, more than training's steps, said at start with the settings
    train(tiny_config("dr", *COUNTED, "eval.every=0"), str(tmp_path / "start_and_end"))
    err = capsys.readouterr().err
    assert (f"note: the held-out evaluation will cost up to {2 * bound:,} env steps (2 evaluation(s) of up to "
            f"{bound:,}), more than this session's {training:,} training steps") in err
    assert "eval.enabled=false turns it off" in err


def test_evaluation_switched_off_builds_and_runs_none(tmp_path, capsys):
    cfg = tiny_config("dr", "num_updates=2", "eval.enabled=false", "eval.render=true")
    assert build_components(cfg).trainer.evaluate is None
    summary = train(cfg, str(tmp_path))
    assert summary["complete"] and summary["eval_seconds"] == 0
    assert not any(k.startswith("eval/") for k in summary)
    assert not (tmp_path / "eval.jsonl").exists() or read_jsonl(str(tmp_path / "eval.jsonl")) == []
    assert "evaluating" not in capsys.readouterr().out


@pytest.mark.parametrize("space,attempts,random_levels", [("maze", 10, 100), ("jaxnav", 2, 20),
                                                          ("jaxnav_multi", 2, 20), ("craftax", 1, 8)])
def test_a_level_space_sizes_its_own_evaluation_and_the_command_line_wins(space, attempts, random_levels):
    cfg = compose_config([f"env={space}"])
    assert (cfg.eval.attempts, cfg.eval.random_levels) == (attempts, random_levels)
    assert compose_config([f"env={space}", "eval.attempts=3"]).eval.attempts == 3
    if space == "jaxnav":  # a preset after the level space keeps the space's sizes and sets its own
        preset = compose_config(["env=jaxnav", "preset=sfl_jaxnav"])
        assert preset.eval.every == 50 and preset.eval.random_levels == 20
