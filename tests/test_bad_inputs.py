"""The bad-input battery: every way a user's input or a run directory can be wrong gives one
line naming the problem and what is allowed, a non-zero exit code, and loses nothing on disk.

Cases run in-process (the CLIs' ``main`` with ``sys.argv`` set, or the Python API); one
subprocess checks the second signal. A shared tiny trained run (2 updates, checkpoints at 1 and
2) is copied for every case that damages or resumes a run directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ued
import ued.train
from tests.tiny import TINY, tiny_config
from ued.envs.maze import level as lv
from ued.envs.maze.env import make_maze
from ued.evaluate import run as ev
from ued import report
from ued.run.checkpoint import CheckpointDamaged, CheckpointError, checkpoint_dirs
from ued.run.config import CONF_DIR, ConfigError
from ued.run.lock import RunDirLocked, RunLock
from ued.run.logger import LogFileError, read_jsonl, repair_jsonl
from ued.run.signals import SignalStop
from ued.train import train

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CASES = []  # (id) of every case, counted by test_the_battery_has_at_least_150_cases


def snapshot(root) -> dict[str, str]:
    """``{relative path: sha256}`` of every file below ``root`` (the lock file excluded)."""
    out = {}
    for d, _, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            if f == ".lock":
                continue
            with open(p, "rb") as fh:
                out[os.path.relpath(p, root)] = hashlib.sha256(fh.read()).hexdigest()
    return out


def one_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one line, got:\n{text}"
    assert "Traceback" not in text
    return lines[0]


def cli_train(argv, monkeypatch, capsys) -> tuple[int, str]:
    """``python -m ued.train *argv`` in this process: (exit code, stderr). The command line is
    checked as ``main`` does, composed as Hydra would, and run by ``run_command`` (the body of
    the Hydra app); Hydra's own wrapper is left out (it cannot be re-entered in one process)."""
    from tests.tiny import compose_config

    try:
        ued.train.check_command_line(argv)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2, capsys.readouterr().err
    overrides = [a for a in argv if not a.startswith("-")]
    cfg = compose_config(overrides)
    code = ued.train.run_command(cfg, cfg.run_dir, overrides=overrides)
    return code, capsys.readouterr().err


# ====================================================================== ued.train, before Hydra
INT_KEYS = ["seed", "num_seeds", "num_envs", "num_steps", "num_updates", "updates_per_chunk", "checkpoint_every",
            "keep_checkpoints", "eval.every", "eval.attempts", "eval.render_levels", "eval.random_levels"]
PREFLIGHT = (
    [(f"{k}=abc", rf"{k}=abc: Value 'abc' of type 'str' could not be converted to Integer") for k in INT_KEYS]
    + [(f"{k}=1.5", rf"{k}=1.5: Value '1.5' of type 'float' could not be converted to Integer") for k in INT_KEYS]
    + [(f"{k}=", rf"{k}=: Value '' of type 'str' could not be converted to Integer") for k in INT_KEYS[:4]]
    + [(f"{g}=nope", rf"{g}=nope: no such option; the options of {g} are .*{opt}")
       for g, opt in (("curriculum", "accel, degen, dr, fsp, maestro, paired, pfsp, plr, robust_plr, samplr, sfl, sp, weighted_dr"),
                      ("env", "acrobot, cartpole, craftax, dynamic_maze, fruit_maze, jaxnav, jaxnav_multi, kinetix, lasertag, maze, navix, pendulum, xland"),
                      ("agent", "dynamic_maze, ff, fruit_maze, gymnax, jaxnav, jaxnav_multi, kinetix, lasertag, lstm, maze, navix"), ("logger", "local, wandb"), ("eval", "default"))]
    + [("+preset=nope", r"preset=nope: no such preset; the presets are accel_maze, paper, robust_plr_maze"),
       ("preset=nope", r"preset=nope: no such preset; the presets are accel_maze, paper, robust_plr_maze"),
       ("curriculum=plr score=nope", r"score=nope: no such option; the options of score are .*max_mc"),
       ("curriculum=plr buffer=nope", r"buffer=nope: no such option; the options of buffer are plr, sfl")]
    + [(f"{k}=1", rf"{k}=1: there is no key {k} in the configuration") for k in
       ("foo", "eval.foo", "logger.foo", "env.foo", "agent.ppo.foo", "seeds", "num_env")]
    + [("+foo=1", r"unknown key foo: .* put free-form keys under notes \(\+notes.foo=...\)"),
       ("+eval.foo=1", r"unknown key eval.foo: the keys here are .*attempts"),
       ("seed=[1", r"cannot parse the override 'seed=\[1'"),
       ("seed==", r"cannot parse the override 'seed=='"),
       ("-m seed=0,abc", r"seed=abc: Value 'abc' of type 'str' could not be converted to Integer"),
       ("-m num_envs=4,x", r"num_envs=x: Value 'x'"),
       ("eval.render=maybe", r"eval.render=maybe: Value 'maybe' is not a valid bool"),
       ("curriculum=dr score=mna", r"curriculum=dr does not use a score"),
       ("curriculum=dr buffer=plr", r"curriculum=dr does not use a buffer"),
       ("curriculum=paired score=mna", r"curriculum=paired does not use a score"),
       ("-m curriculum=dr,plr score=pvl", r"curriculum=dr does not use a score")]
)


