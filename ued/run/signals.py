"""SIGINT/SIGTERM during training: save a checkpoint after the current chunk, then stop."""

from __future__ import annotations

import signal
import sys
import threading


class SignalStop:
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
