"""A new curriculum from library parts, trained with ``make_train``, no library edits.

"Online SFL": half of every batch is replayed from a learnability-ranked buffer that is filled
from the training rollouts themselves (no separate sampling pass), the other half is fresh.

    python experiments/custom_curriculum.py --updates 20
"""

import argparse

import jax
import jax.numpy as jnp

from ued.agents import PPOConfig, maze_agent
from ued.buffers import plr_buffer
from ued.curricula import sample_levels, top_stored_levels
from ued.envs.maze import maze_level_space
from ued.loop import make_train
from ued.scores import learnability
from ued.types import Curriculum, Observed, Proposal


# ---- the curriculum: 30 lines ------------------------------------------------------
def online_sfl(space, num_levels, capacity=500, top_k=100):
    score = learnability()
    buffer = plr_buffer(capacity=capacity, prioritisation="topk", top_k=top_k, staleness_coef=0.0, min_fill=0.05)
    half = num_levels // 2

    def init(key, student):
        return buffer.init(space.generator.sample(key))

    def propose(buf, key, student):
        k_buf, k_new = jax.random.split(key)
        fresh = sample_levels(space.generator, k_new, num_levels)
        buf, _, replay = buffer.sample(buf, k_buf, half)
        use = buffer.ready(buf)  # replay only once the buffer has enough levels
        levels = jax.tree.map(lambda r, f: f.at[:half].set(jnp.where(use, r, f[:half])), replay, fresh)
        replayed = (jnp.arange(num_levels) < half) & use
        return buf, levels, Proposal(train_weights=jnp.ones(num_levels), replayed=replayed)

    def observe(buf, key, levels, proposal, rollout, student):
        result = score.compute(rollout, levels, {})
        fresh = result.valid & ~proposal.replayed  # replayed levels are already stored
        buf = buffer.insert(buf, levels, result.scores, None, fresh)
        metrics = {"buffer_size": buf.size.astype(jnp.float32), "learnability": jnp.mean(result.scores)}
        return Observed(buf, metrics, env_steps=jnp.int32(0))  # no env steps beyond the training rollout

    return Curriculum(init=init, propose=propose, observe=observe, top_levels=lambda buf, k: top_stored_levels(buf, k))
# --------------------------------------------------------------------------------------


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--updates", type=int, default=20)
    parser.add_argument("--num-envs", type=int, default=32)
    parser.add_argument("--num-steps", type=int, default=256)
    args = parser.parse_args(argv)
    space = maze_level_space()
    agent = maze_agent(space.env.action_space)
    trainer = make_train(space, online_sfl(space, args.num_envs), agent, PPOConfig(), num_envs=args.num_envs,
                         num_steps=args.num_steps, num_updates=args.updates, updates_per_chunk=args.updates)
    state = jax.jit(trainer.init)(jax.random.key(0))
    state, metrics, _ = jax.jit(trainer.chunk)(state, jnp.int32(0))
    for u in range(0, args.updates, max(1, args.updates // 5)):
        print(f"update {u + 1}: solve rate {float(metrics['solve_rate'][u]):.3f}, buffer "
              f"{int(metrics['curriculum/buffer_size'][u])}, learnability {float(metrics['curriculum/learnability'][u]):.3f}")
    return metrics


if __name__ == "__main__":
    main()
