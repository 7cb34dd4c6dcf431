"""Learning curves from metrics.jsonl / eval.jsonl (ued.curves): the numbers behind each curve,
labels from the components that ran, seeds as samples, and figures that are not blank."""
import json
import os

import numpy as np
import pytest
from PIL import Image

from ued.curves import collect, find_runs, main, make_curves, run_label


def _run(root, name, curriculum, rows, evals=(), score=None):
    d = root / name
    d.mkdir(parents=True)
    cfg = {"curriculum": {"_target_": f"ued.curricula.x.{curriculum}"}, "seed": 0}
    if score:
        cfg["score"] = {"_target_": f"ued.scores.regret.{score}"}
    import yaml

    (d / "config.yaml").write_text(yaml.safe_dump(cfg))
    (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (d / "eval.jsonl").write_text("".join(json.dumps(r) + "\n" for r in evals))
    return d


def _rows(values, seed=None, steps=64):
    return [{"update": u + 1, "env_steps": (u + 1) * steps, "solve_rate": v, "return": 2 * v,
             **({"seed": seed} if seed is not None else {})} for u, v in enumerate(values)]


@pytest.fixture
def runs(tmp_path):
    root = tmp_path / "runs"
    # plr/max_mc: one run with 2 vmapped seeds and one plain run -> 3 training samples, 2 eval samples
    _run(root, "a", "plr", _rows([0.0, 0.2, 0.4], seed=0) + _rows([0.2, 0.4, 0.6], seed=1),
         [{"update": 0, "env_steps": 0, "eval/random/cvar/10": 0.1}, {"update": 3, "env_steps": 192,
                                                                      "eval/random/cvar/10": 0.3}], score="max_mc")
    _run(root, "b", "plr", _rows([0.4, 0.6, 0.8, 1.0]),  # one update longer: cut to the common x
         [{"update": 0, "env_steps": 0, "eval/random/cvar/10": 0.3}, {"update": 3, "env_steps": 192,
                                                                      "eval/random/cvar/10": 0.5}], score="max_mc")
    _run(root / "deeper", "c", "dr", _rows([1.0, 1.0, 1.0]))
    return root


def test_labels_samples_mean_and_standard_error(runs):
    found = find_runs([str(runs)])
    assert [os.path.basename(f) for f in found] == ["a", "b", "c"]
    assert run_label(found[0]) == "plr/max_mc" and run_label(found[2]) == "dr"
    assert run_label(found[0], "dir") == "a"
    curves = collect(found, ["solve_rate"], ["eval/random/cvar/10"])
    plr = curves["train/solve_rate"]["plr/max_mc"]
    assert plr["samples"] == 3 and plr["x"] == [64, 128, 192]
    samples = np.array([[0.0, 0.2, 0.4], [0.2, 0.4, 0.6], [0.4, 0.6, 0.8]])
    np.testing.assert_allclose(plr["mean"], samples.mean(0))
    np.testing.assert_allclose(plr["se"], samples.std(0, ddof=1) / np.sqrt(3))
    dr = curves["train/solve_rate"]["dr"]
    assert dr["samples"] == 1 and dr["se"] == [0.0, 0.0, 0.0]
    ev = curves["eval/eval/random/cvar/10"]
    assert list(ev) == ["plr/max_mc"]  # dr logged no evaluation
    np.testing.assert_allclose(ev["plr/max_mc"]["mean"], [0.2, 0.4])
    assert ev["plr/max_mc"]["x"] == [0, 192]
    by_update = collect(found, ["return"], [], x="update")["train/return"]["plr/max_mc"]
    assert by_update["x"] == [1, 2, 3]
    np.testing.assert_allclose(by_update["mean"], 2 * samples.mean(0))


def test_smoothing_is_a_trailing_moving_average(runs):
    curves = collect(find_runs([str(runs / "deeper" / "c"), str(runs / "b")]), ["solve_rate"], [], smooth=2)
    np.testing.assert_allclose(curves["train/solve_rate"]["plr/max_mc"]["mean"], [0.4, 0.5, 0.7, 0.9])


def test_figures_and_numbers_written(runs, tmp_path):
    out = tmp_path / "curves"
    assert main([f"runs={runs}", f"out={out}", "eval=[eval/random/cvar/10]", "pdf=true"]) == 0
    names = sorted(os.listdir(out))
    assert {"train_solve_rate.png", "train_return.png", "eval_random-cvar-10.png", "eval_random-cvar-10.pdf",
            "curves.json"} <= set(names)
    for png in ("train_solve_rate.png", "eval_random-cvar-10.png"):
        pixels = np.asarray(Image.open(out / png).convert("L"), np.float32)
        assert pixels.std() > 5  # lines, bands, text: not a blank canvas
    saved = json.loads((out / "curves.json").read_text())
    assert saved["curves"]["train/solve_rate"]["plr/max_mc"]["samples"] == 3


def test_bad_input_is_one_line(runs, tmp_path, capsys):
    cases = [
        ([f"runs={tmp_path / 'nope'}"], "no such file or directory"),
        ([f"runs={tmp_path}/runs/deeper/c/config.yaml"], "no run directory"),
        ([f"runs={runs}", "x=time"], "x must be one of env_steps, total_env_steps, update, got 'time'"),
        ([f"runs={runs}", "smooth=0"], "smooth must be a positive integer"),
        ([f"runs={runs}", "label=seed"], "label must be one of components, dir"),
        ([f"runs={runs}", "metrics=[nothing]", "eval=[]"], "none of the metrics nothing is in the runs' logs"),
        ([f"runs={runs}", f"out={runs / 'a' / 'metrics.jsonl'}"], "is a file, not a directory"),
        ([f"runs={runs}", "colour=red"], "unknown option 'colour'"),
        ([], "give runs="),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err, (argv, err)
    (runs / "a" / "metrics.jsonl").write_text('{"update": 1}\n{broken\n{"update": 3}\n')
    assert main([f"runs={runs}", f"out={tmp_path / 'o'}"]) == 2
    assert "line 2" in capsys.readouterr().err
    with pytest.raises(ValueError):
        make_curves([str(runs)], str(tmp_path / "o2"), x="update", smooth=True)


def test_a_metric_no_run_logged_is_named_not_skipped_silently(runs, tmp_path, capsys):
    out = tmp_path / "some"
    paths = make_curves([str(runs)], str(out), metrics=["solve_rate", "solve_rat"], eval_metrics=["eval/nope"])
    assert set(paths) == {"train_solve_rate"}
    err = capsys.readouterr().err
    assert "not in any run's log, so not drawn: solve_rat, eval/nope" in err
    assert json.loads((out / "curves.json").read_text())["missing"] == ["solve_rat", "eval/nope"]
