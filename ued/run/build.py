"""Building a run's components from a checked configuration (``Components``), and the per-process
reuse of built components across a run and its resumption.
"""

from __future__ import annotations

from collections import OrderedDict

import yaml
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from ued.run.checks import validate
from ued.run.schema import ConfigError

# Building the components
# ---------------------------------------------------------------------------------------
def _instantiate(node: DictConfig, key: str, **kwargs):
    """``instantiate`` that reports a component's own ``ValueError``/``TypeError`` as a ``ConfigError`` on ``key``."""
    try:
        return instantiate(node, **kwargs)
    except InstantiationException as e:
        cause = e.__cause__ or e
        raise ConfigError(f"{key}: {cause}") from e
    except (ValueError, TypeError) as e:
        raise ConfigError(f"{key}: {e}") from e


class Components:
    """The built components of a training run (everything ``make_train`` needs), from a config.

    Attributes:
        cfg: the configuration.
        level_space, agent, ppo, curriculum: the components.
        chunk_size: updates per compiled call.
        placement: where the run's arrays live (``ued.run.devices.Placement``).
        trainer: the ``ued.loop.Trainer``.
    """

    def __init__(self, cfg: DictConfig):
        from ued.loop import make_train

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
        except (ValueError, TypeError) as e:
            raise ConfigError(f"curriculum: {e}") from e
        self.chunk_size = min(cfg.updates_per_chunk, cfg.num_updates)
        self.placement = placement(cfg)
        self.trainer = make_train(
            self.level_space, self.curriculum, self.agent, self.ppo, num_envs=cfg.num_envs, num_steps=cfg.num_steps,
            num_updates=cfg.num_updates, updates_per_chunk=self.chunk_size, num_seeds=cfg.num_seeds,
            eval_attempts=cfg.eval.attempts, eval_random_levels=cfg.eval.random_levels,
            skip_nonfinite=cfg.get("on_nonfinite", "stop") == "skip",
            shard_levels=self.placement.constrain_levels if self.placement.mode == "envs" else None,
            evaluation=bool(cfg.eval.get("enabled", True)))


_BUILT: "OrderedDict[str, Components]" = OrderedDict()
BUILT_KEEP = 2  # the configurations whose built components a process keeps
# settings of the session, not of the components: where and how a run is written and resumed
SESSION_KEYS = ("logger", "seed", "progress", "run_dir", "checkpoint_every", "keep_checkpoints", "resume",
                "session_updates", "notes")
SESSION_EVAL_KEYS = ("at_start", "every", "render", "render_levels", "cvar_alphas")


def _build_key(cfg: DictConfig) -> str:
    import jax

    tree = OmegaConf.to_container(cfg, resolve=True)
    for k in SESSION_KEYS:
        tree.pop(k, None)
    for k in SESSION_EVAL_KEYS:
        (tree.get("eval") or {}).pop(k, None)
    where = [d.id for d in jax.devices()], jax.process_index()
    return yaml.safe_dump([tree, where], sort_keys=True)


def build_components(cfg: DictConfig) -> Components:
    """``Components(cfg)``, reused when this process built the same components (the configuration
    resolved, less the session's settings: ``SESSION_KEYS``, ``eval.`` ``SESSION_EVAL_KEYS``) on
    the same devices among its last ``BUILT_KEEP`` configurations. The components are pure
    functions, and the same function objects let ``jax.jit`` reuse their traced and compiled
    programs: a run resumed or reloaded in the same process is not compiled again. ``cfg`` is
    validated every time; the result's ``cfg`` is ``cfg``.

    Raises:
        ConfigError: as ``Components``.
    """
    import copy

    try:
        key = _build_key(cfg)
    except Exception:  # noqa: BLE001 - an interpolation that does not resolve: Components says what is wrong
        return Components(cfg)
    if key not in _BUILT:
        _BUILT[key] = Components(cfg)
        while len(_BUILT) > BUILT_KEEP:
            _BUILT.popitem(last=False)
        return _BUILT[key]
    validate(cfg)
    _BUILT.move_to_end(key)
    parts = copy.copy(_BUILT[key])
    parts.cfg = cfg
    return parts


def forget_built_components() -> None:
    """Drops the components ``build_components`` keeps (the next build of any configuration is new)."""
    _BUILT.clear()


def placement(cfg: DictConfig):
    """The run's ``ued.run.devices.Placement`` from ``devices`` and ``shard`` over the devices
    this process sees (all processes' after ``jax.distributed`` started: ``ued.train`` starts
    it, once, before anything touches a device; building components never does).

    Raises:
        ConfigError: when the devices or the split do not fit the run's sizes.
    """
    from ued.run.devices import DeviceConfigError, make_placement

    try:
        return make_placement(cfg.get("devices", "all"), cfg.get("shard", "auto"), cfg.num_seeds, cfg.num_envs)
    except DeviceConfigError as e:
        raise ConfigError(str(e)) from None
