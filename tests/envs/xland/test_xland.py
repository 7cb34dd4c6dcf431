"""XLand-MiniGrid through xminigrid: dynamics match the package, rulesets from the package's
loader (a local benchmark file: tests never download), generator and mutator."""

import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.extras import require

require("xminigrid", "xland")

import xminigrid  # noqa: E402
from xminigrid.benchmarks import save_bz2_pickle  # noqa: E402
from xminigrid.core.constants import TILES_REGISTRY, Colors, Tiles  # noqa: E402
from xminigrid.core.goals import AgentHoldGoal, AgentNearGoal  # noqa: E402
from xminigrid.core.rules import AgentHoldRule, EmptyRule  # noqa: E402

from ued.envs.xland import load_rulesets, xland_generator, xland_level_space  # noqa: E402
from ued.evaluate import sample_eval_levels  # noqa: E402


def tile(t, c):
    return TILES_REGISTRY[t, c]


def write_benchmark(path):
    """Three small rulesets in the package's benchmark format: be near a red ball (with a
    yellow key and a green square as distractors), pick up a blue square, and pick up a
    purple ball after a rule turns a picked-up yellow pyramid into it."""
    goals = [AgentNearGoal(tile=tile(Tiles.BALL, Colors.RED)).encode(),
             AgentHoldGoal(tile=tile(Tiles.SQUARE, Colors.BLUE)).encode(),
             AgentHoldGoal(tile=tile(Tiles.BALL, Colors.PURPLE)).encode()]
    empty = EmptyRule().encode()
    rules = [jnp.stack([empty, empty]), jnp.stack([empty, empty]),
             jnp.stack([AgentHoldRule(tile=tile(Tiles.PYRAMID, Colors.YELLOW),
                                      prod_tile=tile(Tiles.BALL, Colors.PURPLE)).encode(), empty])]
    nothing = tile(Tiles.EMPTY, Colors.EMPTY)
    tiles = [jnp.stack([tile(Tiles.BALL, Colors.RED), tile(Tiles.KEY, Colors.YELLOW), tile(Tiles.SQUARE, Colors.GREEN)]),
             jnp.stack([tile(Tiles.SQUARE, Colors.BLUE), nothing, nothing]),
             jnp.stack([tile(Tiles.PYRAMID, Colors.YELLOW), tile(Tiles.STAR, Colors.GREEN), nothing])]
    save_bz2_pickle({"goals": np.stack(goals), "rules": np.stack(rules), "init_tiles": np.stack(tiles),
                     "num_rules": np.array([0, 0, 1])}, path)
    return path


@pytest.fixture(scope="module")
def space(tmp_path_factory):
    path = write_benchmark(str(tmp_path_factory.mktemp("xland") / "tiny.bz2"))
    return xland_level_space(path=path, max_steps=40, test_fraction=0.0), path


def test_rulesets_come_through_the_packages_loader(space):
    ls, path = space
    bench = load_rulesets(path=path)
    assert bench.num_rulesets() == 3
    levels = jax.vmap(ls.generator.sample)(jax.random.split(jax.random.key(0), 200))
    goals = {tuple(np.asarray(g)) for g in levels.goal}
    assert goals == {tuple(np.asarray(bench.goals[i])) for i in range(3)}  # every ruleset is drawn
    stats = ls.level_stats(levels)
    assert set(np.unique(stats["rules"])) == {0.0, 1.0} and set(np.unique(stats["tiles"])) == {1.0, 2.0, 3.0}
    with pytest.raises(ValueError, match="unknown XLand benchmark 'nope'; valid: trivial-21k"):
        load_rulesets("nope")
    with pytest.raises(FileNotFoundError, match="no such ruleset benchmark file"):
        load_rulesets(path=path + ".missing")


