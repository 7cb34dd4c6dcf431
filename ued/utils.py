"""Small host-side helpers shared across ued."""

from __future__ import annotations

import math
import os

import threading

import jax
import jax.numpy as jnp
from jax import monitoring

_COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"
_lock = threading.Lock()
_active: list["CompileCounter"] = []
_registered = False


def _listener(event: str, duration: float, **kwargs) -> None:
    if event == _COMPILE_EVENT:
        with _lock:
            for counter in _active:
                counter.count += 1


class CompileCounter:
    """Counts XLA compilations (backend compiles) that happen inside a ``with`` block.

    Example::

        with CompileCounter() as cc:
            f(x); f(x)
        assert cc.count == 1
    """

    def __init__(self) -> None:
        self.count = 0

    def __enter__(self) -> "CompileCounter":
        global _registered
        with _lock:
            if not _registered:
                monitoring.register_event_duration_secs_listener(_listener)
                _registered = True
            _active.append(self)
        return self

    def __exit__(self, *exc) -> None:
        with _lock:
            _active.remove(self)


def repeated_edits(edit, num_edits: int):
    """A ``ued.types.Mutator`` that applies ``edit(level, key) -> (level, None)`` ``num_edits`` times
    in a ``lax.scan`` (ACCEL's mutators: each edit one cell flip, goal move, ...); ``num_edits`` a
    positive Python int, checked by the factory that builds ``edit``."""
    from ued.types import Mutator

    def mutate(key, level):
        return jax.lax.scan(edit, level, jax.random.split(key, num_edits))[0]

    return Mutator(mutate=mutate)


def tile(tree, n: int):
    """Broadcasts every leaf of a single pytree (a level, a score memory) to a leading axis of ``n``."""
    return jax.tree.map(lambda x: jnp.broadcast_to(jnp.asarray(x), (n,) + jnp.shape(x)), tree)


def parse_cli_value(text: str):
    """A ``key=value`` command-line value as YAML (``10`` -> 10, ``[1,2]`` -> list), else the text."""
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def parse_options(argv, options: dict[str, str], error: type[Exception], usage: str, text=(), repeated=()) -> dict:
    """The ``key=value`` arguments of a command (``ued.evaluate``, ``ued.analyze``), checked.

    Args:
        argv: the arguments.
        options: ``{key: help}``, the valid keys in order (printed by ``-h``).
        error: the exception raised for bad input (one line naming the problem and the valid keys).
        usage: the first line of ``-h``'s text.
        text: keys whose values are kept as text (paths, names); the others are parsed as YAML.
        repeated: keys that may repeat; their values are collected in a list (present, maybe empty).

    Returns:
        ``{key: value}``; a ``checkpoint`` given as digits is an int.
    """
    args: dict = {k: [] for k in repeated}
    for a in argv:
        if a in ("-h", "--help"):
            raise error(usage + "\n" + "\n".join(f"  {k}: {v}" for k, v in options.items()))
        if "=" not in a:
            raise error(f"arguments are key=value, got {a!r}; valid keys: {', '.join(options)}")
        k, v = a.split("=", 1)
        if k not in options:
            raise error(f"unknown option {k!r}; valid keys: {', '.join(options)}")
        value = v if k in text or k in repeated else parse_cli_value(v)
        if k == "checkpoint" and isinstance(value, str) and value.isdigit():
            value = int(value)
        if k in repeated:
            args[k].append(value)
        else:
            args[k] = value
    return args


def directory_problem(path: str) -> str | None:
    """Why ``path`` cannot be used as an output directory (it is a file, or it or the nearest
    existing ancestor it would be created under is not writable), or None when it can.
    Creates nothing."""
    if os.path.exists(path) and not os.path.isdir(path):
        return "is a file, not a directory"
    probe = os.path.abspath(path)
    while not os.path.exists(probe):
        probe = os.path.dirname(probe)
    if not os.path.isdir(probe):
        return f"cannot be created: {probe} is a file"
    if not os.access(probe, os.W_OK | os.X_OK):
        return "is not writable" if probe == os.path.abspath(path) else f"cannot be created ({probe} is not writable)"
    return None


def check_output_dir(path, error: type = ValueError, key: str = "out") -> None:
    """Refuses an output directory that is not a path, is a file or cannot be created (creating
    nothing), with one message for every command: ``"<key>=<path> <problem>; choose another <key>="``.

    Args:
        path: the directory.
        error: the exception type to raise (a command's own error).
        key: the option that named it.
    """
    if not isinstance(path, str) or not path.strip():
        raise error(f"{key}= must be a directory path, got {path!r}")
    problem = directory_problem(path)
    if problem is not None:
        raise error(f"{key}={path} {problem}; choose another {key}=")


def glob_or_path(spec: str) -> list[str]:
    """The sorted matches of ``spec`` when it has a wildcard (``*``, ``?``, ``[``), else ``[spec]``."""
    import glob

    return sorted(glob.glob(spec)) if any(c in spec for c in "*?[") else [spec]


def assert_scored_batch(levels, scores, valid=None, extras=None, indices=None) -> None:
    """Trace-time shape checks (chex) for a batch handed to a level buffer: ``B`` float scores,
    ``B`` bool ``valid`` flags and extras/levels (or ``indices``) with leading axis ``B``."""
    import chex

    n = jnp.shape(scores)[0] if jnp.ndim(scores) == 1 else None
    chex.assert_rank(scores, 1)
    if levels is not None:
        chex.assert_tree_shape_prefix(levels, (n,))
    if indices is not None:
        chex.assert_shape(indices, (n,))
        chex.assert_type(indices, int)
    if valid is not None:
        chex.assert_shape(valid, (n,))
    if extras is not None and jax.tree.leaves(extras):
        chex.assert_tree_shape_prefix(extras, (n,))


def check_positive_int(value, label: str, error: type = ValueError) -> None:
    """Refuses ``value`` unless it is a positive ``int`` (a bool is not), with the one message
    every component uses: ``"<label> must be a positive integer, got <value!r>"``.

    Args:
        value: the setting.
        label: how the message names it (``"dr: num_levels"``, ``"max_steps"``).
        error: the exception type to raise (``ValueError``, or a command's own error).
    """
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise error(f"{label} must be a positive integer, got {value!r}")


def check_number(value, label: str, low: float | None = None, high: float | None = None, *, low_open: bool = False,
                 error: type = ValueError) -> None:
    """Refuses ``value`` unless it is a finite real number (not a bool, not a string) in the range
    ``[low, high]`` (``(low, high]`` with ``low_open``), with one message:
    ``"<label> must be a number in <range>, got <value!r>"``.

    Args:
        value: the setting.
        label: how the message names it (``"pfsp: pfsp_power"``).
        low: the least value allowed (None: no bound).
        high: the greatest value allowed (None: no bound).
        low_open: ``low`` itself is refused.
        error: the exception type to raise.
    """
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (low is None or (value > low if low_open else value >= low)) and (high is None or value <= high)
    if not ok:
        lo = "(-inf, " if low is None else ("(" if low_open else "[") + f"{low:g}, "
        hi = "inf)" if high is None else f"{high:g}]"
        raise error(f"{label} must be a number in {lo}{hi}, got {value!r}")
