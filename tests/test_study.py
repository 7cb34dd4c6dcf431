"""ued.study: a tiny study end to end (2 methods x 2 seeds x 2 updates), its tables against the
evaluator's files, resuming, published numbers, and bad study files."""

import csv
import json
import os

import numpy as np
import pytest
import yaml

from ued.study import StudyError, load_study, main, plan, published_names, run_study

COMMON = ["num_envs=4", "num_steps=16", "eval.attempts=1", "eval.random_levels=0", "eval.render=false",
          "agent.network.hidden=8", "env.max_steps=20", "env.held_out=[SixteenRooms]"]


def _write(tmp_path, **doc):
    base = {"name": "tiny", "preset": "sfl_minigrid", "scale": 0.0005, "seeds": 2, "seeds_together": True,
            "common": COMMON,
            "methods": [{"label": "DR", "overrides": ["curriculum=dr"], "published": "DR"},
                        {"label": "Robust PLR", "overrides": ["curriculum=robust_plr", "buffer.capacity=8",
                                                              "buffer.min_fill=0.5"], "published": "RobustPLR"}],
            "evaluate": {"num_levels": 16, "episodes": 2, "alphas": [25, 50, 100], "parallel_episodes": 64},
            "published": "sfl_minigrid"}
    base.update(doc)
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(base))
    return str(path)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("study")
    path = _write(tmp)
    out = str(tmp / "out")
    result = run_study(path, out=out, verbose=False)
    return path, out, result


def test_the_plan_scales_the_preset_and_labels_each_run(tmp_path):
    s = load_study(_write(tmp_path, seeds_together=False), out=str(tmp_path / "o"))
    runs = plan(s)
    assert [r.label for r in runs] == ["DR", "DR", "Robust PLR", "Robust PLR"]
    assert [r.seeds for r in runs] == [[0], [1], [0], [1]]
    # sfl_minigrid's 4,577 updates x 0.0005 = 2; intervals stay multiples of the chunk
    assert all(r.num_updates == 2 for r in runs)
    assert "num_updates=2" in runs[0].overrides and "updates_per_chunk=2" in runs[0].overrides
    assert runs[0].overrides[0] == "preset=sfl_minigrid" and runs[1].run_dir.endswith("DR_seed1")


def test_study_tables_agree_with_the_evaluator_files(study):
    path, out, result = study
    rows = {r["method"]: r for r in csv.DictReader(open(os.path.join(out, "table.csv")))}
    for run in result["runs"]:
        ev = os.path.join(run.run_dir, "evaluation", "update_00000002", "summary.json")
        summary = json.load(open(ev))
        assert summary["method"] == run.label and [s["seed"] for s in summary["seeds"]] == run.seeds
        row = rows[run.label]
        assert row["source"] == "ued" and int(row["seeds"]) == 2
        for a in (25, 50, 100):
            vals = [s["cvar"][str(float(a))] for s in summary["seeds"]]
            assert float(row[f"cvar_{a}"]) == pytest.approx(np.mean(vals), abs=1e-6)
            assert float(row[f"cvar_{a}_se"]) == pytest.approx(np.std(vals, ddof=1) / np.sqrt(2), abs=1e-6)
        assert float(row["mean"]) == pytest.approx(np.mean([s["mean"] for s in summary["seeds"]]), abs=1e-6)
    # components read from what ran, not from the label
    assert rows["DR"]["components"] == "dr"
    assert rows["Robust PLR"]["components"] == "robust_plr / max_mc / plr_buffer(8)"
    # the published numbers beside ours, with the citation
    pub = json.load(open(os.path.join(os.path.dirname(__import__("ued").__file__), "published", "sfl_minigrid.json")))
    paper = rows["DR (paper: DR)"]
    assert paper["source"] == "published" and float(paper["cvar_50"]) == pytest.approx(pub["methods"]["DR"]["cvar"]["50.0"][0], abs=1e-6)
    md = open(os.path.join(out, "table.md")).read()
    assert "Rutherford et al. 2024" in md and "| Robust PLR | robust_plr / max_mc / plr_buffer(8) | 2 |" in md
    report = json.load(open(os.path.join(out, "report", "report.json")))
    assert set(report["reference"]["methods"]) == {"DR (paper)", "RobustPLR (paper)"}
    assert os.path.isfile(os.path.join(out, "report", "cvar_curve.png"))


def test_a_finished_study_is_resumed_without_training_or_evaluating_again(study, capsys):
    path, out, result = study
    stamps = {r.run_dir: os.path.getmtime(os.path.join(r.run_dir, "evaluation", "update_00000002", "summary.json"))
              for r in result["runs"]}
    assert main([f"study={path}", f"out={out}"]) == 0
    printed = capsys.readouterr().out
    assert printed.count("already trained") == 2
    for run_dir, t in stamps.items():
        assert os.path.getmtime(os.path.join(run_dir, "evaluation", "update_00000002", "summary.json")) == t


def test_published_results_follow_the_papers_protocol():
    assert {"sfl_minigrid", "sfl_jaxnav"} <= set(published_names())
    pub = json.load(open(os.path.join(os.path.dirname(__import__("ued").__file__), "published", "sfl_minigrid.json")))
    for m, e in pub["methods"].items():
        curve = [e["cvar"][str(a)][0] for a in pub["alphas"]]
        assert all(0.0 <= x <= 1.0 for x in curve) and e["seeds"] == 10, m
        # the unbiased estimate measures on the second rollout what the first selected, so it
        # need not grow with alpha at the smallest alphas; over the worst 20% vs all it does
        assert e["cvar"]["20.0"][0] <= e["cvar"]["100.0"][0], m
        assert e["cvar"]["100.0"][0] == pytest.approx(e["mean"][0], abs=1e-6)  # alpha 100 = the mean


@pytest.mark.parametrize("doc,match", [
    ({"methods": []}, "methods must be a non-empty list"),
    ({"foo": 1}, "unknown key 'foo'; the keys are name, preset"),
    ({"scale": 0}, "scale must be a positive number"),
    ({"seeds": 0}, "seeds must be an integer >= 1"),
    ({"published": "nope"}, "published='nope': no such result set; the sets are .*sfl_minigrid"),
    ({"methods": [{"label": "X", "overrides": ["curriculum=dr"], "published": "Nope"}]},
     "method 'X': published='Nope' is not in sfl_minigrid"),
    ({"methods": [{"label": "X", "overrides": ["curriculum=dr"]}, {"label": "X", "overrides": []}]}, "used twice"),
    ({"evaluate": {"levels": 3}}, "evaluate: unknown"),
    ({"common": "num_envs=4"}, "common must be a list of key=value overrides"),
])
def test_bad_study_files_are_one_line_errors(tmp_path, doc, match):
    with pytest.raises(StudyError, match=match):
        load_study(_write(tmp_path, **doc), out=str(tmp_path / "o"))


def test_a_bad_override_is_named_with_its_method_before_anything_runs(tmp_path, capsys):
    path = _write(tmp_path, methods=[{"label": "Bad", "overrides": ["curriculum=dr", "score=pvl"]}], published=None)
    assert main([f"study={path}", f"out={tmp_path / 'o'}"]) == 2
    err = capsys.readouterr().err
    assert "method 'Bad': curriculum=dr does not use a score" in err
    assert not (tmp_path / "o" / "runs").exists()
    assert main([f"study={tmp_path / 'missing.yaml'}"]) == 2
    assert "is not a file" in capsys.readouterr().err
