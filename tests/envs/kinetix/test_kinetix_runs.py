"""DR, ACCEL and the CVaR evaluator on Kinetix through config only (2 updates each), in the Kinetix
environment (jax 0.9.0): these are also CI's check that ued's loop, PPO, curricula, checkpoints and
evaluator run on the oldest jax ued allows. Kinetix programs take minutes to compile on a CPU, so the
evaluator is run on the DR run's checkpoint and the DR generator's no-op filter, compiled in
test_kinetix.py, is off here."""

import pytest

from tests.extras import require

require("kinetix", "kinetix")

from tests.envs.external import check_training, overrides  # noqa: E402
from ued.evaluate.run import evaluate_runs  # noqa: E402
from ued.train import ConfigError, train  # noqa: E402


@pytest.mark.slow
def test_dr_trains_on_kinetix_and_the_cvar_evaluator_reads_its_run(tmp_path, request):
    check_training("kinetix", "dr", tmp_path, request)
    [summary] = evaluate_runs([str(tmp_path)], num_levels=8, episodes=1, alphas=[25, 100], parallel_episodes=8,
                              verbose=False)
    assert summary["level_space"] == "kinetix" and summary["num_levels"] == 8
    s = summary["seeds"][0]
    assert 0.0 <= s["cvar"]["25.0"] <= s["cvar"]["100.0"] <= 1.0 and s["cvar_levels"]["25.0"] == 2
    assert set(s["named"]) == {"s/h0_weak_thrust", "s/h2_one_wheel_car"}  # the package's hand-designed levels


@pytest.mark.slow
def test_accel_trains_on_kinetix(tmp_path, request):
    check_training("kinetix", "accel", tmp_path, request)


def test_paired_is_refused_on_kinetix(tmp_path):
    with pytest.raises(ConfigError, match="the kinetix level space has no editor for the adversary"):
        train(overrides("kinetix", None, "curriculum=paired"), str(tmp_path))