def test_a_test_split_of_the_rulesets_is_kept_for_evaluation(space):
    _, path = space
    ls = xland_level_space(path=path, max_steps=40, test_fraction=0.34)  # of 3 rulesets: 2 train, 1 test
    goals = lambda table: {tuple(np.asarray(g)) for g in table}
    trained_on = goals(jax.vmap(ls.generator.sample)(jax.random.split(jax.random.key(0), 200)).goal)
    evaluated_on = goals(sample_eval_levels(ls, 20)[0].goal)
    bench = load_rulesets(path=path)
    assert len(trained_on) == 2 and len(evaluated_on) == 1 and not trained_on & evaluated_on
    assert trained_on | evaluated_on == goals(bench.goals)
    _, test = bench.shuffle(key=jax.random.key(0)).split(prop=0.66)  # the package's own split
    assert evaluated_on == goals(test.goals)
    with pytest.raises(ValueError, match=r"test_fraction must be in \[0, 1\), got 1.0"):
        xland_level_space(path=path, test_fraction=1.0)
    with pytest.raises(ValueError, match="test_fraction=0.1 of 3 rulesets leaves an empty test split"):
        xland_level_space(path=path, test_fraction=0.1)


def test_levels_are_drawn_by_the_packages_renderer(space):
    from xminigrid.rendering.rgb_render import render

    ls, path = space
    bench = load_rulesets(path=path)
    levels = jax.tree.map(lambda *x: jnp.stack(x), *[bench.get_ruleset(i) for i in range(3)])
    images = np.asarray(jax.jit(jax.vmap(ls.render))(levels))
    assert images.shape == (3, 13 * 16, 13 * 16, 3) and images.dtype == np.uint8
    env, params = xminigrid.make("XLand-MiniGrid-R4-13x13", view_size=5, max_steps=40)
    for i in range(3):
        state = env.reset(params.replace(ruleset=bench.get_ruleset(i)), jax.random.key(0)).state
        np.testing.assert_array_equal(images[i], render(np.asarray(state.grid), state.agent, 5, 16))
    assert not np.array_equal(images[0], images[1])  # different tiles, different pictures


def test_the_generator_draws_as_the_package_does_without_embedding_the_tables(space):
    ls, path = space
    bench = load_rulesets(path=path)
    keys = jax.random.split(jax.random.key(1), 64)
    ours = jax.jit(jax.vmap(ls.generator.sample))(keys)
    theirs = jax.vmap(bench.sample_ruleset)(keys)
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs)):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    nested = jax.vmap(jax.vmap(ls.generator.sample))(keys.reshape(8, 8))  # seeds x envs
    np.testing.assert_array_equal(np.asarray(nested.rules).reshape(64, *ours.rules.shape[1:]), np.asarray(ours.rules))
    # a benchmark 2,000 times larger compiles to a program of the same size: the tables stay on the host
    big = jax.tree.map(lambda a: np.repeat(np.asarray(a), 2000, axis=0), bench)
    hlo = lambda b: jax.jit(xland_generator(b).sample).lower(jax.random.key(0)).as_text()
    assert abs(len(hlo(big)) - len(hlo(bench))) < 100 and len(hlo(big)) < np.asarray(big.rules).nbytes


def test_reset_and_step_match_the_package_on_the_same_ruleset(space):
    ls, path = space
    env, params = xminigrid.make("XLand-MiniGrid-R4-13x13", view_size=5, max_steps=40)
    bench = load_rulesets(path=path)
    reset, step = jax.jit(ls.env.reset_to_level), jax.jit(ls.env.step)
    pkg_reset, pkg_step = jax.jit(env.reset), jax.jit(env.step)
    for i in range(3):
        ruleset = bench.get_ruleset(i)
        p = params.replace(ruleset=ruleset)
        key = jax.random.key(i)
        ts = pkg_reset(p, key)
        obs, state = reset(key, ruleset, ls.env.default_params)
        np.testing.assert_array_equal(state.inner.state.grid, ts.state.grid)
        actions = jax.random.randint(jax.random.key(100 + i), (40,), 0, 6)
        for t, a in enumerate(actions):
            ts = pkg_step(p, ts, a)
            obs, state, rew, done, info = step(jax.random.key(t), state, a, ls.env.default_params)
            np.testing.assert_array_equal(state.inner.observation, ts.observation)
            np.testing.assert_array_equal(state.inner.state.agent.position, ts.state.agent.position)
            assert float(rew) == pytest.approx(float(ts.reward))
            assert bool(done) == bool(ts.step_type == 2)
            assert bool(info["solved"]) == bool((ts.step_type == 2) & (ts.discount == 0))
            # the adapter's observation is the package's, one-hot encoded
            np.testing.assert_array_equal(np.argmax(obs.image[..., :13], -1), ts.observation[..., 0])
            if done:
                break


