"""The learned kernel: exact likelihood against closed forms, normalisation, sampling, training."""

import functools
import itertools
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hepjax import radiation as rad
from hepjax.generative import log_likelihood as flow_log_likelihood
from hepjax.radiation._model import LOG_P_LOC, LOG_P_SCALE, MANIFOLD, condition


class _AnalyticField(eqx.Module):
    r"""$\dot x_E = a x_E$, $\dot\omega = k(e_z - \omega_z \omega)$, $\dot e = 0$ (closed form)."""

    a: float
    k: float

    def __call__(self, t, x, args):
        xe, w = x[:, :1], x[:, 1:4]
        ez = jnp.array([0.0, 0.0, 1.0])
        vw = self.k * (ez - w[:, 2:3] * w)
        return jnp.concatenate([self.a * xe, vw, jnp.zeros_like(w)], axis=1)


def _closed_form(a, k, x):
    """log density of one particle's (x_E, omega, e) under the analytic flow from the base."""
    xe, z1 = x[0], x[3]
    lp_e = -0.5 * (xe * math.exp(-a)) ** 2 - 0.5 * math.log(2 * math.pi) - a
    z0 = math.tanh(math.atanh(z1) - k)
    lp_w = -math.log(4 * math.pi) + math.log((1 - z0 * z0) / (1 - z1 * z1))
    return lp_e + lp_w - math.log(4 * math.pi)


def _kernel(key, **kw):
    kw = {"hidden_size": 16, "num_layers": 1, "num_heads": 2, **kw}
    return rad.NextParticleKernel(4, key=key, **kw)


@functools.partial(jax.jit, static_argnums=(1,))
def _toy_data(key, n):
    toy = rad.ToyKernel()

    def one(k, mat):
        k1, k2, k3 = jax.random.split(k, 3)
        size = jnp.where(mat == 0, 1.0, 10.0)
        inc = rad.random_incident(k1, size)
        rho = jnp.exp(jax.random.uniform(k2, minval=math.log(0.5), maxval=math.log(10.0)))
        cube = rad.Cube(mat, rho, size)
        return rad.to_interaction(inc, cube, toy(k3, inc, cube))

    return jax.vmap(one)(jax.random.split(key, n), jnp.arange(n) % 2)


def _event(data, i):
    return jax.tree.map(lambda a: a[i], data)


def test_log_likelihood_matches_a_closed_form_pushforward(key):
    k1, k2 = jax.random.split(key)
    a, kk = 0.4, 0.7
    kernel = eqx.tree_at(lambda m: m.field, _kernel(k1), _AnalyticField(a, kk))
    data = _toy_data(k2, 64)
    ll = jax.jit(jax.vmap(lambda d: rad.log_likelihood(kernel, d, solver="dopri5", num_steps=12)))(
        data
    )
    checked = 0
    for i in range(64):
        ev = _event(data, i)
        if bool(ev.passthrough) or not bool(jnp.any(ev.out_mask)):
            assert float(ll.continuous[i]) == 0.0 and float(ll.deposit[i]) == 0.0
            continue
        x = np.concatenate(
            [
                (np.asarray(ev.out_log_p)[:, None] - LOG_P_LOC) / LOG_P_SCALE,
                np.asarray(ev.out_direction),
                np.asarray(ev.out_exit),
            ],
            axis=1,
        )
        m = np.asarray(ev.out_mask)
        want = sum(_closed_form(a, kk, x[j]) for j in np.flatnonzero(m))
        want += -m.sum() * math.log(LOG_P_SCALE)
        want += sum(math.lgamma(c + 1) for c in np.asarray(ev.counts))
        assert abs(float(ll.continuous[i]) - want) < 2e-3 * max(1.0, abs(want))
        checked += 1
    assert checked > 10
    np.testing.assert_allclose(ll.total, ll.counts + ll.continuous + ll.deposit, rtol=1e-6)