@pytest.mark.parametrize("args,message", PREFLIGHT, ids=[a for a, _ in PREFLIGHT])
def test_train_cli_refuses_before_hydra_starts(args, message, tmp_path, monkeypatch, capsys):
    run_dir = tmp_path / "run"
    code, err = cli_train([*args.split(), f"run_dir={run_dir}"], monkeypatch, capsys)
    assert code == 2
    assert re.search(message, one_line(err)), err
    assert one_line(err).startswith("error: ")
    assert not run_dir.exists()  # nothing was created


CASES += [f"preflight:{a}" for a, _ in PREFLIGHT]

# ====================================================================== ued.train, checked settings
TINY_CLI = [a for a in TINY if not a.startswith(("num_updates", "eval.every"))] + ["num_updates=2", "eval.every=0"]
SETTINGS = (
    [(f"{k}=0", rf"{k} must be a positive integer, got 0") for k in
     ("num_envs", "num_steps", "num_updates", "updates_per_chunk", "num_seeds", "eval.attempts", "keep_checkpoints")]
    + [(f"{k}=-1", rf"{k} must be a non-negative integer, got -1") for k in
       ("eval.random_levels", "eval.every", "eval.render_levels", "checkpoint_every")]
    + [("resume=maybe", r"resume must be auto, true or false, got 'maybe'"),
       ("progress=maybe", r"progress must be auto, true or false, got 'maybe'"),
       ("on_nonfinite=maybe", r"on_nonfinite must be stop or skip, got 'maybe'"),
       ("session_updates=0", r"session_updates must be null or a positive multiple"),
       ("logger=wandb logger.mode=nope", r"logger.mode must be one of online, offline, disabled, got 'nope'"),
       ("eval.cvar_alphas=[0]", r"eval.cvar_alphas: every alpha must be a percentage in \(0, 100\], got \[0.0\]"),
       ("eval.cvar_alphas=[200]", r"eval.cvar_alphas: every alpha must be a percentage"),
       ("updates_per_chunk=2 eval.every=3", r"eval.every=3 must be a multiple of updates_per_chunk=2"),
       ("updates_per_chunk=2 checkpoint_every=3", r"checkpoint_every must be 0 or a positive multiple of updates_per_chunk=2"),
       ("env.max_steps=0", r"env: max_steps must be a positive integer, got 0"),
       ("env.max_steps=abc", r"env: max_steps must be a positive integer, got 'abc'"),
       ("env.agent_view_size=4", r"env: agent_view_size must be an odd integer >= 3, got 4"),
       ("env.held_out=[Nope]", r"unknown named level 'Nope'; valid names are: .*SixteenRooms")]
    + [(f"agent.ppo.{k}={v}", rf"agent.ppo.{k} must be {allowed}, got {got}") for k, v, allowed, got in (
        ("lr", "abc", "a finite number > 0", "'abc'"), ("lr", "inf", "a finite number > 0", "inf"),
        ("lr", "nan", "a finite number > 0", "nan"), ("lr", "-1", "a finite number > 0", "-1"),
        ("lr", "0", "a finite number > 0", "0"), ("gamma", "abc", r"a number in \[0, 1\]", "'abc'"),
        ("gamma", "1.5", r"a number in \[0, 1\]", "1.5"), ("gamma", "-0.1", r"a number in \[0, 1\]", "-0.1"),
        ("gae_lambda", "2", r"a number in \[0, 1\]", "2"), ("gae_lambda", "x", r"a number in \[0, 1\]", "'x'"),
        ("clip_eps", "0", "a finite number > 0", "0"), ("clip_eps", "abc", "a finite number > 0", "'abc'"),
        ("ent_coef", "-1", "a finite number >= 0", "-1"), ("ent_coef", "inf", "a finite number >= 0", "inf"),
        ("vf_coef", "-0.5", "a finite number >= 0", "-0.5"), ("max_grad_norm", "0", "a finite number > 0", "0"),
        ("update_epochs", "0", "a positive integer", "0"), ("update_epochs", "1.5", "a positive integer", "1.5"),
        ("update_epochs", "abc", "a positive integer", "'abc'"), ("num_minibatches", "0", "a positive integer", "0"),
        ("num_minibatches", "abc", "a positive integer", "'abc'"), ("anneal_lr", "maybe", "true or false", "'maybe'"),
        ("normalize_advantages", "2", "true or false", "2"))]
    + [("agent.ppo.num_minibatches=3", r"agent.ppo.num_minibatches=3 must divide num_envs=4")]
)


@pytest.mark.parametrize("args,message", SETTINGS, ids=[a for a, _ in SETTINGS])
def test_train_cli_refuses_a_bad_setting_before_compiling(args, message, tmp_path, monkeypatch, capsys):
    code, err = cli_train([*TINY_CLI, *args.split(), f"run_dir={tmp_path / 'run'}"], monkeypatch, capsys)
    assert code == 2
    line = one_line(err)
    assert line.startswith("error: ") and re.search(message, line), err
    assert not (tmp_path / "run" / "metrics.jsonl").exists() and not (tmp_path / "run" / "checkpoints").exists()


CASES += [f"setting:{a}" for a, _ in SETTINGS]


