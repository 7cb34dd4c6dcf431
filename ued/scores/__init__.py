"""Level scores: each is a factory returning a ``ued.types.Score``; each cites its paper.

| factory | score | memory |
| --- | --- | --- |
| ``l1_value_loss`` | mean abs GAE advantage (PLR 2021) | none |
| ``positive_value_loss`` | mean positive GAE advantage (Robust PLR 2021) | none |
| ``max_mc`` | mean of best-ever return minus value (Robust PLR 2021) | best return |
| ``mna`` | maximised negative advantage (Mead et al. 2026) | best return |
| ``learnability`` | p (1 - p) of the success rate (SFL, Rutherford et al. 2024) | none |
| ``paired_regret`` | max antagonist minus mean protagonist return (PAIRED 2020) | none |
| ``oracle_regret`` | optimal minus achieved return, for levels with a solver | none |
| ``policy_entropy``, ``least_confidence`` | policy uncertainty (PLR 2021) | none |
"""

from ued.scores.learnability import learnability, least_confidence, policy_entropy, success_rate
from ued.scores.regret import (
    l1_value_loss,
    max_mc,
    mna,
    mna_per_step,
    oracle_regret,
    paired_regret,
    positive_value_loss,
)

__all__ = [
    "l1_value_loss", "learnability", "least_confidence", "max_mc", "mna", "mna_per_step",
    "oracle_regret", "paired_regret", "policy_entropy", "positive_value_loss", "success_rate",
]
