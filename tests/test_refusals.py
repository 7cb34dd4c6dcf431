"""The bad-input battery, second part: a run directory's parts against each other, ``ued.study``'s
whole file before training, readers beside a training run, the newer entry points' arguments,
messages that name the right culprit, and Hydra's own command-line conventions.

Each case asserts the exit code (or the error's type), the one-line message and, for the data
cases, that nothing on disk was lost or altered (a snapshot of the directory before and after).
The first battery's tiny trained run (2 updates, checkpoints at 1 and 2) is copied for each
run-directory case.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import re
import pytest
import yaml

import ued
import ued.train
from tests.test_bad_inputs import cli_train, one_line, run, snapshot, trained  # noqa: F401 - the shared fixtures
from tests.tiny import tiny_config
from ued.run.checkpoint import CheckpointDamaged, CheckpointError, CheckpointVanished, checkpoint_dirs, meta_checksum
from ued.run.config import ConfigError, hydra_argv, hydra_overrides
from ued.train import check_command_line, remove_unused_run_dir, train

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CASES = []  # (id) of every case, counted by test_the_second_battery_has_at_least_60_cases


def resume(run, *overrides):
    return train(tiny_config("dr", "num_updates=3", "eval.every=0", *overrides), str(run))


def rows(run, name="metrics.jsonl"):
    return [json.loads(line)["update"] for line in open(run / name)]


# ====================================================================== a run directory's parts
def _checkpoints_file(run):
    shutil.rmtree(run / "checkpoints")
    (run / "checkpoints").write_text("not a directory")


def _checkpoints_missing(run):
    shutil.rmtree(run / "checkpoints")


def _checkpoints_empty(run):
    for _, path in checkpoint_dirs(str(run)):
        shutil.rmtree(path)


def _only_eval_log(run):
    shutil.rmtree(run / "checkpoints")
    os.remove(run / "metrics.jsonl")


INCONSISTENT = [
    ("checkpoints-file", _checkpoints_file, r"checkpoints is not a directory, so this run's checkpoints can be neither read nor saved; move it away"),
    ("checkpoints-missing", _checkpoints_missing, r"has logs up to update 2 but checkpoints/ is missing: a new run would start from update 0 over that history"),
    ("checkpoints-empty", _checkpoints_empty, r"has logs up to update 2 but checkpoints/ holds no checkpoint: .*move metrics.jsonl and eval.jsonl away"),
    ("only-eval-log", _only_eval_log, r"has logs up to update 2 but checkpoints/ is missing"),
]


@pytest.mark.parametrize("name,damage,message", INCONSISTENT, ids=[n for n, _, _ in INCONSISTENT])
def test_a_resume_over_history_without_checkpoints_is_refused_and_changes_nothing(run, name, damage, message):
    damage(run)
    before = snapshot(run)
    with pytest.raises(ConfigError, match=message):
        resume(run)
    assert snapshot(run) == before


@pytest.mark.parametrize("name,damage,message", INCONSISTENT[:2], ids=[n for n, _, _ in INCONSISTENT[:2]])
def test_the_cli_refuses_it_in_one_line_with_exit_code_2(run, name, damage, message, monkeypatch, capsys):
    damage(run)
    before = snapshot(run)
    code, err = cli_train(["num_updates=3", "eval.every=0", f"run_dir={run}"], monkeypatch, capsys)
    assert code == 2 and snapshot(run) == before
    assert "error:" in one_line(err) and re.search(message, err)


CASES += [f"history:{n}" for n, _, _ in INCONSISTENT] + [f"history-cli:{n}" for n, _, _ in INCONSISTENT[:2]]


def test_logs_written_before_the_first_checkpoint_are_produced_again(run):
    """A run killed before its first checkpoint (checkpoint_every=2, killed after update 1)."""
    shutil.rmtree(run / "checkpoints")
    cfg = yaml.safe_load(open(run / "config.yaml"))
    cfg["checkpoint_every"] = 2
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    kept = [line for line in open(run / "metrics.jsonl") if json.loads(line)["update"] <= 1]
    (run / "metrics.jsonl").write_text("".join(kept))
    (run / "eval.jsonl").write_text("")
    summary = resume(run, "checkpoint_every=2")
    assert summary["resumed_from"] is None and rows(run) == [1, 2, 3]


@pytest.mark.parametrize("cut", ["deleted", "emptied", "update-1"])
def test_metrics_short_of_the_checkpoint_are_said_not_silent(run, cut, capsys):
    if cut == "deleted":
        os.remove(run / "metrics.jsonl")
    else:
        kept = [line for line in open(run / "metrics.jsonl") if cut != "emptied" and json.loads(line)["update"] <= 1]
        (run / "metrics.jsonl").write_text("".join(kept))
    summary = resume(run)
    err = capsys.readouterr().err
    have = "stops at update 1" if cut == "update-1" else "is missing or has no rows"
    assert f"warning: metrics.jsonl {have} but the checkpoint is at update 2" in err
    assert summary["resumed_from"] == 2 and rows(run)[-1] == 3


CASES += ["history:before-first-save", "history:metrics-deleted", "history:metrics-emptied", "history:metrics-short"]


def _edit_meta(run, change, fix_checksum=False):
    path = os.path.join(checkpoint_dirs(str(run))[-1][1], "meta.json")
    meta = json.load(open(path))
    change(meta)
    if fix_checksum:
        meta["meta_checksum"] = meta_checksum(meta)
    json.dump(meta, open(path, "w"))
    return path


META_EDITS = [
    ("update", lambda m: m.update(update=1), False, r"its meta.json differs from the checksum recorded when it was saved"),
    ("config-seed", lambda m: m["config"].update(seed=7), False, r"its meta.json differs from the checksum"),
    ("env-steps", lambda m: m.update(env_steps=1), False, r"its meta.json differs from the checksum"),
    ("checksum-removed", lambda m: m.pop("meta_checksum"), False, r"its meta.json differs from the checksum"),
    ("update-vs-name", lambda m: m.update(update=1), True, r"its meta.json says update 1, not 2 as its directory's name"),
]


@pytest.mark.parametrize("name,change,fix,message", META_EDITS, ids=[n for n, *_ in META_EDITS])
def test_an_edited_meta_json_is_named_and_resume_falls_back(run, name, change, fix, message, capsys):
    _edit_meta(run, change, fix)
    with pytest.raises(CheckpointDamaged, match=message):
        ued.load(str(run))
    summary = resume(run)
    err = capsys.readouterr().err
    assert re.search(message, err) and "moved it to" in err
    assert summary["resumed_from"] == 1 and (run / "checkpoints" / "damaged-update_00000002").is_dir()


def test_a_format_2_checkpoint_without_its_own_checksum_still_loads(run):
    _edit_meta(run, lambda m: (m.pop("meta_checksum"), m.update(format=2)))
    assert ued.load(str(run)).update == 2


CASES += [f"meta:{n}" for n, *_ in META_EDITS] + ["meta:format-2"]


@pytest.mark.parametrize("value", ["", "   "], ids=["empty", "blank"])
def test_an_empty_run_dir_is_refused(value, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="run_dir is empty, which would write the run into the current directory"):
        train(tiny_config("dr"), value)
    code, err = cli_train([f"run_dir={value}"], monkeypatch, capsys)
    assert code == 2 and "run_dir is empty" in one_line(err)
    assert os.listdir(tmp_path) == []


CASES += ["run_dir:empty", "run_dir:blank", "run_dir:cli-empty", "run_dir:cli-blank"]


# ====================================================================== readers beside training
class _Rotating:
    """An orbax checkpointer whose restore first does what a training run's save does meanwhile:
    a newer checkpoint appears and the one being read is rotated away (``times`` times)."""

    def __init__(self, real, run, times):
        self.real, self.run, self.times = real, run, times

    def restore(self, path, abstract):
        if self.times > 0:
            self.times -= 1
            (u, newest), = checkpoint_dirs(str(self.run))[-1:]
            nxt = os.path.join(os.path.dirname(newest), f"update_{u + 1:08d}")
            shutil.copytree(newest, nxt)
            meta = json.load(open(os.path.join(nxt, "meta.json")))
            meta["update"] = u + 1
            meta["meta_checksum"] = meta_checksum(meta)
            json.dump(meta, open(os.path.join(nxt, "meta.json"), "w"))
            shutil.rmtree(newest)
        return self.real.restore(path, abstract)


def _rotate(monkeypatch, run, times):
    import ued.run.checkpoint as ck

    rotating = _Rotating(ck._checkpointer(), run, times)  # one for every read: it counts the rotations
    monkeypatch.setattr(ck, "_checkpointer", lambda: rotating)


def test_a_checkpoint_rotated_away_while_read_is_read_again_not_called_damaged(run, monkeypatch, capsys):
    _rotate(monkeypatch, run, 1)
    loaded = ued.load(str(run))
    err = capsys.readouterr().err
    assert loaded.update == 3 and "damaged" not in err
    assert "update_00000002 was removed while it was being read" in one_line(err) and "keep_checkpoints" in err


def test_endless_rotation_gives_up_with_one_line(run, monkeypatch, capsys):
    _rotate(monkeypatch, run, 99)
    with pytest.raises(CheckpointError, match="was removed while being read 5 times in a row"):
        ued.load(str(run))


def test_a_named_checkpoint_that_vanishes_is_said_to_vanish(run, monkeypatch):
    _rotate(monkeypatch, run, 1)
    with pytest.raises(CheckpointVanished, match="disappeared while it was being read"):
        ued.load(str(run), checkpoint=2)


def test_evaluate_beside_a_rotating_run_evaluates_the_newest(run, monkeypatch, capsys):
    from ued.evaluate import run as ev

    _rotate(monkeypatch, run, 1)
    code = ev.main([f"run_dir={run}", "num_levels=4", "episodes=1", "alphas=[50,100]", "named=false",
                    f"out={run / 'ev'}"])
    err = capsys.readouterr().err
    assert code == 0 and "was removed while it was being read" in err and "damaged" not in err
    assert json.load(open(run / "ev" / "run" / "summary.json"))["update"] == 3


CASES += ["rotation:once", "rotation:endless", "rotation:named", "rotation:evaluate"]


# ====================================================================== ued.study's whole file
STUDY_COMMON = ["num_envs=4", "num_steps=16", "eval.attempts=1", "eval.random_levels=0", "eval.render=false",
                "agent.network.hidden=8", "env.max_steps=20", "env.held_out=[SixteenRooms]"]


def _study(tmp_path, methods=None, **doc):
    base = {"name": "tiny", "scale": 1, "seeds": 1, "common": STUDY_COMMON + ["num_updates=1"],
            "methods": methods or [{"label": "DR", "overrides": ["curriculum=dr"]}],
            "evaluate": {"num_levels": 4, "episodes": 1, "alphas": [50, 100], "parallel_episodes": 8}}
    base.update(doc)
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(base))
    return str(path)


def _m(label, *overrides):
    return {"label": label, "overrides": ["curriculum=dr", *overrides]}


BAD_STUDIES = [
    ("labels-collide", dict(methods=[_m("A B"), _m("A_B")]), r"methods\[1\]: the label 'A_B' and 'A B' share the run directory runs/A_B"),
    ("labels-collide-dot", dict(methods=[_m("v1.0"), _m("v1.0!")]), r"the label 'v1.0!' and 'v1.0' share the run directory"),
    ("label-empty", dict(methods=[_m("")]), r"methods\[0\]: the label '' has no letter or digit"),
    ("label-punctuation", dict(methods=[_m("DR"), _m("!!!")]), r"the label '!!!' has no letter or digit"),
    ("label-dotdot", dict(methods=[_m("..")]), r"the label '..' has no letter or digit"),
    ("label-twice", dict(methods=[_m("DR"), _m("DR")]), r"the label 'DR' is used twice"),
    ("method-seed", dict(methods=[_m("DR", "seed=3")]), r"method 'DR': 'seed=3' sets seed, which the study sets on every run from the study's first_seed"),
    ("method-num_seeds", dict(methods=[_m("DR", "num_seeds=2")]), r"'num_seeds=2' sets num_seeds, which the study sets .* seeds"),
    ("method-run_dir", dict(methods=[_m("DR", "run_dir=x")]), r"'run_dir=x' sets run_dir, which the study sets"),
    ("common-seed", dict(common=STUDY_COMMON + ["seed=1"]), r"common: 'seed=1' sets seed"),
    ("evaluate-num_levels-0", dict(evaluate={"num_levels": 0}), r"evaluate: num_levels must be a positive integer, got 0"),
    ("evaluate-episodes-text", dict(evaluate={"episodes": "x"}), r"evaluate: episodes must be a positive integer, got 'x'"),
    ("evaluate-parallel", dict(evaluate={"parallel_episodes": -1}), r"evaluate: parallel_episodes must be a positive integer"),
    ("evaluate-named", dict(evaluate={"named": "yes"}), r"evaluate: named must be true or false, got 'yes'"),
    ("evaluate-alphas", dict(evaluate={"alphas": [0, 50]}), r"evaluate: .*alpha"),
]


@pytest.mark.parametrize("name,doc,message", BAD_STUDIES, ids=[n for n, _, _ in BAD_STUDIES])
def test_a_bad_study_file_is_refused_before_anything_trains(name, doc, message, tmp_path, monkeypatch, capsys):
    from ued.study import main

    monkeypatch.chdir(tmp_path)
    path = _study(tmp_path, **doc)
    code = main([f"study={path}", "out=o"])
    err = capsys.readouterr().err
    assert code == 2 and re.search(message, one_line(err)), err
    assert not (tmp_path / "o").exists()


def test_a_study_cli_seed_override_is_refused(tmp_path, monkeypatch, capsys):
    from ued.study import main

    monkeypatch.chdir(tmp_path)
    code = main([f"study={_study(tmp_path)}", "out=o", "overrides=[seed=4]"])
    assert code == 2 and "overrides=: 'seed=4' sets seed" in one_line(capsys.readouterr().err)


def test_a_preset_that_does_not_fit_a_methods_level_space_is_refused_naming_the_method(tmp_path):
    from ued.study import StudyError, load_study, plan

    path = _study(tmp_path, preset="sfl_minigrid", methods=[_m("DR"), {"label": "MAESTRO", "overrides": ["curriculum=maestro"]}])
    with pytest.raises(StudyError, match=r"method 'MAESTRO': preset=sfl_minigrid does not fit env=lasertag, which "
                                         r"curriculum=maestro selects: it sets env.sample_n_walls"):
        plan(load_study(path, out=str(tmp_path / "o")))


def test_labels_with_path_characters_stay_inside_the_study(tmp_path):
    from ued.study import load_study, plan

    path = _study(tmp_path, methods=[_m("../up"), _m(".hidden"), _m("a/b")])
    runs = plan(load_study(path, out=str(tmp_path / "o")))
    root = os.path.join(str(tmp_path / "o"), "runs") + os.sep
    assert [os.path.basename(r.run_dir) for r in runs] == ["up", "hidden", "a_b"]
    assert all(r.run_dir.startswith(root) for r in runs)


CASES += ([f"study:{n}" for n, _, _ in BAD_STUDIES] + ["study:cli-seed", "study:preset-fit", "study:path-labels"])


# ====================================================================== ued.analyze and cross-play
ANALYZE = [
    ("seed=abc", r"seed must be an integer, got 'abc'"),
    ("seed=1.5", r"seed must be an integer, got 1.5"),
    ("scores=[]", r"scores must be a non-empty list of score names"),
    ("out=", r"out= must be a directory path, got ''"),
    ("out=FILE", r"out=FILE is a file, not a directory; choose another out="),
    ("out=FILE/sub", r"out=FILE/sub cannot be created: .*FILE is a file; choose another out="),
    ("bootstrap=-1", r"bootstrap must be a non-negative integer, got -1"),
    ("run_dir=MISSING", r"run_dir MISSING is not a directory"),
]


@pytest.mark.parametrize("arg,message", ANALYZE, ids=[a for a, _ in ANALYZE])
def test_analyze_refuses_bad_arguments_before_any_rollout(arg, message, run, tmp_path, monkeypatch, capsys):
    from ued import analyze

    monkeypatch.chdir(tmp_path)
    (tmp_path / "FILE").write_text("x")
    monkeypatch.setattr("ued.rollout.make_rollout_fn", lambda *a, **k: pytest.fail("a rollout was built"))
    argv = [f"run_dir={run}", arg] if not arg.startswith("run_dir=") else [arg]
    before = snapshot(run)
    assert analyze.main(argv) == 2
    assert re.search(message, one_line(capsys.readouterr().err))
    assert snapshot(run) == before


CROSSPLAY = [
    ("runs=[MISSING]", r"runs: MISSING does not exist; give the run directories of trained runs"),
    ("runs=[FILE]", r"runs: FILE is a file, not a run directory"),
    ("out=FILE", r"out=FILE is a file, not a directory; choose another out="),
    ("out=", r"give runs=\[...\] and out=DIR; usage: python -m ued.evaluate.crossplay"),
    ("seed=abc", r"seed must be an integer, got 'abc'"),
    ("seed=1.5", r"seed must be an integer, got 1.5"),
    ("levels=0", r"levels must be a positive integer, got 0"),
    ("RUN", r"usage: python -m ued.evaluate.crossplay"),
]


@pytest.mark.parametrize("arg,message", CROSSPLAY, ids=[a for a, _ in CROSSPLAY])
def test_crossplay_refuses_bad_arguments_before_loading_a_run(arg, message, run, tmp_path, monkeypatch, capsys):
    from ued.evaluate import crossplay

    monkeypatch.chdir(tmp_path)
    (tmp_path / "FILE").write_text("x")
    monkeypatch.setattr("ued.run.load.load", lambda *a, **k: pytest.fail("a run was loaded"))
    given = {"runs": f"runs=[{run}]", "out": "out=o"}
    if "=" in arg:
        given[arg.split("=", 1)[0]] = arg
    else:
        given["extra"] = str(run)
    assert crossplay.main(list(given.values())) == 2
    assert re.search(message, one_line(capsys.readouterr().err))
    assert not (tmp_path / "o").exists()


CASES += [f"analyze:{a}" for a, _ in ANALYZE] + [f"crossplay:{a}" for a, _ in CROSSPLAY]


# ====================================================================== curriculum settings in range
@pytest.fixture(scope="module")
def lasertag():
    from ued.envs.lasertag import lasertag_level_space

    return lasertag_level_space(size=5, n_walls=3, max_steps=10, held_out=None)


POPULATION = [
    ("pfsp", "pfsp_power", "abc", r"pfsp: pfsp_power must be a number in \[0, inf\), got 'abc'"),
    ("pfsp", "pfsp_power", -1.0, r"pfsp: pfsp_power must be a number in \[0, inf\), got -1.0"),
    ("pfsp", "pfsp_power", float("inf"), r"pfsp: pfsp_power must be a number in \[0, inf\), got inf"),
    ("pfsp", "pfsp_power", float("nan"), r"pfsp: pfsp_power must be a number"),
    ("pfsp", "pfsp_power", True, r"pfsp: pfsp_power must be a number"),
    ("pfsp", "replay_prob", 1.5, r"pfsp: replay_prob must be a number in \[0, 1\], got 1.5"),
    ("pfsp", "replay_prob", "half", r"pfsp: replay_prob must be a number in \[0, 1\], got 'half'"),
    ("maestro", "coplayer_temperature", 0.0, r"maestro: coplayer_temperature must be a number in \(0, inf\), got 0.0"),
    ("population_curriculum", "win_rate_step", 0.0, r"win_rate_step must be a number in \(0, 1\], got 0.0"),
    ("population_curriculum", "win_rate_step", 1.5, r"win_rate_step must be a number in \(0, 1\]"),
]


@pytest.mark.parametrize("curriculum,key,value,message", POPULATION, ids=[f"{c}-{k}-{v}" for c, k, v, _ in POPULATION])
def test_population_settings_are_range_checked_in_the_factory(lasertag, curriculum, key, value, message):
    import importlib

    population = importlib.import_module("ued.curricula.maestro")  # the module (the package exports a function of its name)

    with pytest.raises(ValueError, match=message):
        getattr(population, curriculum)(level_space=lasertag, num_levels=4, **{key: value})


def test_pfsp_power_from_the_command_line_fails_before_compiling_and_leaves_no_run_dir(tmp_path):
    env = {**os.environ, "PYTHONPATH": REPO}
    proc = subprocess.run([sys.executable, "-m", "ued.train", "curriculum=pfsp", "curriculum.pfsp_power=abc",
                           "run_dir=r", "num_updates=1"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert "pfsp: pfsp_power must be a number in [0, inf), got 'abc'" in one_line(proc.stderr)
    assert not (tmp_path / "r").exists()


CASES += [f"population:{c}-{k}-{v}" for c, k, v, _ in POPULATION] + ["population:cli-no-run-dir"]


@pytest.mark.parametrize("kind", ["hydra-only", "with-metrics", "log-with-lines", "missing"])
def test_a_refused_commands_directory_is_removed_only_when_it_holds_no_run(kind, tmp_path):
    d = tmp_path / "r"
    if kind != "missing":
        (d / ".hydra").mkdir(parents=True)
        (d / ".hydra" / "config.yaml").write_text("a: 1\n")
        (d / "train.log").write_text("" if kind != "log-with-lines" else "a line\n")
        (d / ".lock").write_text("")
    if kind == "with-metrics":
        (d / "metrics.jsonl").write_text('{"update": 1}\n')
    removed = remove_unused_run_dir(str(d))
    assert removed == (kind == "hydra-only")
    assert d.exists() == (kind in ("with-metrics", "log-with-lines"))


CASES += [f"leftover:{k}" for k in ("hydra-only", "with-metrics", "log-with-lines", "missing")]


# ====================================================================== messages naming the culprit
BLAME = [
    ("preset=sfl_minigrid curriculum=maestro", r"preset=sfl_minigrid does not fit env=lasertag, which curriculum=maestro "
                                               r"selects: it sets env.sample_n_walls, settings of env=maze"),
    ("preset=sfl_jaxnav env=maze", r"preset=sfl_jaxnav does not fit env=maze: it sets env.fill, env.lidar_num_beams, "
                                   r"env.map_size, settings of env=jaxnav, the level space it is written for"),
    ("preset=sfl_jaxnav env=lasertag curriculum=dr", r"preset=sfl_jaxnav does not fit env=lasertag"),
    ("env=cartpole env.ranges.nope=[0,1]", r"env.ranges.nope=\[0,1\]: there is no key env.ranges.nope in the configuration"),
    ("env=maze env.nope=1", r"env.nope=1: there is no key env.nope in the configuration"),
]


@pytest.mark.parametrize("args,message", BLAME, ids=[a for a, _ in BLAME])
def test_a_mismatch_is_named_as_such_before_hydra_starts(args, message):
    with pytest.raises(ConfigError, match=message):
        check_command_line(args.split())


@pytest.mark.parametrize("args", ["preset=sfl_jaxnav curriculum=sfl", "preset=sfl_minigrid curriculum=accel",
                                  "preset=accel_maze curriculum=accel", "preset=sfl_minigrid curriculum=sfl seed=0,1 -m"])
def test_a_preset_on_its_own_level_space_passes(args):
    check_command_line(args.split())


def test_a_bad_xland_test_fraction_is_named_before_any_download(monkeypatch):
    import ued.envs.xland as xl

    monkeypatch.setattr(xl, "load_rulesets", lambda *a, **k: pytest.fail("the benchmark was loaded"))
    monkeypatch.setattr(xl, "make_xland", lambda *a, **k: pytest.fail("the package was used"))
    for bad in (1.5, -0.1, "x", True):
        with pytest.raises(ValueError, match=r"test_fraction must be in \[0, 1\), got"):
            xl.xland_level_space(test_fraction=bad)


CASES += [f"blame:{a}" for a, _ in BLAME] + ["blame:xland-test_fraction"] + [f"fits:{i}" for i in range(4)]


# ====================================================================== Hydra's conventions
ORDERS = [
    (["--cfg", "job", "seed=1"], ["seed=1"], ["--cfg", "job", "seed=1"]),
    (["seed=1", "--cfg", "job"], ["seed=1"], ["--cfg", "job", "seed=1"]),
    (["-c", "hydra", "-p", "env", "num_envs=8"], ["num_envs=8"], ["-c", "hydra", "-p", "env", "num_envs=8"]),
    (["seed=0,1", "-m", "num_envs=4"], ["seed=0,1", "num_envs=4"], ["-m", "seed=0,1", "num_envs=4"]),
    (["--info", "defaults", "seed=1"], ["seed=1"], ["--info", "defaults", "seed=1"]),
    (["--info", "seed=1"], ["seed=1"], ["--info", "seed=1"]),
    (["-cd", "conf", "seed=1"], ["seed=1"], ["-cd", "conf", "seed=1"]),
    (["--cfg=job", "seed=1"], ["seed=1"], ["--cfg=job", "seed=1"]),
]


@pytest.mark.parametrize("argv,overrides,ordered", ORDERS, ids=[" ".join(a) for a, _, _ in ORDERS])
def test_hydras_flags_and_their_values_are_not_overrides(argv, overrides, ordered):
    assert hydra_overrides(argv) == overrides
    assert hydra_argv(argv) == ordered


@pytest.mark.parametrize("argv", [["--cfg", "job"], ["-c", "all", "seed=3"], ["--package", "env", "--cfg", "job"],
                                  ["--info", "defaults"], ["seed=0,1", "-m", "num_updates=2"]])
def test_hydras_forms_pass_the_preflight(argv):
    check_command_line(hydra_argv(argv))


@pytest.mark.parametrize("argv,message", [
    (["--cfg", "job", "seed=abc"], r"seed=abc: Value 'abc' of type 'str' could not be converted to Integer"),
    (["-m", "--cfg", "job"], r"--cfg and -m cannot be combined: Hydra runs one of"),
    (["--info", "-m", "seed=0,1"], r"--info and -m cannot be combined"),
    (["-cd", "/nonexistent/conf"], r"--config-dir /nonexistent/conf: no such directory"),
    (["--config-dir=/nonexistent/conf"], r"--config-dir /nonexistent/conf: no such directory"),
    (["--seed", "3"], r"unknown flag --seed: Hydra's flags are .*--cfg.*; settings are key=value"),
    (["seed=1", "-x"], r"unknown flag -x: Hydra's flags are"),
], ids=["cfg-bad-value", "m-and-cfg", "info-and-m", "cd-missing", "config-dir-missing", "unknown-flag", "unknown-short"])
def test_hydras_forms_are_refused_in_one_line_where_they_cannot_work(argv, message):
    with pytest.raises(ConfigError, match=message):
        check_command_line(hydra_argv(argv))


def test_cfg_job_prints_the_configuration_end_to_end(tmp_path):
    env = {**os.environ, "PYTHONPATH": REPO}
    proc = subprocess.run([sys.executable, "-m", "ued.train", "seed=3", "--cfg", "job", "num_envs=8"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    cfg = yaml.safe_load(proc.stdout)
    assert cfg["seed"] == 3 and cfg["num_envs"] == 8 and os.listdir(tmp_path) == []


CASES += ([f"hydra-order:{' '.join(a)}" for a, _, _ in ORDERS] + [f"hydra-pass:{i}" for i in range(5)]
          + [f"hydra-refuse:{i}" for i in range(7)] + ["hydra:cfg-job-e2e"])


# ====================================================================== a failed save, on the terminal
def test_the_packages_log_records_stay_off_the_terminal():
    import logging

    from ued.train import _not_from_packages

    def record(name):
        return logging.LogRecord(name, logging.ERROR, __file__, 1, "boom", None, None)
    assert not any(_not_from_packages(record(n)) for n in ("absl", "orbax.checkpoint", "jax._src.xla_bridge"))
    assert _not_from_packages(record("ued.train")) and _not_from_packages(record("root"))


@pytest.fixture
def full_disk(tmp_path):
    """A 200 KiB tmpfs (skipped where this process may not mount one)."""
    mnt = tmp_path / "full"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=200k", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a small tmpfs here")
    yield mnt
    subprocess.run(["umount", str(mnt)], capture_output=True)


def test_a_save_on_a_full_disk_prints_one_error_line_and_exit_code_4(full_disk, tmp_path):
    from tests.tiny import TINY

    env = {**os.environ, "PYTHONPATH": REPO}
    proc = subprocess.run([sys.executable, "-m", "ued.train", *TINY, "num_updates=2", "eval.every=0",
                           f"run_dir={full_disk / 'r'}"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert proc.returncode == 4, proc.stderr
    assert len(errors) == 1 and "could not save the checkpoint of update 1" in errors[0], proc.stderr
    assert "No space left on device" in errors[0]
    # orbax's own log records (its tracebacks of the failed write) stay off the terminal; its
    # background threads may still print an "Event loop is closed" traceback as the process exits
    assert "][absl][" not in proc.stderr and "--- Logging error ---" not in proc.stderr, proc.stderr


CASES += ["save:log-filter", "save:full-disk"]


def test_the_second_battery_has_at_least_60_cases():
    assert len(CASES) == len(set(CASES)) and len(CASES) >= 60, len(CASES)