def test_run_dir_that_is_a_file_or_not_writable(tmp_path, monkeypatch, capsys):
    target = tmp_path / "a_file"
    target.write_text("precious")
    code, err = cli_train([*TINY_CLI, f"run_dir={target}"], monkeypatch, capsys)
    assert code == 2 and "is a file, not a directory; choose another run_dir" in one_line(err)
    assert target.read_text() == "precious"
    code, err = cli_train([*TINY_CLI, f"run_dir={target}/sub"], monkeypatch, capsys)
    assert code == 2 and f"cannot be created: {target} is a file" in one_line(err)
    readonly = tmp_path / "ro"
    readonly.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, m: False if str(p).startswith(str(readonly)) else real_access(p, m))
    code, err = cli_train([*TINY_CLI, f"run_dir={readonly}"], monkeypatch, capsys)
    assert code == 2 and "is not writable; choose another run_dir or fix its permissions" in one_line(err)
    code, err = cli_train([*TINY_CLI, f"run_dir={readonly}/new"], monkeypatch, capsys)
    assert code == 2 and f"cannot be created ({readonly} is not writable)" in one_line(err)
    with pytest.raises(ConfigError, match="is a file, not a directory"):
        train(tiny_config("dr"), str(target))


CASES += ["run_dir:file", "run_dir:under-a-file", "run_dir:read-only", "run_dir:under-read-only", "api:run_dir-file"]


