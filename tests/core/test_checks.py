import jax.numpy as jnp
import numpy as np
import pytest

from hepjax._core import (
    check_choice,
    check_dtype,
    check_ndim,
    check_positive,
    check_same_leading_dim,
    check_shape,
)


def test_check_shape():
    check_shape("x", np.zeros((3, 4)), (None, 4))
    check_shape("x", np.zeros((3, 3)), ("n", "n"))
    with pytest.raises(ValueError, match=r"x must have shape \(\*, 4\), got \(3, 5\)"):
        check_shape("x", np.zeros((3, 5)), (None, 4))
    with pytest.raises(ValueError, match=r"x must have shape \(n, n\)"):
        check_shape("x", np.zeros((3, 2)), ("n", "n"))


def test_check_ndim_dtype_positive_choice():
    check_ndim("a", jnp.zeros((2, 2)), 2)
    with pytest.raises(ValueError, match="a must have 1 dimension"):
        check_ndim("a", jnp.zeros((2, 2)), 1)
    check_dtype("a", jnp.zeros(2), "float")
    with pytest.raises(TypeError, match="a must have a int dtype, got float32"):
        check_dtype("a", jnp.zeros(2), "int")
    check_positive("rate", 0.5)
    with pytest.raises(ValueError, match="rate must be finite and > 0, got 0"):
        check_positive("rate", 0)
    with pytest.raises(ValueError, match="rate must be finite and >= 0"):
        check_positive("rate", float("nan"), allow_zero=True)
    with pytest.raises(TypeError, match="rate must be a number"):
        check_positive("rate", "1")
    with pytest.raises(ValueError, match="mode must be one of"):
        check_choice("mode", "c", ["a", "b"])


def test_check_same_leading_dim():
    assert check_same_leading_dim("d", {"a": np.zeros(3), "b": np.zeros((3, 2))}) == 3
    with pytest.raises(ValueError, match="a has 3, b has 2"):
        check_same_leading_dim("d", {"a": np.zeros(3), "b": np.zeros(2)})
