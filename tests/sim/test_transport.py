"""Tests of hepjax.sim.transport: cross sections against NIST XCOM, energy conservation,
buffers, jit/vmap agreement and bad input. The shower tests are in test_transport_showers.py.

XCOM references: total attenuation with coherent scattering, cm^2/g
(physics.nist.gov/PhysRefData/Xcom).
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hepjax.sim import transport

ME = 0.51099895

XCOM = {
    ("Pb", 1.0): 0.0710,
    ("Cu", 1.0): 0.0590,
    ("water", 1.0): 0.0707,
    ("Pb", 10.0): 0.0497,
    ("Cu", 10.0): 0.0316,
    ("water", 10.0): 0.0222,
}


@pytest.mark.parametrize(("name", "energy"), sorted(XCOM))
def test_mass_attenuation_matches_xcom(name, energy):
    att = transport.mass_attenuation(transport.material(name), energy)
    np.testing.assert_allclose(float(att["total"]), XCOM[name, energy], rtol=0.05)
    parts = att["compton"] + att["pair"] + att["photoelectric"]
    np.testing.assert_allclose(float(att["total"]), float(parts), rtol=1e-6)
    if energy < 2 * ME:
        assert float(att["pair"]) == 0.0


def test_cross_section_limits():
    # Compton per electron: Klein-Nishina's closed form where binding is negligible
    re2 = 2.8179403262e-13**2
    for z, e in [(8.0, 1.0), (8.0, 10.0), (29.0, 10.0), (82.0, 100.0)]:
        k = e / ME
        kn = (
            2
            * np.pi
            * re2
            * (
                (1 + k) / k**2 * (2 * (1 + k) / (1 + 2 * k) - np.log(1 + 2 * k) / k)
                + np.log(1 + 2 * k) / (2 * k)
                - (1 + 3 * k) / (1 + 2 * k) ** 2
            )
        )
        np.testing.assert_allclose(float(transport.compton_per_atom(e, z)) / z, kn, rtol=0.04)
    # pair production grows ~ Z^2 and saturates at high energy (complete screening):
    # 7/9 of the inverse radiation length, sigma -> 7/9 A / (X0 N_A) (PDG eq. 34.31)
    m = transport.material("Pb")
    sat = float(transport.mass_attenuation(m, 1e5)["pair"])
    np.testing.assert_allclose(sat, 7 / 9 / float(m.X0), rtol=0.05)
    # Heitler's annihilation cross section: ~ pi r_e^2 (ln 2 gamma - 1) / gamma at high energy
    g = 1 + 1000.0 / ME
    hi = float(transport.annihilation_per_electron(1000.0))
    np.testing.assert_allclose(hi, np.pi * 2.8179403262e-13**2 * (np.log(2 * g) - 1) / g, rtol=0.01)


def _transmitted_fraction(name, energy, thickness, n, seed):
    world = transport.Slabs([name], [thickness])
    p = transport.Particle(22, energy)

    def unscattered(key):
        res = transport.simulate(key, world, p, cut_mev=0.5 * energy, capacity=8)
        ex = res.exiting
        hit = ex.mask & (ex.pdg == 22) & (ex.energy_mev == energy) & (ex.direction[:, 2] == 1.0)
        return jnp.any(hit)

    keys = jax.random.split(jax.random.key(seed), n)
    return float(jnp.mean(jax.jit(jax.vmap(unscattered))(keys)))


@pytest.mark.parametrize(("name", "energy"), [("Pb", 1.0), ("Cu", 10.0), ("water", 10.0)])
def test_unscattered_transmission_matches_xcom(name, energy):
    m = transport.material(name)
    mu = XCOM[name, energy] * float(m.density)
    x = 0.7 / mu  # exp(-0.7) = 0.5 transmitted
    n = 4000
    frac = _transmitted_fraction(name, energy, x, n, seed=1)
    se = np.sqrt(frac * (1 - frac) / n)
    mu_own = float(transport.mass_attenuation(m, energy)["total"]) * float(m.density)
    # the simulation samples its own cross sections ...
    assert abs(frac - np.exp(-mu_own * x)) < 4 * se
    # ... and those are XCOM's within 5%
    mu_sim = -np.log(frac) / x / float(m.density)
    dmu = se / frac / x / float(m.density)
    assert abs(mu_sim - XCOM[name, energy]) < 0.05 * XCOM[name, energy] + 3 * dmu


def _event(res, i):
    return jax.tree.map(lambda a: a[i], res)


def _balance(res, incident, pdg):
    ex = res.exiting
    out = jnp.sum(jnp.where(ex.mask, ex.energy_mev + jnp.where(ex.pdg == -11, 2 * ME, 0.0), 0.0))
    total_in = incident + (2 * ME if pdg == -11 else 0.0)
    return float(jnp.sum(res.deposit_mev) + out), total_in


@pytest.mark.parametrize("geometry", ["slabs", "voxels"])
def test_energy_is_conserved_event_by_event(geometry):
    if geometry == "slabs":
        world = transport.Slabs(["Pb", "LAr", "Cu"], [0.4, 1.0, 0.5])
        pos = [0.3, -0.2, 0.0]
    else:
        idx = np.zeros((3, 3, 4), int)
        idx[:, :, 1] = 1
        idx[1, 1, 2] = 2
        world = transport.Voxels(
            idx, ["Cu", "LAr", "PbWO4"], voxel_cm=1.0, density_g_cm3=[8.0, 1.4, 7.0]
        )
        pos = [0.2, 0.1, 0.0]
    # photons, electrons and positrons, 3 events each
    pdgs = [22, 22, 22, 11, 11, 11, -11, -11, -11]
    energy = 500.0
    n = len(pdgs)
    ps = transport.Particle(
        jnp.array(pdgs),
        jnp.full(n, energy),
        jnp.tile(jnp.array(pos), (n, 1)),
        jnp.tile(jnp.array([0.0, 0.0, 1.0]), (n, 1)),
    )
    sim = lambda k, p: transport.simulate(k, world, p, cut_mev=0.5, capacity=512)
    res = jax.jit(jax.vmap(sim))(jax.random.split(jax.random.key(3), n), ps)
    assert not bool(jnp.any(res.overflow)) and not bool(jnp.any(res.truncated))
    for i, pdg in enumerate(pdgs):
        got, want = _balance(_event(res, i), energy, pdg)
        np.testing.assert_allclose(got, want, rtol=2e-5)
    # something happened
    assert float(jnp.sum(res.deposit_mev)) > 0
    assert int(jnp.sum(res.n_interactions)) > n
    assert set(np.asarray(res.exiting.pdg)[np.asarray(res.exiting.mask)]) == {22, 11, -11}


@pytest.mark.slow  # compile-heavy: in the slow suite for the make-test budget
def test_positron_at_rest_photons_are_transported():
    # a slow positron in water annihilates at rest; with a 10 keV cut its two 511 keV
    # photons are transported and mostly leave a thin slab, back to back
    world = transport.Slabs(["water"], [0.2])
    p = transport.Particle(-11, 0.05, position=[0.0, 0.0, 0.1])
    res = jax.vmap(lambda k: transport.simulate(k, world, p, cut_mev=0.01, capacity=16))(
        jax.random.split(jax.random.key(0), 64)
    )
    ex = res.exiting
    both = jnp.sum(ex.mask & (ex.pdg == 22) & (ex.energy_mev == jnp.float32(ME)), -1) == 2
    assert float(jnp.mean(both)) > 0.7
    i = int(jnp.argmax(both))
    d = ex.direction[i][ex.mask[i]]
    np.testing.assert_allclose(np.asarray(d[0]), -np.asarray(d[1]), atol=1e-5)
    for j in range(64):
        got, want = _balance(_event(res, j), 0.05, -11)
        np.testing.assert_allclose(got, want, rtol=1e-5)


@pytest.mark.slow  # compile-heavy: in the slow suite for the make-test budget
def test_overflow_flag_and_error():
    world = transport.Slabs(["Pb"] * 4, [0.5] * 4)
    p = transport.Particle(11, 2000.0)
    res = transport.simulate(jax.random.key(0), world, p, cut_mev=1.0, capacity=4)
    assert bool(res.overflow)
    ok = transport.simulate(jax.random.key(0), world, p, cut_mev=1.0, capacity=512)
    assert not bool(ok.overflow)
    got, want = _balance(ok, 2000.0, 11)
    np.testing.assert_allclose(got, want, rtol=2e-5)
    small_exit = transport.simulate(
        jax.random.key(0), world, p, cut_mev=1.0, capacity=512, exit_capacity=1
    )
    assert bool(small_exit.overflow)
    with pytest.raises(Exception, match="transport buffer overflow"):
        jax.block_until_ready(
            transport.simulate(
                jax.random.key(0), world, p, cut_mev=1.0, capacity=4, on_overflow="error"
            )
        )


@pytest.mark.slow  # compile-heavy: in the slow suite for the make-test budget
def test_jit_and_vmap_agree():
    world = transport.Slabs(["Cu", "LAr"], [1.0, 2.0])
    p = transport.Particle(22, 200.0)
    keys = jax.random.split(jax.random.key(7), 3)
    sim = lambda k: transport.simulate(k, world, p, cut_mev=1.0, capacity=128)
    eager = [sim(k) for k in keys]
    jitted = [jax.jit(sim)(k) for k in keys]
    batched = jax.jit(jax.vmap(sim))(keys)
    for i in range(3):
        np.testing.assert_allclose(
            eager[i].deposit_mev, jitted[i].deposit_mev, rtol=1e-5, atol=1e-4
        )
        np.testing.assert_allclose(
            eager[i].deposit_mev, batched.deposit_mev[i], rtol=1e-4, atol=1e-3
        )
        assert int(eager[i].n_interactions) == int(batched.n_interactions[i])
    # vmap over particles too
    ps = transport.Particle(
        jnp.array([22, 11, -11]),
        jnp.array([50.0, 80.0, 120.0]),
        jnp.zeros((3, 3)),
        jnp.tile(jnp.array([0.0, 0.0, 1.0]), (3, 1)),
    )
    res = jax.jit(
        jax.vmap(lambda k, q: transport.simulate(k, world, q, cut_mev=1.0, capacity=128))
    )(keys, ps)
    for i, (pdg, e) in enumerate([(22, 50.0), (11, 80.0), (-11, 120.0)]):
        got, want = _balance(_event(res, i), e, pdg)
        np.testing.assert_allclose(got, want, rtol=2e-5)
        one = transport.simulate(
            keys[i], world, transport.Particle(pdg, e), cut_mev=1.0, capacity=128
        )
        np.testing.assert_allclose(one.deposit_mev, res.deposit_mev[i], rtol=1e-4, atol=1e-3)


def test_single_cube_and_exit_points():
    # one 1 cm copper cube: exiting particles lie on its surface
    world = transport.Voxels(np.zeros((1, 1, 1), int), ["Cu"], voxel_cm=1.0)
    p = transport.Particle(11, 100.0, position=[0.0, 0.0, 0.0])
    res = jax.vmap(lambda k: transport.simulate(k, world, p, cut_mev=1.0, capacity=64))(
        jax.random.split(jax.random.key(2), 16)
    )
    assert res.deposit_mev.shape == (16, 1, 1, 1)
    pos = np.asarray(res.exiting.position)[np.asarray(res.exiting.mask)]
    lo, hi = np.array([-0.5, -0.5, 0.0]), np.array([0.5, 0.5, 1.0])
    on_face = np.any(np.isclose(pos, lo, atol=1e-5) | np.isclose(pos, hi, atol=1e-5), axis=-1)
    assert on_face.all() and np.all(pos >= lo - 1e-5) and np.all(pos <= hi + 1e-5)
    d = np.asarray(res.exiting.direction)[np.asarray(res.exiting.mask)]
    np.testing.assert_allclose(np.linalg.norm(d, axis=-1), 1.0, atol=1e-5)


def test_bad_inputs(no_jaxtyping):
    with pytest.raises(ValueError, match="materials: unknown material 'Kryptonite'"):
        transport.Slabs(["Kryptonite"], [1.0])
    with pytest.raises(ValueError, match="thickness_cm must be positive"):
        transport.Slabs(["Pb"], [-1.0])
    with pytest.raises(ValueError, match="thickness_cm must have one entry per layer"):
        transport.Slabs(["Pb", "Cu"], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="density_g_cm3 must be positive"):
        transport.Slabs(["Pb"], [1.0], density_g_cm3=[0.0])
    with pytest.raises(ValueError, match="density_g_cm3 must be positive"):
        transport.Voxels(np.zeros((1, 1, 1), int), ["Cu"], density_g_cm3=-2.0)
    with pytest.raises(ValueError, match="voxel_cm must be positive"):
        transport.Voxels(np.zeros((1, 1, 1), int), ["Cu"], voxel_cm=0.0)
    with pytest.raises(ValueError, match=r"material_index values must lie in \[0, 1\)"):
        transport.Voxels(np.ones((1, 1, 1), int), ["Cu"])
    with pytest.raises(ValueError, match="energy_mev must be positive"):
        transport.Particle(22, -5.0)
    with pytest.raises(ValueError, match="direction must be a unit vector"):
        transport.Particle(22, 5.0, direction=[0.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="pdg: unsupported particle type"):
        transport.Particle(2212, 5.0)
    world = transport.Slabs(["Pb"], [1.0])
    with pytest.raises(ValueError, match="outside the world"):
        transport.simulate(
            jax.random.key(0), world, transport.Particle(22, 5.0, position=[0, 0, -1.0])
        )
    with pytest.raises(ValueError, match="on_overflow must be one of"):
        transport.simulate(
            jax.random.key(0), world, transport.Particle(22, 5.0), on_overflow="ignore"
        )
    with pytest.raises(ValueError, match="cut_mev must be a positive scalar"):
        transport.simulate(jax.random.key(0), world, transport.Particle(22, 5.0), cut_mev=0.0)
    with pytest.raises(TypeError, match="world must be transport.Slabs or transport.Voxels"):
        transport.simulate(jax.random.key(0), "Pb", transport.Particle(22, 5.0))
    # traced values are checked at run time
    bad = jax.jit(
        lambda rho: (
            transport.simulate(
                jax.random.key(0),
                transport.Slabs(["Pb"], [1.0], density_g_cm3=rho),
                transport.Particle(22, 5.0),
            ).deposit_mev
        )
    )
    with pytest.raises(Exception, match="density_g_cm3 must be positive"):
        jax.block_until_ready(bad(jnp.array([-1.0])))
    outside = jax.jit(
        lambda z: (
            transport.simulate(
                jax.random.key(0),
                world,
                transport.Particle(22, 5.0, position=jnp.stack([0.0, 0.0, z])),
            ).deposit_mev
        )
    )
    with pytest.raises(Exception, match="particle.position is outside the world"):
        jax.block_until_ready(outside(jnp.float32(3.0)))
    assert isinstance(eqx.error_if, object)
