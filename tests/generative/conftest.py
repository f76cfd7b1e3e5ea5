"""Fixtures: float64 for exactness tests, and hepjax's own checks without jaxtyping."""

import jax
import jaxtyping
import pytest


@pytest.fixture
def x64():
    """Enable float64 for one test and restore the previous setting afterwards."""
    old = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", old)


@pytest.fixture
def no_jaxtyping():
    """Test hepjax's own trace-time messages without the jaxtyping hook in front."""
    old = jaxtyping.config.jaxtyping_disable
    jaxtyping.config.update("jaxtyping_disable", True)
    yield
    jaxtyping.config.update("jaxtyping_disable", old)
