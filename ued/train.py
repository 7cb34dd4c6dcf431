"""Train an agent with a curriculum: ``python -m ued.train`` (or ``ued-train``).

    python -m ued.train                                   # DR on the maze, ~10 min on a 2-core CPU
    python -m ued.train curriculum=plr score=pvl agent.ppo.lr=3e-4 seed=3 num_updates=2000
    python -m ued.train preset=paper                      # the literature's 250M-step setting
    python -m ued.train -m seed=0,1,2                     # a sweep (one run directory each)

Everything is configured by the Hydra tree in ``conf/``; ``ued.run.config`` checks it and builds
the components before anything is compiled, and ``ued.loop.make_train`` is the jitted loop.
This module is the command line and the host loop: chunks of updates, logging, evaluation,
checkpoints and signals, each done by a module of ``ued.run``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import sys
import functools
import time
from typing import Any, NamedTuple

import hydra
import jax
import jax.numpy as jnp
import numpy as np
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf, open_dict

from ued import __version__
from ued.run.checkpoint import (CheckpointDamaged, CheckpointError, checkpoint_dirs, move_aside, read_checkpoint,
                                 save_checkpoint)
from ued.run.config import (CONF_DIR, CONF_PACKAGE, Components, ConfigError, build_components, check_launcher,
                            check_config_dir, check_flags, check_overrides, check_resume, check_run_dir,
                            check_run_dir_override, hydra_argv, hydra_overrides, normalise_preset, preflight)
from ued.run.devices import any_process, broadcast_text, is_writer, on_writer, start_distributed, to_host
from ued.run.lock import RunLock
from ued.run.logger import LogFileError, RunLogger, repair_jsonl, truncate_jsonl
from ued.run.media import write_eval_media
from ued.run.progress import TrainProgress
from ued.run.resume import (check_fixed_sizes, find_checkpoint, note_schedule_change, restore_run_state,
                            resume_config)
from ued.run.rows import eval_row, first_nonfinite, update_rows
from ued.run.signals import SignalStop

__all__ = ["CONF_DIR", "ConfigError", "NonFiniteError", "main", "train"]


class NonFiniteError(RuntimeError):
    """Training produced a non-finite loss or parameters (``on_nonfinite=stop``)."""


def train(cfg: DictConfig, run_dir: str, overrides: list[str] | None = None) -> dict[str, Any]:
    """Runs (or resumes) a training job from a composed config, writing into ``run_dir``.

    When ``run_dir`` holds a checkpoint (and ``resume`` is ``auto`` or ``true``) the run
    continues from the latest one, exactly as if it had not stopped: the metrics files are cut
    back to that update and continue from it.

    Args:
        cfg: the composed configuration.
        run_dir: the run directory.
        overrides: the command line's overrides when called from the CLI (see ``resume_config``).

    Returns:
        A summary: final training metrics (means over seeds), the last held-out evaluation,
        ``update`` (updates done), ``complete``, ``interrupted`` (the signal's name or None),
        ``resumed_from`` (the checkpoint's update, or None for a fresh start) and ``run_dir`` (the
        directory written: process 0's in a multi-host run).

    Raises:
        ConfigError: a bad setting, or a resume that does not fit the checkpoint.
        CheckpointError: a checkpoint cannot be read or written (earlier ones stay intact).
        NonFiniteError: a non-finite loss with ``on_nonfinite=stop``.
    """
    start = time.perf_counter()
    cfg = cfg.copy()
    check_resume(cfg)  # the rest is checked by Components, on the settings in effect after a resume
    try:
        start_distributed(bool(cfg.get("distributed", False)))  # before anything touches a device
    except ValueError as e:
        raise ConfigError(str(e)) from None
    run_dir = broadcast_text(run_dir)  # several processes: all use process 0's directory
    with open_dict(cfg):
        cfg.run_dir = run_dir  # the directory actually used (sweeps put each job in its own)

    lock = None

    def claim() -> str:  # process 0 owns the directory (and its lock) until this run ends
        nonlocal lock
        make_run_dir(run_dir)
        lock = RunLock(run_dir).acquire()
        return lock.stale_note or ""
    try:
        note = on_writer(claim, ConfigError)
        if note and is_writer():
            print(f"note: {note}", file=sys.stderr)
        with SignalStop(lambda: on_disk(run_dir)) as stop:  # from here on a signal stops the run cleanly
            return _train(cfg, run_dir, overrides, start, stop)
    finally:
        if lock is not None:
            lock.release()


def make_run_dir(run_dir: str) -> None:
    """Creates the run directory, refusing a path that is a file or a directory not writable.

    Raises:
        ConfigError: naming the path and the problem.
    """
    check_run_dir(run_dir)
    try:
        os.makedirs(run_dir, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"run_dir {run_dir} cannot be created: {e.strerror or e}; choose another run_dir") from None


def on_disk(run_dir: str) -> str:
    """What a stopped run leaves, truthfully: its newest complete checkpoint, or none."""
    found = checkpoint_dirs(run_dir)
    if not found:
        return f"no checkpoint has been saved in {run_dir}; a new run starts from update 0"
    return f"the newest checkpoint on disk is update {found[-1][0]} ({found[-1][1]}); a resume continues from it"


def _warn(message: str) -> None:
    if is_writer():  # several processes: one voice
        print(f"warning: {message}", file=sys.stderr)


def _note(message: str) -> None:
    if is_writer():
        print(f"note: {message}", file=sys.stderr)


class _Start(NamedTuple):
    """Where a session starts: the run's configuration and components, and the checkpoint it
    resumes from (None for a new run) with the state read from it."""

    cfg: DictConfig
    ckpt: Any
    state: Any
    parts: Components
    keys: Any
    k_eval: Any
    shardings: Any
    init: Any
    notes: list
    unsafe: list
    fell_back: bool


def _build(cfg: DictConfig):
    """The components of ``cfg``, its seeds' keys, the state's shardings and the jitted init."""
    parts = build_components(cfg)
    k_train, k_eval = jax.random.split(jax.random.key(cfg.seed))
    keys = jax.random.split(k_train, cfg.num_seeds) if cfg.num_seeds > 1 else k_train
    shardings = parts.placement.state_sharding(jax.eval_shape(parts.trainer.init, keys))
    return parts, keys, k_eval, shardings, jax.jit(parts.trainer.init, out_shardings=shardings)


def _try_checkpoint(asked: DictConfig, run_dir: str, overrides) -> _Start | None:
    """The session's start from the newest checkpoint that reads and verifies, or from scratch
    where there is none; None when that checkpoint's arrays are damaged (it is moved aside, so
    the next try reads the one before). Process 0 chooses it; the others read the same one."""
    found = on_writer(lambda: getattr(find_checkpoint(asked, run_dir, warn=_warn), "path", ""), ConfigError)
    ckpt = read_checkpoint(found) if found else None
    cfg, notes = asked, []
    if ckpt is not None:
        cfg, notes = resume_config(ckpt.meta["config"], asked, overrides)
        check_fixed_sizes(ckpt, cfg)
    parts, keys, k_eval, shardings, init = _build(cfg)
    if ckpt is None:
        return _Start(cfg, None, None, parts, keys, k_eval, shardings, init, [], [], False)
    try:
        state, unsafe = restore_run_state(ckpt, cfg, init, keys, "this run's configuration")
    except CheckpointDamaged as e:
        dest = on_writer(lambda: move_aside(ckpt), CheckpointError)
        _warn(f"{e}; moved it to {dest} and resuming from the newest intact checkpoint instead")
        return None
    state = jax.device_put(state, shardings)
    return _Start(cfg, ckpt, state, parts, keys, k_eval, shardings, init, notes, unsafe, False)


def _start(asked: DictConfig, run_dir: str, overrides) -> _Start:
    """The newest intact checkpoint's start (damaged ones are moved aside one by one), or a new run's."""
    fell_back = False
    while (start := _try_checkpoint(asked, run_dir, overrides)) is None:
        fell_back = True
    return start._replace(fell_back=fell_back)


def _resumed_at(start: _Start) -> tuple[int, str | None]:
    """The update the session starts at and the run's wandb id, saying what the resume changed."""
    ckpt, cfg = start.ckpt, start.cfg
    if ckpt is None:
        return 0, None
    for note in start.notes:
        _note(note)
    if is_writer():
        note_schedule_change(ckpt, cfg)
    if start.fell_back:
        _note(f"resuming from update {ckpt.update} ({ckpt.path}), the newest intact checkpoint")
    if start.unsafe:
        _warn("resuming with changed settings, so this is not the run the checkpoint started: " + "; ".join(start.unsafe))
    if ckpt.update > cfg.num_updates:
        raise ConfigError(f"the checkpoint is at update {ckpt.update}, past num_updates={cfg.num_updates}")
    return ckpt.update, ckpt.meta.get("wandb_id")


def _open_logs(cfg: DictConfig, run_dir: str, resolved: dict, update: int, resumed: bool, wandb_id):
    """Process 0's logs: ``metrics.jsonl`` and ``eval.jsonl`` cut back to the checkpoint (rows after
    it are produced again), the config written, the logger opened. Returns ``(logger, notes)``."""
    notes = []
    for name in ("metrics.jsonl", "eval.jsonl"):
        path = os.path.join(run_dir, name)
        try:
            notes.append(repair_jsonl(path))
            truncate_jsonl(path, update if resumed else -1)
        except LogFileError as e:
            raise ConfigError(str(e)) from None
    with open(os.path.join(run_dir, "config.yaml.tmp"), "w") as f:  # written aside, then renamed
        f.write(OmegaConf.to_yaml(cfg, resolve=True))
    os.replace(os.path.join(run_dir, "config.yaml.tmp"), os.path.join(run_dir, "config.yaml"))
    wandb_cfg = None
    if cfg.logger.wandb:
        wandb_cfg = dict(OmegaConf.to_container(cfg.logger, resolve=True))
        wandb_cfg.setdefault("name", os.path.basename(os.path.normpath(run_dir)))
        wandb_cfg["id"] = wandb_id
    return RunLogger(run_dir, resolved, wandb_cfg), "\n".join(n for n in notes if n)


def _nonfinite_error(bad, saved_at, run_dir: str) -> NonFiniteError:
    row, metric = bad
    where = f" (seed {row['seed']})" if "seed" in row else ""
    what = "non-finite parameters" if metric == "nonfinite" else f"{metric}={row[metric]}"
    kept = (f"the last good checkpoint is update {saved_at} in {run_dir}/checkpoints"
            if saved_at is not None else "no checkpoint had been saved yet")
    return NonFiniteError(f"update {row['update']}{where}: {what}; the run stopped and {kept}. "
                          "Set on_nonfinite=skip to skip such updates instead")


def eval_env_steps(cfg: DictConfig, parts: Components) -> int:
    """The env steps one held-out evaluation of the run computes, at most, over its seeds
    (``ued.loop.evaluation_env_steps``); 0 when the run has no evaluation."""
    from ued.loop import evaluation_env_steps

    if parts.trainer.evaluate is None:
        return 0
    return cfg.num_seeds * evaluation_env_steps(parts.level_space, attempts=cfg.eval.attempts,
                                                random_levels=cfg.eval.random_levels)


def eval_updates(cfg: DictConfig, first: int, last: int) -> list[int]:
    """The updates in ``[first, last]`` a session from update ``first`` to ``last`` evaluates at."""
    if not cfg.eval.get("enabled", True):
        return []
    out = [0] if first == 0 and cfg.eval.get("at_start", True) else []
    return out + [u for u in range(first + 1, last + 1) if (cfg.eval.every and u % cfg.eval.every == 0)
                  or u == cfg.num_updates]


def _note_eval_cost(cfg: DictConfig, parts: Components, first: int, last: int) -> None:
    """A note when the session's evaluations cost more env steps than its training rollouts."""
    per_eval, when = eval_env_steps(cfg, parts), eval_updates(cfg, first, last)
    evaluating, training = per_eval * len(when), (last - first) * parts.trainer.steps_per_update * cfg.num_seeds
    if evaluating > training:
        _note(f"the held-out evaluation will cost up to {evaluating:,} env steps ({len(when)} evaluation(s) of up to "
              f"{per_eval:,}), more than this session's {training:,} training steps: eval.random_levels="
              f"{cfg.eval.random_levels}, eval.attempts={cfg.eval.attempts}, eval.every={cfg.eval.every} and "
              f"eval.at_start={str(cfg.eval.get('at_start', True)).lower()} size it; eval.enabled=false turns it off")


def _eval_now(evaluate, params, levels, update: int, *, start: _Start, run_dir: str, logger, progress, curriculum):
    """One held-out evaluation at ``update``: logged (with media where configured) and shown."""
    cfg, parts = start.cfg, start.parts
    if evaluate is None:
        return {}
    began = time.perf_counter()
    progress.eval_started(update, eval_env_steps(cfg, parts))
    key = jax.random.fold_in(start.k_eval, update)
    ev_keys = jax.random.split(key, cfg.num_seeds) if cfg.num_seeds > 1 else key
    result = to_host(evaluate(params, ev_keys))
    row = eval_row(result, parts.level_space.held_out_names, update, update * parts.trainer.steps_per_update,
                   cfg.num_seeds > 1, tuple(cfg.eval.get("cvar_alphas", ())))
    media = {}
    if cfg.eval.render and levels is not None:  # several processes: gathered by all, drawn by process 0
        lv, cur = (to_host(levels), to_host(curriculum)) if jax.process_count() > 1 else (levels, curriculum)
        media = json.loads(on_writer(lambda: json.dumps(write_eval_media(parts, result, lv, update, run_dir, cur))))
    logger.log_eval(row, media)
    progress.eval_finished(update, time.perf_counter() - began)
    progress.heldout(update, row)
    return row


def _train(cfg: DictConfig, run_dir: str, overrides: list[str] | None, start: float, stop: SignalStop) -> dict[str, Any]:
    began = _start(cfg, run_dir, overrides)
    cfg, ckpt, parts, trainer = began.cfg, began.ckpt, began.parts, began.parts.trainer
    update, wandb_id = _resumed_at(began)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    logger = _NoLogger()  # what the processes other than 0 log with

    def open_logs():
        nonlocal logger
        logger, notes = _open_logs(cfg, run_dir, resolved, update, ckpt is not None, wandb_id)
        return notes
    for note in on_writer(open_logs, ConfigError).splitlines():
        _note(note)
    chunk = jax.jit(trainer.chunk, donate_argnums=0, static_argnames="length", out_shardings=(began.shardings, None, None))
    evaluate = jax.jit(trainer.evaluate) if trainer.evaluate is not None else None
    state = began.init(began.keys) if ckpt is None else began.state
    session_end = cfg.num_updates if cfg.session_updates is None else min(cfg.num_updates, update + cfg.session_updates)
    if is_writer():
        _note_eval_cost(cfg, parts, update, session_end)
    when = set(eval_updates(cfg, update, session_end))
    progress = TrainProgress(cfg.num_updates, cfg.progress, start_update=update, quiet=not is_writer())
    do_eval = functools.partial(_eval_now, evaluate, start=began, run_dir=run_dir, logger=logger, progress=progress)
    summary, levels, last, last_eval = {}, None, [], {}
    saved_at = update if ckpt is not None else None

    def save(update):
        meta = {"env_steps": update * trainer.steps_per_update,
                "curriculum_env_steps": to_host(state.curriculum_env_steps).value(), "config": resolved,
                "wandb_id": logger.wandb_id, "ued_version": __version__}
        save_checkpoint(run_dir, update, state, meta, cfg.keep_checkpoints)

    try:
        stopping = any_process(stop.signal is not None)  # several processes stop together
        if 0 in when and not stopping:
            last_eval = do_eval(state.params, None, 0, curriculum=state.curriculum)  # the untrained policy, for reference
        while update < session_end and not stopping:
            # chunks end on multiples of the chunk size (where evaluations and checkpoints fall), or
            # at the end: a shorter first or last chunk (a resume off the grid, num_updates not a
            # multiple) compiles once more
            length = min(update - update % parts.chunk_size + parts.chunk_size, session_end) - update
            state, metrics, levels = chunk(state, jnp.int32(update), length=length)
            rows = update_rows(to_host(metrics), update, trainer.steps_per_update,
                               to_host(state.curriculum_env_steps).value(), cfg.num_seeds)
            logger.log_updates(rows)
            bad = first_nonfinite(rows) if cfg.on_nonfinite == "stop" else None
            if bad is not None:
                raise _nonfinite_error(bad, saved_at, run_dir)
            update += length
            last = [r for r in rows if r["update"] == update]
            progress.update(update, update * trainer.steps_per_update, float(np.mean([r["solve_rate"] for r in last])))
            if update in when:
                last_eval = do_eval(state.params, levels, update, curriculum=state.curriculum)
            stopping = any_process(stop.signal is not None)
            if ((cfg.checkpoint_every and update % cfg.checkpoint_every == 0) or update in (session_end, cfg.num_updates)
                    or stopping):
                save(update)
                saved_at = update
        if last:
            summary.update({k: float(np.mean([r[k] for r in last])) for k in last[0] if k not in ("update", "seed")})
        summary.update(last_eval)
    finally:
        progress.close()
        logger.close()
    summary.update(update=update, complete=update == cfg.num_updates, interrupted=stop.signal_name, run_dir=run_dir,
                   resumed_from=ckpt.update if ckpt is not None else None, seconds=time.perf_counter() - start,
                   eval_seconds=progress.eval_seconds)
    return summary


class _NoLogger:
    """The logger of a process other than 0 (which writes nothing)."""

    wandb_id = None

    def log_updates(self, rows):
        pass

    def log_eval(self, row, media=None):
        pass

    def close(self):
        pass


def run_command(cfg: DictConfig, run_dir: str, overrides: list[str] | None = None) -> int:
    """The command's run: ``train`` with every failure turned into one line on stderr and an exit code.

    Returns:
        0 done (or paused by ``session_updates``), 2 a bad setting or a locked run directory,
        3 a non-finite loss, 4 a checkpoint that cannot be read or written, 128 + the signal's
        number when stopped by SIGINT/SIGTERM (130 for an interrupt outside the training loop).
    """
    try:
        summary = train(cfg, run_dir, overrides=overrides)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except NonFiniteError as e:
        print(f"error: non-finite loss at {e}", file=sys.stderr)
        return 3
    except CheckpointError as e:
        log = os.path.join(run_dir, "train.log")
        details = f" (details in {log})" if os.path.isfile(log) and os.path.getsize(log) > 0 else ""
        print(f"error: {e}{details}", file=sys.stderr)
        return 4
    except KeyboardInterrupt:
        print(f"interrupted; {on_disk(run_dir)}", file=sys.stderr)
        return 130
    run_dir = summary["run_dir"]  # several processes: process 0's, which alone reports
    if not is_writer():
        return 128 + int(getattr(signal, summary["interrupted"])) if summary["interrupted"] else 0
    if summary["interrupted"]:
        print(f"stopped by {summary['interrupted']} at update {summary['update']} of {cfg.num_updates}; "
              f"{on_disk(run_dir)}: run the same command (or run_dir={run_dir}) to continue", file=sys.stderr)
        return 128 + int(getattr(signal, summary["interrupted"]))
    if not summary["complete"]:
        print(f"paused at update {summary['update']} of {cfg.num_updates} (session_updates={cfg.session_updates}), "
              f"checkpoint saved; run the same command (or run_dir={run_dir}) to continue")
        return 0
    if summary["resumed_from"] == cfg.num_updates:
        print(f"already complete: {run_dir} holds all {cfg.num_updates} updates (raise num_updates to extend it)")
        return 0
    nan = float("nan")
    print(f"done: {cfg.num_updates} updates in {summary['seconds']:.0f} s ({summary['eval_seconds']:.0f} s of it in "
          f"held-out evaluation); final train solve rate "
          f"{summary.get('solve_rate', nan):.3f}; held-out solve rate (greedy/sampled): named levels "
          f"{summary.get('eval/named/greedy/solve_rate_mean', nan):.3f}/{summary.get('eval/named/sampled/solve_rate_mean', nan):.3f}, "
          f"random levels {summary.get('eval/random/greedy/solve_rate_mean', nan):.3f}/"
          f"{summary.get('eval/random/sampled/solve_rate_mean', nan):.3f}; results in {run_dir}")
    return 0


@hydra.main(config_path=CONF_PACKAGE, config_name="config", version_base="1.3")
def _hydra_main(cfg: DictConfig) -> None:
    for name in ("jax", "absl"):  # Hydra sets INFO; jax's backend probing and orbax's save steps are noise
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.raiseExceptions = False  # a log that cannot be written (a full disk) prints no traceback of its own
    for handler in logging.getLogger().handlers:  # the packages' reports (orbax's tracebacks) go to train.log only
        if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
            handler.addFilter(_not_from_packages)
    run_dir = HydraConfig.get().runtime.output_dir
    code = run_command(cfg, run_dir, overrides=list(HydraConfig.get().overrides.task))
    if code == 2:  # refused: Hydra's directory holds no run, so it does not stay behind
        remove_unused_run_dir(run_dir)
    if code:
        sys.exit(code)


HYDRA_ONLY = {".hydra", "train.log", ".lock"}  # what Hydra and the lock put in a directory before a run writes


def remove_unused_run_dir(run_dir: str) -> bool:
    """Removes a run directory that holds nothing but Hydra's files (``.hydra/``, an empty
    ``train.log``) and the lock: what a refused command leaves. A directory with anything of a
    run in it (checkpoints, logs, a ``train.log`` with lines) is kept. Returns whether it was removed."""
    try:
        names = set(os.listdir(run_dir))
        log = os.path.join(run_dir, "train.log")
        if not names <= HYDRA_ONLY or (os.path.exists(log) and os.path.getsize(log) > 0):
            return False
        shutil.rmtree(run_dir)
    except OSError:
        return False
    return True


def _not_from_packages(record: logging.LogRecord) -> bool:
    """Whether a log record reaches the terminal: not one of jax's, absl's or orbax's (a failed
    save's tracebacks), which Hydra's file handler keeps in ``train.log``; ued's own error line
    says what failed."""
    return record.name.split(".")[0] not in ("absl", "jax", "orbax")


def check_command_line(argv: list[str]) -> None:
    """Everything about a command line that can be checked before Hydra starts (and creates
    the run directory): unused component groups, composition (types, unknown keys and
    options, every value of a sweep) and the run directory's path.

    Raises:
        ConfigError: one line naming the problem and what is allowed.
    """
    argv = normalise_preset(argv)
    check_flags(argv)
    check_config_dir(argv)
    for note in check_overrides(hydra_overrides(argv)):
        print(f"note: {note}", file=sys.stderr)
    check_launcher(argv)
    preflight(argv)
    check_run_dir_override(argv)


def main() -> None:
    """The ``ued-train`` command: checks the command line (``check_command_line``), then runs Hydra."""
    try:
        sys.argv[1:] = hydra_argv(normalise_preset(sys.argv[1:]))
        check_command_line(sys.argv[1:])
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    _hydra_main()


if __name__ == "__main__":
    main()
