"""Atomic orbax checkpoints of a training run: save, find the latest complete one, restore.

A run directory's checkpoints live in ``<run_dir>/checkpoints/``::

    checkpoints/
      update_00000050/        a complete checkpoint (the name appears only once it is complete)
        state/                the TrainState pytree, written by orbax (params, optimiser state,
                              curriculum state with its buffers, PRNG keys, update counter)
        meta.json             host counters (update, env steps, curriculum env steps), the
                              resolved config, the wandb run id and the state's leaf shapes
      .tmp-update_00000075-<pid>-*/  a save in progress (ignored; removed by a later save once
                              its process has ended)
      damaged-update_00000100/  a checkpoint found damaged on resume, moved aside (never deleted)

A save writes everything into a temporary directory and then renames it to
``update_XXXXXXXX``: the rename is atomic, so a process killed during a save, or a save that
fails (disk full, permissions), leaves the earlier checkpoints intact and loadable.

Integrity: ``meta.json`` records a checksum (BLAKE2b-128) of every array of the state, computed
from the arrays being saved; every restore (``train``'s resume, ``ued.load``, ``ued.evaluate``)
recomputes them on the restored arrays, and a difference (bytes damaged on disk) is a
``CheckpointDamaged`` error naming the checkpoint and the first damaged leaves. ``meta.json``
covers itself too (``meta_checksum``, from format 3): an edited update number or configuration is
named as such, and so is a ``meta.json`` whose update is not its directory's.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np

CHECKPOINT_DIR = "checkpoints"
_NAME = re.compile(r"^update_(\d{8})$")
FORMAT_VERSION = 3  # 2: meta.json has "checksums"; 3: and "meta_checksum", of meta.json itself
DAMAGED_PREFIX = "damaged-"


class CheckpointError(RuntimeError):
    """A checkpoint cannot be saved or loaded; the message names the directory and the cause."""


class CheckpointDamaged(CheckpointError):
    """A checkpoint's files are damaged (unreadable, or arrays that differ from their checksums)."""


class CheckpointVanished(CheckpointError):
    """A checkpoint was removed while it was being read (a training run's rotation), not damaged.

    Attributes:
        path: the checkpoint's directory.
    """

    def __init__(self, message: str, path: str):
        super().__init__(message)
        self.path = path


def _checkpointer():
    import orbax.checkpoint as ocp

    return ocp.Checkpointer(ocp.StandardCheckpointHandler())


@contextlib.contextmanager
def _orbax_path(path: str):
    """``path`` as orbax can use it: absolute (orbax refuses relative paths), and through a symlink
    where it has characters tensorstore misreads (``[``/``]``, which Hydra's sweep directory names
    contain)."""
    path = os.path.abspath(path)
    if not any(c in path for c in "[]*?{}"):
        yield path
        return
    link_dir = tempfile.mkdtemp(prefix="ued-ckpt-")
    link = os.path.join(link_dir, "p")
    try:
        os.symlink(os.path.abspath(path), link)
        yield link
    finally:
        shutil.rmtree(link_dir, ignore_errors=True)


def _path_str(path) -> str:
    return jax.tree_util.keystr(path, simple=True, separator="/")


def tree_manifest(tree) -> dict[str, list]:
    """``{leaf path: [shape, dtype]}`` of a pytree of arrays (or ``ShapeDtypeStruct``)."""
    out = {}
    for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
        out[_path_str(path)] = [list(leaf.shape), str(leaf.dtype)]
    return out


def tree_checksums(tree) -> dict[str, str]:
    """``{leaf path: BLAKE2b-128 hex digest of the leaf's bytes}`` of a pytree of arrays (PRNG
    keys by their key data). With several processes this is a collective (every process must
    call it): sharded leaves are gathered whole first."""
    from ued.run.devices import to_host

    leaves = jax.tree_util.tree_leaves_with_path(tree)
    data = [jax.random.key_data(leaf) if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key) else leaf
            for _, leaf in leaves]
    out = {}
    for (path, _), host in zip(leaves, to_host(data)):
        digest = hashlib.blake2b(np.ascontiguousarray(np.asarray(host)).tobytes(), digest_size=16)
        out[_path_str(path)] = digest.hexdigest()
    return out


