"""The learning test: PPO with the loop, on a trivial level space, must actually learn."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ued.agents import PPOConfig, maze_agent
from ued.curricula import dr
from ued.envs.maze import maze_level_space
from ued.loop import make_train

TRIVIAL = ("TrivialMaze", "TrivialMaze2", "TrivialMaze3")


@pytest.mark.slow
def test_agent_learns_the_trivial_mazes():
    ls = maze_level_space(height=7, width=7, max_steps=64, train_levels=TRIVIAL, held_out=TRIVIAL)
    agent = maze_agent(ls.env.action_space, hidden=32)
    ppo = PPOConfig(lr=1e-3, update_epochs=4, num_minibatches=2, gamma=0.99, gae_lambda=0.95, ent_coef=0.01)
    updates = 100
    trainer = make_train(ls, dr(ls, 16), agent, ppo, num_envs=16, num_steps=64, num_updates=updates,
                         updates_per_chunk=20, eval_attempts=8)
    state = jax.jit(trainer.init)(jax.random.key(0))
    evaluate = jax.jit(trainer.evaluate)
    before = evaluate(state.params, jax.random.key(1))
    chunk = jax.jit(trainer.chunk)
    for i in range(updates // 20):
        state, metrics, _ = chunk(state, jnp.int32(20 * i))
    after = evaluate(state.params, jax.random.key(2))
    greedy = np.asarray(after["named"]["greedy"]["solve_rate"])
    assert greedy.mean() >= 0.9, greedy
    assert float(np.asarray(metrics["solve_rate"])[-1]) >= 0.9
    assert float(np.asarray(before["named"]["greedy"]["solve_rate"]).mean()) < 0.5  # it was not solved from the start
