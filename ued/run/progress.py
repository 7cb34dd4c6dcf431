"""A progress display for training: a rich bar on a terminal, a line per evaluation elsewhere."""

from __future__ import annotations

import sys
import time


class TrainProgress:
    """Shows updates done, env steps, steps/s, ETA and the latest solve rates.

    Args:
        total_updates: the run's number of updates.
        enabled: ``True``/``False``, or ``"auto"``: a live bar only when stdout is a terminal.
        start_update: updates already done (a resumed run).
        quiet: print nothing at all (the processes other than 0 of a multi-host run).
    """

    def __init__(self, total_updates: int, enabled="auto", start_update: int = 0, quiet: bool = False):
        if enabled == "auto":
            enabled = sys.stdout.isatty()
        self.enabled = bool(enabled) and not quiet
        self.quiet = quiet
        self.total = total_updates
        self.start_update = start_update
        self.start_time = time.perf_counter()
        self.steps_at_start = None
        self._bar = None
        self.fields = {"env_steps": 0, "sps": 0.0, "solve": float("nan"), "named": float("nan"), "random": float("nan"),
                       "status": ""}
        self.eval_seconds = 0.0  # wall time spent in held-out evaluations (their compilation included)
        self._eval_rate = None  # env steps per second of the last evaluation after the first (no compilation)
        self._evals = 0
        self._eval_steps = 0
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(
                TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(), TextColumn("updates"),
                TextColumn("{task.fields[env_steps]:,} steps"), TextColumn("{task.fields[sps]:,.0f} steps/s"),
                TimeRemainingColumn(), TextColumn("solve {task.fields[solve]:.2f}"),
                TextColumn("held-out named {task.fields[named]:.2f} random {task.fields[random]:.2f}"),
                TextColumn("{task.fields[status]}"),
            )
            self._bar.start()
            self._task = self._bar.add_task("train", total=total_updates, completed=start_update, **self.fields)

    def update(self, updates_done: int, env_steps: int, solve_rate: float) -> None:
        """Records progress after a chunk of updates."""
        now = time.perf_counter()
        if self.steps_at_start is None:  # the first chunk includes compilation: measure from its end
            self.steps_at_start, self.time_at_first = env_steps, now
            sps = 0.0
        else:
            sps = (env_steps - self.steps_at_start) / max(now - self.time_at_first, 1e-9)
        self.fields.update(env_steps=env_steps, sps=sps, solve=solve_rate)
        if self._bar is not None:
            self._bar.update(self._task, completed=updates_done, **self.fields)

    def eval_started(self, update: int, env_steps: int) -> None:
        """Says that a held-out evaluation of up to ``env_steps`` env steps starts, with an estimate
        of its time from the last evaluation's rate (the first includes its compilation)."""
        self._eval_steps = env_steps
        guess = f", about {env_steps / self._eval_rate:,.0f} s" if self._eval_rate else \
            (" (the first: compiling it too)" if self._evals == 0 else "")
        text = f"evaluating at update {update}: up to {env_steps:,} env steps{guess}"
        self._show(text)

    def eval_finished(self, update: int, seconds: float) -> None:
        """Records that the evaluation started last took ``seconds``."""
        self.eval_seconds += seconds
        if self._evals > 0:
            self._eval_rate = self._eval_steps / max(seconds, 1e-9)
        self._evals += 1
        rate = f" (up to {self._eval_steps / max(seconds, 1e-9):,.0f} env steps/s)" if self._eval_steps else ""
        self._show(f"evaluated at update {update} in {seconds:,.1f} s{rate}; {self.eval_seconds:,.0f} s in evaluation"
                   f" so far", bar_status="")

    def _show(self, text: str, bar_status: str | None = None) -> None:
        if self._bar is not None:
            self.fields["status"] = text if bar_status is None else bar_status
            self._bar.update(self._task, **self.fields)
        elif not self.quiet:
            print(text, flush=True)

    def heldout(self, update: int, row: dict) -> None:
        """Records a held-out evaluation row (printed as a line when the bar is off)."""
        nan = float("nan")
        named = (row.get("eval/named/greedy/solve_rate_mean", nan), row.get("eval/named/sampled/solve_rate_mean", nan))
        rand = (row.get("eval/random/greedy/solve_rate_mean", nan), row.get("eval/random/sampled/solve_rate_mean", nan))
        self.fields.update(named=named[1], random=rand[1])
        if self._bar is not None:
            self._bar.update(self._task, **self.fields)
        elif not self.quiet:
            f = self.fields
            print(f"update {update}/{self.total} | env steps {f['env_steps']:,} | {f['sps']:,.0f} steps/s | "
                  f"train solve {f['solve']:.3f} | held-out solve (greedy/sampled) named {named[0]:.3f}/{named[1]:.3f}"
                  f" random {rand[0]:.3f}/{rand[1]:.3f}", flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