def manifest_differences(saved: dict, current: dict, limit: int = 8) -> list[str]:
    """Human-readable differences between two manifests (at most ``limit`` lines)."""
    lines = []
    for path in sorted(set(saved) | set(current), key=lambda p: (not p.startswith("params"), p)):
        a, b = saved.get(path), current.get(path)
        if a == b:
            continue
        if a is None:
            lines.append(f"{path}: not in the checkpoint, now {b[0]} {b[1]}")
        elif b is None:
            lines.append(f"{path}: {a[0]} {a[1]} in the checkpoint, absent now")
        else:
            lines.append(f"{path}: {a[0]} {a[1]} in the checkpoint, now {b[0]} {b[1]}")
    if len(lines) > limit:
        lines = lines[:limit] + [f"... and {len(lines) - limit} more"]
    return lines


@dataclass(frozen=True)
class CheckpointInfo:
    """A complete checkpoint on disk.

    Attributes:
        path: its directory.
        update: updates done when it was saved.
        meta: the contents of its ``meta.json``.
    """

    path: str
    update: int
    meta: dict


def checkpoint_dirs(run_dir: str) -> list[tuple[int, str]]:
    """``(update, path)`` of the checkpoint directories of a run with a complete name, oldest first."""
    root = os.path.join(run_dir, CHECKPOINT_DIR)
    if not os.path.isdir(root):
        return []
    found = []
    for name in os.listdir(root):
        m = _NAME.match(name)
        if m:
            found.append((int(m.group(1)), os.path.join(root, name)))
    return sorted(found)