# ====================================================================== run directories on disk
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny DR run of 2 updates with checkpoints at 1 and 2 (copied by each case)."""
    run_dir = tmp_path_factory.mktemp("battery") / "run"
    train(tiny_config("dr", "num_updates=2", "eval.every=0"), str(run_dir))
    return run_dir


@pytest.fixture
def run(trained, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(trained, copy)
    return copy


def damage_array_data(checkpoint: str) -> None:
    """Overwrites bytes in the middle of every array data file of a checkpoint (orbax's OCDBT
    ``d/`` files; its JSON metadata is left alone)."""
    rng = np.random.default_rng(0)
    files = [os.path.join(d, f) for d, _, fs in os.walk(os.path.join(checkpoint, "state")) for f in fs
             if os.path.basename(d) == "d"]
    assert files, f"no array data files under {checkpoint}/state"
    for target in files:
        size = os.path.getsize(target)
        with open(target, "r+b") as f:
            f.seek(size // 2)
            f.write(rng.bytes(min(64, size - size // 2)))


def resume_cfg(*overrides):
    return tiny_config("dr", "num_updates=2", "eval.every=0", *overrides)


def test_a_second_run_on_a_locked_directory_fails_at_once_and_changes_nothing(run):
    before = snapshot(run)
    with RunLock(str(run)):
        with pytest.raises(RunDirLocked, match=rf"run_dir {run} is in use by pid {os.getpid()} on .*wait for that run"):
            train(resume_cfg("num_updates=3"), str(run))
    assert snapshot(run) == before


def test_the_cli_names_the_process_holding_the_lock(run, monkeypatch, capsys):
    with RunLock(str(run)):
        code, err = cli_train([f"run_dir={run}", "num_updates=3"], monkeypatch, capsys)
    assert code == 2 and f"is in use by pid {os.getpid()}" in one_line(err)


def test_a_stale_lock_of_a_dead_process_is_taken_over_with_a_note(run, capsys):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    (run / ".lock").write_text(json.dumps({"pid": pid, "host": os.uname().nodename, "started": time.time()}))
    out = train(resume_cfg(), str(run))  # already complete: nothing to train
    assert out["update"] == 2
    assert f"took over the lock of {run / '.lock'} left by pid {pid}" in capsys.readouterr().err
    assert (run / ".lock").read_text() == ""  # released


def test_saves_leave_a_live_processs_temporary_files_alone(tmp_path):
    from ued.run.checkpoint import save_checkpoint

    root = tmp_path / "checkpoints"
    root.mkdir()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = root / f".tmp-update_00000003-{sleeper.pid}-abc"
        dead = root / ".tmp-update_00000002-999999999-abc"
        live.mkdir(), dead.mkdir()
        save_checkpoint(str(tmp_path), 1, {"w": jnp.ones(3)}, {"config": {}}, keep=3)
        assert live.exists() and not dead.exists()
    finally:
        sleeper.kill()


CASES += ["lock:api", "lock:cli", "lock:stale", "save:live-tmp"]


def test_damaged_array_data_is_found_and_resume_falls_back_to_the_newest_intact_checkpoint(run, capsys):
    latest = checkpoint_dirs(str(run))[-1][1]
    damage_array_data(latest)
    with pytest.raises(CheckpointDamaged, match=r"update_00000002 is damaged: .*run's other checkpoints are updates \[1\]"):
        ued.load(str(run))
    out = train(resume_cfg(), str(run))
    err = capsys.readouterr().err
    assert f"checkpoint {latest} is damaged" in err and "resuming from the newest intact checkpoint" in err
    assert "note: resuming from update 1" in err
    assert out["resumed_from"] == 1 and out["update"] == 2
    assert os.path.isdir(os.path.join(run, "checkpoints", "damaged-update_00000002"))  # kept, not deleted
    assert [r["update"] for r in read_jsonl(str(run / "metrics.jsonl"))] == [1, 2]
    assert ued.load(str(run)).update == 2  # the update-2 checkpoint was produced again, intact


def test_damaged_metadata_falls_back_too(run, capsys):
    latest = checkpoint_dirs(str(run))[-1][1]
    with open(os.path.join(latest, "meta.json"), "w") as f:
        f.write("{garbage")
    out = train(resume_cfg("num_updates=1"), str(run))  # resume from update 1, already complete at 1
    assert out["resumed_from"] == 1
    assert "meta.json is not valid JSON" in capsys.readouterr().err
    assert os.path.isdir(os.path.join(run, "checkpoints", "damaged-update_00000002"))


def test_every_checkpoint_damaged_refuses_and_keeps_everything(run, monkeypatch, capsys):
    for _, path in checkpoint_dirs(str(run)):
        damage_array_data(path)
    metrics = (run / "metrics.jsonl").read_text()
    with pytest.raises(CheckpointDamaged, match=r"every checkpoint of .* is damaged \(kept as .*logs were not touched"):
        train(resume_cfg(), str(run))
    assert sorted(os.listdir(run / "checkpoints")) == ["damaged-update_00000001", "damaged-update_00000002"]
    assert (run / "metrics.jsonl").read_text() == metrics  # the logs were not restarted
    capsys.readouterr()
    before = snapshot(run)
    code, err = cli_train([f"run_dir={run}"], monkeypatch, capsys)
    assert code == 4 and "every checkpoint of" in one_line(err)
    assert snapshot(run) == before


def test_evaluate_refuses_a_damaged_checkpoint_before_any_rollout(run, capsys):
    damage_array_data(checkpoint_dirs(str(run))[-1][1])
    assert ev.main([f"run_dir={run}", "num_levels=10", "episodes=1", "alphas=[10,100]"]) == 2
    assert "is damaged" in one_line(capsys.readouterr().err)
    assert not (run / "evaluation").exists()


def test_a_checkpoint_without_checksums_is_refused_as_unverifiable(run):
    path = checkpoint_dirs(str(run))[-1][1]
    meta = json.load(open(os.path.join(path, "meta.json")))
    del meta["checksums"]
    json.dump(meta, open(os.path.join(path, "meta.json"), "w"))
    with pytest.raises(CheckpointError, match="without array checksums; this ued .* restores only checkpoints it can verify"):
        ued.load(str(run))


CASES += ["damaged:array-data", "damaged:load", "damaged:meta", "damaged:all", "damaged:all-cli", "damaged:evaluate",
          "damaged:no-checksums"]


@pytest.mark.parametrize("key,value", [("num_envs", 8), ("num_steps", 8), ("num_seeds", 2), ("seed", 5)])
def test_resume_refuses_a_changed_size(run, key, value):
    before = snapshot(run)
    with pytest.raises(ConfigError, match=rf"cannot resume .* with {key}: \d+ -> {value}: the run's counters and state "
                                          rf"depend on it; resume with {key}=\d+"):
        train(resume_cfg(f"{key}={value}", "num_updates=3"), str(run))
    assert snapshot(run) == before


def test_resume_from_the_cli_refuses_a_changed_num_envs(run, monkeypatch, capsys):
    before = snapshot(run)
    code, err = cli_train([f"run_dir={run}", "num_envs=8", "num_updates=3"], monkeypatch, capsys)
    assert code == 2 and "num_envs: 4 -> 8" in one_line(err)
    assert snapshot(run) == before


CASES += [f"resume:{k}" for k in ("num_envs", "num_steps", "num_seeds", "seed", "cli-num_envs")]


METRIC_CUTS = [("partial-row", lambda row: row[: len(row) // 2]), ("one-byte", lambda row: row[:1]),
               ("no-newline", lambda row: row.rstrip("\n")), ("binary", lambda row: "\x00\xff garbage"),
               ("whitespace", lambda row: "  ")]


@pytest.mark.parametrize("name,cut", METRIC_CUTS, ids=[n for n, _ in METRIC_CUTS])
def test_a_cut_last_metrics_line_is_repaired_on_resume(run, name, cut, capsys):
    path = run / "metrics.jsonl"
    rows = path.read_text().splitlines(keepends=True)
    path.write_text("".join(rows[:1]) + cut(rows[1]))  # the kill happened while writing update 2's row
    train(resume_cfg(), str(run))
    assert [r["update"] for r in read_jsonl(str(path))] == [1] + ([2] if name == "no-newline" else [])
    assert path.read_text().endswith("\n")
    err = capsys.readouterr().err
    if name in ("partial-row", "one-byte", "binary"):
        assert "dropped a partial last line" in err
    assert json.loads(path.read_text().splitlines()[0])["update"] == 1  # the intact row is untouched


def test_a_damaged_row_before_the_last_is_refused_and_left_alone(run, monkeypatch, capsys):
    path = run / "metrics.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("{not json\n" + "".join(lines))
    before = snapshot(run)
    with pytest.raises(ConfigError, match=r"line 1 of .*metrics.jsonl is not a JSON row .*nothing was changed"):
        train(resume_cfg(), str(run))
    assert snapshot(run) == before
    with pytest.raises(LogFileError, match="line 1"):
        read_jsonl(str(path))


def test_repair_jsonl_keeps_a_complete_row_and_drops_a_cut_one(tmp_path):
    p = tmp_path / "m.jsonl"
    p.write_text('{"update": 1}\n{"update": 2}')
    assert "kept it" in repair_jsonl(str(p)) and p.read_text() == '{"update": 1}\n{"update": 2}\n'
    p.write_text('{"update": 1}\n{"upd')
    assert "dropped" in repair_jsonl(str(p)) and p.read_text() == '{"update": 1}\n'
    assert repair_jsonl(str(p)) is None and repair_jsonl(str(tmp_path / "none.jsonl")) is None


CASES += [f"jsonl:{n}" for n, _ in METRIC_CUTS] + ["jsonl:middle", "jsonl:repair-api"]


def test_load_refuses_a_malformed_config_yaml(run):
    (run / "config.yaml").write_text("env: [unclosed\n")
    with pytest.raises(CheckpointError, match=r"config.yaml is not a valid configuration .*delete it to use the "
                                              r"configuration saved in the checkpoint"):
        ued.load(str(run))
    (run / "config.yaml").write_text("- a list\n")
    with pytest.raises(CheckpointError, match="is not a run's configuration"):
        ued.load(str(run))


def test_load_refuses_a_file_and_a_missing_directory(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(CheckpointError, match="is a file, not a directory"):
        ued.load(str(tmp_path / "f"))
    with pytest.raises(CheckpointError, match="is not a directory"):
        ued.load(str(tmp_path / "missing"))


CASES += ["load:config-yaml", "load:config-list", "load:file", "load:missing"]


# ====================================================================== signals
def test_the_first_signal_asks_for_a_stop_and_says_what_a_second_would_leave(capsys):
    stop = SignalStop(lambda: "the newest checkpoint on disk is update 7")
    before = signal.getsignal(signal.SIGINT)
    with stop:
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(500):  # the watcher thread acts on it
            if stop.signal is not None:
                break
            time.sleep(0.01)
        assert stop.signal == signal.SIGINT and stop.signal_name == "SIGINT"
    assert signal.getsignal(signal.SIGINT) is before  # restored on exit
    err = capsys.readouterr().err
    assert "A second Ctrl-C/SIGTERM stops at once without saving: the newest checkpoint on disk is update 7" in err


def test_on_disk_is_truthful(run, tmp_path):
    assert "update 2" in ued.train.on_disk(str(run))
    assert "no checkpoint has been saved" in ued.train.on_disk(str(tmp_path / "empty"))


ENDLESS = """
import jax, jax.numpy as jnp
from ued.run.signals import SignalStop
endless = jax.jit(lambda: jax.lax.while_loop(lambda c: c[0] >= 0, lambda c: (c[0] + 1 - 2 * (c[0] > 2**30), c[1] + 1.0),
                                             (0, 0.0))[1])
