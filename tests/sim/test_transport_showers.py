"""Electromagnetic showers in hepjax.sim.transport against PDG's shower formulae.

PDG Review of Particle Physics, Sec. 34.5 ("Electromagnetic cascades"):
the longitudinal profile is fitted by a gamma distribution
dE/dt = E0 b (bt)^(a-1) e^(-bt) / Gamma(a) (eq. 34.34), whose maximum
t_max = (a-1)/b lies at ln(E0/E_c) - 0.5 radiation lengths for electrons
(eq. 34.35); about 90% of the energy lies within one Moliere radius.
"""

import jax
import numpy as np
import pytest

from hepjax.sim import transport


def _profile(name, energy, n_events, capacity, seed=0, dt=0.5, depth=25.0):
    m = transport.material(name)
    n = int(depth / dt)
    world = transport.Slabs([name] * n, [dt * float(m.radiation_length_cm)] * n)
    p = transport.Particle(11, energy)
    sim = jax.jit(
        jax.vmap(lambda k: transport.simulate(k, world, p, cut_mev=1.0, capacity=capacity))
    )
    res = sim(jax.random.split(jax.random.key(seed), n_events))
    assert not bool(res.overflow.any()) and not bool(res.truncated.any())
    t = (np.arange(n) + 0.5) * dt
    return t, np.asarray(res.deposit_mev, np.float64)


def _gamma_tmax(t, prof):
    """t_max = (a-1)/b of the gamma distribution with the profile's mean and variance."""
    w = prof / prof.sum()
    mean = (w * t).sum()
    var = (w * (t - mean) ** 2).sum()
    b = mean / var
    return (mean * b - 1) / b


def _check_tmax(name, energy, n_events, capacity):
    t, dep = _profile(name, energy, n_events, capacity)
    ec = float(transport.material(name).critical_energy_mev)
    expected = np.log(energy / ec) - 0.5
    tmax = _gamma_tmax(t, dep.mean(0))
    # statistical error of the fitted maximum, from the events (jackknife)
    jack = [_gamma_tmax(t, np.delete(dep, i, 0).mean(0)) for i in range(n_events)]
    se = np.sqrt((n_events - 1) * np.var(jack))
    print(f"{name} {energy:.0f} MeV: t_max {tmax:.2f} X0, PDG {expected:.2f}, se {se:.2f}")
    assert abs(tmax - expected) < 1.0 + 2 * se, (tmax, expected, se)
    # most of the energy is deposited in 25 X0
    assert dep.sum(1).mean() > 0.95 * energy
    return tmax


@pytest.mark.parametrize("name", ["Pb", "Cu"])
def test_shower_maximum_1gev(name):
    _check_tmax(name, 1000.0, n_events=16, capacity=256)


@pytest.mark.slow
@pytest.mark.parametrize(("name", "energy"), [("Pb", 5000.0), ("Cu", 20000.0), ("Pb", 20000.0)])
def test_shower_maximum_high_energy(name, energy):
    _check_tmax(name, energy, n_events=4, capacity=int(energy / 5))


def test_ninety_percent_within_one_moliere_radius():
    name = "Pb"
    m = transport.material(name)
    rm = float(m.moliere_radius_cm)
    v = rm / 4
    nz = int(28 * float(m.radiation_length_cm) / v) + 1
    world = transport.Voxels(np.zeros((21, 21, nz), int), [name], voxel_cm=v)
    p = transport.Particle(11, 1000.0, position=[0.0, 0.0, 0.0])
    sim = jax.jit(jax.vmap(lambda k: transport.simulate(k, world, p, cut_mev=1.0, capacity=256)))
    n = 16
    res = sim(jax.random.split(jax.random.key(1), n))
    assert not bool(res.overflow.any())
    dep = np.asarray(res.deposit_mev, np.float64)
    c = (np.arange(21) - 10) * v
    r = np.hypot(c[:, None], c[None, :])
    frac = (dep * (r <= rm)[None, :, :, None]).sum((1, 2, 3)) / dep.sum((1, 2, 3))
    se = frac.std(ddof=1) / np.sqrt(n)
    # PDG: about 90% within R_M (voxel-centre binning: ~1% resolution)
    assert abs(frac.mean() - 0.90) < 0.03 + 3 * se, (frac.mean(), se)
    # and ~99% within 3.5 R_M
    assert (dep * (r <= 3.5 * rm)[None, :, :, None]).sum() / dep.sum() > 0.98
