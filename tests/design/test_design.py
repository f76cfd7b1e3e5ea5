"""hepjax.design: spaces, penalties, Latin hypercubes, the optimisers and their log."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from hepjax import design

TARGET = np.array([0.3, -0.2])


def toy_simulate(key, psi):
    """Outputs psi + noise: the objective E|x - target|^2 is minimal at psi = target."""
    return psi + 0.3 * jax.random.normal(key, (2,))


def toy_objective(x):
    return jnp.sum((x - TARGET) ** 2)


SPACE = design.Box(lower=[-1.0, -1.0], upper=[1.0, 1.0], names=["a", "b"])


# --- spaces ------------------------------------------------------------------------------
def test_box_validation_messages():
    with pytest.raises(ValueError, match="empty in 'b'"):
        design.Box(lower=[0, 1], upper=[1, 1], names=["a", "b"])
    with pytest.raises(ValueError, match="no parameters"):
        design.Box(lower=[], upper=[])
    with pytest.raises(ValueError, match="same length"):
        design.Box(lower=[0, 0], upper=[1])
    with pytest.raises(ValueError, match="names must have 2"):
        design.Box(lower=[0, 0], upper=[1, 1], names=["a"])
    with pytest.raises(ValueError, match="outside the box: b=2"):
        SPACE.check([0.0, 2.0])
    assert SPACE.names == ("a", "b") and SPACE.dim == 2
    assert design.Box(lower=[0, 0], upper=[1, 2]).names == ("psi0", "psi1")


def test_latin_hypercube_one_design_per_stratum():
    lo, hi = np.array([0.0, 2.0, -1.0]), np.array([1.0, 4.0, 1.0])
    x = np.asarray(design.latin_hypercube(jax.random.key(0), 10, lo, hi))
    assert x.shape == (10, 3)
    strata = np.floor((x - lo) / (hi - lo) * 10).astype(int)
    for j in range(3):
        assert sorted(strata[:, j]) == list(range(10))


def test_trust_box_is_clipped_to_the_space():
    lo, hi = SPACE.trust_box([0.95, 0.0], 0.1)
    np.testing.assert_allclose(lo, [0.85, -0.1])
    np.testing.assert_allclose(hi, [1.0, 0.1])


def test_linear_penalty():
    pen = design.LinearPenalty(weights=(1.0, 2.0), bound=1.0, strength=3.0)
    assert float(pen(jnp.array([0.2, 0.2]))) == 0.0
    np.testing.assert_allclose(float(pen(jnp.array([1.0, 0.5]))), 3.0 * 1.0**2, rtol=1e-6)
    eq = design.LinearPenalty(weights=(1.0, 1.0), bound=1.0, equality=True)
    np.testing.assert_allclose(float(eq(jnp.array([0.2, 0.3]))), 0.25, rtol=1e-6)
    np.testing.assert_allclose(jax.grad(pen)(jnp.array([1.0, 0.5])), [6.0, 12.0], rtol=1e-6)


# --- the optimisers on a toy with a known optimum ------------------------------------------
@pytest.fixture(scope="module")
def surrogate():
    return design.LocalSurrogateOptimizer(
        toy_simulate,
        toy_objective,
        SPACE,
        box_width=0.25,
        designs_per_step=6,
        samples_per_design=128,
        surrogate_steps=3,
        optimizer=optax.adam(0.1),
        train_steps=100,
    )


@pytest.mark.slow  # 20 s: in `make test-slow` (CI runs it after `make test`)
def test_local_surrogate_reaches_the_known_optimum_and_resumes(surrogate, tmp_path):
    result = surrogate.run(jax.random.key(0), [0.8, 0.8], steps=10)
    assert result.path.shape == (11, 2) and result.objective.shape == (11,)
    # each step simulates 6 designs x 128 events, plus the final evaluation
    assert result.simulations == 10 * 6 * 128 + 128
    np.testing.assert_array_equal(result.simulations_at[:3], [768, 1536, 2304])
    # the objective is 2 * 0.3^2 = 0.18 at the optimum; 0.12 off in each parameter is 0.21
    assert np.max(np.abs(result.optimum - TARGET)) < 0.12, result.optimum
    assert result.objective[-1] < 0.5 * result.objective[0]
    # an interrupted campaign resumes from its HDF5 log and repeats the uninterrupted run
    log = tmp_path / "campaign.h5"
    whole = surrogate.run(jax.random.key(1), [0.8, 0.8], steps=3)
    part = surrogate.run(jax.random.key(1), [0.8, 0.8], steps=2, log=log)
    resumed = surrogate.run(jax.random.key(1), [0.8, 0.8], steps=3, log=log)
    assert part.resumed_from is None and resumed.resumed_from == 2
    np.testing.assert_allclose(resumed.path, whole.path, atol=1e-5)
    assert resumed.simulations == whole.simulations
    import h5py

    with h5py.File(log, "r") as f:
        assert f["designs"].shape == (18, 2) and f["outputs"].shape == (18 * 128, 2)
        assert f.attrs["steps_done"] == 3


def test_direct_gradient_and_finite_differences_reach_the_optimum(tmp_path):
    direct = design.DirectGradientOptimizer(
        toy_simulate, toy_objective, SPACE, samples_per_step=256, optimizer=optax.adam(0.1)
    )
    fd = design.FiniteDifferenceOptimizer(
        toy_simulate, toy_objective, SPACE, samples_per_design=256, optimizer=optax.adam(0.1)
    )
    for opt, calls in ((direct, 256), (fd, 5 * 256)):
        result = opt.run(jax.random.key(0), [0.8, 0.8], steps=30)
        assert np.max(np.abs(result.optimum - TARGET)) < 0.08, (type(opt), result.optimum)
        assert result.simulations == 30 * calls + 256
    # finite differences resume from the log too
    whole = fd.run(jax.random.key(2), [0.8, 0.8], steps=4)
    fd.run(jax.random.key(2), [0.8, 0.8], steps=2, log=tmp_path / "fd.h5")
    resumed = fd.run(jax.random.key(2), [0.8, 0.8], steps=4, log=tmp_path / "fd.h5")
    np.testing.assert_allclose(resumed.path, whole.path, atol=1e-6)
    # a log of another configuration is refused
    other = design.FiniteDifferenceOptimizer(toy_simulate, toy_objective, SPACE, step_size=0.1)
    with pytest.raises(ValueError, match="another configuration"):
        other.run(jax.random.key(2), [0.8, 0.8], steps=4, log=tmp_path / "fd.h5")


def test_direct_gradient_with_a_stochastic_derivative_estimator():
    import hepjax.estimators as hje

    # a count whose mean 10 * psi^2 moves with psi: pathwise gradients miss it
    def simulate(key, psi):
        return hje.poisson(key, 10.0 * psi[0] ** 2)[None]

    space = design.Box(lower=[0.1], upper=[2.0], names=["psi"])
    opt = design.DirectGradientOptimizer(
        simulate,
        lambda x: (x[0] - 10.0) ** 2,
        space,
        samples_per_step=64,
        optimizer=optax.adam(0.05),
        estimator=hje.AlternativePath(),
    )
    result = opt.run(jax.random.key(0), [0.5], steps=40)
    # E(x - 10)^2 = (10 psi^2 - 10)^2 + 10 psi^2 is minimal at psi^2 = 0.95
    assert abs(result.optimum[0] - np.sqrt(0.95)) < 0.1, result.optimum


# --- bad input -----------------------------------------------------------------------------
def test_bad_input_messages(surrogate):
    with pytest.raises(ValueError, match="psi0 is outside the box: a=1.5"):
        surrogate.run(jax.random.key(0), [1.5, 0.0], steps=1)
    with pytest.raises(ValueError, match=r"psi0 must have shape \(2,\)"):
        surrogate.run(jax.random.key(0), [0.5], steps=1)
    wrong = design.DirectGradientOptimizer(toy_simulate, lambda x: x - TARGET, SPACE)
    with pytest.raises(ValueError, match="objective must return a scalar"):
        wrong.run(jax.random.key(0), [0.0, 0.0], steps=1)
    with pytest.raises(ValueError, match="box_width must be positive"):
        design.LocalSurrogateOptimizer(toy_simulate, toy_objective, SPACE, box_width=-0.1)
    with pytest.raises(TypeError, match="space"):
        design.DirectGradientOptimizer(toy_simulate, toy_objective, [(-1, 1)])


def test_nan_from_the_simulator_is_reported_with_the_design_and_skipped():
    def simulate(key, psi):
        x = toy_simulate(key, psi)
        return jnp.where(psi[0] > 0.0, jnp.nan, x)

    opt = design.FiniteDifferenceOptimizer(
        simulate, toy_objective, SPACE, samples_per_design=16, step_size=0.1
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = opt.run(jax.random.key(0), [-0.05, 0.0], steps=2)
    messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert any("non-finite output at the design (a=0.15" in m for m in messages), messages
    assert len(result.skipped) == 2 and result.skipped[0][0] == 0
    np.testing.assert_allclose(result.skipped[0][1], [0.15, 0.0], atol=1e-6)
    # a step whose stencil failed does not move the design
    np.testing.assert_allclose(result.path[1], result.path[0])
