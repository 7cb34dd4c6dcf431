"""Run by tests/test_devices.py in a fresh process with 4 simulated CPU devices
(``XLA_FLAGS=--xla_force_host_platform_device_count=4``): trains the same tiny run unsharded and
sharded and writes to OUT_DIR/result.json each run's metrics rows and final parameters' checksums.

Usage: python -m tests.sharded_runs OUT_DIR CURRICULUM
"""
import json
import os
import sys

import jax


def main(out: str, curriculum: str) -> None:
    from tests.tiny import tiny_config
    from ued.run.checkpoint import tree_checksums
    from ued.run.load import load
    from ued.train import train

    assert jax.device_count() == 4, jax.devices()
    base = ["num_updates=2", "checkpoint_every=1", "eval.every=1", "env.held_out=[]"]
    runs = {
        "seeds_1": ["num_seeds=4", "num_envs=4", "devices=1"],
        "seeds_4": ["num_seeds=4", "num_envs=4", "devices=4", "shard=seeds"],
        "envs_1": ["num_envs=8", "devices=1"],
        "envs_4": ["num_envs=8", "devices=4", "shard=envs"],
        # half sharded, then resumed on one device: a checkpoint moves between device counts
        "envs_4_then_1": ["num_envs=8", "devices=4", "shard=envs", "session_updates=1"],
    }
    result = {}
    for name, overrides in runs.items():
        run_dir = os.path.join(out, name)
        summary = train(tiny_config(curriculum, *base, *overrides), run_dir)
        if name == "envs_4_then_1":
            assert summary["update"] == 1, summary
            summary = train(tiny_config(curriculum, *base, "num_envs=8", "devices=1"), run_dir)
        with open(os.path.join(run_dir, "metrics.jsonl")) as f:
            rows = [json.loads(line) for line in f]
        with open(os.path.join(run_dir, "eval.jsonl")) as f:
            evals = [json.loads(line) for line in f]
        params = load(run_dir).state.params
        result[name] = {"rows": rows, "evals": evals, "update": summary["update"],
                        "params": {jax.tree_util.keystr(p): jax.numpy.ravel(x).tolist()
                                   for p, x in jax.tree_util.tree_flatten_with_path(params)[0]},
                        "checksums": tree_checksums(params)}
    result["placement"] = placement_facts(curriculum)
    with open(os.path.join(out, "result.json"), "w") as f:
        json.dump(result, f)


def placement_facts(curriculum: str) -> dict:
    """That the sharded runs really split their work: the per-device shape of the seed-split
    state, and the collectives in the env-split update's compiled program."""
    import jax.numpy as jnp

    from tests.tiny import tiny_config
    from ued.run.config import Components

    facts = {}
    for mode, overrides in (("seeds", ["num_seeds=4", "num_envs=4"]), ("envs", ["num_envs=8"])):
        parts = Components(tiny_config(curriculum, "num_updates=2", "devices=4", f"shard={mode}", *overrides))
        keys = jax.random.split(jax.random.key(0), 4) if mode == "seeds" else jax.random.key(0)
        shardings = parts.placement.state_sharding(jax.eval_shape(parts.trainer.init, keys))
        state = jax.jit(parts.trainer.init, out_shardings=shardings)(keys)
        leaf = jax.tree.leaves(state.params)[0]
        chunk = jax.jit(parts.trainer.chunk, static_argnames="length", out_shardings=(shardings, None, None))
        hlo = chunk.lower(state, jnp.int32(0), length=1).compile().as_text()
        facts[mode] = {"mode": parts.placement.mode, "devices": len(leaf.sharding.device_set),
                       "global_shape": list(leaf.shape),
                       "shard_shape": list(leaf.addressable_shards[0].data.shape),
                       "all_reduce": "all-reduce" in hlo}
    return facts


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
