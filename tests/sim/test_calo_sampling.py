"""The parametrised sampling calorimeter of hepjax.sim.calo (thicknesses as parameters)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hepjax.sim.calo import SamplingCalorimeter, simulate_sampling

CALO = SamplingCalorimeter()


def _showers(calo, thickness, n, seed, energy=None):
    keys = jax.random.split(jax.random.key(seed), n)
    return np.asarray(
        jax.vmap(lambda k: simulate_sampling(k, calo, jnp.asarray(thickness), energy))(keys),
        np.float64,
    )


@pytest.mark.slow  # over 6 s: `make test-slow` keeps the default suite in 15 min
@pytest.mark.parametrize("cell", [(5.6, 5.0), (3.0, 6.0)])
def test_resolution_scales_as_a_over_sqrt_e_with_the_sampling_fraction(cell):
    """A deep uniform calorimeter (32 X0 of lead or more): sigma/E = a/sqrt(E) with
    a = 2.7% sqrt(d/f_samp) (Fabjan & Gianotti 2003), for two sampling fractions."""
    calo = SamplingCalorimeter(num_layers=60)
    thickness = np.tile(cell, 60)
    f = float(calo.sampling_fraction(thickness)[0])
    a_expected = 0.027 * math.sqrt(cell[1] / f)
    np.testing.assert_allclose(float(calo.stochastic_term(thickness)[0]), a_expected, rtol=1e-5)
    n = 3000
    for i, energy in enumerate((2.0, 5.0, 20.0)):
        x = _showers(calo, thickness, n, i, energy)
        assert np.all(x[:, 0] == energy)
        reco = x[:, 1:].sum(1) / f
        # full containment: the mean response is the energy
        assert abs(reco.mean() / energy - 1) < 4 * reco.std() / energy / math.sqrt(n) + 0.01
        a = reco.std() / energy * math.sqrt(energy)
        # the standard error of a standard deviation is sigma / sqrt(2n); 3% for shower
        # fluctuations beyond the sampling term (leakage, profile)
        assert abs(a / a_expected - 1) < 4 / math.sqrt(2 * n) + 0.03, (energy, a, a_expected)


def test_sampling_fraction_is_the_mip_ratio():
    k = CALO.constants
    t = jnp.array([10.0, 4.0, 5.0, 5.0, 1.0, 9.0])
    a, s = np.asarray(t[0::2]), np.asarray(t[1::2])
    expected = s * k["dedx_active"] / (a * k["dedx_absorber"] + s * k["dedx_active"])
    np.testing.assert_allclose(CALO.sampling_fraction(t), expected, rtol=1e-5)
    # lead loses about 12.7 MeV/cm and plastic about 2.0 MeV/cm at the minimum (PDG)
    assert abs(k["dedx_absorber"] * 1e4 - 12.7) < 0.5
    assert abs(k["dedx_active"] * 1e4 - 2.0) < 0.15


@pytest.mark.slow  # over 6 s: `make test-slow` keeps the default suite in 15 min
def test_more_absorber_contains_more_and_photons_start_later():
    thin = _showers(CALO, [3.0, 5.0] * 3, 4000, 0, 10.0)
    thick = _showers(CALO, [15.0, 5.0] * 3, 4000, 0, 10.0)
    f_thin = np.asarray(CALO.sampling_fraction(jnp.array([3.0, 5.0] * 3)))
    f_thick = np.asarray(CALO.sampling_fraction(jnp.array([15.0, 5.0] * 3)))
    assert (thick[:, 1:] / f_thick).sum(1).mean() > (thin[:, 1:] / f_thin).sum(1).mean()
    photon = SamplingCalorimeter(pdg=22)
    gam = _showers(photon, [5.6, 5.0] * 3, 4000, 1, 10.0)
    ele = _showers(CALO, [5.6, 5.0] * 3, 4000, 1, 10.0)
    # 3.2 X0 in all: the photon converts first, so less of it is seen, and later
    assert gam[:, 1:].sum(1).mean() < ele[:, 1:].sum(1).mean()
    assert gam[:, 3].mean() / gam[:, 1].mean() > ele[:, 3].mean() / ele[:, 1].mean()


@pytest.mark.slow  # 11 s: in `make test-slow`
def test_pathwise_gradient_matches_finite_differences():
    keys = jax.random.split(jax.random.key(3), 128)

    def mean_visible(t):
        x = jax.vmap(lambda k: simulate_sampling(k, CALO, t, 5.0))(keys)
        return jnp.mean(jnp.sum(x[:, 1:], axis=1))

    t = jnp.array([8.0, 6.0, 8.0, 6.0, 8.0, 6.0])
    g = np.asarray(jax.grad(mean_visible)(t))
    h = 0.05
    fd = [
        (float(mean_visible(t.at[j].add(h))) - float(mean_visible(t.at[j].add(-h)))) / (2 * h)
        for j in range(6)
    ]
    np.testing.assert_allclose(g, fd, rtol=0.05, atol=2e-5)
    # and jit / vmap agree with the plain call
    one = simulate_sampling(keys[0], CALO, t)
    np.testing.assert_allclose(jax.jit(lambda k: simulate_sampling(k, CALO, t))(keys[0]), one,
                               rtol=1e-5)  # fmt: skip


def test_bad_thickness_and_options():
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="absorber slab of layer 2 is -1.0"):
        simulate_sampling(key, CALO, [5.0, 5.0, -1.0, 5.0, 5.0, 5.0])
    with pytest.raises(ValueError, match=r"thickness must have shape \(6,\)"):
        simulate_sampling(key, CALO, [5.0, 5.0])
    with pytest.raises(ValueError, match="active slab"):
        simulate_sampling(key, CALO, [5.0, 0.0, 5.0, 5.0, 5.0, 5.0])
    with pytest.raises(ValueError, match="pdg"):
        SamplingCalorimeter(pdg=211)
    with pytest.raises(ValueError, match="energy_range"):
        SamplingCalorimeter(energy_range=(5.0, 1.0))


@pytest.mark.slow
def test_against_the_transport_monte_carlo():
    """2 GeV electrons in three (Pb, plastic) layers at three designs, against hepjax's
    transport MC (1 MeV cut): the visible energy summed over the active slabs agrees to
    within a factor 1.6 either way, and both see the least in the first layer.
    Measured (transport / fast, total): 0.93 at 3 x (5.6, 5) mm, 0.75 at 3 x (11.2, 5) mm,
    1.41 at 3 x (3, 10) mm; the first layer is 2-4 times brighter in the transport (the
    early shower and the primary's own ionisation, which the Gamma profile starts from
    zero) and the deep layers dimmer (e/mip < 1 in lead/plastic)."""
    from hepjax.sim import transport

    n = 64
    for i, cell in enumerate(([5.6, 5.0], [11.2, 5.0], [3.0, 10.0])):
        thickness = np.asarray(cell * 3)
        world = transport.Slabs(["Pb", "polystyrene"] * 3, thickness / 10.0)
        res = transport.simulate_batch(
            jax.random.key(i), world, transport.Particle(11, 2000.0).broadcast(n),
            cut_mev=1.0, capacity=4000,
        )  # fmt: skip
        active = np.asarray(res.deposit_mev, np.float64)[:, 1::2] / 2000.0
        fast = _showers(CALO, thickness, 20000, 10 + i, 2.0)[:, 1:] / 2.0
        ratio = active.sum(1).mean() / fast.sum(1).mean()
        assert 1 / 1.6 < ratio < 1.6, (cell, ratio)
        assert np.argmin(active.mean(0)) == np.argmin(fast.mean(0)) == 0, cell
