"""Every curriculum and the CVaR evaluator (on DR's run) on JaxNav (one robot and four) and XLand through config only
(2 updates each)."""

import pytest

from tests.envs.external import CURRICULA, DOCUMENTED, check_dr_and_cvar, check_paired, check_paired_refused, check_training


@pytest.mark.slow
@pytest.mark.parametrize("space,curriculum", [(s, c) for s in ("jaxnav", "jaxnav_multi", "xland") for c in CURRICULA
                                                if c not in ("paired", "dr") and (s, c) not in DOCUMENTED])
def test_every_curriculum_trains_on_the_level_space(space, curriculum, tmp_path, request):
    check_training(space, curriculum, tmp_path, request)


@pytest.mark.slow
@pytest.mark.parametrize("space", ["jaxnav", "jaxnav_multi"])
def test_paired_designs_jaxnav_levels(space, tmp_path):
    check_paired(space, tmp_path)


def test_paired_is_refused_on_xland(tmp_path, request):
    check_paired_refused("xland", tmp_path, request)  # a ruleset is not a grid


@pytest.mark.slow
@pytest.mark.parametrize("space", ["jaxnav", "jaxnav_multi", "xland"])
def test_dr_trains_and_the_cvar_evaluator_reads_its_run(space, tmp_path, request):
    s, levels = check_dr_and_cvar(space, tmp_path, request)
    if space == "jaxnav":  # filtered to solvable levels; the test case is evaluated by name
        assert set(s["named"]) == {"SingleNav1"} and (levels["shortest_path"] > 0).all()
    if space == "jaxnav_multi":  # every robot of every evaluation level has a path to its goal
        assert set(s["named"]) == {"BlankCross4"} and (levels["reachable"] == 1).all()
