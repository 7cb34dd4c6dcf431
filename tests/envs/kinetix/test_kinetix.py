"""Kinetix through kinetix-env (run in its own environment with jax 0.9.0, see README): levels
are the package's scenes, steps equal its own, ``solved`` is its goal flag, the generator and
mutator are its own, its hand-designed levels are the held-out set."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.extras import require

require("kinetix", "kinetix")

from kinetix.environment import ActionType, EnvParams, ObservationType, make_kinetix_env  # noqa: E402
from kinetix.environment import static_env_params_from_size  # noqa: E402

from ued.envs.kinetix import (  # noqa: E402
    kinetix_generator, kinetix_level_space, kinetix_mutator, level_names, make_kinetix, named_levels, noop_check,
    pick_unsolved)

SPACE = kinetix_level_space("s", max_steps=40, filter_steps=8)  # the no-op filter on short rollouts
STEP = jax.jit(SPACE.env.step)  # compiled once for the module
SAMPLE = jax.jit(jax.vmap(SPACE.generator.sample))
GREEN, BLUE, RED = 1, 2, 3


def _level(i):
    return jax.tree.map(lambda x: x[i], SPACE.held_out)


def _roles(levels):
    """(polygon roles, circle roles) of active shapes, inactive ones as -1."""
    return (jnp.where(levels.polygon.active, levels.polygon_shape_roles, -1),
            jnp.where(levels.circle.active, levels.circle_shape_roles, -1))


def test_the_held_out_levels_are_the_packages_hand_designed_set():
    assert SPACE.held_out_names == tuple(level_names("s"))
    assert len(SPACE.held_out_names) == 10 and SPACE.held_out_names[0] == "s/h0_weak_thrust"
    assert SPACE.held_out.polygon.position.shape[:2] == (10, 5)  # the s size: 5 polygons, 2 circles
    with pytest.raises(ValueError, match="unknown Kinetix level 's/nope'; valid: a JSON file"):
        named_levels("s", ["s/nope"])
    with pytest.raises(ValueError, match=r"do not fit size 's'; use env.size=l"):
        named_levels("s", ["l/h4_cartpole"])


def test_steps_equal_the_packages_own_on_its_levels():
    params = EnvParams().replace(max_timesteps=40)
    package = make_kinetix_env(ActionType.DISCRETE, ObservationType.SYMBOLIC_FLAT, None, params,
                               static_env_params_from_size("s"))  # the package's own auto-resetting env
    for i in (0, 2, 6):  # a thruster, a car with a motor, a unicycle
        level = _level(i)
        key = jax.random.key(i)
        pobs, pstate = package.reset(key, params, override_reset_state=level)
        obs, state = SPACE.env.reset_to_level(key, level, None)
        np.testing.assert_array_equal(obs, pobs)
        actions = jax.random.randint(jax.random.key(10 + i), (40,), 0, SPACE.env.action_space.n)
        for t in range(40):
            k = jax.random.key(100 + t)
            pobs, pstate, pr, pdone, _ = package.step(k, pstate, actions[t], params, override_reset_state=level)
            obs, state, r, done, info = STEP(k, state, actions[t], None)
            assert bool(done) == bool(pdone) and float(r) == pytest.approx(float(pr), abs=1e-6), (i, t)
            if done:
                break
            np.testing.assert_allclose(obs, pobs, rtol=1e-5, atol=1e-5, err_msg=f"level {i} step {t}")
        assert bool(done) and int(info["episode_length"]) == t + 1


def test_solved_is_the_packages_goal_flag_at_the_episodes_end():
    level = _level(0)  # h0: a green ball (circle 0), a blue ball (circle 1), a red floor (polygon 0)
    assert _roles(level)[1].tolist() == [GREEN, BLUE] and int(level.polygon_shape_roles[0]) == RED
    noop = jnp.int32(SPACE.env.action_space.n - 1 - 2)  # 2 x 4 motor bindings: the package's no-op
    cases = {"onto blue": level.circle.position[1], "into the red floor": level.polygon.position[0]}
    for name, where in cases.items():
        moved = level.replace(circle=level.circle.replace(position=level.circle.position.at[0].set(where)))
        _, state = SPACE.env.reset_to_level(jax.random.key(0), moved, None)
        _, state, r, done, info = STEP(jax.random.key(1), state, noop, None)
        assert bool(done), name
        assert bool(info["solved"]) == (name == "onto blue") and (float(r) > 0.5) == (name == "onto blue"), name
    still = level.replace(gravity=jnp.zeros_like(level.gravity))  # nothing falls: the time limit ends it
    _, state = SPACE.env.reset_to_level(jax.random.key(0), still, None)
    for t in range(40):
        _, state, r, done, info = STEP(jax.random.key(t), state, noop, None)
        if done:
            break
    assert t == 39 and not bool(info["solved"]) and int(info["episode_length"]) == 40


def test_the_noop_filter_tells_solved_scenes_and_avoids_them():
    level = _level(0)  # h0: doing nothing drops the green ball on the red floor
    onto_blue = level.replace(circle=level.circle.replace(position=level.circle.position.at[0].set(
        level.circle.position[1])))
    pair = jax.tree.map(lambda a, b: jnp.stack([a, b]), level, onto_blue)
    solved = jax.jit(jax.vmap(noop_check("s", 8)))(jax.random.split(jax.random.key(0), 2), pair)
    assert solved.tolist() == [False, True]
    picks = jax.jit(jax.vmap(pick_unsolved, in_axes=(0, None, None)))(
        jax.random.split(jax.random.key(1), 20000), jnp.arange(2), solved)
    assert 0 < int(jnp.sum(picks == 1)) < 60  # the solved one weighs 0.001 against 1: ~20 of 20,000
    both = pick_unsolved(jax.random.key(2), jnp.arange(2), jnp.array([True, True]))
    assert int(both) in (0, 1)  # all solved: one of them all the same


def test_generated_levels_are_the_packages_random_scenes():
    levels = SAMPLE(jax.random.split(jax.random.key(0), 6))
    poly, circ = _roles(levels)
    for role in (GREEN, BLUE):  # every scene has a green shape and a blue one
        assert bool(jnp.all(jnp.any(poly == role, axis=1) | jnp.any(circ == role, axis=1))), role
    assert len({np.asarray(p).tobytes() for p in levels.polygon.position}) == 6  # distinct scenes
    stats = SPACE.level_stats(levels)
    assert set(stats) == {"shapes", "fixated", "joints", "thrusters"} and stats["shapes"].shape == (6,)
    assert bool(jnp.all((stats["shapes"] >= 2) & (stats["shapes"] <= 1 + 2)))  # s: 1 free polygon, 2 circles
    assert bool(jnp.all(stats["joints"] <= 1)) and bool(jnp.all(stats["thrusters"] <= 1))


def test_the_mutator_edits_scenes_and_never_removes_a_shape():
    levels = SAMPLE(jax.random.split(jax.random.key(1), 4))
    mutated = jax.jit(jax.vmap(SPACE.mutator.mutate))(jax.random.split(jax.random.key(2), 4), levels)
    changed = [not all(np.array_equal(a[i], b[i]) for a, b in zip(jax.tree.leaves(levels), jax.tree.leaves(mutated)))
               for i in range(4)]
    assert all(changed)
    before, after = SPACE.level_stats(levels), SPACE.level_stats(mutated)  # the package's edits add, move, reshape
    assert bool(jnp.all(after["shapes"] >= before["shapes"]))
    jax.tree.map(lambda a, b: None if a.shape == b.shape and a.dtype == b.dtype else pytest.fail("shape"), levels, mutated)
    with pytest.raises(ValueError, match="kinetix num_edits must be an integer >= 1, got 0"):
        kinetix_mutator("s", 0)


def test_the_renderer_draws_the_scene():
    img = np.asarray(jax.jit(SPACE.render)(_level(0)))
    assert img.shape == (125, 125, 3) and img.dtype == np.uint8
    green = (img[..., 1] > 150) & (img[..., 0] < 80) & (img[..., 2] < 80)
    blue = (img[..., 2] > 150) & (img[..., 0] < 80)
    rows_g, rows_b = np.nonzero(green)[0], np.nonzero(blue)[0]
    assert rows_g.size and rows_b.size
    assert rows_b.mean() < rows_g.mean()  # h0's blue ball is above the green one (image rows grow downwards)


def test_bad_settings_are_refused_in_one_line():
    for kwargs, msg in (({"size": "xl"}, "unknown Kinetix size 'xl'; valid: s, m, l"),
                        ({"action": "multi_discrete"}, "'multi_discrete' has no ued action space; valid: discrete, continuous"),
                        ({"action": "pixels"}, "unknown Kinetix action type 'pixels'; valid: discrete, continuous"),
                        ({"max_steps": 0}, "max_steps must be a positive integer, got 0"),
                        ({"dense_reward_scale": -1}, "dense_reward_scale must be a number >= 0, got -1")):
        with pytest.raises(ValueError, match=msg):
            make_kinetix(**kwargs)
    with pytest.raises(ValueError, match="kinetix filter_ratio must be an integer >= 1, got 0"):
        kinetix_generator("s", 64, 0)
    env = make_kinetix("s", "continuous")
    assert env.action_space.shape == (6,) and env.action_space.low == -1.0  # 4 motor + 2 thruster bindings
