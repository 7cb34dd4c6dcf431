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
import sys
import time
from typing import Any

import hydra
import jax
import jax.numpy as jnp
import numpy as np
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from ued.loop import Trainer, make_train
from ued.run.logger import WANDB_MODES, RunLogger
from ued.run.media import save_gif, save_png, tile_images
from ued.run.progress import TrainProgress

CONF_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "conf")


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


def validate(cfg: DictConfig) -> None:
    """Checks the run-level settings before anything is built or compiled.

    Raises:
        ConfigError: naming the key, the bad value and what is allowed.
    """
    for key in ("num_envs", "num_steps", "num_updates", "updates_per_chunk", "num_seeds", "eval.attempts"):
        _positive_int(cfg, key)
    if not isinstance(cfg.eval.random_levels, int) or cfg.eval.random_levels < 0:
        raise ConfigError(f"eval.random_levels must be a non-negative integer, got {cfg.eval.random_levels!r}")
    if cfg.num_updates % min(cfg.updates_per_chunk, cfg.num_updates):
        raise ConfigError(
            f"updates_per_chunk={cfg.updates_per_chunk} must divide num_updates={cfg.num_updates} "
            "(every compiled call runs the same number of updates)")
    every = cfg.eval.every
    if not isinstance(every, int) or every < 0:
        raise ConfigError(f"eval.every must be a non-negative integer, got {every!r}")
    chunk = min(cfg.updates_per_chunk, cfg.num_updates)
    if every and every % chunk:
        raise ConfigError(f"eval.every={every} must be a multiple of updates_per_chunk={chunk} (or 0)")
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
            eval_attempts=cfg.eval.attempts, eval_random_levels=cfg.eval.random_levels)


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


def _eval_row(results: dict, names, update: int, env_steps: int, seed_axis: bool) -> dict:
    """Flat eval row: ``eval/{named,random}/{greedy,sampled}/{metric}_mean`` and, for the named
    levels, ``eval/named/{mode}/{metric}/{level}`` (means over seeds)."""
    row = {"update": update, "env_steps": env_steps}
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


def train(cfg: DictConfig, run_dir: str) -> dict[str, Any]:
    """Runs a whole training job from a composed config, writing into ``run_dir``.

    Returns:
        A summary: final training metrics (means over seeds) and the last held-out evaluation.
    """
    start = time.perf_counter()
    run = Run(cfg)
    os.makedirs(run_dir, exist_ok=True)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    with open(os.path.join(run_dir, "config.yaml"), "w") as f:
        f.write(OmegaConf.to_yaml(cfg, resolve=True))
    wandb_cfg = None
    if cfg.logger.wandb:
        wandb_cfg = dict(OmegaConf.to_container(cfg.logger, resolve=True))
        wandb_cfg.setdefault("name", os.path.basename(os.path.normpath(run_dir)))
    logger = RunLogger(run_dir, resolved, wandb_cfg)
    trainer = run.trainer

    k_train, k_eval = jax.random.split(jax.random.key(cfg.seed))
    keys = jax.random.split(k_train, cfg.num_seeds) if cfg.num_seeds > 1 else k_train
    init = jax.jit(trainer.init)
    chunk = jax.jit(trainer.chunk, donate_argnums=0)
    evaluate = jax.jit(trainer.evaluate) if trainer.evaluate is not None else None

    state = init(keys)
    progress = TrainProgress(cfg.num_updates, cfg.progress)
    update, extra_steps, summary = 0, 0.0, {}
    levels = None

    def do_eval(update, levels):
        if evaluate is None:
            return {}
        key = jax.random.fold_in(k_eval, update)
        ev_keys = jax.random.split(key, cfg.num_seeds) if cfg.num_seeds > 1 else key
        result = jax.device_get(evaluate(state.params, ev_keys))
        row = _eval_row(result, run.level_space.held_out_names, update, update * trainer.steps_per_update,
                        cfg.num_seeds > 1)
        media = (_media(run, result, levels, update, run_dir, jax.device_get(state.curriculum))
                 if cfg.eval.render and levels is not None else {})
        logger.log_eval(row, media)
        progress.heldout(update, row)
        return row

    try:
        last_eval = do_eval(0, None)  # the untrained policy, for reference
        while update < cfg.num_updates:
            state, metrics, levels = chunk(state, jnp.int32(update))
            metrics = jax.device_get(metrics)
            rows = _rows(metrics, update, trainer.steps_per_update, extra_steps, cfg.num_seeds)
            update += run.chunk_size
            if "curriculum_env_steps" in rows[-1]:
                extra_steps = rows[-1]["curriculum_env_steps"]
            logger.log_updates(rows)
            last = [r for r in rows if r["update"] == update]
            progress.update(update, update * trainer.steps_per_update, float(np.mean([r["solve_rate"] for r in last])))
            if (cfg.eval.every and update % cfg.eval.every == 0) or update == cfg.num_updates:
                last_eval = do_eval(update, levels)
        summary.update({k: float(np.mean([r[k] for r in last])) for k in last[0] if k not in ("update", "seed")})
        summary.update(last_eval)
        summary["seconds"] = time.perf_counter() - start
    finally:
        progress.close()
        logger.close()
    return summary


def run_dir_from_hydra() -> str:
    return HydraConfig.get().runtime.output_dir


@hydra.main(config_path=CONF_DIR, config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    logging.getLogger("jax").setLevel(logging.WARNING)  # Hydra sets INFO; jax's backend probing is noise
    run_dir = run_dir_from_hydra()
    try:
        summary = train(cfg, run_dir)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    nan = float("nan")
    print(f"done: {cfg.num_updates} updates in {summary['seconds']:.0f} s; final train solve rate "
          f"{summary.get('solve_rate', nan):.3f}; held-out solve rate (greedy/sampled): named levels "
          f"{summary.get('eval/named/greedy/solve_rate_mean', nan):.3f}/{summary.get('eval/named/sampled/solve_rate_mean', nan):.3f}, "
          f"random levels {summary.get('eval/random/greedy/solve_rate_mean', nan):.3f}/"
          f"{summary.get('eval/random/sampled/solve_rate_mean', nan):.3f}; results in {run_dir}")


if __name__ == "__main__":
    main()
