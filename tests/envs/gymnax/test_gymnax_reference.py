"""ued's classic-control level spaces against JaxUED's gymnax examples' (``tests/data/gymnax_jaxued.npz``,
recorded by ``experiments/record_references.py gymnax``): the same held-out levels and, for the
same keys, the same generated levels, each built from the level space's YAML as a run builds it."""

import functools
import os

import jax
import numpy as np
import pytest
from hydra.utils import instantiate

from tests.extras import require
from tests.tiny import compose_config

DATA = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "data", "gymnax_jaxued.npz")
FIELDS = {"cartpole": ("length", "masspole"), "acrobot": ("link_length_1", "link_mass_1"), "pendulum": ("l", "m")}


@functools.lru_cache(maxsize=None)
def recording():
    with np.load(DATA) as f:
        return {k: f[k] for k in f.files}


@pytest.mark.parametrize("system", list(FIELDS))
def test_held_out_levels_and_generator_equal_jaxueds(system):
    require("gymnax", "gymnax")
    r = recording()
    space = instantiate(compose_config([f"env={system}"]).env)
    length, mass = FIELDS[system]
    held = np.stack([np.asarray(space.held_out[length]), np.asarray(space.held_out[mass])], 1)
    ref = r[f"{system}/held_out"]
    assert held.shape == ref.shape == (101, 2)  # 10 x 10 log-spaced grid plus the default system
    # the same levels (JaxUED's grid runs mass-major, ued's length-major): compare as sorted rows
    order = lambda a: a[np.lexsort((a[:, 1], a[:, 0]))]  # noqa: E731
    np.testing.assert_allclose(order(held[:-1]), order(ref[:-1]), rtol=1e-5)
    np.testing.assert_allclose(held[-1], ref[-1], rtol=1e-6)  # the default system, last in both
    assert space.held_out_names[-1] == "default" and bool(r[f"{system}/held_out_last_is_default"])
    drawn = jax.vmap(space.generator.sample)(jax.random.split(jax.random.key(3), 512))
    ours = np.stack([np.asarray(drawn[length]), np.asarray(drawn[mass])], 1)
    np.testing.assert_allclose(ours, r[f"{system}/generated"], rtol=1e-5, atol=1e-6)
