"""One writer per run directory: an advisory lock held for the whole of a training run.

``<run_dir>/.lock`` is locked with ``fcntl.flock`` by the process that trains into the
directory, and holds that process's ``host``, ``pid`` and start time (for the message a
second run gets). The kernel drops a ``flock`` when its process dies however it dies, so a
lock left by a killed run is recognised as stale and taken over (with a note naming the dead
owner). The file is never deleted, so two processes can never hold locks on two different
files of the same name. Where ``flock`` is unsupported (some network file systems), the
recorded pid decides: a live process of this host keeps the lock; any other record is
taken over.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import sys
import time

from ued.run.config import ConfigError

LOCK_FILE = ".lock"


class RunDirLocked(ConfigError):
    """Another live process holds the run directory."""


def pid_alive(pid: int) -> bool:
    """Whether a process of this host with this pid is running (another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a live process of another user
        return True
    return True


def _read(fd: int) -> dict:
    os.lseek(fd, 0, os.SEEK_SET)
    raw = b""
    while chunk := os.read(fd, 4096):
        raw += chunk
    try:
        owner = json.loads(raw.decode() or "{}")
    except (UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return owner if isinstance(owner, dict) else {}


def _describe(owner: dict) -> str:
    if not owner:
        return "another process"
    started = owner.get("started")
    when = time.strftime(" since %Y-%m-%d %H:%M:%S", time.localtime(started)) if isinstance(started, (int, float)) else ""
    return f"pid {owner.get('pid', '?')} on {owner.get('host', '?')}{when}"


class RunLock:
    """Holds ``<run_dir>/.lock`` while active (a context manager).

    Args:
        run_dir: an existing directory.

    Raises:
        RunDirLocked: on entry, when a live process holds the directory (the message names it).
    """

    def __init__(self, run_dir: str):
        self.path = os.path.join(run_dir, LOCK_FILE)
        self._fd = None
        self.took_over: dict | None = None  # the stale owner's record, when one was taken over

    def acquire(self) -> "RunLock":
        import fcntl

        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise RunDirLocked(self._held_message(_read(fd))) from None
                # flock unsupported here: the recorded pid decides
                owner = _read(fd)
                if owner.get("host") == socket.gethostname() and isinstance(owner.get("pid"), int) \
                        and owner["pid"] != os.getpid() and pid_alive(owner["pid"]):
                    raise RunDirLocked(self._held_message(owner)) from None
            previous = _read(fd)
            if previous.get("pid") not in (None, os.getpid()) or previous.get("host") not in (None, socket.gethostname()):
                self.took_over = previous
            record = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": time.time(),
                                 "argv": sys.argv[:8]}).encode()
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, record)
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return self

    def _held_message(self, owner: dict) -> str:
        run_dir = os.path.dirname(self.path)
        return (f"run_dir {run_dir} is in use by {_describe(owner)} (lock {self.path}); wait for that run to "
                "finish or stop it, or choose another run_dir")

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, 0)  # an empty record: nobody holds it
        except OSError:
            pass
        os.close(self._fd)  # closing drops the flock
        self._fd = None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> bool:
        self.release()
        return False

    @property
    def stale_note(self) -> str | None:
        """A note naming the dead owner whose lock was taken over, or None."""
        if not self.took_over:
            return None
        return f"took over the lock of {self.path} left by {_describe(self.took_over)}, which is no longer running"