@pytest.mark.slow  # compile-heavy: in the slow suite for the make-test budget
def test_count_probabilities_sum_to_one(key):
    kernel = _kernel(key)
    data = _toy_data(key, 64)
    c = condition(_event(data, 0).incident, _event(data, 0).cube, kernel.num_materials)
    mult = kernel.multiplicity
    grid = jnp.asarray(list(itertools.product(range(5), repeat=3)), jnp.int32)
    lp = jax.vmap(lambda n: mult.log_prob(c, n, jnp.asarray(False)))(grid)
    total = jnp.exp(mult.log_prob(c, jnp.zeros(3, jnp.int32), jnp.asarray(True)))
    total = total + jnp.sum(jnp.exp(lp))
    assert abs(float(total) - 1.0) < 1e-5


@pytest.mark.slow  # compile-heavy: in the slow suite for the make-test budget
def test_deposit_density_integrates_to_one(key):
    # q(f | n, c) with the logit Jacobian, on a fine grid in f over (0, f_max)
    kernel = _kernel(key)
    kernel = eqx.tree_at(  # non-trivial spline: perturb the zero-initialised last layers
        lambda m: m.edep,
        kernel,
        jax.tree.map(
            lambda w: w + 0.3 * jax.random.normal(key, w.shape) if eqx.is_array(w) else w,
            kernel.edep,
        ),
    )
    data = _toy_data(key, 64)
    ev = next(
        _event(data, i)
        for i in range(8)
        if bool(jnp.any(data.out_mask[i])) and not bool(data.passthrough[i])
    )
    y = jnp.linspace(-12.0, 12.0, 20001)
    fmax = rad._model.max_fraction(ev.incident_type, ev.incident_energy_mev)
    f = jax.nn.sigmoid(y) * fmax

    def ll(fi):
        return rad.log_likelihood(kernel, eqx.tree_at(lambda e: e.edep_fraction, ev, fi)).deposit

    dens = jnp.exp(jax.jit(jax.vmap(ll))(f))
    integral = float(jnp.trapezoid(dens, f))
    assert abs(integral - 1.0) < 2e-3


@pytest.mark.slow
def test_flow_density_is_normalised_by_importance_sampling(key):
    """E_{x ~ base}[p(x) / base(x)] = 1 for one particle of a randomly initialised field."""
    k1, k2, k3 = jax.random.split(key, 3)
    kernel = _kernel(k1, hidden_size=32)
    # a field far from zero: scale the read-out
    kernel = eqx.tree_at(
        lambda m: m.field.readout.weight, kernel, 3.0 * kernel.field.readout.weight
    )
    data = _toy_data(k2, 64)
    ev = _event(data, 0)
    c = condition(ev.incident, ev.cube, kernel.num_materials)
    n = 512
    x = jax.vmap(MANIFOLD.random_base)(jax.random.split(k3, n))[:, None, :]
    cond = {"types": jnp.ones(1, jnp.int32), "context": c}
    mask = jnp.ones(1, bool)
    lp = jax.jit(
        jax.vmap(
            lambda xi: flow_log_likelihood(
                kernel.field, xi, manifold=MANIFOLD, mask=mask, cond=cond, rtol=1e-6, atol=1e-6
            )
        )
    )(x)
    base = jax.vmap(MANIFOLD.base_log_prob)(x[:, 0])
    w = np.exp(np.asarray(lp - base, np.float64))
    assert np.std(np.log(w)) > 0.1  # the flow is not the identity
    mean, err = w.mean(), w.std(ddof=1) / math.sqrt(n)
    assert abs(mean - 1.0) < 4 * err + 1e-3


