"""NAVIX through the package: a level read out of the package's own reset and stepped through
the adapter equals the package's own episode step by step; rewards, success, the solvability
check, generator, mutator and one-line errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.extras import require

require("navix", "navix")

import navix  # noqa: E402
from navix import observations, rewards, terminations  # noqa: E402

from ued.envs.navix import (NavixLevel, is_solvable, level_from_state, make_navix, navix_generator,  # noqa: E402
                            navix_level_space, navix_level_stats, navix_mutator, valid_level)

LEFT, RIGHT, FORWARD, PICKUP, DROP, TOGGLE = range(6)


def package_env(name, penalty=0.9):
    return navix.make(name, observation_fn=observations.symbolic_first_person, reward_fn=rewards.on_goal_reached,
                      termination_fn=terminations.compose(terminations.on_goal_reached, terminations.on_lava_fall),
                      penality_coeff=penalty)


def play(env_name, actions, size=8, penalty=0.9, key=0):
    """Both sides from the package's reset with ``key``: (ours, package's) lists of (obs, reward, done)."""
    pkg = package_env(env_name, penalty)
    ts = pkg.reset(jax.random.key(key))
    level = level_from_state(ts.state, size, size)
    env = make_navix(size, size, max_steps=100, time_penalty=penalty)
    obs, state = env.reset_to_level(jax.random.key(1), level, None)
    assert bool(valid_level(level))
    np.testing.assert_array_equal(np.argmax(obs.image[..., :11], -1), ts.observation[..., 0])
    step, pkg_step = jax.jit(env.step), jax.jit(pkg.step)
    ours, theirs = [], []
    for a in actions:
        obs, state, r, done, info = step(jax.random.key(0), state, jnp.int32(a), None)
        ts = pkg_step(ts, jnp.int32(a))
        ours.append((obs, float(r), bool(done), bool(info["solved"])))
        theirs.append((ts.observation, float(ts.reward), bool(ts.step_type > 0), bool(ts.state.events.goal_reached.happened)))
        if done:
            break
    return ours, theirs, level


def decode(obs):
    """The package's symbolic triple back from our one-hot image."""
    return np.stack([np.argmax(obs.image[..., :11], -1), np.argmax(obs.image[..., 11:17], -1),
                     np.argmax(obs.image[..., 17:], -1)], -1)


@pytest.mark.parametrize("name,size", [("Navix-DoorKey-Random-8x8-v0", 8), ("Navix-LavaGapS7-v0", 7),
                                       ("Navix-SimpleCrossingS9N1-v0", 9)])
def test_a_level_read_from_the_packages_reset_plays_as_the_packages_episode(name, size):
    actions = np.asarray(jax.random.randint(jax.random.key(7), (100,), 0, 6))
    ours, theirs, _ = play(name, actions, size=size)
    assert len(ours) == len(theirs) >= 1
    for t, ((obs, r, d, s), (pobs, pr, pd, ps)) in enumerate(zip(ours, theirs)):
        pobs = np.asarray(pobs)
        colour = np.where(pobs[..., 1] < 6, pobs[..., 1], 0)  # the package's UNSET colour (255) is all zeros in ours
        np.testing.assert_array_equal(decode(obs)[..., 0], pobs[..., 0], err_msg=f"step {t}")
        np.testing.assert_array_equal(decode(obs)[..., 1], colour, err_msg=f"step {t}")
        np.testing.assert_array_equal(decode(obs)[..., 2], pobs[..., 2], err_msg=f"step {t}")
        assert (r, d, s) == (pr, pd, ps), f"step {t}"


