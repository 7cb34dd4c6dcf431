"""Train an agent with a curriculum: ``python -m ued.train`` (or ``ued-train``).

    python -m ued.train                                   # DR on the maze, ~10 min on a 2-core CPU
    python -m ued.train curriculum=dr agent.ppo.lr=3e-4 seed=3 num_updates=2000
    python -m ued.train +preset=paper                     # the literature's 250M-step setting
    python -m ued.train -m seed=0,1,2                     # a sweep (one run directory each)

Everything is configured by the Hydra tree in ``conf/``. Components are built with
``hydra.utils.instantiate`` and validated before anything is compiled; the jitted loop is
``ued.loop.make_train``; this module is the host side (logging, evaluation, media).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from typing import Any

import hydra
import jax
import jax.numpy as jnp
import numpy as np
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

from ued import __version__
from ued.evaluate.cvar import check_alphas, cvar_from_passes, worst_count
from ued.loop import Trainer, make_train
from ued.run.checkpoint import CheckpointError, CheckpointInfo, latest_checkpoint, restore_state, save_checkpoint
from ued.run.logger import WANDB_MODES, RunLogger, read_jsonl, truncate_jsonl
from ued.run.media import save_gif, save_png, tile_images
from ued.run.progress import TrainProgress

CONF_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "conf")


RESUME_MODES = ("auto", True, False)


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the key, the value and what is allowed."""


def _instantiate(node: DictConfig, key: str, **kwargs):
    """``instantiate`` that reports a component's own ``ValueError`` as a ``ConfigError`` on ``key``."""
    try:
        return instantiate(node, **kwargs)
    except InstantiationException as e:
        cause = e.__cause__ or e
        raise ConfigError(f"{key}: {cause}") from e
    except (ValueError, TypeError) as e:
        raise ConfigError(f"{key}: {e}") from e


def _positive_int(cfg, key):
    value = OmegaConf.select(cfg, key)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ConfigError(f"{key} must be a positive integer, got {value!r}")
    return value


def _check_resume(cfg: DictConfig) -> None:
    if cfg.resume not in RESUME_MODES:
        raise ConfigError(f"resume must be auto, true or false, got {cfg.resume!r}")


def validate(cfg: DictConfig) -> None:
    """Checks the run-level settings before anything is built or compiled.

    Raises:
        ConfigError: naming the key, the bad value and what is allowed.
    """
    for key in ("num_envs", "num_steps", "num_updates", "updates_per_chunk", "num_seeds", "eval.attempts"):
        _positive_int(cfg, key)
    if not isinstance(cfg.eval.random_levels, int) or cfg.eval.random_levels < 0:
        raise ConfigError(f"eval.random_levels must be a non-negative integer, got {cfg.eval.random_levels!r}")
    every = cfg.eval.every
    if not isinstance(every, int) or every < 0:
        raise ConfigError(f"eval.every must be a non-negative integer, got {every!r}")
    chunk = min(cfg.updates_per_chunk, cfg.num_updates)
    if every and every % chunk:
        raise ConfigError(f"eval.every={every} must be a multiple of updates_per_chunk={chunk} (or 0)")
    try:
        check_alphas(cfg.eval.get("cvar_alphas") or [100])
    except (ValueError, TypeError) as e:
        raise ConfigError(f"eval.cvar_alphas: {e}") from None
    ckpt_every = cfg.checkpoint_every
    if not isinstance(ckpt_every, int) or isinstance(ckpt_every, bool) or ckpt_every < 0 or (ckpt_every and ckpt_every % chunk):
        raise ConfigError(f"checkpoint_every must be 0 or a positive multiple of updates_per_chunk={chunk}, "
                          f"got {ckpt_every!r}")
    _positive_int(cfg, "keep_checkpoints")
    _check_resume(cfg)
    if cfg.on_nonfinite not in ("stop", "skip"):
        raise ConfigError(f"on_nonfinite must be stop or skip, got {cfg.on_nonfinite!r}")
    session = cfg.session_updates
    if session is not None and (not isinstance(session, int) or isinstance(session, bool) or session <= 0
                                or session % chunk):
        raise ConfigError(f"session_updates must be null or a positive multiple of updates_per_chunk={chunk}, "
                          f"got {session!r}")
    if cfg.progress not in ("auto", True, False):
        raise ConfigError(f"progress must be auto, true or false, got {cfg.progress!r}")
    if cfg.logger.wandb and cfg.logger.get("mode", "online") not in WANDB_MODES:
        raise ConfigError(f"logger.mode must be one of {', '.join(WANDB_MODES)}, got {cfg.logger.mode!r}")


