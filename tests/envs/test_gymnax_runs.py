"""Every curriculum on CartPole (DR on Acrobot, ACCEL on Pendulum), PAIRED refused, and the CVaR
evaluator on gymnax's classic control through config only (2 updates each)."""

import pytest

from tests.envs.external import CURRICULA, DOCUMENTED, check_dr_and_cvar, check_paired_refused, check_training

RUNS = [("cartpole", c) for c in CURRICULA if c not in ("paired", "dr") and ("cartpole", c) not in DOCUMENTED] + [("acrobot", "dr"), ("pendulum", "accel")]


@pytest.mark.slow
@pytest.mark.parametrize("space,curriculum", RUNS)
def test_every_curriculum_trains_on_the_level_space(space, curriculum, tmp_path, request):
    check_training(space, curriculum, tmp_path, request)


def test_paired_is_refused_on_cartpole(tmp_path, request):
    check_paired_refused("cartpole", tmp_path, request)  # physical parameters are not a grid


@pytest.mark.slow
def test_dr_trains_on_cartpole_and_the_cvar_evaluator_reads_its_run(tmp_path, request):
    s, levels = check_dr_and_cvar("cartpole", tmp_path, request)
    assert set(s["named"]) == {"length=0.05,masspole=0.05", "length=0.05,masspole=10", "length=10,masspole=0.05",
                               "length=10,masspole=10", "default"}  # the held-out grid, by name
    assert ((0.01 <= levels["length"]) & (levels["length"] <= 10.01)).all()  # each level's parameters