def test_reaching_the_goal_pays_minigrids_time_penalised_reward_and_is_solved():
    # Empty-8x8: the player at (1, 1) facing east, the goal at (6, 6): 5 forward, turn right, 5 forward
    actions = [FORWARD] * 5 + [RIGHT] + [FORWARD] * 5
    ours, theirs, _ = play("Navix-Empty-8x8-v0", actions)
    assert len(ours) == 11 and ours[-1][2:] == (True, True) and not any(o[3] for o in ours[:-1])
    assert ours[-1][1] == pytest.approx(1 - 0.9 * 11 / 100) and ours[-1][1] == theirs[-1][1]
    ours, _, _ = play("Navix-Empty-8x8-v0", actions, penalty=0.0)
    assert ours[-1][1] == 1.0  # the package's plain reward


def test_a_door_opens_only_with_its_key():
    level = NavixLevel(walls=jnp.zeros((5, 6), bool).at[0].set(True).at[-1].set(True).at[:, 0].set(True)
                       .at[:, -1].set(True).at[1:4, 3].set(True),
                       lava=jnp.zeros((5, 6), bool), player_pos=jnp.array([2, 1]), player_dir=jnp.int32(0),
                       goal_pos=jnp.array([2, 4]), key_pos=jnp.array([3, 1]), door_pos=jnp.array([2, 3]),
                       has_door=jnp.bool_(True))
    level = level.replace(walls=level.walls.at[2, 3].set(False))
    assert bool(is_solvable(level))
    env = make_navix(5, 6, max_steps=50)
    _, state = env.reset_to_level(jax.random.key(0), level, None)

    def run(state, actions):
        for a in actions:
            _, state, r, done, info = env.step(jax.random.key(0), state, jnp.int32(a), None)
        return state, r, done, info

    locked, _, done, _ = run(state, [FORWARD, TOGGLE, FORWARD])  # no key: the door stays shut
    assert not bool(done) and locked.inner.state.entities["player"].position[0].tolist() == [2, 2]
    # face south, pick up the key, face east, open, walk through to the goal
    _, r, done, info = run(state, [RIGHT, PICKUP, LEFT, FORWARD, TOGGLE, FORWARD, FORWARD])
    assert bool(done) and bool(info["solved"]) and float(r) > 0


def test_the_solvability_check():
    walls = jnp.zeros((5, 5), bool).at[0].set(True).at[-1].set(True).at[:, 0].set(True).at[:, -1].set(True)
    base = NavixLevel(walls=walls, lava=jnp.zeros((5, 5), bool), player_pos=jnp.array([1, 1]), player_dir=jnp.int32(0),
                      goal_pos=jnp.array([3, 3]), key_pos=jnp.array([0, 0]), door_pos=jnp.array([0, 0]),
                      has_door=jnp.bool_(False))
    assert bool(is_solvable(base))
    cut = base.replace(walls=walls.at[:, 2].set(True))  # a full wall between player and goal
    assert not bool(is_solvable(cut))
    assert not bool(is_solvable(base.replace(lava=jnp.zeros((5, 5), bool).at[1:4, 2].set(True))))  # lava blocks too
    door = cut.replace(walls=cut.walls.at[2, 2].set(False), has_door=jnp.bool_(True), door_pos=jnp.array([2, 2]),
                       key_pos=jnp.array([3, 1]))
    assert bool(is_solvable(door))
    assert not bool(is_solvable(door.replace(key_pos=jnp.array([1, 3]))))  # the key behind its own door
    assert not bool(valid_level(base.replace(goal_pos=jnp.array([1, 1]))))  # the player on the goal


def test_invalid_levels_end_at_once():
    level = jax.jit(navix_generator().sample)(jax.random.key(0))
    env = make_navix()
    _, state = env.reset_to_level(jax.random.key(0), level.replace(player_pos=jnp.array([0, 0])), None)  # on a wall
    _, _, r, done, info = env.step(jax.random.key(0), state, jnp.int32(FORWARD), None)
    assert bool(done) and float(r) == 0.0 and bool(info["invalid_level"])