endless.lower().compile()
with SignalStop(lambda: "the newest checkpoint on disk is update 7"):
    print("ready", flush=True)
    endless()  # never returns: a Python-level handler would never run
"""


@pytest.mark.slow
def test_a_second_signal_stops_at_once_even_inside_a_compiled_computation():
    proc = subprocess.Popen([sys.executable, "-c", ENDLESS], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGINT)
    line = ""
    while "A second Ctrl-C/SIGTERM stops at once" not in line:  # the first was acted on, mid-computation
        line = proc.stderr.readline()
        assert line or proc.poll() is None
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)  # the computation never ends: only the second signal ends it
    assert proc.returncode == 128 + signal.SIGINT
    assert "SIGINT again: stopped at once without saving; the newest checkpoint on disk is update 7" in err


CASES += ["signal:second-to-os", "signal:on-disk", "signal:subprocess"]


# ====================================================================== maze levels from a user
def level_kwargs(**changes):
    kw = dict(wall_map=np.zeros((5, 5), bool), goal_pos=(3, 3), agent_pos=(1, 1), agent_dir=0)
    kw.update(changes)
    return kw


WALLED = np.zeros((5, 5), bool)
WALLED[1, 1] = True
BAD_LEVELS = [
    ("float-position", dict(agent_pos=(1.5, 1)), "agent_pos must hold whole numbers"),
    ("nan-position", dict(goal_pos=(np.nan, 1.0)), "goal_pos must hold whole numbers"),
    ("bool-position", dict(agent_pos=np.array([True, False])), "agent_pos must hold integers"),
    ("string-position", dict(agent_pos=np.array(["a", "b"])), "agent_pos must hold integers"),
    ("3-vector", dict(agent_pos=(1, 1, 1)), r"agent_pos must have shape \(2,\) \(x, y\), got \(3,\)"),
    ("scalar-position", dict(goal_pos=3), r"goal_pos must have shape \(2,\)"),
    ("vector-direction", dict(agent_dir=(0, 1)), r"agent_dir must have shape \(\) \(a scalar\), got \(2,\)"),
    ("1-D walls", dict(wall_map=np.zeros(5)), r"wall_map must be 2-D \(H, W\), got shape \(5,\)"),
    ("non-binary walls", dict(wall_map=np.full((5, 5), 2)), "wall_map must be boolean"),
    ("agent-on-wall", dict(wall_map=WALLED), "agent at row 1, column 1 is on a wall"),
    ("goal-on-wall", dict(wall_map=WALLED, agent_pos=(0, 0), goal_pos=(1, 1)), "goal at row 1, column 1 is on a wall"),
    ("agent-outside", dict(agent_pos=(5, 0)), r"agent at \(x=5, y=0\) is outside the 5x5 maze"),
    ("agent-negative", dict(agent_pos=(-1, 0)), r"agent at \(x=-1, y=0\) is outside"),
    ("goal-outside", dict(goal_pos=(0, 9)), r"goal at \(x=0, y=9\) is outside"),
    ("goal-on-agent", dict(goal_pos=(1, 1)), r"agent and goal share the cell \(1, 1\)"),
    ("direction-7", dict(agent_dir=7), "agent_dir 7 is not one of 0 .*3 \\(north\\)"),
    ("direction-negative", dict(agent_dir=-1), "agent_dir -1 is not one of"),
    ("width-too-big", dict(width=9), r"level size 5x9 must be between 1x1 and the wall map's 5x5"),
    ("height-zero", dict(height=0), "level size 0x5 must be between"),
    ("outside-the-width", dict(width=3), r"goal at \(x=3, y=3\) is outside the 5x3 maze"),
]


@pytest.mark.parametrize("name,change,message", BAD_LEVELS, ids=[n for n, _, _ in BAD_LEVELS])
def test_make_level_refuses_an_invalid_level(name, change, message):
    with pytest.raises(ValueError, match=message):
        lv.make_level(**level_kwargs(**change))


def test_make_level_checks_every_level_of_a_batch():
    walls = np.zeros((3, 5, 5), bool)
    with pytest.raises(ValueError, match=r"level 2 of the batch: agent_dir 9"):
        lv.make_level(walls, np.array([[3, 3]] * 3), np.array([[1, 1]] * 3), np.array([0, 1, 9]))
    assert lv.make_level(walls, np.array([[3, 3]] * 3), np.array([[1, 1]] * 3), np.array([0, 1, 2])).agent_dir.shape == (3,)


BAD_ASCII = [
    ("blank-line-inside", ">..\n\n..G", "blank line inside the maze after row 0"),
    ("ragged", ">..\n.G", "ragged maze: row 1 has 2 characters but row 0 has 3"),
    ("unknown-char", ">.x\n..G", r"unknown character 'x' at row 0, column 2"),
    ("no-agent", "...\n..G", "no agent in maze"),
    ("two-agents", ">.>\n..G", "2 agents in maze"),
    ("no-goal", ">..\n...", "no goal in maze"),
    ("two-goals", ">.G\n..G", "2 goals in maze"),
    ("empty", "\n\n", "empty maze"),
]


@pytest.mark.parametrize("name,text,message", BAD_ASCII, ids=[n for n, _, _ in BAD_ASCII])
def test_parse_level_refuses_bad_ascii(name, text, message):
    with pytest.raises(ValueError, match=message):
        lv.parse_level(text)


def test_surrounding_blank_lines_are_still_allowed():
    assert lv.level_to_string(lv.parse_level("\n\n  >.G  \n\n")) == ">.G"


def test_check_level_and_is_valid_level_are_one_definition():
    rng = np.random.default_rng(0)
    valid_fn = jax.jit(lv.is_valid_level)
    seen = set()
    def draw(good, bad):  # mostly in range, sometimes anywhere
        return rng.integers(*good) if rng.random() < 0.85 else rng.integers(*bad)

    for _ in range(300):
        walls = rng.random((4, 5)) < 0.2
        level = lv.MazeLevel(wall_map=jnp.asarray(walls),
                             goal_pos=jnp.asarray([draw((0, 5), (-2, 8)), draw((0, 4), (-2, 8))], jnp.int32),
                             agent_pos=jnp.asarray([draw((0, 5), (-2, 8)), draw((0, 4), (-2, 8))], jnp.int32),
                             agent_dir=jnp.asarray(draw((0, 4), (-3, 9)), jnp.int32),
                             width=jnp.asarray(draw((4, 6), (-1, 8)), jnp.int32),
                             height=jnp.asarray(draw((3, 5), (-1, 8)), jnp.int32))
        try:
            lv.check_level(level)
            ok = True
        except ValueError:
            ok = False
        assert bool(valid_fn(level)) == ok
        seen.add(ok)
    assert seen == {True, False}


@pytest.mark.parametrize("name,change", [("agent-on-wall", dict(wall_map=WALLED)), ("direction-7", dict(agent_dir=7)),
                                         ("goal-on-agent", dict(goal_pos=(1, 1))), ("outside", dict(agent_pos=(7, 7)))])
def test_the_compiled_env_never_plays_an_invalid_level(name, change):
    """A level built inside jit cannot raise: its episode ends at the first step, unplayed."""
    kw = level_kwargs(**change)
    level = lv.MazeLevel(wall_map=jnp.asarray(kw["wall_map"]), goal_pos=jnp.asarray(kw["goal_pos"], jnp.int32),
                         agent_pos=jnp.asarray(kw["agent_pos"], jnp.int32), agent_dir=jnp.asarray(kw["agent_dir"], jnp.int32),
                         width=jnp.int32(5), height=jnp.int32(5))
    env = make_maze()
    obs, state = env.reset_to_level(jax.random.key(0), level, env.default_params)
    for action in (2, 0, 2):
        _, new, reward, done, info = jax.jit(env.step)(jax.random.key(0), state, jnp.int32(action), env.default_params)
        assert bool(done) and float(reward) == 0.0 and bool(info["invalid_level"]) and not bool(info["solved"])
        np.testing.assert_array_equal(new.agent_pos, state.agent_pos)


def test_a_valid_level_is_played_as_before():
    env = make_maze()
    level = lv.make_level(**level_kwargs(goal_pos=(2, 1)))
    _, state = env.reset_to_level(jax.random.key(0), level, env.default_params)
    _, state, reward, done, info = env.step(jax.random.key(0), state, jnp.int32(2), env.default_params)
    assert bool(done) and bool(info["solved"]) and float(reward) > 0 and not bool(info["invalid_level"])


CASES += ([f"level:{n}" for n, _, _ in BAD_LEVELS] + ["level:batch"] + [f"ascii:{n}" for n, _, _ in BAD_ASCII]
          + ["ascii:surrounding", "level:one-definition"] + [f"env:{n}" for n in ("wall", "dir", "goal", "outside")]
          + ["env:valid"])


# ====================================================================== ued.evaluate
EVALUATE = [
    ("alphas=abc", "alphas must be a list of percentages in \\(0, 100\\], e.g. \\[1,10,100\\], got 'abc'"),
    ("alphas=[abc]", "alphas must be a list of percentages"),
    ("alphas=[]", "alphas must name at least one percentage"),
    ("alphas=[0]", "every alpha must be a percentage in \\(0, 100\\], got \\[0.0\\]"),
    ("alphas=[150]", "every alpha must be a percentage"),
    ("alphas=[true]", "alphas must be a list of percentages"),
    ("alphas=[0.01] num_levels=10", "alpha=0.01% of 10 levels selects no level: it needs at least 10000 levels"),
    ("seed=abc", "seed must be an integer in \\[0, 2\\^32\\), got 'abc'"),
    ("seed=-1", "seed must be an integer in \\[0, 2\\^32\\), got -1"),
    ("seed=1.5", "seed must be an integer"),
    ("num_levels=0", "num_levels must be a positive integer, got 0"),
    ("num_levels=abc", "num_levels must be a positive integer, got 'abc'"),
    ("episodes=0", "episodes must be a positive integer, got 0"),
    ("episodes=2.5", "episodes must be a positive integer, got 2.5"),
    ("parallel_episodes=-4", "parallel_episodes must be a positive integer, got -4"),
    ("named=maybe", "named must be true or false, got 'maybe'"),
    ("label=", "label must be a non-empty name, got ''"),
    ("checkpoint=-3", "checkpoint must be an update number or a checkpoint directory, got -3"),
    ("checkpoint=99", "has no checkpoint of update 99; it has \\[1, 2\\]"),
    ("checkpoint=nowhere", "checkpoint .*nowhere does not exist"),
    ("bogus=1", "unknown option 'bogus'; valid keys: run_dir, checkpoint"),
    ("justaword", "arguments are key=value, got 'justaword'"),
]


@pytest.mark.parametrize("args,message", EVALUATE, ids=[a for a, _ in EVALUATE])
def test_evaluate_refuses_bad_input_before_any_rollout(run, args, message, capsys):
    before = snapshot(run)
    code = ev.main([f"run_dir={run}", *args.split()])
    assert code == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith("error: ") and re.search(message, line), line
    assert snapshot(run) == before and not (run / "evaluation").exists()


def test_evaluate_refuses_bad_run_directories_and_outputs(run, tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("keep")
    cases = [
        ([], "give at least one run_dir"),
        ([f"run_dir={tmp_path / 'missing'}"], "is not a directory"),
        ([f"run_dir={tmp_path / 'missing*'}"], "matches no directory"),
        ([f"run_dir={afile}"], "is a file, not a directory"),
        ([f"run_dir={run}", f"out={afile}"], f"out={afile} is a file, not a directory"),
        ([f"run_dir={run}", f"out={afile}/sub"], f"out={afile}/sub cannot be created: {afile} is a file"),
    ]
    for args, message in cases:
        assert ev.main(args) == 2, args
        assert message in one_line(capsys.readouterr().err), args
    assert afile.read_text() == "keep"
    (run / "config.yaml").write_text("env: [unclosed\n")
    assert ev.main([f"run_dir={run}"]) == 2
    assert "config.yaml is not a valid configuration" in one_line(capsys.readouterr().err)
    (run / "evaluation").write_text("a file where results go")
    (run / "config.yaml").unlink()
    assert ev.main([f"run_dir={run}"]) == 2
    assert "the evaluation directory of" in one_line(capsys.readouterr().err)


CASES += [f"evaluate:{a}" for a, _ in EVALUATE] + [f"evaluate:dirs{i}" for i in range(8)]


# ====================================================================== ued.report
def write_results(d, method="dr", seeds=1, levels=20):
    d.mkdir(parents=True, exist_ok=True)
    entry = {"mean": 0.5, "cvar": {"10.0": 0.1, "100.0": 0.5}, "cvar_biased": {"10.0": 0.0, "100.0": 0.5},
             "named": {"SixteenRooms": {"sampled_solve_rate": 0.5}}}
    summary = {"method": method, "seeds": [dict(entry, seed=s) for s in range(seeds)], "alphas": [10.0, 100.0],
               "num_levels": levels, "level_seed": 7, "level_space": "maze"}
    (d / "summary.json").write_text(json.dumps(summary))
    rng = np.random.default_rng(0)
    lines = ["seed,level_id,success_pass1,success_pass2"] + [
        f"{s},{i},{rng.random():.3f},{rng.random():.3f}" for s in range(seeds) for i in range(levels)]
    (d / "levels.csv").write_text("\n".join(lines) + "\n")
    return summary


def test_report_draws_from_good_results(tmp_path):
    write_results(tmp_path / "a", "dr"), write_results(tmp_path / "b", "plr")
    assert report.main([f"results={tmp_path}", f"out={tmp_path / 'fig'}"]) == 0
    assert (tmp_path / "fig" / "cvar_curve.png").stat().st_size > 1000


REPORT_DAMAGE = [
    ("summary-malformed", lambda d: (d / "summary.json").write_text("{nope"), "summary.json is not valid JSON"),
    ("summary-empty", lambda d: (d / "summary.json").write_text(""), "summary.json is not valid JSON"),
    ("summary-list", lambda d: (d / "summary.json").write_text("[]"), "is not an evaluation summary"),
    ("summary-no-method", lambda d: _edit(d, lambda s: s.pop("method")), "'method' is missing or not a str"),
    ("summary-no-seeds", lambda d: _edit(d, lambda s: s.update(seeds=[])), "has no seeds"),
    ("summary-seed-bad", lambda d: _edit(d, lambda s: s["seeds"][0].pop("cvar")), "seed entry 0 lacks"),
    ("summary-alphas-str", lambda d: _edit(d, lambda s: s.update(alphas="10")), "'alphas' is missing or not a list"),
    ("levels-missing", lambda d: (d / "levels.csv").unlink(), "levels.csv is missing"),
    ("levels-empty", lambda d: (d / "levels.csv").write_text(""), "levels.csv is empty"),
    ("levels-header-only", lambda d: (d / "levels.csv").write_text("seed,level_id,success_pass1,success_pass2\n"),
     "levels.csv is empty"),
    ("levels-no-column", lambda d: (d / "levels.csv").write_text("seed,level_id\n0,1\n"), "lacks the columns"),
    ("levels-ragged", lambda d: (d / "levels.csv").write_text("seed,level_id,success_pass1,success_pass2\n0,1\n"),
     "line 2 has 2 fields"),
    ("levels-text", lambda d: (d / "levels.csv").write_text("seed,level_id,success_pass1,success_pass2\n0,1,x,y\n"),
     "column success_pass1 holds non-numbers"),
]


def _edit(d, change):
    s = json.loads((d / "summary.json").read_text())
    change(s)
    (d / "summary.json").write_text(json.dumps(s))


@pytest.mark.parametrize("name,damage,message", REPORT_DAMAGE, ids=[n for n, _, _ in REPORT_DAMAGE])
def test_report_names_a_damaged_result_file(tmp_path, name, damage, message, capsys):
    write_results(tmp_path / "res" / "a")
    damage(tmp_path / "res" / "a")
    assert report.main([f"results={tmp_path / 'res'}", f"out={tmp_path / 'fig'}"]) == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith("error: ") and message in line, line
    assert not (tmp_path / "fig" / "report.json").exists()


REPORT_ARGS = [
    ("out-is-a-file", lambda t: [f"results={t / 'res'}", f"out={t / 'afile'}"], "is a file, not a directory"),
    ("out-under-a-file", lambda t: [f"results={t / 'res'}", f"out={t / 'afile' / 'x'}"], "cannot be created"),
    ("no-results", lambda t: [f"out={t / 'fig'}"], "give results="),
    ("results-missing", lambda t: [f"results={t / 'nowhere'}"], "is not a directory"),
    ("results-empty-dir", lambda t: [f"results={t / 'emptydir'}"], "no evaluation results (summary.json) found"),
    ("pdf-bad", lambda t: [f"results={t / 'res'}", "pdf=maybe"], "pdf must be true or false, got 'maybe'"),
    ("compare-one", lambda t: [f"results={t / 'res'}", "compare=[dr]"], "compare= names two methods"),
    ("compare-unknown", lambda t: [f"results={t / 'res'}", "compare=[dr,zzz]"], "unknown methods ['zzz']"),
    ("compare-scalar", lambda t: [f"results={t / 'res'}", "compare=dr"], "compare= takes two method names"),
    ("unknown-option", lambda t: [f"results={t / 'res'}", "bogus=1"], "unknown option 'bogus'"),
    ("mode-bad", lambda t: [f"results={t / 'res'}", "logger=wandb", "mode=nope"], "mode must be one of"),
    ("project-without-logger", lambda t: [f"results={t / 'res'}", "project=x"], "project/entity/mode need logger=wandb"),
]


@pytest.mark.parametrize("name,argv,message", REPORT_ARGS, ids=[n for n, _, _ in REPORT_ARGS])
def test_report_refuses_bad_arguments(tmp_path, name, argv, message, capsys):
    write_results(tmp_path / "res" / "a", "dr"), write_results(tmp_path / "res" / "b", "plr")
    (tmp_path / "afile").write_text("keep")
    (tmp_path / "emptydir").mkdir()
    args = argv(tmp_path)
    code = report.main(args + ([] if any(a.startswith("out=") for a in args) else [f"out={tmp_path / 'fig'}"]))
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err, err
    assert (tmp_path / "afile").read_text() == "keep"
    assert not (tmp_path / "fig" / "report.json").exists()


CASES += ["report:good"] + [f"report:{n}" for n, _, _ in REPORT_DAMAGE] + [f"report:{n}" for n, _, _ in REPORT_ARGS]


def test_the_battery_has_at_least_150_cases():
    assert len(CASES) == len(set(CASES)) and len(CASES) >= 150, len(CASES)
