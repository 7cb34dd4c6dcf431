"""Run logging on the host: JSONL files always, wandb when configured.

A run directory holds:

- ``config.yaml``: the resolved configuration;
- ``metrics.jsonl``: one row per update (and per seed when several are trained);
- ``eval.jsonl``: one row per held-out evaluation;
- ``media/``: images of proposed levels and GIFs of held-out episodes, written at eval time;
- ``wandb/``: wandb's files when ``logger=wandb`` (``mode=offline`` runs can be synced
  later with ``wandb sync <run_dir>/wandb/offline-run-*``).
"""

from __future__ import annotations

import json
import math
import os
from typing import Any, Iterable

WANDB_MODES = ("online", "offline", "disabled")


def _clean(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else (1e308 if value > 0 else -1e308)
    return value


class RunLogger:
    """Writes metrics rows to JSONL files and, optionally, to wandb.

    Args:
        run_dir: the run directory (created if needed).
        config: the resolved configuration as a plain dict (saved with the run).
        wandb_cfg: None for local logging only, else a dict with ``project``, ``entity``,
            ``mode`` (online/offline/disabled), ``tags``, ``name`` and optionally ``id`` (a
            resumed run continues the wandb run of that id).

    Raises:
        ValueError: for an unknown wandb mode.
    """

    def __init__(self, run_dir: str, config: dict, wandb_cfg: dict | None = None):
        self.run_dir = run_dir
        os.makedirs(os.path.join(run_dir, "media"), exist_ok=True)
        self._files = {}
        self._wandb = None
        if wandb_cfg is not None:
            mode = wandb_cfg.get("mode", "online")
            if mode not in WANDB_MODES:
                raise ValueError(f"logger.mode must be one of {', '.join(WANDB_MODES)}, got {mode!r}")
            import wandb

            self._wandb = wandb.init(
                project=wandb_cfg.get("project", "ued"), entity=wandb_cfg.get("entity"), mode=mode,
                dir=run_dir, config=config, name=wandb_cfg.get("name"), tags=list(wandb_cfg.get("tags") or []),
                reinit="finish_previous", id=wandb_cfg.get("id"), resume="allow" if wandb_cfg.get("id") else None,
            )

    @property
    def wandb_id(self) -> str | None:
        """The wandb run's id (saved in checkpoints so a resumed run continues it), or None."""
        return None if self._wandb is None else self._wandb.id

    def _write(self, name: str, rows: Iterable[dict]) -> None:
        f = self._files.get(name)
        if f is None:
            f = self._files[name] = open(os.path.join(self.run_dir, name), "a")
        for row in rows:
            f.write(json.dumps({k: _clean(v) for k, v in row.items()}) + "\n")
        f.flush()

    def log_updates(self, rows: list[dict]) -> None:
        """One row per update (keys: ``update``, ``env_steps``, metrics; ``seed`` for several)."""
        self._write("metrics.jsonl", rows)
        if self._wandb is not None:
            for row in rows:
                if row.get("seed", 0) == 0:
                    self._wandb.log({f"train/{k}": v for k, v in row.items() if k not in ("update", "seed")},
                                    step=int(row["update"]))

    def log_eval(self, row: dict, media: dict[str, str] | None = None) -> None:
        """One evaluation row, plus media files (name -> path) to upload to wandb."""
        self._write("eval.jsonl", [row])
        if self._wandb is not None:
            import wandb

            payload = {k: v for k, v in row.items() if k not in ("update", "seed")}
            for name, path in (media or {}).items():
                payload[f"media/{name}"] = wandb.Image(path)
            self._wandb.log(payload, step=int(row["update"]))

    def close(self) -> None:
        for f in self._files.values():
            f.close()
        self._files = {}
        if self._wandb is not None:
            self._wandb.finish()
            self._wandb = None


class LogFileError(ValueError):
    """A metrics file has a damaged row that is not its last (a kill only cuts the last one)."""


def _row(line: bytes) -> dict | None:
    """A JSONL line as its row, or None when it is not a JSON object."""
    try:
        row = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return row if isinstance(row, dict) else None


def _parse_lines(path: str) -> tuple[list[dict], bytes]:
    """The complete rows of a JSONL file and the bytes after its last newline (a cut row, or b"")."""
    with open(path, "rb") as f:
        raw = f.read()
    body, _, tail = raw.rpartition(b"\n")
    if not _:  # no newline at all: everything is the tail
        body, tail = b"", raw
    rows = []
    for i, line in enumerate(body.split(b"\n") if body else [], start=1):
        if not line.strip():
            continue
        row = _row(line)
        if row is None:
            raise LogFileError(f"line {i} of {path} is not a JSON row ({line[:60]!r}); the file was edited or "
                               "damaged: fix or remove that line (nothing was changed)")
        rows.append(row)
    return rows, tail


def repair_jsonl(path: str) -> str | None:
    """Makes a metrics file end with a complete row, as a resumed run needs before appending.

    A process killed while writing leaves a last line without its newline: when that line is a
    complete row it is kept (the newline is added), otherwise it is dropped. Other lines are not
    touched. Returns a note of what was done, or None when nothing was.

    Raises:
        LogFileError: a damaged line that is not the last one (the file is left as it was).
    """
    if not os.path.exists(path):
        return None
    rows, tail = _parse_lines(path)
    if not tail.strip():
        if tail:  # trailing whitespace after the last newline
            _rewrite(path, rows)
        return None
    row = _row(tail)
    if row is not None:
        _rewrite(path, rows + [row])
        return f"{os.path.basename(path)}: its last row had no newline (a write cut short); kept it"
    _rewrite(path, rows)
    return (f"{os.path.basename(path)}: dropped a partial last line of {len(tail)} bytes (a write cut short by a "
            f"killed process): {tail[:40]!r}")


def _rewrite(path: str, rows: list[dict]) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def truncate_jsonl(path: str, max_update: int) -> int:
    """Drops the rows of a metrics file whose ``update`` is above ``max_update`` (atomically).

    A resumed run calls this (after ``repair_jsonl``) so the rows logged after its checkpoint,
    which it is about to produce again, are not duplicated. Returns the number of rows dropped.
    """
    if not os.path.exists(path):
        return 0
    rows, tail = _parse_lines(path)
    kept = [r for r in rows if r.get("update", 0) <= max_update]
    if len(kept) == len(rows) and not tail:
        return 0
    _rewrite(path, kept)
    return len(rows) - len(kept)


def read_jsonl(path: str) -> list[dict[str, Any]]:
    """Reads a metrics file back (one dict per row; a last row cut short by a kill is dropped).

    Raises:
        LogFileError: a damaged row before the last one, naming the line.
    """
    rows, tail = _parse_lines(path)
    row = _row(tail) if tail.strip() else None
    return rows + ([row] if row is not None else [])