class Run:
    """The built components of a run (everything ``make_train`` needs), from a config."""

    def __init__(self, cfg: DictConfig):
        validate(cfg)
        self.cfg = cfg
        self.level_space = _instantiate(cfg.env, "env")
        self.agent = _instantiate(cfg.agent.network, "agent.network", action_space=self.level_space.env.action_space)
        self.ppo = _instantiate(cfg.agent.ppo, "agent.ppo")
        try:
            self.ppo.validate(cfg.num_envs)
        except ValueError as e:
            raise ConfigError(str(e)) from e
        factory = _instantiate(cfg.curriculum, "curriculum")
        try:
            self.curriculum = factory(level_space=self.level_space, num_levels=cfg.num_envs)
        except ValueError as e:
            raise ConfigError(f"curriculum: {e}") from e
        self.chunk_size = min(cfg.updates_per_chunk, cfg.num_updates)
        self.trainer: Trainer = make_train(
            self.level_space, self.curriculum, self.agent, self.ppo, num_envs=cfg.num_envs, num_steps=cfg.num_steps,
            num_updates=cfg.num_updates, updates_per_chunk=self.chunk_size, num_seeds=cfg.num_seeds,
            eval_attempts=cfg.eval.attempts, eval_random_levels=cfg.eval.random_levels,
            skip_nonfinite=cfg.get("on_nonfinite", "stop") == "skip")


def _rows(metrics: dict, first_update: int, steps_per_update: int, extra_steps: float, num_seeds: int):
    """Per-update (and per-seed) JSON rows from a chunk's metrics."""
    metrics = {k: np.asarray(v) for k, v in metrics.items()}
    if num_seeds == 1:
        metrics = {k: v[None] for k, v in metrics.items()}
    n = next(iter(metrics.values())).shape[1]
    rows = []
    extra = metrics.get("curriculum/extra_env_steps")
    for s in range(num_seeds):
        sampled = extra_steps
        for i in range(n):
            update = first_update + i + 1
            if extra is not None:
                sampled += float(extra[s, i])
            row = {"update": update, "env_steps": update * steps_per_update}
            if extra is not None:
                row["curriculum_env_steps"] = sampled
                row["total_env_steps"] = update * steps_per_update + sampled
            if num_seeds > 1:
                row["seed"] = s
            row.update({k: float(v[s, i]) for k, v in metrics.items()})
            rows.append(row)
    return rows


