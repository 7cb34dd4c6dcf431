"""SIGINT/SIGTERM during training: save a checkpoint after the current chunk, then stop; a
second signal ends the process at once."""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Callable

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class SignalStop:
    """While active, SIGINT/SIGTERM ask the loop to save a checkpoint and stop after the current
    chunk of updates; a second signal ends the process at once with exit code 128 + its number.

    A Python signal handler runs only when the main thread returns to the interpreter, which a
    compiled chunk of updates does not do for minutes. So the signals are watched from a thread:
    Python's C-level handler writes each signal's number to a wakeup pipe the moment it arrives
    (``signal.set_wakeup_fd``), and the watcher thread reads it (a compiled computation runs
    without the GIL). The first sets ``signal``; the second prints what is on disk and calls
    ``os._exit``. Saves are atomic, so the newest complete checkpoint is intact, and a resume
    repairs a metrics row cut short. Outside the main thread this does nothing.

    Args:
        on_disk: returns a sentence naming what is on disk now (the newest checkpoint, or none).
    """

    def __init__(self, on_disk: Callable[[], str] | None = None):
        self.signal = None
        self._on_disk = on_disk or (lambda: "the newest complete checkpoint is intact")
        self._old, self._old_fd, self._pipe, self._thread = {}, None, None, None

    @property
    def signal_name(self):
        return None if self.signal is None else signal.Signals(self.signal).name

    def _watch(self, fd: int) -> None:
        while True:
            try:
                data = os.read(fd, 64)
            except OSError:
                return
            if not data:
                return  # the pipe was closed: the context ended
            for signum in data:
                if signum not in SIGNALS:
                    continue
                name = signal.Signals(signum).name
                if self.signal is None:
                    self.signal = signum
                    print(f"\n{name}: saving a checkpoint after the current chunk of updates, then stopping. A second "
                          f"Ctrl-C/SIGTERM stops at once without saving: {self._on_disk()}", file=sys.stderr, flush=True)
                else:
                    print(f"\n{name} again: stopped at once without saving; {self._on_disk()}", file=sys.stderr,
                          flush=True)
                    os._exit(128 + signum)

    @staticmethod
    def _handle(signum, frame):
        """The Python-level handler: nothing to do (the watcher thread acts), but one must be
        installed for the C-level handler to write to the wakeup pipe."""

    def __enter__(self):
        if threading.current_thread() is not threading.main_thread():
            return self
        read, write = os.pipe()
        os.set_blocking(write, False)
        self._pipe = (read, write)
        self._old_fd = signal.set_wakeup_fd(write, warn_on_full_buffer=False)
        for sig in SIGNALS:
            self._old[sig] = signal.signal(sig, self._handle)
        self._thread = threading.Thread(target=self._watch, args=(read,), name="ued-signals", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        if self._pipe is None:
            return False
        for sig, old in self._old.items():
            signal.signal(sig, old)
        signal.set_wakeup_fd(self._old_fd if self._old_fd is not None else -1)
        read, write = self._pipe
        os.close(write)  # the watcher reads EOF and ends
        self._thread.join(timeout=5)
        os.close(read)
        self._old, self._pipe, self._thread = {}, None, None
        return False
