"""Wiring is checked, never guessed: every configuration that used to be accepted and silently
ignored (or that failed only after compiling) is refused before anything is compiled."""

import os
import re
import subprocess
import sys

import pytest

from tests.tiny import compose_config
from ued.buffers import plr_buffer, sfl_buffer
from ued.curricula import accel, plr, sfl
from ued.envs.maze import maze_level_space
from ued.run.config import Components, ConfigError, check_overrides, curriculum_groups
from ued.scores import least_confidence, max_mc, oracle_regret
from ued.types import Box
from ued.utils import CompileCounter

SPACE = maze_level_space(max_steps=16)
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def build(*overrides):
    """Components of a config; a refusal must come before anything compiles (JaxNav's own
    level-space construction compiles its map tools, so only the maze is counted)."""
    with CompileCounter() as cc:
        try:
            return Components(compose_config(overrides))
        except ConfigError:
            assert cc.count == 0 or "env=jaxnav" in overrides, "compiled before refusing"
            raise


def test_a_component_of_the_wrong_kind_is_a_type_error_naming_it():
    with pytest.raises(TypeError, match=r"plr: score must be a ued.types.Score .* got function 'max_mc'"):
        plr(SPACE, 8, score=max_mc)  # the factory, not the score
    with pytest.raises(TypeError, match=r"plr: buffer must be a LevelBuffer \(buffer=plr .*got TopKBuffer"):
        plr(SPACE, 8, buffer=sfl_buffer(capacity=4))
    with pytest.raises(TypeError, match=r"sfl: buffer must be a TopKBuffer \(buffer=sfl .*got LevelBuffer"):
        sfl(SPACE, 8, buffer=plr_buffer(capacity=4), num_samples=8, sample_batch=8)
    with pytest.raises(TypeError, match="accel: score must be .* got str"):
        accel(SPACE, 8, score="max_mc")
    assert plr(SPACE, 8, score=None, buffer=None) is not None  # None: the curriculum's own default


@pytest.mark.parametrize("overrides,message", [
    (["curriculum=dr", "score=mna"], "curriculum=dr does not use a score .* it takes no component groups"),
    (["curriculum=paired", "score=mna", "buffer=sfl"], "curriculum=paired does not use a score"),
    (["curriculum=paired", "buffer=sfl"], "curriculum=paired does not use a buffer"),
    (["curriculum=dr,plr", "score=max_mc,mna"], "curriculum=dr does not use a score"),  # a sweep fails whole
])
def test_a_group_the_curriculum_does_not_use_is_refused_on_the_command_line(overrides, message):
    with pytest.raises(ConfigError, match=message):
        check_overrides(overrides)
    check_overrides(["curriculum=plr", "score=mna", "buffer.capacity=100"])  # used: fine


def test_the_groups_a_curriculum_uses_come_from_its_yaml(tmp_path):
    groups = curriculum_groups()
    assert groups["dr"] == () and groups["paired"] == ()
    assert set(groups["plr"]) == set(groups["sfl"]) == {"score", "buffer"}
    conf = tmp_path / "conf"
    (conf / "curriculum").mkdir(parents=True)
    (conf / "config.yaml").write_text("defaults:\n  - curriculum: mine\n")
    (conf / "curriculum" / "mine.yaml").write_text("defaults:\n  - /score@_global_.score: pvl\n  - _self_\n_target_: x\n")
    (conf / "curriculum" / "other.yaml").write_text("defaults:\n  - /buffer@_global_.buffer: plr\n_target_: y\n")
    assert curriculum_groups(str(conf)) == {"mine": ("score",), "other": ("buffer",)}
    check_overrides(["score=mna"], str(conf))
    check_overrides(["curriculum=other", "buffer=sfl"], str(conf))
    with pytest.raises(ConfigError, match=r"curriculum=mine does not use a buffer .*; it takes score\. .*: other"):
        check_overrides(["buffer=plr"], str(conf))


def test_the_cli_refuses_an_unused_group_and_an_unknown_key_with_exit_code_2(tmp_path):
    for args, message in ((["curriculum=dr", "score=mna"], "error: curriculum=dr does not use a score"),
                          (["+foo=1"], "error: unknown key foo: .* put free-form keys under notes")):
        out = subprocess.run([sys.executable, "-m", "ued.train", *args, f"hydra.run.dir={tmp_path / 'x'}"], cwd=REPO,
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 2 and re.search(message, out.stderr), out.stderr[-2000:]


@pytest.mark.parametrize("overrides,message", [
    (["curriculum=dr", "+score=mna"], "curriculum=dr does not use a score"),
    (["+foo=1"], "unknown key foo"),
    (["+eval.foo=1"], "unknown key eval.foo"),
    (["eval.render_levels=-1"], "eval.render_levels must be a non-negative integer, got -1"),
    (["curriculum=plr", "buffer=sfl"], r"plr: buffer must be a LevelBuffer \(buffer=plr"),
    (["curriculum=sfl", "buffer=plr"], r"sfl: buffer must be a TopKBuffer \(buffer=sfl"),
    (["curriculum=sfl", "curriculum.num_samples=256", "curriculum.sample_batch=256"],
     "sfl: the buffer keeps K=1000 levels but a refresh samples only num_samples=256"),
    (["curriculum=plr", "score=paired"], "the paired_regret score needs 'pair' rollouts"),
    (["curriculum=plr", "score=least_confidence", "env=jaxnav"], "least_confidence scores a categorical policy"),
])
def test_bad_wiring_fails_before_compiling(overrides, message):
    if "env=jaxnav" in overrides:
        pytest.importorskip("jaxmarl") if not os.environ.get("UED_REQUIRE_EXTRAS") else None
    with pytest.raises(ConfigError, match=message):
        build(*overrides)


def test_free_form_keys_live_under_notes_and_wrong_types_are_refused_by_hydra():
    assert compose_config(["+notes.purpose=ablation"]).notes.purpose == "ablation"
    with pytest.raises(Exception, match="seed=abc"):
        compose_config(["seed=abc"])


def test_scores_that_need_the_level_space_are_bound_or_refused():
    assert plr(SPACE, 8, score=oracle_regret()) is not None  # the maze has a solver
    with pytest.raises(ValueError, match="oracle_regret needs the optimal return .* the maze level space does not"):
        plr(SPACE._replace(optimal_return=None), 8, score=oracle_regret())
    continuous = SPACE._replace(env=SPACE.env._replace(action_space=Box(low=-1.0, high=1.0, shape=(2,))))
    with pytest.raises(ValueError, match="least_confidence scores a categorical policy"):
        plr(continuous, 8, score=least_confidence())


def test_the_score_yamls_take_gamma_and_lambda_from_the_agent():
    cfg = compose_config(["curriculum=plr", "score=mna", "agent.ppo.gamma=0.9", "agent.ppo.gae_lambda=0.7"])
    assert (cfg.score.gamma, cfg.score.lam) == (0.9, 0.7)


