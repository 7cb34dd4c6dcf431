"""Level buffers: ``plr_buffer`` returns a ``ued.types.LevelBuffer``, ``sfl_buffer`` a ``TopKBuffer``.

- ``plr_buffer``: prioritised level replay (rank / top-k / proportional, staleness, duplicates).
- ``sfl_buffer``: the sampling-for-learnability top-K buffer.
"""

from ued.buffers.plr import PLRBufferState, find_levels, plr_buffer
from ued.buffers.sfl import SFLBufferState, sfl_batch_split, sfl_buffer

__all__ = ["PLRBufferState", "SFLBufferState", "find_levels", "plr_buffer", "sfl_batch_split", "sfl_buffer"]
