"""ued: Unsupervised Environment Design in JAX."""

__version__ = "0.1.0"


def load(run_dir, checkpoint=None, overrides=None):
    """Restores a trained run (policy, config, level space): see ``ued.run.load.load``."""
    from ued.run.load import load as _load

    return _load(run_dir, checkpoint, overrides)