def test_episodes_end_solved_exactly_when_the_goal_is_achieved(space):
    """Random play on 'be near the red ball': episodes that end before the time limit are
    the solved ones, with the package's reward 1 - 0.9 t / T; the others time out unsolved."""
    ls, path = space
    ruleset = load_rulesets(path=path).get_ruleset(0)
    p = ls.env.default_params

    def episode(key):
        k_reset, k_run = jax.random.split(key)
        _, state = ls.env.reset_to_level(k_reset, ruleset, p)

        def body(c, k):
            state, over, out = c
            _, nstate, rew, done, info = ls.env.step(k, state, jax.random.randint(k, (), 0, 6), p)
            new = ~over & done
            out = jax.tree.map(lambda o, v: jnp.where(new, v, o), out, (info["solved"], rew, info["episode_length"]))
            return (nstate, over | done, out), None

        init = (state, jnp.bool_(False), (jnp.bool_(False), jnp.float32(0), jnp.int32(0)))
        return jax.lax.scan(body, init, jax.random.split(k_run, 40))[0][2]

    solved, reward, length = jax.jit(jax.vmap(episode))(jax.random.split(jax.random.key(0), 512))
    solved, reward, length = map(np.asarray, (solved, reward, length))
    assert 5 < solved.sum() < 507
    np.testing.assert_allclose(reward[solved], 1 - 0.9 * length[solved] / 40, rtol=1e-6)
    assert (length[solved] <= 40).all()
    assert (length[~solved] == 40).all() and (reward[~solved] == 0).all()


def test_mutations_only_touch_distractor_tiles(space):
    ls, path = space
    bench = load_rulesets(path=path)
    parents = jax.vmap(bench.get_ruleset)(jnp.array([0, 1, 2] * 50))
    children = jax.jit(jax.vmap(ls.mutator.mutate))(jax.random.split(jax.random.key(3), 150), parents)
    np.testing.assert_array_equal(children.goal, parents.goal)
    np.testing.assert_array_equal(children.rules, parents.rules)
    changed = np.asarray(children.init_tiles != parents.init_tiles)
    assert not changed[1::3].any()                 # ruleset 1 has no distractor
    assert not changed[:, 0].any()                 # the goal's red ball / the rule's pyramid are never edited
    assert changed[0::3, 1:, 1].any() and not changed[:, :, 0].any()  # only colours of distractors
    assert changed[2::3, 1].any() and not changed[2::3, 2].any()      # the star, never the empty slot


def test_a_missing_package_names_the_install_command(monkeypatch):
    import ued.envs.xland as mod

    monkeypatch.setitem(sys.modules, "xminigrid", None)
    with pytest.raises(ImportError, match=r"pip install -e '.\[xland\]'"):
        mod.xland_level_space(path="x")


@pytest.mark.parametrize("field, index, value", [("goal", (0,), 200), ("rules", (0, 0), 200),
                                                 ("init_tiles", (0, 0), 200), ("init_tiles", (0, 1), 200)])
def test_a_ruleset_with_an_id_the_package_does_not_define_is_not_played(space, field, index, value):
    from ued.envs.xland import valid_ruleset

    ls, _ = space
    level = ls.generator.sample(jax.random.key(0))
    assert bool(valid_ruleset(level))
    level = level.replace(**{field: getattr(level, field).at[index].set(value)})
    _, state = ls.env.reset_to_level(jax.random.key(1), level, ls.env.default_params)
    _, _, r, done, info = jax.jit(ls.env.step)(jax.random.key(2), state, jnp.int32(0), ls.env.default_params)
    assert not bool(valid_ruleset(level)) and bool(done) and float(r) == 0.0
    assert bool(info["invalid_level"]) and not bool(info["solved"])
