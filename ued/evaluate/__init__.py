"""Evaluation: fixed (named) levels, and the CVaR-style adversarial evaluator ("No Regrets")."""

from ued.evaluate.cvar import (DEFAULT_ALPHAS, CVaREvaluation, CVaRResult, check_alphas, cvar_from_passes,
                               evaluate_cvar, make_success_evaluator, sample_eval_levels, success_passes)
from ued.evaluate.heldout import make_level_evaluator

__all__ = ["DEFAULT_ALPHAS", "CVaREvaluation", "CVaRResult", "check_alphas", "cvar_from_passes", "evaluate_cvar",
           "make_level_evaluator", "make_success_evaluator", "sample_eval_levels", "success_passes"]
