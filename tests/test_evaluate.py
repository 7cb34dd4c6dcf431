"""The CVaR evaluator, the evaluate command, reports and the notebook (issue: CVaR evaluator)."""

import functools
import json
import os
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from PIL import Image

from ued.agents import maze_agent
from ued.agents.networks import Agent
from ued.envs.maze import maze_level_space
from ued.envs.maze.level import pad_level, parse_level, stack_levels
from ued.evaluate import (check_alphas, cvar_from_passes, evaluate_cvar, make_success_evaluator, success_passes,
                          sample_eval_levels)
from ued.evaluate.run import EvaluateError, evaluate_runs, main as evaluate_main
from ued.report import aggregate, load_results, make_report, main as report_main
from ued.run.checkpoint import CheckpointError
from ued.train import CONF_DIR, train

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ---------------------------------------------------------------- the estimator

P1 = np.array([0.5, 0.0, 1.0, 0.2, 0.0, 0.9, 0.3, 0.1, 0.7, 0.4])
P2 = np.array([0.6, 0.3, 1.0, 0.0, 0.1, 0.8, 0.5, 0.2, 0.9, 0.4])


def test_cvar_on_synthetic_success_rates_by_hand():
    res = cvar_from_passes(P1, P2, [10, 20, 50, 100])
    # ranked by pass 1 (ties keep level order): levels 1, 4, 7, 3, 6, 9, 0, 8, 5, 2
    assert res.counts == {10.0: 1, 20.0: 2, 50.0: 5, 100.0: 10}
    assert res.cvar[10.0] == pytest.approx(0.3)  # pass 2 of level 1
    assert res.cvar_biased[10.0] == pytest.approx(0.0)
    assert res.cvar[20.0] == pytest.approx((0.3 + 0.1) / 2)
    assert res.cvar[50.0] == pytest.approx((0.3 + 0.1 + 0.2 + 0.0 + 0.5) / 5)
    assert res.cvar_biased[50.0] == pytest.approx((0.0 + 0.0 + 0.1 + 0.2 + 0.3) / 5)
    assert res.cvar[100.0] == pytest.approx(P2.mean()) and res.cvar_biased[100.0] == pytest.approx(P1.mean())
    same = cvar_from_passes(P1, P1, [10, 20, 50, 100])
    assert same.cvar == same.cvar_biased


def test_the_biased_estimate_is_biased_low_and_the_unbiased_one_is_not():
    rng = np.random.default_rng(0)
    true = rng.uniform(0.2, 0.8, size=20_000)  # no level is hard: every worst set truly averages ~0.2-0.26
    p1, p2 = rng.binomial(10, true) / 10, rng.binomial(10, true) / 10
    res = cvar_from_passes(p1, p2, [1, 10])
    order = np.argsort(p1, kind="stable")
    for a in (1, 10):
        truth = true[order[: res.counts[float(a)]]].mean()
        assert abs(res.cvar[float(a)] - truth) < 0.02
        assert res.cvar_biased[float(a)] < truth - 0.05


def test_bad_alphas_and_too_few_levels_are_rejected():
    with pytest.raises(ValueError, match=r"percentage in \(0, 100\], got \[0.0, 101.0\]"):
        check_alphas([0, 5, 101])
    with pytest.raises(ValueError, match="alpha=0.01% of 9999 levels selects no level: it needs at least 10000"):
        check_alphas([0.01, 10], 9999)
    assert check_alphas([0.01], 10_000) == (0.01,)


# ---------------------------------------------------------------- rollouts

ALWAYS_FORWARD = Agent(
    init=lambda key, obs: {},
    initial_carry=lambda b: (),
    apply=lambda params, carry, obs, resets: (carry, jnp.full(resets.shape + (7,), -1e9).at[..., 2].set(0.0),
                                              jnp.zeros(resets.shape)),
    sample=lambda key, logits: jax.random.categorical(key, logits),
    greedy=lambda logits: jnp.argmax(logits, -1),
    log_prob=None, entropy=None)