def _eval_row(results: dict, names, update: int, env_steps: int, seed_axis: bool, alphas=()) -> dict:
    """Flat eval row: ``eval/{named,random}/{greedy,sampled}/{metric}_mean``, for the named
    levels ``eval/named/{mode}/{metric}/{level}``, and for the random levels the CVaR of the
    sampled policy's success ``eval/random/cvar/{alpha}`` (unbiased: ranked by the first pass,
    scored by the second) and ``eval/random/cvar_biased/{alpha}`` (means over seeds)."""
    row = {"update": update, "env_steps": env_steps}
    random = results.get("random")
    if random is not None and "sampled_pass2" in random:
        p1 = np.asarray(random["sampled"]["solve_rate"]).reshape(-1 if seed_axis else 1, np.shape(random["sampled_pass2"])[-1])
        p2 = np.asarray(random["sampled_pass2"]).reshape(p1.shape)
        usable = [a for a in alphas if worst_count(a, p1.shape[1]) >= 1]
        if usable:
            per_seed = [cvar_from_passes(a, b, usable) for a, b in zip(p1, p2)]
            for a in usable:
                row[f"eval/random/cvar/{a:g}"] = float(np.mean([r.cvar[float(a)] for r in per_seed]))
                row[f"eval/random/cvar_biased/{a:g}"] = float(np.mean([r.cvar_biased[float(a)] for r in per_seed]))
    for set_name, result in results.items():
        for mode in ("greedy", "sampled"):
            for metric, values in result[mode].items():
                values = np.asarray(values)
                per_level = values.mean(axis=0) if seed_axis else values
                if set_name == "named":
                    for name, v in zip(names, per_level):
                        row[f"eval/named/{mode}/{metric}/{name}"] = float(v)
                row[f"eval/{set_name}/{mode}/{metric}_mean"] = float(per_level.mean())
    return row


def top_buffer_levels(curriculum_state, count: int = 16):
    """The highest-scoring stored levels of a curriculum with a level buffer, best first.

    Works for any curriculum state with a ``buffer`` holding ``levels``, ``scores`` and
    ``filled`` (PLR, robust PLR, ACCEL, SFL); returns None otherwise or when it is empty.
    """
    buf = getattr(curriculum_state, "buffer", None)
    if buf is None or not all(hasattr(buf, a) for a in ("levels", "scores", "filled")):
        return None
    scores = np.where(np.asarray(buf.filled), np.asarray(buf.scores), -np.inf)
    order = np.argsort(-scores, kind="stable")[: min(count, int(np.asarray(buf.filled).sum()))]
    if len(order) == 0:
        return None
    return jax.tree.map(lambda x: np.asarray(x)[order], buf.levels), scores[order]


def _media(run: Run, result: dict, levels, update: int, run_dir: str, curriculum_state=None) -> dict[str, str]:
    """Writes the proposed and top-scoring levels' images and held-out episode GIFs; returns name -> path."""
    ls, out = run.level_space, {}
    media_dir = os.path.join(run_dir, "media")
    if run.cfg.num_seeds > 1:
        levels = jax.tree.map(lambda x: x[0], levels)
    if ls.render is not None:
        shown = jax.tree.map(lambda x: x[:16], levels)
        images = jax.jit(jax.vmap(ls.render))(shown)
        out["proposed_levels"] = save_png(tile_images(images, columns=8), os.path.join(media_dir, f"proposed_{update:07d}.png"))
        if curriculum_state is not None and run.cfg.num_seeds > 1:
            curriculum_state = jax.tree.map(lambda x: x[0], curriculum_state)
        top = top_buffer_levels(curriculum_state) if curriculum_state is not None else None
        if top is not None:
            images = jax.jit(jax.vmap(ls.render))(jax.tree.map(jnp.asarray, top[0]))
            out["top_buffer_levels"] = save_png(tile_images(images, columns=8),
                                                os.path.join(media_dir, f"top_buffer_{update:07d}.png"))
    if ls.render_episode is not None and "trace" in result.get("named", {}):
        trace = np.asarray(result["named"]["trace"])
        if run.cfg.num_seeds > 1:
            trace = trace[0]
        for i, name in enumerate(ls.held_out_names[: run.cfg.eval.render_levels]):
            level = jax.tree.map(lambda x: x[i], ls.held_out)
            steps = trace[:, i]
            done = np.nonzero(steps[:, 3])[0]
            end = int(done[0]) + 1 if len(done) else len(steps)
            frames = jax.jit(ls.render_episode)(level, jnp.asarray(steps[:end]))
            out[f"heldout_{name}"] = save_gif(np.asarray(frames), os.path.join(media_dir, f"heldout_{name}_{update:07d}.gif"))
    return out


