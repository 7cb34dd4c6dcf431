"""Level-parameterised environments and their wrappers. See ``ued/envs/README.md``."""

from ued.envs.wrappers import AutoResetParams, auto_replay, auto_reset, make_level_pool, tree_select

__all__ = ["AutoResetParams", "auto_replay", "auto_reset", "make_level_pool", "tree_select"]
