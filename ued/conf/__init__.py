"""ued's Hydra configuration tree, shipped inside the package.

``python -m ued.train`` finds it through Hydra's package search path (``pkg://ued.conf``), so a
wheel or non-editable install works from any directory. Another Hydra application can compose
ued's groups by adding ``pkg://ued.conf`` to its ``hydra.searchpath``.
"""
