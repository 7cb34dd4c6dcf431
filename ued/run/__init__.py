"""Host-side run management: logging (JSONL, wandb) and the progress display."""

from ued.run.logger import RunLogger, read_jsonl
from ued.run.progress import TrainProgress

__all__ = ["RunLogger", "TrainProgress", "read_jsonl"]