class NonFiniteError(RuntimeError):
    """Training produced a non-finite loss or parameters (``on_nonfinite=stop``)."""


# Settings a resumed run may change: they do not touch the training state or what it computes
# (num_updates changes the learning-rate schedule from the resumed update on; that is allowed).
SAFE_TO_CHANGE = ("logger", "progress", "num_updates", "updates_per_chunk", "eval", "checkpoint_every",
                  "keep_checkpoints", "resume", "session_updates", "on_nonfinite", "run_dir")


def _flat(d, prefix=""):
    out = {}
    if isinstance(d, dict):
        for k, v in d.items():
            out.update(_flat(v, f"{prefix}{k}."))
        if not d and prefix:
            out[prefix[:-1]] = {}
    else:
        out[prefix[:-1]] = d
    return out


def config_differences(old: dict, new: dict) -> list[tuple[str, Any, Any]]:
    """``(dotted key, old value, new value)`` for every leaf that differs between two configs."""
    a, b = _flat(old), _flat(new)
    missing = "<absent>"
    return [(k, a.get(k, missing), b.get(k, missing)) for k in sorted(set(a) | set(b)) if a.get(k, missing) != b.get(k, missing)]


def is_safe_change(key: str) -> bool:
    """Whether a resumed run may change this dotted config key (see ``SAFE_TO_CHANGE``)."""
    return any(key == s or key.startswith(s + ".") for s in SAFE_TO_CHANGE)


def restore_run_state(info: CheckpointInfo, cfg: DictConfig, init, keys, subject: str):
    """Restores a checkpoint's ``TrainState`` for a run configured by ``cfg``.

    Args:
        info: the checkpoint.
        cfg: the configuration the state is restored for.
        init: the run's ``init`` (only its output's structure is used).
        keys: ``init``'s argument.
        subject: how errors name the configuration (e.g. "this run's configuration").

    Returns:
        ``(state, unsafe)``: the state, and ``"key: old -> new"`` for every setting that differs
        from the checkpoint's and is not in ``SAFE_TO_CHANGE`` (named in the error when the
        state does not fit).

    Raises:
        CheckpointError: the state does not fit, or the checkpoint cannot be read.
    """
    unsafe = [f"{k}: {a!r} -> {b!r}" for k, a, b in
              config_differences(info.meta["config"], OmegaConf.to_container(cfg, resolve=True)) if not is_safe_change(k)]
    what = subject + (", which differs from the checkpoint's in " + "; ".join(unsafe) if unsafe else "")
    return restore_state(info, jax.eval_shape(init, keys), what), unsafe


def resume_config(saved: dict, cfg: DictConfig, overrides: list[str] | None) -> tuple[DictConfig, list[str]]:
    """The configuration a resumed run continues with, and notes on what was not applied.

    With ``overrides`` (the command line's, from Hydra), the saved configuration is the base and
    only the overridden keys take their new values, so ``python -m ued.train run_dir=DIR``
    continues the run as it was configured. Without them (a Python call), ``cfg`` is taken whole.
    """
    if overrides is None:
        return cfg, []
    out = OmegaConf.create(saved)
    notes = []
    for o in overrides:
        key = o.split("=", 1)[0].lstrip("+~")
        if key.startswith("hydra.") or key in ("run_dir", "resume"):
            continue
        node = OmegaConf.select(cfg, key, default="__missing__")
        if isinstance(node, str) and node == "__missing__":
            notes.append(f"override {o!r} not applied on resume (its keys are already in the saved config; "
                         "set the keys it changes directly)")
            continue
        value = OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node
        OmegaConf.update(out, key, value, merge=False, force_add=True)
    return out, notes


