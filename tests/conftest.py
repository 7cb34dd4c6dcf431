import os

# The suite's cost is XLA compilation of tiny programs: most of XLA's optimisations are skipped
# (30% less CPU for the suite, measured), here and in the subprocesses the tests start. Results
# stay within the tests' tolerances; nothing here is timed.
os.environ.setdefault("JAX_DISABLE_MOST_OPTIMIZATIONS", "1")

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_disable_most_optimizations", os.environ["JAX_DISABLE_MOST_OPTIMIZATIONS"] not in ("0", ""))


@pytest.fixture(scope="session", autouse=True)
def compilation_cache(tmp_path_factory):
    """A persistent compilation cache for the test run, shared by the xdist workers and the
    subprocesses the tests start (through the environment): a program that several tests build
    (a run and its resumption, the same tiny run in a test and in a documented command) is
    compiled once. It lives in the run's temporary directory, so every run starts cold."""
    base = tmp_path_factory.getbasetemp()
    root = base.parent if base.name.startswith("popen-gw") else base  # the workers' common directory
    path = str(root / "jax_cache")
    os.makedirs(path, exist_ok=True)
    settings = {"JAX_COMPILATION_CACHE_DIR": path, "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0.5",
                "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0"}
    old_env = {k: os.environ.get(k) for k in settings}
    os.environ.update(settings)
    old = (jax.config.jax_compilation_cache_dir, jax.config.jax_persistent_cache_min_compile_time_secs,
           jax.config.jax_persistent_cache_min_entry_size_bytes)
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    yield path
    jax.config.update("jax_compilation_cache_dir", old[0])
    jax.config.update("jax_persistent_cache_min_compile_time_secs", old[1])
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", old[2])
    for k, v in old_env.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(autouse=True)
def fresh_components():
    """Each test builds its own components: ``build_components`` reuses them only within a test (a
    run and its resumption), never across tests (one may patch what another built)."""
    from ued.run.config import forget_built_components

    forget_built_components()
    yield
    forget_built_components()


LONGEST_FIRST = ("tests/test_documented_commands.py",)  # ~20 min of one worker: it starts first, beside the rest


def pytest_collection_modifyitems(config, items):
    """Puts the longest test file first (a stable sort, the rest keep their order): under
    ``--dist loadfile`` a worker then runs it while the other works through the remaining
    files, instead of it starting last, alone."""
    items.sort(key=lambda item: item.nodeid.split("::")[0] not in LONGEST_FIRST)
