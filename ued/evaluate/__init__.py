"""Evaluation: fixed (named) levels now; the CVaR-style evaluator builds on this."""

from ued.evaluate.heldout import make_level_evaluator

__all__ = ["make_level_evaluator"]
