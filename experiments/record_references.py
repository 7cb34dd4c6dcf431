"""Records reference implementations' outputs on generated cases into ``tests/data/``.

Run it in a side environment that has the reference installed (ued itself is not needed), e.g.::

    python3 -m venv /tmp/ref-venv
    /tmp/ref-venv/bin/pip install jaxued==0.0.1 "jax[cpu]==0.4.30" chex==0.1.86 flax==0.8.5 gymnax==0.0.8 six "numpy<2"
    /tmp/ref-venv/bin/python experiments/record_references.py plr

JaxUED 0.0.1 (the PyPI release) was written against jax 0.4 (``jax.tree_map``,
``jax.nn.softmax(initial=...)``), hence the pinned jax. The tests that replay the recordings
(``tests/buffers/test_plr_reference.py``) need neither jaxued nor this jax.

Cases:
  plr  JaxUED's ``LevelSampler``: long traces of insert_batch / sample_replay_levels / update_batch
       on toy levels (an id and a small grid) from a pool small enough to repeat, with scores rounded
       so that ties occur; after every operation the stored levels, scores, timestamps, size, episode
       count and replay weights (arrays ``<case>/<field>`` with a leading operation axis; ``kind`` 0
       insert, 1 sample, 2 update). -> tests/data/plr_jaxued.npz
"""

from __future__ import annotations

import argparse
import os

import numpy as np

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "tests", "data")

# (name, LevelSampler kwargs, number of operations, with a max_return extra)
PLR_CASES = [
    ("rank_dup", dict(capacity=16, staleness_coeff=0.3, minimum_fill_ratio=0.5, prioritization="rank",
                      prioritization_params={"temperature": 0.3}, duplicate_check=True), 60, True),
    ("rank_nodup", dict(capacity=12, staleness_coeff=0.5, minimum_fill_ratio=0.5, prioritization="rank",
                        prioritization_params={"temperature": 1.0}, duplicate_check=False), 60, False),
    ("topk_dup", dict(capacity=16, staleness_coeff=0.3, minimum_fill_ratio=0.5, prioritization="topk",
                      prioritization_params={"k": 4}, duplicate_check=True), 60, False),
    ("rank_nostale", dict(capacity=10, staleness_coeff=0.0, minimum_fill_ratio=1.0, prioritization="rank",
                          prioritization_params={"temperature": 0.5}, duplicate_check=True), 40, True),
]
BATCH = 6
POOL = 40  # level ids: small enough that levels repeat


def _pool_levels(ids):
    """Toy levels: an id and a 3x3 grid derived from it (two leaves, as a real level has)."""
    ids = np.asarray(ids, np.int32)
    grid = ((ids[:, None] * np.arange(1, 10)[None]) % 7 < 3).reshape(-1, 3, 3)
    return {"id": ids, "grid": grid}


def record_plr(out_path: str) -> None:
    import jax
    import jax.numpy as jnp

    if not hasattr(jax, "tree_map"):
        raise SystemExit("jaxued 0.0.1 needs jax 0.4 (jax.tree_map); see this script's docstring")
    from jaxued.level_sampler import LevelSampler

    # jax >= 0.5 (which ued needs) draws random bits the "partitionable" way; jax 0.4 can too, so the
    # recorded samples are the ones the same keys give under ued's jax
    jax.config.update("jax_threefry_partitionable", True)

    arrays = {}
    for name, kwargs, num_ops, with_extra in PLR_CASES:
        rng = np.random.default_rng([7, len(name), sum(map(ord, name))])
        sampler_obj = LevelSampler(**kwargs)
        placeholder = jax.tree_util.tree_map(lambda x: jnp.asarray(x[0]), _pool_levels([0]))
        extra0 = {"max_return": jnp.float32(-jnp.inf)} if with_extra else None
        sampler = sampler_obj.initialize(placeholder, extra0)
        insert = jax.jit(sampler_obj.insert_batch)
        sample = jax.jit(sampler_obj.sample_replay_levels, static_argnums=2)
        update = jax.jit(sampler_obj.update_batch)
        weights = jax.jit(sampler_obj.level_weights)
        kinds, recs, last_indices = [], {}, None
        for t in range(num_ops):
            size = int(sampler["size"])
            if last_indices is not None and rng.random() < 0.9:
                kind = "update"  # a replay is followed by its re-scoring, as in the loop
            elif size < kwargs["capacity"] // 2:
                kind = "insert"
            else:
                kind = str(rng.choice(["insert", "sample"]))
            scores = np.round(rng.normal(size=BATCH), 1).astype(np.float32)
            extra = np.round(rng.normal(size=BATCH), 2).astype(np.float32)
            ex = {"max_return": jnp.asarray(extra)} if with_extra else None
            ids = rng.integers(0, POOL, size=BATCH).astype(np.int32)
            key = np.asarray(jax.random.PRNGKey(int(rng.integers(0, 2**31))), np.uint32)
            indices = np.zeros(BATCH, np.int32)
            if kind == "insert":
                sampler, _ = insert(sampler, jax.tree_util.tree_map(jnp.asarray, _pool_levels(ids)),
                                    jnp.asarray(scores), ex)
                last_indices = None
            elif kind == "sample":
                sampler, (idx, _) = sample(sampler, jnp.asarray(key), BATCH)
                indices = last_indices = np.asarray(idx, np.int32)
            else:
                indices = last_indices
                sampler = update(sampler, jnp.asarray(last_indices), jnp.asarray(scores), ex)
                last_indices = None
            kinds.append(kind)
            rec = dict(kind=np.int32(("insert", "sample", "update").index(kind)), ids=ids, scores=scores, extra=extra,
                       key=key, indices=indices,
                       after_ids=np.asarray(sampler["levels"]["id"], np.int32),
                       after_scores=np.asarray(sampler["scores"], np.float32),
                       after_timestamps=np.asarray(sampler["timestamps"], np.int32),
                       after_size=np.int32(sampler["size"]), after_count=np.int32(sampler["episode_count"]),
                       after_weights=np.asarray(weights(sampler), np.float32))
            if with_extra:
                rec["after_extra"] = np.asarray(sampler["levels_extra"]["max_return"], np.float32)
            for k, v in rec.items():
                recs.setdefault(k, []).append(v)
        for k, v in kwargs.items():
            if k == "prioritization_params":
                for pk, pv in v.items():
                    arrays[f"{name}/param_{pk}"] = np.asarray(pv)
            else:
                arrays[f"{name}/{k}"] = np.asarray(v)
        arrays[f"{name}/with_extra"] = np.bool_(with_extra)
        for k, v in recs.items():
            arrays[f"{name}/{k}"] = np.stack(v)
        print(f"{name}: {num_ops} operations ({', '.join(f'{k} {kinds.count(k)}' for k in ('insert', 'sample', 'update'))}),"
              f" final size {int(sampler['size'])}, episode count {int(sampler['episode_count'])}")
    np.savez_compressed(out_path, **arrays)
    print(f"wrote {out_path} ({os.path.getsize(out_path)} bytes)")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("case", choices=["plr"])
    args = parser.parse_args(argv)
    os.makedirs(DATA, exist_ok=True)
    if args.case == "plr":
        record_plr(os.path.join(DATA, "plr_jaxued.npz"))


if __name__ == "__main__":
    main()
