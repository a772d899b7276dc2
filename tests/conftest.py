import os

import pytest

# Pin threads: CI machines have 2 cores, and oversubscribed BLAS/torch threads make small problems
# orders of magnitude slower when another process is busy.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="run tests marked slow")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True, scope="session")
def _torch_threads():
    import torch

    torch.set_num_threads(1)
    # pytester's in-process runs (test_plugin.py) drop every module first imported inside them; a C extension
    # (scipy.special's numpy ufuncs) cannot be imported twice, so a later test importing it would fail with
    # "cannot load module more than once".  Import them here, before any in-process run, so order never matters.
    import scipy.linalg  # noqa: F401
    import scipy.optimize  # noqa: F401
    import scipy.sparse.linalg  # noqa: F401
    import scipy.special  # noqa: F401
    import scipy.stats  # noqa: F401
    yield
