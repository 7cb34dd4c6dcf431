import pytest

from tests.extras import require


@pytest.fixture(scope="module")
def xland_benchmark(tmp_path_factory):
    """A tiny XLand ruleset benchmark in the package's format (tests never download)."""
    require("xminigrid", "xland")
    from tests.envs.xland.test_xland import write_benchmark

    return write_benchmark(str(tmp_path_factory.mktemp("xland") / "tiny.bz2"))
