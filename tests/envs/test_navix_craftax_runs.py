"""Every curriculum on NAVIX, DR and ACCEL on Craftax, PAIRED designing NAVIX levels and the CVaR
evaluator on NAVIX, through config only (2 updates each)."""

import pytest

from tests.envs.external import CURRICULA, DOCUMENTED, check_dr_and_cvar, check_paired, check_training

RUNS = [("navix", c) for c in CURRICULA if c not in ("paired", "dr") and ("navix", c) not in DOCUMENTED] + [("craftax", "dr"), ("craftax", "accel")]


@pytest.mark.slow
@pytest.mark.parametrize("space,curriculum", RUNS)
def test_every_curriculum_trains_on_the_level_space(space, curriculum, tmp_path, request):
    check_training(space, curriculum, tmp_path, request)


@pytest.mark.slow
def test_paired_designs_navix_levels(tmp_path):
    rows = check_paired("navix", tmp_path)
    assert all(r["curriculum/level_has_door"] == 0 for r in rows)  # the editor places no key or door


@pytest.mark.slow
def test_dr_trains_on_navix_and_the_cvar_evaluator_reads_its_run(tmp_path, request):
    s, levels = check_dr_and_cvar("navix", tmp_path, request)
    assert set(s["named"]) == {"Navix-Empty-8x8-v0"}  # the package's fixed layout, by name
    assert (levels["has_door"] == 1).all() and (levels["walls"] >= 5).all()  # the package's DoorKey layouts
