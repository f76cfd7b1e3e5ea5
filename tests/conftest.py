"""Shared fixtures: fixed PRNG keys, temporary paths, and the ``slow`` marker.

jaxtyping runtime checking of hepjax is switched on for the whole run through
``--jaxtyping-packages=hepjax,beartype.beartype`` in pyproject's addopts.
"""

import os

# Tests run on the CPU, deterministically, without preallocating memory.
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
# The suite is compile-bound (hundreds of small programs, each run a few times):
# XLA's CPU backend at optimisation level 0 compiles them 10-30% faster and
# computes the same values. A level already given in XLA_FLAGS wins.
if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0"
    ).strip()

import jax
import numpy as np
import pytest

SEED = 20261122


@pytest.fixture
def key():
    """A fixed typed PRNG key; tests split it, never reuse it for two draws."""
    return jax.random.key(SEED)


@pytest.fixture
def rng():
    """A fixed NumPy generator for test data."""
    return np.random.default_rng(SEED)


@pytest.fixture
def x64():
    """Enable float64 for one test and restore the previous setting afterwards."""
    old = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", old)


@pytest.fixture
def no_jaxtyping():
    """Test hepjax's own trace-time messages without the jaxtyping hook in front.

    The test run decorates hepjax with jaxtyping+beartype, which rejects some
    bad inputs (wrong types, inconsistent dims) before our checks run; users
    without the hook get our messages, so those are what these tests pin down.
    """
    import jaxtyping

    old = jaxtyping.config.jaxtyping_disable
    jaxtyping.config.update("jaxtyping_disable", True)
    yield
    jaxtyping.config.update("jaxtyping_disable", old)


def pytest_collection_modifyitems(config, items):
    """Run the documentation build first.

    ``tests/test_docs.py`` builds the site once, executing every tutorial at
    build time (minutes, compile-bound): the longest test file. Last in the
    collection order, it kept one xdist worker busy long after the other ran
    out of work; started first, it runs on one worker while the other works
    through the remaining files.
    """
    first = [item for item in items if item.path.name == "test_docs.py"]
    items[:] = first + [item for item in items if item.path.name != "test_docs.py"]
