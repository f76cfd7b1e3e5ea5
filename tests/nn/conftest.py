"""Fixtures for tests/nn."""

import jaxtyping
import pytest


@pytest.fixture
def no_jaxtyping():
    """Test hepjax's own trace-time checks without the jaxtyping hook in front.

    The test run decorates hepjax with jaxtyping+beartype, which rejects some
    bad inputs (wrong types, inconsistent dims) before our checks run; users
    without the hook get our messages, so those are what these tests pin down.
    """
    old = jaxtyping.config.jaxtyping_disable
    jaxtyping.config.update("jaxtyping_disable", True)
    yield
    jaxtyping.config.update("jaxtyping_disable", old)
