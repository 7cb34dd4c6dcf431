"""Training over several devices with ``jax.sharding``: one code path for 1..N devices.

A ``Placement`` is a one-axis mesh (axis ``"devices"``) over the devices a run uses and how its
work is split across them:

- ``seeds``: the seed axis of a ``num_seeds > 1`` run is split (each device trains
  ``num_seeds / N`` seeds). Seeds are independent, so nothing crosses devices during training.
- ``envs``: the environment axis of every rollout (training, a curriculum's own rollouts such as
  SFL's sampling pass, evaluation) is split; parameters, optimiser and curriculum state are
  replicated, and the PPO gradient is reduced across devices by XLA (a data-parallel update).

The compiled program is the same ``jit`` of ``ued.loop``'s functions for any N: the state's
sharding (``state_sharding``) and a sharding constraint on the levels of each rollout
(``constrain_levels``) are all that differ, and with one device both are no-ops. No ``pmap``.

Multi-host: ``distributed=true`` calls ``jax.distributed.initialize()`` (which reads the cluster's
environment, e.g. SLURM's, or ``JAX_COORDINATOR_ADDRESS``/``JAX_NUM_PROCESSES``/``JAX_PROCESS_ID``)
before anything touches a device, so the mesh spans every process's devices; the host-side work
(logging, evaluation rows, checkpoints) fetches whole arrays with ``to_host`` and only process 0
writes the run directory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

SHARD_MODES = ("auto", "seeds", "envs")
AXIS = "devices"


class DeviceConfigError(ValueError):
    """``devices``/``shard`` do not fit the run; the message names the values and the choices."""


def start_distributed(enabled: bool) -> None:
    """``jax.distributed.initialize()`` once, before any device is used (multi-host runs)."""
    if enabled and not getattr(start_distributed, "done", False):
        jax.distributed.initialize()
        start_distributed.done = True


def resolve(devices: Any, shard: str, num_seeds: int, num_envs: int) -> tuple[int, str]:
    """The number of devices and the split a run uses, checked against its sizes.

    Args:
        devices: ``"all"`` (every device JAX sees) or a positive integer (the first N).
        shard: ``"auto"`` (seeds when ``num_seeds`` is a multiple of N and above 1, else envs),
            ``"seeds"`` or ``"envs"``.
        num_seeds: seeds trained together.
        num_envs: environments per update.

    Returns:
        ``(n, mode)`` with ``mode`` ``"seeds"`` or ``"envs"`` (``"none"`` for one device).

    Raises:
        DeviceConfigError: naming the setting, the sizes and what would fit.
    """
    available = jax.device_count()
    if devices == "all":
        n = available
    elif isinstance(devices, int) and not isinstance(devices, bool) and devices >= 1:
        n = devices
    else:
        raise DeviceConfigError(f"devices must be all or a positive integer, got {devices!r}")
    if n > available:
        kinds = sorted({d.platform for d in jax.devices()})
        raise DeviceConfigError(f"devices={n} but JAX sees {available} ({', '.join(kinds)}); use devices=all or at most "
                                f"{available}")
    if shard not in SHARD_MODES:
        raise DeviceConfigError(f"shard must be one of {', '.join(SHARD_MODES)}, got {shard!r}")
    if n == 1:
        return 1, "none"
    if shard == "auto":
        shard = "seeds" if num_seeds > 1 and num_seeds % n == 0 else "envs"
    if shard == "seeds" and num_seeds % n:
        raise DeviceConfigError(f"shard=seeds splits num_seeds={num_seeds} over {n} devices, which needs a multiple "
                                f"of {n}; use shard=envs, num_seeds={n * max(1, num_seeds // n)} or devices={_divisor(num_seeds, n)}")
    if shard == "envs" and num_envs % n:
        raise DeviceConfigError(f"shard=envs splits num_envs={num_envs} over {n} devices, which needs a multiple "
                                f"of {n}; use num_envs={n * max(1, num_envs // n)} or devices={_divisor(num_envs, n)}")
    return n, shard


def _divisor(size: int, n: int) -> int:
    return max(d for d in range(1, n + 1) if size % d == 0)


@dataclass(frozen=True)
class Placement:
    """Where a run's arrays live.

    Attributes:
        mesh: a one-axis ``Mesh`` (axis ``"devices"``) over the run's devices.
        mode: ``"none"`` (one device), ``"seeds"`` or ``"envs"``.
    """

    mesh: Mesh
    mode: str

    @property
    def size(self) -> int:
        return self.mesh.devices.size

    def state_sharding(self, abstract_state):
        """Shardings for a ``TrainState`` pytree (of arrays or ``ShapeDtypeStruct``): the leading
        (seed) axis split in ``seeds`` mode, replicated otherwise."""
        split = NamedSharding(self.mesh, P(AXIS))
        whole = NamedSharding(self.mesh, P())

        def one(x):
            return split if self.mode == "seeds" and getattr(x, "ndim", 0) >= 1 else whole
        return jax.tree.map(one, abstract_state)

    def constrain_levels(self, levels):
        """Inside a jitted function: splits a batch of levels (leading axis: environments) across
        the devices in ``envs`` mode; leaves it alone otherwise (and for batches that do not split
        evenly, e.g. one level)."""
        if self.mode != "envs":
            return levels
        n = self.size

        def one(x):
            if getattr(x, "ndim", 0) >= 1 and x.shape[0] % n == 0:
                return jax.lax.with_sharding_constraint(x, NamedSharding(self.mesh, P(AXIS)))
            return x
        return jax.tree.map(one, levels)


def make_placement(devices: Any = 1, shard: str = "auto", num_seeds: int = 1, num_envs: int = 1) -> Placement:
    """A ``Placement`` for a run's settings (see ``resolve``)."""
    n, mode = resolve(devices, shard, num_seeds, num_envs)
    mesh = Mesh(np.asarray(jax.devices()[:n]), (AXIS,))
    return Placement(mesh=mesh, mode=mode)


def to_host(tree):
    """A pytree of (possibly sharded, possibly multi-process) arrays as NumPy on this host."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        return multihost_utils.process_allgather(tree, tiled=True)
    return jax.device_get(tree)


def is_writer() -> bool:
    """Whether this process writes the run directory (process 0 of a multi-host run)."""
    return jax.process_index() == 0
