"""gymnax's classic control through the package: reset and steps equal the package's own
dynamics under the level's parameters, the task's success as ``solved``, generator, mutator,
held-out grid and one-line errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.extras import require

require("gymnax", "gymnax")

from gymnax.environments.classic_control.acrobot import Acrobot  # noqa: E402
from gymnax.environments.classic_control.cartpole import CartPole  # noqa: E402
from gymnax.environments.classic_control.pendulum import Pendulum  # noqa: E402

from ued.agents import vector_agent  # noqa: E402
from ued.envs.gymnax import gymnax_generator, gymnax_level_space, gymnax_mutator, held_out_grid, make_gymnax  # noqa: E402
from ued.types import Box, Discrete  # noqa: E402

ACROBOT_TIE = {"link_length_2": "link_length_1", "link_mass_2": "link_mass_1"}
CASES = {
    # name: (package env, level, the package's params for that level written by hand, action sampler)
    "CartPole-v1": (CartPole(), {"length": 0.9, "masspole": 0.3},
                    lambda p: p.replace(length=0.9, masspole=0.3, total_mass=p.masscart + 0.3, polemass_length=0.27),
                    lambda k: jax.random.randint(k, (), 0, 2)),
    "Acrobot-v1": (Acrobot(), {"link_length_1": 1.5, "link_mass_1": 0.7},
                   lambda p: p.replace(link_length_1=1.5, link_length_2=1.5, link_mass_1=0.7, link_mass_2=0.7),
                   lambda k: jax.random.randint(k, (), 0, 3)),
    "Pendulum-v1": (Pendulum(), {"l": 2.0, "m": 0.5}, lambda p: p.replace(l=2.0, m=0.5),
                    lambda k: jax.random.uniform(k, (1,), minval=-2.0, maxval=2.0)),
}


def env_for(name, **kw):
    level = CASES[name][1]
    return make_gymnax(name, tuple(level), ACROBOT_TIE if name == "Acrobot-v1" else None, **kw)


@pytest.mark.parametrize("name", list(CASES))
def test_reset_and_steps_equal_the_packages_dynamics_under_the_levels_parameters(name):
    package, level, params_of, act = CASES[name]
    params = params_of(package.default_params)
    env = env_for(name)
    level = {k: jnp.float32(v) for k, v in level.items()}
    key = jax.random.key(3)
    obs, state = env.reset_to_level(key, level, env.default_params)
    pobs, pstate = package.reset_env(key, params)
    np.testing.assert_allclose(obs, pobs, rtol=1e-6)
    step, package_step = jax.jit(env.step), jax.jit(package.step_env)
    for t in range(params.max_steps_in_episode):  # each step from the same state (Acrobot is chaotic: float
        key, k_act, k_step = jax.random.split(key, 3)  # rounding of two compiled programs would grow over an episode)
        a = act(k_act)
        pobs, pstate, pr, pterminated, _ = package_step(k_step, state.inner, a, params)
        obs, state, r, done, info = step(k_step, state, a, env.default_params)
        pdone = pterminated | package.is_truncated(pstate, params)  # what the package's own step ends on
        np.testing.assert_allclose(obs, pobs, rtol=1e-5, atol=1e-6, err_msg=f"step {t}")
        for leaf, pleaf in zip(jax.tree.leaves(state.inner), jax.tree.leaves(pstate)):
            np.testing.assert_allclose(leaf, pleaf, rtol=1e-5, atol=1e-6, err_msg=f"step {t}")
        assert float(r) == pytest.approx(float(pr), rel=1e-5, abs=1e-6) and bool(done) == bool(pdone)
        assert int(state.episode_length) == t + 1
        if done:
            assert float(info["episode_return"]) == pytest.approx(float(state.episode_return))
            break
    assert bool(done)  # every episode ends, at the latest at the package's time limit


def test_cartpole_is_solved_by_reaching_the_time_limit_and_not_by_falling():
    env = make_gymnax("CartPole-v1", ("length", "masspole"), max_steps=5)
    _, state = env.reset_to_level(jax.random.key(0), {"length": jnp.float32(0.5), "masspole": jnp.float32(0.1)}, None)
    for t in range(5):
        _, state, r, done, info = env.step(jax.random.key(t), state, jnp.int32(t % 2), None)
    assert bool(done) and bool(info["solved"]) and float(info["episode_return"]) == 5.0
    env = make_gymnax("CartPole-v1", ("length", "masspole"))
    _, state = env.reset_to_level(jax.random.key(0), {"length": jnp.float32(0.5), "masspole": jnp.float32(0.1)}, None)
    state = state.replace(inner=state.inner.replace(theta=jnp.float32(0.3)))  # past 12 degrees: the pole has fallen
    _, _, _, done, info = env.step(jax.random.key(0), state, jnp.int32(0), None)
    assert bool(done) and not bool(info["solved"])


def test_acrobot_is_solved_by_its_termination_and_pendulum_by_ending_upright():
    env = env_for("Acrobot-v1")
    _, state = env.reset_to_level(jax.random.key(0), {"link_length_1": jnp.float32(1.0), "link_mass_1": jnp.float32(1.0)},
                                  None)
    up = state.replace(inner=state.inner.replace(joint_angle1=jnp.float32(jnp.pi), velocity_1=jnp.float32(0.0),
                                                 velocity_2=jnp.float32(0.0)))
    _, _, _, done, info = env.step(jax.random.key(0), up, jnp.int32(1), None)
    assert bool(done) and bool(info["solved"])
    _, _, _, done, info = env.step(jax.random.key(0), state, jnp.int32(1), None)
    assert not bool(done) and not bool(info["solved"])
    env = make_gymnax("Pendulum-v1", ("l", "m"), max_steps=1, upright_tolerance=0.25)
    _, state = env.reset_to_level(jax.random.key(0), {"l": jnp.float32(1.0), "m": jnp.float32(1.0)}, None)
    for theta, solved in [(2 * jnp.pi, True), (0.1, True), (jnp.pi, False)]:
        s = state.replace(inner=state.inner.replace(theta=jnp.float32(theta), theta_dot=jnp.float32(0.0)))
        _, _, _, done, info = env.step(jax.random.key(0), s, jnp.zeros(1), None)
        assert bool(done) and bool(info["solved"]) == solved, theta


def test_an_invalid_level_ends_at_once_with_no_reward():
    env = env_for("CartPole-v1")
    for bad in (-1.0, 0.0, float("nan")):
        _, state = env.reset_to_level(jax.random.key(0), {"length": jnp.float32(0.5), "masspole": jnp.float32(bad)}, None)
        _, _, r, done, info = env.step(jax.random.key(1), state, jnp.int32(1), None)
        assert bool(done) and float(r) == 0.0 and bool(info["invalid_level"]) and not bool(info["solved"])


def test_generator_and_mutator_stay_in_their_ranges():
    ranges = {"length": [0.01, 10.01], "masspole": [0.5, 2.0]}
    levels = jax.vmap(gymnax_generator(ranges).sample)(jax.random.split(jax.random.key(0), 4000))
    for k, (lo, hi) in ranges.items():
        v = np.asarray(levels[k])
        assert lo <= v.min() and v.max() <= hi and abs(v.mean() - (lo + hi) / 2) < 0.05 * (hi - lo)
    logs = jax.vmap(gymnax_generator({"l": [0.1, 10.0]}, log_uniform=True).sample)(jax.random.split(jax.random.key(1), 4000))
    assert abs(np.median(np.asarray(logs["l"])) - 1.0) < 0.15  # log-uniform: the median is the geometric mean
    mutate = jax.vmap(gymnax_mutator(ranges, num_edits=1, step=0.1).mutate)
    children = mutate(jax.random.split(jax.random.key(2), 4000), levels)
    changed = sum((np.asarray(children[k]) != np.asarray(levels[k])).astype(int) for k in ranges)
    assert changed.max() == 1 and changed.mean() > 0.9  # one parameter per edit
    for k, (lo, hi) in ranges.items():
        c, p = np.asarray(children[k]), np.asarray(levels[k])
        assert lo <= c.min() and c.max() <= hi and np.abs(c - p).max() <= 0.1 * (hi - lo) + 1e-5


def test_held_out_levels_are_a_log_spaced_grid_plus_the_packages_default():
    levels, names = held_out_grid({"length": [0.05, 10.0], "masspole": [0.05, 10.0]}, 3,
                                  {"length": 0.5, "masspole": 0.1})
    assert len(names) == 10 and names[-1] == "default" and names[0] == "length=0.05,masspole=0.05"
    np.testing.assert_allclose(np.unique(np.asarray(levels["length"][:-1])), [0.05, np.sqrt(0.5), 10.0], rtol=1e-6)
    assert (float(levels["length"][-1]), float(levels["masspole"][-1])) == pytest.approx((0.5, 0.1))
    space = gymnax_level_space("CartPole-v1", held_out_grid_ranges={"length": [0.05, 10.0]}, held_out_points=2)
    assert space.held_out_names == ("length=0.05", "length=10", "default")
    assert float(space.held_out["masspole"][0]) == pytest.approx(0.1)  # the ungridded parameter at its default


def test_action_spaces_and_the_vector_agent():
    assert env_for("CartPole-v1").action_space == Discrete(2) and env_for("Acrobot-v1").action_space == Discrete(3)
    box = env_for("Pendulum-v1").action_space
    assert isinstance(box, Box) and box.shape == (1,) and (box.low, box.high) == (-2.0, 2.0)
    for space, obs_dim in [(Discrete(3), 6), (box, 3)]:
        agent = vector_agent(space, embed=8, hidden=8, head=8)
        params = agent.init(jax.random.key(0), jnp.zeros(obs_dim))
        carry, dist, value = agent.apply(params, agent.initial_carry(5), jnp.zeros((2, 5, obs_dim)),
                                         jnp.zeros((2, 5), bool))
        a = agent.sample(jax.random.key(1), jax.tree.map(lambda x: x[0], dist))
        assert value.shape == (2, 5) and a.shape == ((5,) if isinstance(space, Discrete) else (5, 1))


@pytest.mark.parametrize("call,message", [
    (lambda: make_gymnax("MountainCar-v0"), "unknown gymnax system 'MountainCar-v0'; valid: CartPole-v1"),
    (lambda: make_gymnax("CartPole-v1", ("mass",)), "CartPole-v1 has no settable float parameter 'mass'; valid: .*masspole"),
    (lambda: make_gymnax("CartPole-v1", ("total_mass",)), "no settable float parameter 'total_mass'"),
    (lambda: make_gymnax("Acrobot-v1", ("link_mass_1",), {"link_mass_2": "link_length_1"}),
     "tie link_mass_2: 'link_length_1' is not a varied parameter"),
    (lambda: gymnax_generator({"length": [2.0, 1.0]}), r"ranges.length must be \[low, high\] with 0 < low <= high"),
    (lambda: gymnax_mutator({"length": [1.0, 2.0]}, step=0.0), r"mutation step must be in \(0, 1\]"),
    (lambda: make_gymnax("CartPole-v1", upright_tolerance=0.3), "upright_tolerance is Pendulum-v1's success threshold"),
    (lambda: make_gymnax("Pendulum-v1", ("l",), upright_tolerance=-1.0), r"upright_tolerance must be in \(0, pi\]"),
    (lambda: gymnax_level_space(held_out_grid_ranges={"gravity": [1.0, 2.0]}),
     "held_out_grid.gravity is not a varied parameter"),
])
def test_bad_settings_are_one_line_errors(call, message):
    with pytest.raises(ValueError, match=message) as e:
        call()
    assert "\n" not in str(e.value)
