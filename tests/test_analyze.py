"""The No-Regrets diagnostics (ued/analyze.py): rank correlations on synthetic data where the answer
is known, and the command end to end on a tiny trained run, its files agreeing with each other."""
import csv
import json
import os

import numpy as np
import pytest

from ued.analyze import AnalyzeError, analyze_run, default_scores, main, rank_correlation


def test_rank_correlation_on_known_answers():
    rng = np.random.default_rng(0)
    success = rng.uniform(size=300)
    same = rank_correlation(success, success, bootstrap=200)
    assert same["rho"] == pytest.approx(1.0) and same["low"] == pytest.approx(1.0) and same["n"] == 300
    assert rank_correlation(success, success ** 3, bootstrap=0)["rho"] == pytest.approx(1.0)  # ranks, not values
    assert rank_correlation(success, -success, bootstrap=0)["rho"] == pytest.approx(-1.0)
    noise = rank_correlation(success, rng.normal(size=300), bootstrap=500)
    assert noise["low"] < 0 < noise["high"] and abs(noise["rho"]) < 0.15
    learn = rank_correlation(success, success * (1 - success), bootstrap=0)  # p(1-p): not monotone in p
    assert abs(learn["rho"]) < 0.2
    assert np.isnan(rank_correlation(success, np.ones(300), bootstrap=0)["rho"])  # a constant score


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    from tests.tiny import tiny_config
    from ued.train import train

    run = str(tmp_path_factory.mktemp("analyze") / "run")
    train(tiny_config("dr", "num_updates=2", "eval.every=2"), run)
    summary = analyze_run(run, num_levels=40, num_steps=32, batch=16, bootstrap=0, verbose=False)
    return run, summary


def test_analysis_writes_consistent_files(analysed):
    run, summary = analysed
    out = summary["out"]
    assert out == os.path.join(run, "analysis", "update_00000002")
    assert summary["scores"] == default_scores()
    assert "paired" not in summary["scores"] and "oracle" not in summary["scores"]
    with open(os.path.join(out, "levels.csv")) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 40 and len({r["level_id"] for r in rows}) == 40
    for r in rows:
        if r["success_rate"] != "":
            assert 0.0 <= float(r["success_rate"]) <= 1.0
        if r["oracle_regret"] != "":
            assert float(r["oracle_regret"]) >= -1e-5  # no policy beats the solver's optimum
    with open(os.path.join(out, "correlations.json")) as f:
        saved = json.load(f)
    for name in summary["scores"]:  # the table equals the correlations of the CSV's own columns
        for ref in ("success_rate", "oracle_regret"):
            both = [(float(r[name]), float(r[ref])) for r in rows if r[name] != "" and r[ref] != ""]
            again = rank_correlation(*zip(*both), bootstrap=0)
            c = saved["correlations"][name][ref]
            assert c["n"] == again["n"]
            assert (np.isnan(c["rho"]) and np.isnan(again["rho"])) or c["rho"] == pytest.approx(again["rho"])
    from PIL import Image

    image = np.asarray(Image.open(os.path.join(out, "scatter.png")).convert("L"), dtype=np.float32)
    assert image.std() > 5  # a figure, not a blank page


def test_bad_input_is_one_line_before_any_rollout(analysed, tmp_path, capsys):
    run, _ = analysed
    with pytest.raises(AnalyzeError, match=r"unknown score 'nope'; valid scores: .*max_mc"):
        analyze_run(run, scores=["nope"], num_levels=8)
    with pytest.raises(AnalyzeError, match=r"score paired scores a pair of rollouts"):
        analyze_run(run, scores=["paired"], num_levels=8)
    with pytest.raises(AnalyzeError, match=r"num_levels must be at least 3"):
        analyze_run(run, num_levels=2)
    assert main([f"run_dir={tmp_path / 'missing'}"]) == 2
    assert main([f"run_dir={run}", "levels=3"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0] == f"error: run_dir {tmp_path / 'missing'} is not a directory"
    assert err[1].startswith("error: unknown option 'levels'; valid keys: run_dir, checkpoint")
    assert not os.path.exists(tmp_path / "missing")


def test_whole_episodes_by_default_and_too_few_levels_are_refused(analysed, tmp_path, capsys):
    from ued.analyze import kept_note

    run, _ = analysed
    # by default each rollout is one episode limit long, so every level completes an episode
    full = analyze_run(run, num_levels=12, batch=12, bootstrap=0, min_levels=3, out=str(tmp_path / "a"))
    assert full["num_steps"] == 12  # the tiny maze's time limit (env.max_steps=12)
    assert set(full["kept"].values()) == {12}
    assert all(c["rho"] is None or np.isfinite(c["rho"]) or c["n"] == 12
               for per in full["correlations"].values() for c in per.values())
    assert "all are kept" in capsys.readouterr().out
    # one step per level: no episode ends, so every correlation is refused with its reason, never NaN
    short = analyze_run(run, num_levels=12, batch=12, bootstrap=0, num_steps=1, out=str(tmp_path / "b"),
                        verbose=False)
    assert short["kept"]["success_rate"] == 0
    for per in short["correlations"].values():
        for c in per.values():
            assert c["rho"] is None and c["n"] == 0 and "at least min_levels=10 are needed" in c["refused"]
    assert "dropped: success_rate 12" in kept_note(short)
    with open(tmp_path / "b" / "correlations.json") as f:
        assert json.load(f)["correlations"]["max_mc"]["success_rate"]["rho"] is None
    with pytest.raises(AnalyzeError, match=r"min_levels must be an integer >= 3, got 2"):
        analyze_run(run, num_levels=8, min_levels=2)