def read_checkpoint(path: str) -> CheckpointInfo:
    """Reads and checks a checkpoint directory's metadata.

    Raises:
        CheckpointError: when the directory is missing, partial or corrupted.
    """
    if not os.path.isdir(path):
        raise CheckpointError(f"checkpoint {path} does not exist")
    meta_path = os.path.join(path, "meta.json")
    try:
        with open(meta_path) as f:
            meta = json.load(f)
    except FileNotFoundError:
        raise CheckpointDamaged(f"checkpoint {path} is damaged: meta.json is missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointDamaged(f"checkpoint {path} is damaged: meta.json is not valid JSON ({e})") from None
    if not isinstance(meta, dict):
        raise CheckpointDamaged(f"checkpoint {path} is damaged: meta.json is not a JSON object")
    for key in ("update", "manifest", "config"):
        if key not in meta:
            raise CheckpointDamaged(f"checkpoint {path} is damaged: meta.json has no {key!r}")
    if "checksums" not in meta:
        raise CheckpointError(f"checkpoint {path} has format {meta.get('format', 1)}, without array checksums; "
                              f"this ued (format {FORMAT_VERSION}) restores only checkpoints it can verify")
    _check_meta(path, meta)
    state = os.path.join(path, "state")
    if not os.path.isdir(state) or not os.listdir(state):
        raise CheckpointDamaged(f"checkpoint {path} is damaged: its state/ directory is missing or empty")
    return CheckpointInfo(path=path, update=int(meta["update"]), meta=meta)


def meta_checksum(meta: dict) -> str:
    """BLAKE2b-128 of ``meta`` (its ``meta_checksum`` key left out) as canonical JSON."""
    body = {k: v for k, v in meta.items() if k != "meta_checksum"}
    text = json.dumps(json.loads(json.dumps(body, default=_json_default)), sort_keys=True)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def _check_meta(path: str, meta: dict) -> None:
    """Refuses a ``meta.json`` that differs from its own checksum (format 3 on) or whose update
    is not the one its directory is named after."""
    if meta.get("format", 1) >= 3 and meta.get("meta_checksum") != meta_checksum(meta):
        raise CheckpointDamaged(f"checkpoint {path} is damaged: its meta.json differs from the checksum recorded "
                                "when it was saved (edited by hand, or damaged on disk)")
    m = _NAME.match(os.path.basename(os.path.normpath(path)))
    if m and not (isinstance(meta["update"], int) and meta["update"] == int(m.group(1))):
        raise CheckpointDamaged(f"checkpoint {path} is damaged: its meta.json says update {meta['update']!r}, "
                                f"not {int(m.group(1))} as its directory's name")


def latest_checkpoint(run_dir: str) -> CheckpointInfo | None:
    """The run's latest checkpoint, or None when it has none.

    Raises:
        CheckpointDamaged: when the latest checkpoint's metadata is damaged (the message names
            the previous one, to pass as ``checkpoint=``).
    """
    found = checkpoint_dirs(run_dir)
    if not found:
        return None
    try:
        return read_checkpoint(found[-1][1])
    except CheckpointError as e:
        if not os.path.isdir(found[-1][1]):  # rotated away between the listing and the read
            raise CheckpointVanished(f"checkpoint {found[-1][1]} was removed while it was being read",
                                     found[-1][1]) from None
        previous = (f"; the previous checkpoint is update {found[-2][0]} ({found[-2][1]})" if len(found) > 1
                    else "; there is no earlier checkpoint")
        raise CheckpointDamaged(f"{e}{previous}") from None


def move_aside(info_or_path) -> str:
    """Renames a damaged checkpoint to ``damaged-update_XXXXXXXX`` beside it (so resume and
    rotation skip it; its files are kept). Returns the new path."""
    path = info_or_path.path if isinstance(info_or_path, CheckpointInfo) else info_or_path
    parent, name = os.path.split(os.path.normpath(path))
    dest = os.path.join(parent, DAMAGED_PREFIX + name)
    n = 1
    while os.path.exists(dest):
        n += 1
        dest = os.path.join(parent, f"{DAMAGED_PREFIX}{name}.{n}")
    os.replace(path, dest)
    return dest


def restore_state(info: CheckpointInfo, abstract_state, what: str = "this configuration"):
    """Restores a checkpoint's TrainState onto the structure of ``abstract_state``.

    Args:
        info: the checkpoint.
        abstract_state: a pytree of ``jax.ShapeDtypeStruct`` (``jax.eval_shape`` of the init).
        what: how to name the current configuration in errors.

    Raises:
        CheckpointError: when the shapes differ (naming every differing leaf).
        CheckpointDamaged: when the files are unreadable or an array differs from its checksum.
    """
    current = tree_manifest(abstract_state)
    diffs = manifest_differences(info.meta["manifest"], current)
    if diffs:
        raise CheckpointError(f"checkpoint {info.path} does not fit {what}; the state differs in:\n  "
                              + "\n  ".join(diffs))
    # arrays go where the caller's structure puts them (the default device when it says nothing),
    # not where they were saved: a checkpoint of any device or process count restores anywhere
    device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    abstract_state = jax.tree.map(
        lambda x: x if getattr(x, "sharding", None) is not None else jax.ShapeDtypeStruct(x.shape, x.dtype,
                                                                                        sharding=device),
        abstract_state)
    try:
        with _orbax_path(os.path.join(info.path, "state")) as state_path:
            state = _checkpointer().restore(state_path, abstract_state)
    except Exception as e:  # orbax/tensorstore raise many types for unreadable files
        first = (str(e).splitlines() or [""])[0][:300]
        if not os.path.isdir(os.path.join(info.path, "state")):  # gone, not damaged: never blame the files
            raise CheckpointVanished(f"checkpoint {info.path} disappeared while it was being read (a training run "
                                  f"still writing to this directory removes its older checkpoints: see its "
                                  f"keep_checkpoints); read it again to take the newest one", info.path) from None
        raise CheckpointDamaged(f"checkpoint {info.path} is damaged: its state could not be read "
                                f"({type(e).__name__}: {first})") from None
    saved = info.meta["checksums"]
    bad = [p for p, digest in tree_checksums(state).items() if saved.get(p) != digest]
    if bad:
        more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
        raise CheckpointDamaged(f"checkpoint {info.path} is damaged: {len(bad)} array(s) differ from the checksums "
                                f"recorded when it was saved ({', '.join(bad[:3])}{more})")
    return state


def save_checkpoint(run_dir: str, update: int, state, meta: dict, keep: int) -> str:
    """Saves ``state`` (any pytree of arrays) atomically as the checkpoint of ``update``.

    Keeps the ``keep`` most recent checkpoints and removes older ones and leftovers of
    interrupted saves.

    Args:
        run_dir: the run directory.
        update: updates done.
        state: the pytree to save (fetched to the host by orbax).
        meta: JSON-serialisable host data saved beside it (``update`` and ``manifest`` are added).
        keep: how many checkpoints to keep (>= 1).

    Returns:
        The checkpoint's directory.

    Raises:
        CheckpointError: when it cannot be written (e.g. disk full, unwritable directory);
            earlier checkpoints are untouched.
    """
    from ued.run.devices import is_writer, on_writer

    root = os.path.join(run_dir, CHECKPOINT_DIR)
    final = os.path.join(root, f"update_{update:08d}")

    def prepare() -> str:
        os.makedirs(root, exist_ok=True)
        for name in os.listdir(root):  # leftovers of a killed save or removal, never a live process's
            if name.startswith((".tmp-", ".old-")) and not _live_owner(name):
                shutil.rmtree(os.path.join(root, name), ignore_errors=True)
        return tempfile.mkdtemp(prefix=f".tmp-update_{update:08d}-{os.getpid()}-", dir=root)

    def finish() -> None:
        body = {**meta, "format": FORMAT_VERSION, "update": int(update), "manifest": tree_manifest(state),
                "checksums": checksums}
        with open(os.path.join(tmp, "meta.json"), "w") as f:
            json.dump({**body, "meta_checksum": meta_checksum(body)}, f, indent=1, default=_json_default)
            f.flush()
            os.fsync(f.fileno())
        replaced = None
        if os.path.exists(final):  # re-saving the same update (e.g. a final save): replace it atomically
            replaced = os.path.join(root, f".old-{os.getpid()}-" + os.path.basename(final))
            os.replace(final, replaced)
        os.replace(tmp, final)
        if replaced is not None:
            shutil.rmtree(replaced, ignore_errors=True)
        for _, path in checkpoint_dirs(run_dir)[:-keep]:
            old = os.path.join(root, f".old-{os.getpid()}-" + os.path.basename(path))  # renamed first: never half-deleted
            try:
                os.replace(path, old)
                shutil.rmtree(old, ignore_errors=True)
            except OSError:
                pass  # an old checkpoint that cannot be removed is harmless

    # with several processes: process 0 does the file work (on_writer), every process writes its
    # own shards of the state through orbax, and an error on any step reaches all of them
    tmp = None
    try:
        checksums = tree_checksums(state)
        tmp = on_writer(prepare, CheckpointError)
        with _orbax_path(tmp) as tmp_path:
            _checkpointer().save(os.path.join(tmp_path, "state"), state)
        on_writer(finish, CheckpointError)
    except Exception as e:
        if tmp is not None and is_writer() and os.path.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
        previous = checkpoint_dirs(run_dir)
        kept = f"; the previous checkpoint {previous[-1][1]} is intact" if previous else ""
        cause = f"{type(e).__name__}: {e}" if not isinstance(e, OSError) else (e.strerror or str(e))
        raise CheckpointError(f"could not save the checkpoint of update {update} in {root}: {cause}{kept}") from e
    return final


def _live_owner(name: str) -> bool:
    """Whether a ``.tmp-``/``.old-`` entry belongs to another process that is still running."""
    from ued.run.lock import pid_alive

    m = re.match(r"^\.(?:tmp-update_\d{8}|old)-(\d+)-", name)
    return bool(m) and int(m.group(1)) != os.getpid() and pid_alive(int(m.group(1)))


def _json_default(x: Any):
    if isinstance(x, (np.integer, np.floating)):
        return x.item()
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")
