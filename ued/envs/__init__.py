"""Level-parameterised environments and their wrappers. See ``ued/envs/README.md``."""

from ued.envs.wrappers import auto_replay, tree_select

__all__ = ["auto_replay", "tree_select"]
