"""Shared fixtures: fixed PRNG keys, temporary paths, and the ``slow`` marker.

jaxtyping runtime checking of hepjax is switched on for the whole run through
``--jaxtyping-packages=hepjax,beartype.beartype`` in pyproject's addopts.
"""

import os

# Tests run on the CPU, deterministically, without preallocating memory.
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

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