def _note_schedule_change(ckpt: CheckpointInfo, changed, cfg: DictConfig) -> None:
    """Says how a changed ``num_updates`` moves an annealed learning rate (allowed, but visible)."""
    ppo = cfg.agent.get("ppo", {})
    for key, old, new in changed:
        if key == "num_updates" and ppo.get("anneal_lr", False) and isinstance(old, int) and old > 0:
            u, lr = ckpt.update, float(ppo.lr)
            print(f"note: num_updates {old} -> {new} with agent.ppo.anneal_lr=true: the learning rate now anneals to 0 "
                  f"at update {new}, so at update {u} it is {lr * max(0.0, 1 - u / new):.3g} instead of "
                  f"{lr * max(0.0, 1 - u / old):.3g}", file=sys.stderr)


def _find_checkpoint(cfg: DictConfig, run_dir: str) -> CheckpointInfo | None:
    """The checkpoint to resume from under the ``resume`` setting, or None to start afresh."""
    info = latest_checkpoint(run_dir)
    if cfg.resume is True and info is None:
        raise ConfigError(f"resume=true but {run_dir} has no checkpoint to resume from")
    if cfg.resume is False:
        if info is not None:
            raise ConfigError(f"{run_dir} already holds a run (checkpoint at update {info.update}); "
                              "use resume=auto to continue it or choose another run_dir")
        metrics = os.path.join(run_dir, "metrics.jsonl")
        if os.path.exists(metrics) and read_jsonl(metrics):
            raise ConfigError(f"{run_dir} already holds a run's metrics; choose another run_dir")
    return info


