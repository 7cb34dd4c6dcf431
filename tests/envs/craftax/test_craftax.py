"""Craftax through the package: levels are its generated worlds, steps equal its own
``step_env`` from the same state, success is the chosen achievement, the mutator swaps blocks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.extras import require

require("craftax", "craftax")

from craftax.craftax_classic.constants import Achievement, BlockType  # noqa: E402
from craftax.craftax_classic.envs.craftax_symbolic_env import CraftaxClassicSymbolicEnvNoAutoReset  # noqa: E402

from ued.envs.craftax import craftax_level_space, craftax_mutator, make_craftax  # noqa: E402

SPACE = craftax_level_space("classic", max_steps=30)
STEP, SAMPLE = jax.jit(SPACE.env.step), jax.jit(SPACE.generator.sample)  # compiled once for the module


def test_a_level_is_the_packages_world_and_steps_are_its_own():
    package = CraftaxClassicSymbolicEnvNoAutoReset()
    params = package.default_params.replace(max_timesteps=30)
    key = jax.random.key(4)
    pobs, pstate = package.reset_env(key, params)
    level = SAMPLE(key)
    raw = lambda x: jax.random.key_data(x) if jnp.issubdtype(jnp.asarray(x).dtype, jax.dtypes.prng_key) else x  # noqa: E731
    for a, b in zip(jax.tree.leaves(level), jax.tree.leaves(pstate)):
        np.testing.assert_array_equal(raw(a), raw(b))
    obs, state = SPACE.env.reset_to_level(key, level, None)
    np.testing.assert_array_equal(obs, pobs)
    step, package_step = STEP, jax.jit(package.step_env)
    actions = jax.random.randint(jax.random.key(5), (30,), 0, 17)
    for t in range(30):
        k = jax.random.key(100 + t)
        pobs, pinner, pr, pdone, _ = package_step(k, state.inner, actions[t], params)
        obs, state, r, done, info = step(k, state, actions[t], None)
        np.testing.assert_allclose(obs, pobs, err_msg=f"step {t}")
        assert float(r) == pytest.approx(float(pr)) and bool(done) == bool(pdone), t
        if done:
            break
    assert bool(done) and int(info["episode_length"]) <= 30  # the package's time limit ends the episode


def test_solved_is_the_chosen_achievement_at_the_episodes_end():
    _, state = SPACE.env.reset_to_level(jax.random.key(1), SAMPLE(jax.random.key(0)), None)
    state = state.replace(inner=state.inner.replace(timestep=jnp.asarray(28, state.inner.timestep.dtype)))
    noop = jnp.int32(0)
    for achieved in (False, True):  # SPACE counts COLLECT_DIAMOND; its episodes end at step 30
        s = state.replace(inner=state.inner.replace(
            achievements=state.inner.achievements.at[Achievement.COLLECT_DIAMOND.value].set(achieved)))
        _, s, _, done, info = STEP(jax.random.key(2), s, noop, None)
        assert not bool(done) and not bool(info["solved"])  # not before the episode ends
        _, s, _, done, info = STEP(jax.random.key(3), s, noop, None)
        assert bool(done) and bool(info["solved"]) == achieved


def test_the_mutator_swaps_blocks_of_the_central_region_and_keeps_their_counts():
    level = SAMPLE(jax.random.key(0))
    child = jax.jit(craftax_mutator(num_edits=30, region=16).mutate)(jax.random.key(1), level)
    before, after = np.asarray(level.map), np.asarray(child.map)
    changed = np.argwhere(before != after)
    assert len(changed) > 10
    assert ((changed >= 24) & (changed < 40)).all()  # inside the central 16x16 of the 64x64 map
    assert np.array_equal(np.bincount(before.ravel(), minlength=20), np.bincount(after.ravel(), minlength=20))
    r, c = np.asarray(level.player_position)
    assert before[r, c] == after[r, c]
    stats = SPACE.level_stats(jax.tree.map(lambda x: x[None], level))
    assert float(stats["diamonds"][0]) == float((before == BlockType.DIAMOND.value).sum())


@pytest.mark.parametrize("call,message", [
    (lambda: make_craftax("tiny"), "unknown Craftax variant 'tiny'; valid: classic, full"),
    (lambda: make_craftax("classic", success_achievement="WIN"), "unknown Craftax achievement 'WIN'; valid: COLLECT_WOOD"),
    (lambda: make_craftax("classic", max_steps=0), "max_steps must be a positive integer, got 0"),
    (lambda: craftax_mutator(region=1), "craftax region must be an integer >= 2, got 1"),
])
def test_bad_settings_are_one_line_errors(call, message):
    with pytest.raises(ValueError, match=message) as e:
        call()
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("change", ["player outside", "unknown block", "not finite"])
def test_an_invalid_world_is_not_played(change):
    level = SAMPLE(jax.random.key(0))
    level = {"player outside": lambda lv: lv.replace(player_position=jnp.array([64, 3], lv.player_position.dtype)),
             "unknown block": lambda lv: lv.replace(map=lv.map.at[0, 0].set(len(BlockType))),
             "not finite": lambda lv: lv.replace(player_hunger=jnp.float32(jnp.nan))
             }[change](level)
    _, state = SPACE.env.reset_to_level(jax.random.key(1), level, None)
    _, _, r, done, info = STEP(jax.random.key(2), state, jnp.int32(0), None)
    assert bool(done) and float(r) == 0.0 and bool(info["invalid_level"]) and not bool(info["solved"])
    _, state = SPACE.env.reset_to_level(jax.random.key(1), SAMPLE(jax.random.key(0)), None)
    assert not bool(STEP(jax.random.key(2), state, jnp.int32(0), None)[4]["invalid_level"])