@pytest.fixture(scope="module")
def space():
    return maze_level_space(held_out=("SixteenRooms",), max_steps=20)


def test_a_known_policy_gets_the_expected_success_on_crafted_levels(space):
    texts = [">..G", "v..G", ">#.G", "...\n.>G\n...", "G>.", "G<."]
    levels = stack_levels([pad_level(parse_level(t), 13, 13) for t in texts])
    expected = [1.0, 0.0, 0.0, 1.0, 0.0, 1.0]  # forward solves exactly the levels with the goal straight ahead
    for per_batch in (18, 4):  # every episode at once, and a queue served by 4 slots
        fn = jax.jit(make_success_evaluator(space.env, ALWAYS_FORWARD, num_episodes=3, parallel_episodes=per_batch))
        np.testing.assert_array_equal(np.asarray(fn({}, levels, jax.random.key(0))), expected)


def test_the_episode_queue_gives_every_episode_its_own_draw():
    """A coin-flip policy with one step per episode: each (level, episode) must be one
    independent Bernoulli(0.5) draw however many slots serve the queue."""
    one_step = maze_level_space(max_steps=1)
    coin = ALWAYS_FORWARD._replace(
        apply=lambda params, carry, obs, resets: (carry, jnp.log(jnp.full(resets.shape + (7,), 1e-9)
                                                                  .at[..., 2].set(0.5).at[..., 3].set(0.5)),
                                                  jnp.zeros(resets.shape)))
    levels = stack_levels([pad_level(parse_level(">G"), 13, 13)] * 3)
    for slots in (1200, 64):
        rates = np.asarray(jax.jit(make_success_evaluator(one_step.env, coin, num_episodes=400, parallel_episodes=slots))(
            {}, levels, jax.random.key(slots)))
        assert rates.shape == (3,) and np.all(np.abs(rates - 0.5) < 0.1), rates


def test_same_key_same_levels_and_results(space):
    a_levels, a_stats, a_ids = sample_eval_levels(space, 300, seed=7, batch=256)
    b_levels, b_stats, b_ids = sample_eval_levels(space, 300, seed=7, batch=256)
    jax.tree.map(np.testing.assert_array_equal, a_levels, b_levels)
    np.testing.assert_array_equal(a_ids, b_ids)
    assert len(np.unique(a_ids)) == 300 and (a_stats["solvable"] == 1).all()
    c_levels, _, _ = sample_eval_levels(space, 300, seed=8, batch=256)
    assert not np.array_equal(a_levels.wall_map, c_levels.wall_map)

    agent = maze_agent(space.env.action_space, hidden=8)
    obs, _ = space.env.reset_to_level(jax.random.key(0), jax.tree.map(lambda x: x[0], a_levels), space.env.default_params)
    params = agent.init(jax.random.key(1), obs)
    fn = jax.jit(functools.partial(success_passes, make_success_evaluator(space.env, agent, num_episodes=4,
                                                                          parallel_episodes=512)))
    e1 = evaluate_cvar(fn, params, a_levels, jax.random.key(3), [1, 10, 100])
    e2 = evaluate_cvar(fn, params, a_levels, jax.random.key(3), [1, 10, 100])
    np.testing.assert_array_equal(e1.pass1, e2.pass1)
    np.testing.assert_array_equal(e1.pass2, e2.pass2)
    assert not np.array_equal(e1.pass1, e1.pass2)  # the two passes are independent
    assert set(np.unique(e1.pass1)) <= {0.0, 0.25, 0.5, 0.75, 1.0} and e1.pass1.max() > 0


# ---------------------------------------------------------------- the command and the report

