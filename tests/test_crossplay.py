"""Two-player evaluation: matches by hand, the round-robin command and its heatmap."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.curricula.test_maestro import fixed_agent
from ued.envs.lasertag import STAY, TAG, lasertag_level_space, parse_arena
from ued.envs.maze import maze_level_space
from ued.evaluate.crossplay import CrossPlayError, cross_play, main, make_match

SPACE = lasertag_level_space(size=5, n_walls=3, max_steps=10, held_out=None)
FACING = parse_arena(["0...1", "#####", ".....", ".....", "....."])  # the players face each other down a corridor


def test_a_match_counts_wins_losses_and_draws_from_the_students_seat():
    match = jax.jit(make_match(SPACE.env, fixed_agent(), episodes=3))
    levels = jax.tree.map(lambda x: jnp.stack([x, x]), FACING)
    out = match({"a": jnp.int32(TAG)}, {"a": jnp.int32(STAY)}, levels, jax.random.key(0))
    np.testing.assert_allclose(out["win"], 1.0) and np.testing.assert_allclose(out["loss"], 0.0)
    out = match({"a": jnp.int32(STAY)}, {"a": jnp.int32(TAG)}, levels, jax.random.key(0))
    np.testing.assert_allclose(out["loss"], 1.0) and np.testing.assert_allclose(out["win"], 0.0)
    out = match({"a": jnp.int32(STAY)}, {"a": jnp.int32(STAY)}, levels, jax.random.key(0))
    np.testing.assert_allclose(out["draw"], 1.0)
    rr = cross_play(match, [{"a": jnp.int32(TAG)}, {"a": jnp.int32(STAY)}], levels, jax.random.key(1))
    np.testing.assert_allclose(rr["win"], [[0.0, 1.0], [0.0, 0.0]])  # tag vs tag is a draw
    np.testing.assert_allclose(rr["loss"], [[0.0, 0.0], [1.0, 0.0]])
    with pytest.raises(CrossPlayError, match="cross-play needs a two-player level space; maze"):
        make_match(maze_level_space().env, fixed_agent())


@pytest.mark.slow
def test_the_round_robin_command_writes_the_matrix_and_its_heatmap(tmp_path, capsys):
    from tests.tiny import tiny_config
    from ued.train import train

    run = tmp_path / "sp_run"
    train(tiny_config("sp", "num_updates=1", "env.max_steps=8", "eval.every=0", "eval.random_levels=0"), str(run))
    out = tmp_path / "xp"
    assert main([f"runs=[{run},{run}]", f"out={out}", "levels=8", "episodes=2"]) == 0
    summary = json.load(open(out / "crossplay.json"))
    assert np.shape(summary["win"]) == (2, 2) and summary["names"] == ["sp_run", "sp_run"]
    assert all(0.0 <= w + l <= 1.0 for rw, rl in zip(summary["win"], summary["loss"]) for w, l in zip(rw, rl))
    assert set(summary["arenas"]["sp_run"]) == {"Open", "Pillars", "Corridors", "Cross"}
    assert os.path.getsize(out / "crossplay.png") > 1000
    assert main(["runs=[a]", "levels=0", f"out={out}"]) == 2
    assert "levels must be a positive integer" in capsys.readouterr().err
