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

Multi-host: ``distributed=true`` calls ``jax.distributed.initialize()`` before anything touches a
device (it finds SLURM's or Open MPI's environment by itself; elsewhere set
``JAX_COORDINATOR_ADDRESS``, ``JAX_NUM_PROCESSES`` and ``JAX_PROCESS_ID``), so the mesh spans every
process's devices. Every process runs the same host loop on a shared run directory: they fetch
whole arrays with ``to_host`` (a collective), process 0 alone writes files (``on_writer``: its
outcome, or its error, reaches every process, so a failure stops all of them instead of leaving
the others waiting), checkpoints are written by orbax from every process's shards, and a signal
to any process stops all of them at the same update (``any_process``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

SHARD_MODES = ("auto", "seeds", "envs")
AXIS = "devices"


class DeviceConfigError(ValueError):
    """``devices``/``shard`` do not fit the run; the message names the values and the choices."""


def start_distributed(enabled: bool) -> None:
    """``jax.distributed.initialize()`` once, before any device is used (multi-host runs).

    The process count and index come from the cluster (SLURM, Open MPI) or from
    ``JAX_NUM_PROCESSES``/``JAX_PROCESS_ID`` (with ``JAX_COORDINATOR_ADDRESS``, ``host:port`` of
    process 0). CPU processes exchange data over gloo.

    Raises:
        DeviceConfigError: the processes could not be started, naming what to set.
    """
    if not enabled or getattr(start_distributed, "done", False):
        return
    kwargs = {}
    for var, arg in (("JAX_NUM_PROCESSES", "num_processes"), ("JAX_PROCESS_ID", "process_id")):
        if os.environ.get(var):
            try:
                kwargs[arg] = int(os.environ[var])
            except ValueError:
                raise DeviceConfigError(f"{var} must be an integer, got {os.environ[var]!r}") from None
    try:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        jax.distributed.initialize(**kwargs)
    except (RuntimeError, ValueError) as e:
        first = (str(e).splitlines() or [""])[0][:200]
        raise DeviceConfigError(f"distributed=true could not start the processes ({first}); run under SLURM or "
                                "Open MPI, or set JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES and JAX_PROCESS_ID "
                                "for every process") from None
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
    """A pytree of (possibly sharded, possibly multi-process) arrays as NumPy on this host.

    With several processes this is a collective: every process must call it, in the same order.
    """
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        return multihost_utils.process_allgather(tree, tiled=True)
    return jax.device_get(tree)


def is_writer() -> bool:
    """Whether this process writes the run directory (process 0 of a multi-host run)."""
    return jax.process_index() == 0


def broadcast_text(text: str) -> str:
    """Process 0's ``text`` on every process (itself with one process). A collective."""
    if jax.process_count() == 1:
        return text
    from jax.experimental import multihost_utils

    data = np.frombuffer(text.encode(), dtype=np.uint8) if is_writer() else np.zeros(0, np.uint8)
    n = int(multihost_utils.broadcast_one_to_all(np.int32(data.size)))
    buf = np.zeros(n, np.uint8)
    if is_writer():
        buf[:] = data
    return bytes(np.asarray(multihost_utils.broadcast_one_to_all(buf)).astype(np.uint8)).decode()


def any_process(flag: bool) -> bool:
    """Whether ``flag`` is true on any process (itself with one process). A collective."""
    if jax.process_count() == 1:
        return bool(flag)
    from jax.experimental import multihost_utils

    return bool(np.any(multihost_utils.process_allgather(np.int32(bool(flag)))))


def on_writer(fn: Callable[[], str | None], error: type[Exception] = RuntimeError) -> str:
    """Runs ``fn`` (file work) on process 0 only and gives every process its outcome.

    Returns:
        ``fn``'s text result (``""`` for ``None``), on every process.

    Raises:
        The exception ``fn`` raised on process 0; on the other processes ``error`` with its
        message, so that all of them stop rather than wait for process 0 in a collective.
    """
    if jax.process_count() == 1:
        return fn() or ""
    failure, result = None, ""
    if is_writer():
        try:
            result = fn() or ""
        except Exception as e:  # noqa: BLE001 - re-raised below, after the others are told
            failure = e
    message = broadcast_text(("E" + str(failure)) if failure is not None else ("K" + result))
    if failure is not None:
        raise failure
    if message[0] == "E":
        raise error(f"process 0: {message[1:]}")
    return message[1:]