TINY = ["num_envs=4", "num_steps=16", "num_updates=2", "updates_per_chunk=1", "eval.every=0", "eval.attempts=1",
        "eval.random_levels=0", "eval.render=false", "agent.network.hidden=8", "env.max_steps=20",
        "env.held_out=[SixteenRooms,Labyrinth]", "progress=false"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        c = compose(config_name="config", overrides=TINY)
    train(c, str(root / "dr_a"))
    shutil.copytree(root / "dr_a", root / "dr_b")
    return root


def test_evaluate_writes_reloadable_results_and_is_deterministic(runs, tmp_path):
    out = tmp_path / "eval"
    code = evaluate_main([f"run_dir={runs / 'dr_a'}", "num_levels=100", "episodes=2", "alphas=[1,10,100]",
                          "parallel_episodes=64", f"out={out}"])
    assert code == 0
    summary = json.load(open(out / "dr_a" / "summary.json"))
    assert summary["method"] == "dr" and summary["update"] == 2 and summary["num_levels"] == 100
    [r] = load_results([str(out)])
    lv = r["levels"]
    assert len(lv["level_id"]) == 100 and {"walls", "shortest_path", "optimal_return"} <= set(lv)
    assert np.all(lv["shortest_path"] > 0)  # only solvable levels
    res = cvar_from_passes(lv["success_pass1"], lv["success_pass2"], [1, 10, 100])
    for a in (1.0, 10.0, 100.0):
        assert summary["seeds"][0]["cvar"][str(a)] == pytest.approx(res.cvar[a])
        assert summary["seeds"][0]["cvar_biased"][str(a)] == pytest.approx(res.cvar_biased[a])
    named = r["named_table"]
    assert list(named["level"]) == ["SixteenRooms", "Labyrinth"] and np.all(named["shortest_path"] > 0)
    assert set(summary["seeds"][0]["named"]) == {"SixteenRooms", "Labyrinth"}
    first = open(out / "dr_a" / "levels.csv").read()
    assert evaluate_main([f"run_dir={runs / 'dr_a'}", "num_levels=100", "episodes=2", "alphas=[1,10,100]",
                          "parallel_episodes=64", f"out={out}"]) == 0
    assert open(out / "dr_a" / "levels.csv").read() == first


def test_bad_evaluation_input_writes_nothing(runs, tmp_path, capsys):
    bad = tmp_path / "other_agent"
    shutil.copytree(runs / "dr_b", bad)
    text = open(bad / "config.yaml").read().replace("hidden: 8", "hidden: 16")
    open(bad / "config.yaml", "w").write(text)
    common = ["num_levels=100", "episodes=1", "alphas=[1,100]", f"out={tmp_path / 'out'}"]
    with pytest.raises(CheckpointError, match=r"(?s)does not fit the configuration of .*other_agent, which differs .* in agent.network.hidden: 8 -> 16.*params/params/\S+: \[8"):
        evaluate_runs([str(runs / "dr_a"), str(bad)], num_levels=100, episodes=1, alphas=[1, 100], out=str(tmp_path / "out"))
    empty = tmp_path / "empty"
    empty.mkdir()
    assert evaluate_main([f"run_dir={runs / 'dr_a'}", f"run_dir={empty}", *common]) == 2
    assert "has no checkpoint" in capsys.readouterr().err
    assert evaluate_main([f"run_dir={runs / 'dr_a'}", "alphas=[0,10]", *common[:2], common[3]]) == 2
    assert "percentage in (0, 100]" in capsys.readouterr().err
    assert evaluate_main([f"run_dir={runs / 'dr_a'}", "num_levels=50", "alphas=[1]", common[3]]) == 2
    assert "needs at least 100 levels" in capsys.readouterr().err
    assert evaluate_main([f"run_dir={runs / 'dr_a'}", "levels=5"]) == 2
    assert "unknown option 'levels'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists() and not (runs / "dr_a" / "evaluation").exists()


@pytest.fixture(scope="module")
def results(runs, tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    for name, label in (("dr_a", "dr"), ("dr_b", "plr")):  # the same agent under two labels
        evaluate_runs([str(runs / name)], num_levels=100, episodes=2, alphas=[1, 10, 50, 100], parallel_episodes=100,
                      label=label, out=str(out / label), verbose=False)
    return out


def test_report_draws_every_figure_from_stored_results(results, tmp_path):
    figs = tmp_path / "figs"
    assert report_main([f"results={results}", f"out={figs}", "pdf=true", "compare=[plr,dr]"]) == 0
    names = {"cvar_curve", "mean_success", "hist2d_plr_vs_dr", "named_levels"}
    for n in names:
        with Image.open(figs / f"{n}.png") as im:
            assert im.size[0] > 300 and im.size[1] > 200
            assert np.asarray(im.convert("L")).std() > 5  # not a blank canvas
        assert (figs / f"{n}.pdf").stat().st_size > 1000
    table = json.load(open(figs / "report.json"))
    agg = aggregate(load_results([str(results)]))
    assert set(table["methods"]) == {"dr", "plr"}
    assert table["methods"]["dr"]["cvar"]["10.0"][0] == pytest.approx(agg["methods"]["dr"]["cvar"][10.0][0])
    summary = json.load(open(results / "dr" / "dr_a" / "summary.json"))
    assert table["methods"]["dr"]["cvar"]["10.0"][0] == pytest.approx(summary["seeds"][0]["cvar"]["10.0"])
    assert report_main([f"results={results}", f"out={tmp_path / 'wb'}", "logger=wandb", "mode=offline"]) == 0
    runs = [d for d in os.listdir(tmp_path / "wb" / "wandb") if d.startswith("offline-run")]
    assert len(runs) == 1 and (tmp_path / "wb" / "cvar_curve.png").exists()
    assert report_main([f"results={tmp_path / 'none'}", f"out={figs}"]) == 2
    assert report_main([f"results={results}", "compare=[dr,ppo]", f"out={figs}"]) == 2
    assert report_main([f"results={results}", f"out={figs}", "logger=wandb", "mode=offlin"]) == 2


def test_the_notebook_runs_on_tiny_results(results, tmp_path, monkeypatch):
    nb = json.load(open(os.path.join(REPO, "notebooks", "cvar_report.ipynb")))
    monkeypatch.setenv("UED_RESULTS", str(results))
    monkeypatch.setenv("UED_FIGURES", str(tmp_path / "nbfigs"))
    namespace = {}
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            exec(compile("".join(cell["source"]), "cvar_report.ipynb", "exec"), namespace)
    assert (tmp_path / "nbfigs" / "cvar_curve.png").exists()
    assert set(namespace["agg"]["methods"]) == {"dr", "plr"}


def test_the_training_evaluation_logs_the_unbiased_cvar_of_its_random_levels():
    from ued.run.rows import eval_row

    zeros = {m: np.zeros(10) for m in ("solve_rate", "return", "length")}
    result = {"random": {"greedy": zeros, "sampled": zeros, "cvar_passes": (P1, P2)}}
    row = eval_row(result, (), 5, 100, seed_axis=False, alphas=(10, 50, 5))
    assert row["eval/random/cvar/10"] == pytest.approx(0.3) and row["eval/random/cvar_biased/10"] == 0.0
    assert row["eval/random/cvar/50"] == pytest.approx(0.22)
    assert "eval/random/cvar/5" not in row  # 5% of 10 levels selects none
    seeds = {"random": {"greedy": {m: np.zeros((2, 10)) for m in zeros},
                        "sampled": {m: np.zeros((2, 10)) for m in zeros},
                        "cvar_passes": (np.stack([P1, P1]), np.stack([P2, np.zeros(10)]))}}
    assert eval_row(seeds, (), 5, 100, seed_axis=True, alphas=(10,))["eval/random/cvar/10"] == pytest.approx(0.15)
