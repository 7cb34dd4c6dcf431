"""Run by tests/test_devices.py as two processes of one multi-host run (``distributed=true``),
each with 2 simulated CPU devices, talking over gloo on localhost: the tiny run of
tests/sharded_runs.py split over the 4 devices of both processes, stopped after one update and
resumed (a checkpoint written and read by both processes).

Usage (per process, with JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES=2, JAX_PROCESS_ID set):
    python -m tests.multihost_runs RUN_DIR CURRICULUM SHARD
Process 1 is given another RUN_DIR on purpose: every process must use process 0's.
"""
import json
import sys


def main(run_dir: str, curriculum: str, shard: str) -> None:
    import jax

    from tests.tiny import tiny_config
    from ued.train import train

    sizes = ["num_seeds=4", "num_envs=4"] if shard == "seeds" else ["num_envs=8"]
    overrides = ["num_updates=2", "checkpoint_every=1", "eval.every=1", "env.held_out=[]", *sizes, "devices=all",
                 f"shard={shard}", "distributed=true"]
    first = train(tiny_config(curriculum, *overrides, "session_updates=1"), run_dir)
    assert jax.process_count() == 2 and jax.device_count() == 4, jax.devices()
    second = train(tiny_config(curriculum, *overrides), run_dir)
    print(json.dumps({"process": jax.process_index(), "first": first["update"], "second": second["update"],
                      "resumed_from": second["resumed_from"]}), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