def test_sample_is_consistent_and_jit_invariant(key):
    k1, k2, k3 = jax.random.split(key, 3)
    kernel = _kernel(k1, conserve_energy=True)
    data = _toy_data(k2, 64)
    keys = jax.random.split(k3, 64)
    fn = jax.jit(jax.vmap(lambda k, i, c: rad.sample(k, kernel, i, c)))
    out = fn(keys, data.incident, data.cube)
    # each event depends only on its own key and inputs, not on its place in the batch
    perm = np.roll(np.arange(64), 5)
    moved = fn(keys[perm], *jax.tree.map(lambda a: a[perm], (data.incident, data.cube)))
    np.testing.assert_allclose(moved.out_direction, out.out_direction[perm], atol=1e-5)
    np.testing.assert_array_equal(moved.counts, np.asarray(out.counts)[perm])
    m = np.asarray(out.out_mask)
    np.testing.assert_allclose(np.linalg.norm(out.out_direction, axis=-1)[m], 1.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(out.out_exit, axis=-1)[m], 1.0, atol=1e-5)
    np.testing.assert_array_equal(np.asarray(out.counts).sum(-1), m.sum(-1))
    # rows sorted by type
    t = np.where(m, out.out_type, 3)
    assert np.all(np.diff(t, axis=1) >= 0)
    f = np.asarray(out.edep_fraction)
    assert np.all((f >= 0) & (f <= 1.0 + 2 * 0.511 / 10.0))
    # energy conservation: f = f_max - sum T / E - 2 m_e n_e+ / E, clipped
    parts = jax.vmap(rad.outgoing_particles)(out)
    e_in = np.asarray(out.incident_energy_mev)
    fmax = np.where(np.asarray(out.incident_type) == 2, 1 + 2 * 0.51099895 / e_in, 1.0)
    carried = np.sum(np.where(m, parts.energy_mev, 0.0), axis=1) / e_in
    want = fmax - carried - 2 * 0.51099895 * np.asarray(out.counts)[:, 2] / e_in
    np.testing.assert_allclose(f, np.clip(want, 0.0, fmax), atol=2e-5)


@pytest.mark.slow
def test_samples_have_finite_likelihood(key):
    k1, k2, k3 = jax.random.split(key, 3)
    kernel = _kernel(k1)
    data = _toy_data(k2, 64)
    out = jax.jit(jax.vmap(lambda k, i, c: rad.sample(k, kernel, i, c)))(
        jax.random.split(k3, 64), data.incident, data.cube
    )
    ll = jax.jit(jax.vmap(lambda d: rad.log_likelihood(kernel, d, num_steps=8, solver="midpoint")))(
        out
    )
    assert np.all(np.isfinite(ll.total))


@pytest.mark.slow
def test_training_lowers_the_loss(key):
    k1, k2, k3 = jax.random.split(key, 3)
    data = _toy_data(k1, 256)
    kernel = _kernel(k2)
    before = float(rad.kernel_loss(kernel, data, key=k3))
    res = rad.train_kernel(
        k2, data, steps=40, batch_size=64, kernel=kernel, learning_rate=3e-3, progress=False
    )
    after = float(rad.kernel_loss(res.model, data, key=k3))
    assert np.isfinite(before) and np.all(np.isfinite(res.losses)) and after < before


def test_bad_inputs(key):
    kernel = _kernel(key)
    data = _toy_data(key, 64)
    with pytest.raises(ValueError, match="one event"):
        rad.log_likelihood(kernel, data)
    with pytest.raises(TypeError, match="Interactions"):
        rad.kernel_loss(kernel, data.to_dict(), key=key)
    with pytest.raises(ValueError, match="batch of events"):
        rad.train_kernel(key, _event(data, 0), steps=1)


@pytest.mark.slow
def test_the_learned_kernel_rolls_out_through_a_grid(key):
    k1, k2 = jax.random.split(key)
    kernel = _kernel(k1, num_steps=4)
    grid = rad.Grid(np.zeros((1, 1, 3), int), np.array([1.0, 5.0, 2.0])[None, None], 1.0)
    inc = rad.incident_on_face(grid, 1, 150.0)
    res = jax.jit(jax.vmap(lambda k: rad.rollout(k, kernel, grid, inc, capacity=16)))(
        jax.random.split(k2, 8)
    )
    assert np.all(np.isfinite(res.deposit_mev)) and np.all(np.asarray(res.deposit_mev) >= 0)
    e = np.asarray(res.exiting.energy_mev)[np.asarray(res.exiting.mask)]
    assert np.all(np.isfinite(e)) and np.all(e >= 0)