def test_the_generator_is_the_packages_reset_and_the_mutator_keeps_levels_valid():
    keys = jax.random.split(jax.random.key(0), 64)
    levels = jax.jit(jax.vmap(navix_generator().sample))(keys)
    pkg = navix.make("Navix-DoorKey-Random-8x8-v0")
    first = level_from_state(pkg.reset(keys[3]).state, 8, 8)
    assert all(np.array_equal(a[3], b) for a, b in zip(jax.tree.leaves(levels), jax.tree.leaves(first)))
    stats = navix_level_stats(levels)
    assert (np.asarray(stats["solvable"]) == 1).all() and (np.asarray(stats["has_door"]) == 1).all()
    assert len({tuple(np.asarray(p)) for p in levels.door_pos}) > 3  # the package's random door placement
    children = jax.jit(jax.vmap(navix_mutator(10).mutate))(jax.random.split(jax.random.key(1), 64), levels)
    assert np.asarray(jax.vmap(valid_level)(children)).all()
    changed = np.asarray(jnp.any(children.walls != levels.walls, axis=(1, 2)) | jnp.any(children.lava != levels.lava, axis=(1, 2))
                         | jnp.any(children.goal_pos != levels.goal_pos, axis=1))
    assert changed.mean() > 0.8
    assert np.asarray(children.walls[:, 0]).all() and np.asarray(children.walls[:, :, -1]).all()  # the border stays


def test_held_out_levels_are_the_packages_fixed_layouts():
    space = navix_level_space(held_out=("Navix-Empty-8x8-v0", "Navix-LavaGapS7-v0"))
    assert space.held_out_names == ("Navix-Empty-8x8-v0", "Navix-LavaGapS7-v0")
    assert space.held_out.goal_pos[0].tolist() == [6, 6] and int(space.held_out.lava[1].sum()) == 4
    assert np.asarray(space.held_out.walls[1, 7]).all()  # the 7x7 layout padded with walls
    img = space.render(jax.tree.map(lambda x: x[0], space.held_out))
    assert img.shape[-1] == 3 and len(np.unique(np.asarray(img).reshape(-1, 3), axis=0)) > 2


def test_the_paired_editor_builds_interior_layouts():
    from ued.envs.navix import navix_editor

    editor = navix_editor(8, 8)
    assert (editor.height, editor.width) == (6, 6)
    walls = jnp.zeros((6, 6), bool).at[2, :].set(True).at[2, 5].set(False)
    level = editor.build(walls, jnp.array([4, 5]), jnp.array([0, 0]), jax.random.key(0), jnp.int32(2))  # goal (x=4, y=5)
    assert level.goal_pos.tolist() == [6, 5] and level.player_pos.tolist() == [1, 1] and not bool(level.has_door)
    assert int(level.player_dir) == 2  # the heading as given
    assert np.asarray(level.walls[0]).all() and np.asarray(level.walls[3, 1:6]).all() and not bool(level.walls[3, 6])
    assert bool(valid_level(level)) and bool(is_solvable(level))


@pytest.mark.parametrize("call,message", [
    (lambda: navix_generator("Navix-Nope-v0"), "unknown NAVIX environment 'Navix-Nope-v0'; valid: Navix-Empty-5x5-v0"),
    (lambda: navix_generator("Navix-Dynamic-Obstacles-8x8-v0"), "suite Navix-Dynamic-Obstacles-8x8-v0: NAVIX layouts with ball"),
    (lambda: navix_generator("Navix-KeyCorridorS3R2-v0"), "NAVIX layouts with 6 doors are not supported"),
    (lambda: navix_level_space(held_out=("Navix-DistShift1-v0",)),
     "held-out level Navix-DistShift1-v0: a 7x9 NAVIX layout does not fit the 8x8 level space"),
    (lambda: make_navix(radius=0), "navix radius must be an integer >= 1, got 0"),
    (lambda: make_navix(time_penalty=2.0), r"time_penalty must be in \[0, 1\], got 2.0"),
])
def test_bad_settings_are_one_line_errors(call, message):
    with pytest.raises(ValueError, match=message) as e:
        call()
    assert "\n" not in str(e.value)
