"""ued: Unsupervised Environment Design in JAX."""

__version__ = "0.1.0"