def _nonfinite(rows: list[dict]) -> tuple[dict, str] | None:
    """The first row with a non-finite loss (any metric named ``*loss``) or parameters."""
    for row in sorted(rows, key=lambda r: (r["update"], r.get("seed", 0))):
        for k, v in row.items():
            if (k.endswith("loss") and not np.isfinite(v)) or (k == "nonfinite" and v):
                return row, k
    return None


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
        ``update`` (updates done), ``complete``, ``interrupted`` (the signal's name or None)
        and ``resumed_from`` (the checkpoint's update, or None for a fresh start).

    Raises:
        ConfigError: a bad setting, or a resume that does not fit the checkpoint.
        CheckpointError: a checkpoint cannot be read or written (earlier ones stay intact).
        NonFiniteError: a non-finite loss with ``on_nonfinite=stop``.
    """
    start = time.perf_counter()
    cfg = cfg.copy()
    with open_dict(cfg):
        cfg.run_dir = run_dir  # the directory actually used (sweeps put each job in its own)
    _check_resume(cfg)  # the rest is checked by Run, on the settings in effect after a resume
    ckpt = _find_checkpoint(cfg, run_dir)
    if ckpt is not None:
        cfg, notes = resume_config(ckpt.meta["config"], cfg, overrides)
        for note in notes:
            print(f"note: {note}", file=sys.stderr)
        _note_schedule_change(ckpt, config_differences(ckpt.meta["config"], OmegaConf.to_container(cfg, resolve=True)), cfg)
    run = Run(cfg)
    try:
        os.makedirs(run_dir, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"run_dir {run_dir} cannot be created: {e.strerror or e}") from None
    if not os.access(run_dir, os.W_OK):
        raise ConfigError(f"run_dir {run_dir} is not writable")
    trainer = run.trainer
    k_train, k_eval = jax.random.split(jax.random.key(cfg.seed))
    keys = jax.random.split(k_train, cfg.num_seeds) if cfg.num_seeds > 1 else k_train
    init = jax.jit(trainer.init)
    update, extra_steps, wandb_id = 0, 0.0, None
    if ckpt is not None:
        state, unsafe = restore_run_state(ckpt, cfg, init, keys, "this run's configuration")
        if unsafe:
            print("warning: resuming with changed settings, so this is not the run the checkpoint started: "
                  + "; ".join(unsafe), file=sys.stderr)
        update, extra_steps, wandb_id = ckpt.update, float(ckpt.meta.get("curriculum_env_steps", 0.0)), ckpt.meta.get("wandb_id")
        if update > cfg.num_updates:
            raise ConfigError(f"the checkpoint is at update {update}, past num_updates={cfg.num_updates}")
    for name in ("metrics.jsonl", "eval.jsonl"):  # rows after the checkpoint are produced again
        truncate_jsonl(os.path.join(run_dir, name), update if ckpt is not None else -1)

    resolved = OmegaConf.to_container(cfg, resolve=True)
    with open(os.path.join(run_dir, "config.yaml"), "w") as f:
        f.write(OmegaConf.to_yaml(cfg, resolve=True))
    wandb_cfg = None
    if cfg.logger.wandb:
        wandb_cfg = dict(OmegaConf.to_container(cfg.logger, resolve=True))
        wandb_cfg.setdefault("name", os.path.basename(os.path.normpath(run_dir)))
        wandb_cfg["id"] = wandb_id
    logger = RunLogger(run_dir, resolved, wandb_cfg)
    chunk = jax.jit(trainer.chunk, donate_argnums=0, static_argnames="length")
    evaluate = jax.jit(trainer.evaluate) if trainer.evaluate is not None else None
    if ckpt is None:
        state = init(keys)
    progress = TrainProgress(cfg.num_updates, cfg.progress, start_update=update)
    summary, levels, last, last_eval = {}, None, [], {}
    saved_at = update if ckpt is not None else None
    session_end = cfg.num_updates if cfg.session_updates is None else min(cfg.num_updates, update + cfg.session_updates)

    def do_eval(update, levels):
        if evaluate is None:
            return {}
        key = jax.random.fold_in(k_eval, update)
        ev_keys = jax.random.split(key, cfg.num_seeds) if cfg.num_seeds > 1 else key
        result = jax.device_get(evaluate(state.params, ev_keys))
        row = _eval_row(result, run.level_space.held_out_names, update, update * trainer.steps_per_update,
                        cfg.num_seeds > 1, tuple(cfg.eval.get("cvar_alphas", ())))
        media = (_media(run, result, levels, update, run_dir, jax.device_get(state.curriculum))
                 if cfg.eval.render and levels is not None else {})
        logger.log_eval(row, media)
        progress.heldout(update, row)
        return row

    def save(update):
        meta = {"env_steps": update * trainer.steps_per_update, "curriculum_env_steps": extra_steps,
                "config": resolved, "wandb_id": logger.wandb_id, "ued_version": __version__}
        save_checkpoint(run_dir, update, state, meta, cfg.keep_checkpoints)

    stop = _SignalStop()
    try:
        with stop:
            if ckpt is None:
                last_eval = do_eval(0, None)  # the untrained policy, for reference
            while update < session_end:
                # chunks end on multiples of the chunk size (where evaluations and checkpoints fall), or
                # at the end: a shorter first or last chunk (a resume off the grid, num_updates not a
                # multiple) compiles once more
                length = min(update - update % run.chunk_size + run.chunk_size, session_end) - update
                state, metrics, levels = chunk(state, jnp.int32(update), length=length)
                metrics = jax.device_get(metrics)
                rows = _rows(metrics, update, trainer.steps_per_update, extra_steps, cfg.num_seeds)
                logger.log_updates(rows)
                bad = _nonfinite(rows) if cfg.on_nonfinite == "stop" else None
                if bad is not None:
                    row, metric = bad
                    where = f" (seed {row['seed']})" if "seed" in row else ""
                    what = "non-finite parameters" if metric == "nonfinite" else f"{metric}={row[metric]}"
                    kept = (f"the last good checkpoint is update {saved_at} in {run_dir}/checkpoints"
                            if saved_at is not None else "no checkpoint had been saved yet")
                    raise NonFiniteError(f"update {row['update']}{where}: {what}; the run stopped and {kept}. "
                                         "Set on_nonfinite=skip to skip such updates instead")
                update += length
                if "curriculum_env_steps" in rows[-1]:
                    extra_steps = rows[-1]["curriculum_env_steps"]
                last = [r for r in rows if r["update"] == update]
                progress.update(update, update * trainer.steps_per_update, float(np.mean([r["solve_rate"] for r in last])))
                if (cfg.eval.every and update % cfg.eval.every == 0) or update == cfg.num_updates:
                    last_eval = do_eval(update, levels)
                if ((cfg.checkpoint_every and update % cfg.checkpoint_every == 0) or update in (session_end, cfg.num_updates)
                        or stop.signal is not None):
                    save(update)
                    saved_at = update
                if stop.signal is not None:
                    break
        if last:
            summary.update({k: float(np.mean([r[k] for r in last])) for k in last[0] if k not in ("update", "seed")})
        summary.update(last_eval)
    finally:
        progress.close()
        logger.close()
    summary.update(update=update, complete=update == cfg.num_updates, interrupted=stop.signal_name,
                   resumed_from=ckpt.update if ckpt is not None else None, seconds=time.perf_counter() - start)
    return summary


class _SignalStop:
    """While active, SIGINT/SIGTERM ask the loop to save a checkpoint and stop after the current
    chunk; a second signal stops at once (the previous checkpoint stays intact)."""

    def __init__(self):
        self.signal, self._old = None, {}

    @property
    def signal_name(self):
        return None if self.signal is None else signal.Signals(self.signal).name

    def _handle(self, signum, frame):
        if self.signal is not None:
            raise KeyboardInterrupt
        self.signal = signum
        print(f"\n{signal.Signals(signum).name}: saving a checkpoint after the current chunk of updates, then "
              "stopping (send it again to stop at once)", file=sys.stderr, flush=True)

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old = {}
        return False


def run_dir_from_hydra() -> str:
    return HydraConfig.get().runtime.output_dir


@hydra.main(config_path=CONF_DIR, config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    for name in ("jax", "absl"):  # Hydra sets INFO; jax's backend probing and orbax's save steps are noise
        logging.getLogger(name).setLevel(logging.WARNING)
    run_dir = run_dir_from_hydra()
    try:
        summary = train(cfg, run_dir, overrides=list(HydraConfig.get().overrides.task))
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except NonFiniteError as e:
        print(f"error: non-finite loss at {e}", file=sys.stderr)
        sys.exit(3)
    except CheckpointError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(4)
    except KeyboardInterrupt:
        print(f"interrupted; the latest complete checkpoint in {run_dir}/checkpoints is intact", file=sys.stderr)
        sys.exit(130)
    if summary["interrupted"]:
        print(f"stopped by {summary['interrupted']} at update {summary['update']} of {cfg.num_updates}, "
              f"checkpoint saved; run the same command (or run_dir={run_dir}) to continue", file=sys.stderr)
        sys.exit(128 + int(getattr(signal, summary["interrupted"])))
    if not summary["complete"]:
        print(f"paused at update {summary['update']} of {cfg.num_updates} (session_updates={cfg.session_updates}), "
              f"checkpoint saved; run the same command (or run_dir={run_dir}) to continue")
        return
    if summary["resumed_from"] == cfg.num_updates:
        print(f"already complete: {run_dir} holds all {cfg.num_updates} updates (raise num_updates to extend it)")
        return
    nan = float("nan")
    print(f"done: {cfg.num_updates} updates in {summary['seconds']:.0f} s; final train solve rate "
          f"{summary.get('solve_rate', nan):.3f}; held-out solve rate (greedy/sampled): named levels "
          f"{summary.get('eval/named/greedy/solve_rate_mean', nan):.3f}/{summary.get('eval/named/sampled/solve_rate_mean', nan):.3f}, "
          f"random levels {summary.get('eval/random/greedy/solve_rate_mean', nan):.3f}/"
          f"{summary.get('eval/random/sampled/solve_rate_mean', nan):.3f}; results in {run_dir}")


if __name__ == "__main__":
    main()
