"""The single-cube representation: frames, cube-surface maps, conversions."""

import functools
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hepjax import radiation as rad
from hepjax.radiation._data import ELECTRON_MASS_MEV, kinetic_energy, momentum


def _surface_points(key, n, size):
    """Uniform points on the faces of a cube of side ``size`` centred at the origin."""
    k1, k2, k3 = jax.random.split(key, 3)
    x = jax.random.uniform(k1, (n, 3), minval=-0.5, maxval=0.5) * size
    axis = jax.random.randint(k2, (n,), 0, 3)
    side = jnp.where(jax.random.bernoulli(k3, 0.5, (n,)), 0.5, -0.5) * size
    return x.at[jnp.arange(n), axis].set(side)


def test_surface_sphere_round_trip(key):
    for size in (1.0, 10.0):
        x = _surface_points(key, 500, size)
        e = rad.surface_to_sphere(x)
        np.testing.assert_allclose(np.linalg.norm(e, axis=-1), 1.0, atol=1e-6)
        np.testing.assert_allclose(rad.sphere_to_surface(e, size), x, atol=1e-5 * size)


@pytest.mark.parametrize("axis", [0, 1, 2])
@pytest.mark.parametrize("side", [-1.0, 1.0])
def test_canonical_rotation_puts_the_entry_face_at_minus_z(axis, side):
    p = np.array([0.1, -0.2, 0.3], np.float32)
    p[axis] = 0.5 * side  # on face (axis, side); the inward normal is -side e_axis
    r = rad.canonical_rotation(p)
    assert abs(np.linalg.det(r) - 1.0) < 1e-6
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-6)
    inward = np.zeros(3, np.float32)
    inward[axis] = -side
    np.testing.assert_allclose(r @ inward, [0.0, 0.0, 1.0], atol=1e-6)
    assert abs(float((r @ p)[2]) + 0.5) < 1e-6


def test_momentum_and_kinetic_energy_are_inverse():
    t = jnp.geomspace(0.01, 300.0, 50)
    for kind in (0, 1, 2):
        np.testing.assert_allclose(kinetic_energy(kind, momentum(kind, t)), t, rtol=1e-5)
    p = momentum(1, 1.0)
    assert abs(float(p) - np.sqrt(1.0 + 2 * ELECTRON_MASS_MEV)) < 1e-6


@functools.partial(jax.jit, static_argnums=(1, 2))
def _toy_events(key, n, toy=rad.ToyKernel()):
    def one(k):
        k1, k2, k3 = jax.random.split(k, 3)
        inc = rad.random_incident(k1, 1.0)
        cube = rad.Cube(0, jax.random.uniform(k2, minval=0.5, maxval=10.0), 1.0)
        return inc, cube, toy(k3, inc, cube)

    return jax.vmap(one)(jax.random.split(key, n))


def test_to_interaction_and_back_recovers_the_particles(key):
    inc, cube, res = _toy_events(key, 200)
    inter = jax.jit(jax.vmap(rad.to_interaction))(inc, cube, res)
    back = jax.jit(jax.vmap(rad.outgoing_particles))(inter)
    res, back = jax.tree.map(np.asarray, res), jax.tree.map(np.asarray, back)
    # the canonical frame of these incident particles is the identity, rows are sorted by type
    for b in range(200):
        m = np.asarray(res.particles.mask[b] & (res.particles.energy_mev[b] >= 10.0))
        order = np.argsort(np.where(m, res.particles.type[b], 3), kind="stable")[: m.sum()]
        got = np.asarray(back.mask[b])
        assert got.sum() == m.sum()
        np.testing.assert_array_equal(back.type[b][got], res.particles.type[b][order])
        np.testing.assert_allclose(
            back.energy_mev[b][got], res.particles.energy_mev[b][order], rtol=1e-4
        )
        np.testing.assert_allclose(
            back.position[b][got], res.particles.position[b][order], atol=1e-4
        )
    np.testing.assert_allclose(inter.edep_fraction, res.deposit_mev / inc.energy_mev, rtol=1e-6)
    assert np.all(np.asarray(inter.counts).sum(-1) == np.asarray(inter.out_mask).sum(-1))


def test_passthrough_flag_marks_exactly_the_untouched_photons(key):
    toy = rad.ToyKernel()
    inc, cube, res = _toy_events(key, 200, toy)
    inter = jax.jit(jax.vmap(rad.to_interaction))(inc, cube, res)
    photon = np.asarray(inc.type) == 0
    untouched = (
        photon & (np.asarray(res.deposit_mev) == 0) & (np.asarray(res.particles.mask).sum(-1) == 1)
    )
    np.testing.assert_array_equal(np.asarray(inter.passthrough), untouched)
    assert 0 < untouched.sum() < photon.sum()


def test_to_interaction_rotates_into_the_canonical_frame(key):
    # the same event entered through the +x face: the representation is unchanged
    inc, cube, res = _toy_events(key, 200)
    one = lambda t: jax.tree.map(lambda a: a[0], t)
    inc, cube, res = one(inc), one(cube), one(res)
    # R maps canonical -> +x entry: the inverse of canonical_rotation at a +x-face point
    r = rad.canonical_rotation(jnp.array([0.5, 0.0, 0.0])).T
    inc2 = rad.Incident(inc.type, inc.energy_mev, r @ inc.direction, r @ inc.position)
    parts = res.particles
    res2 = rad.KernelResult(
        rad.Particles(
            parts.type, parts.energy_mev, parts.position @ r.T, parts.direction @ r.T, parts.mask
        ),
        res.deposit_mev,
        res.overflow,
    )
    a, b = rad.to_interaction(inc, cube, res), rad.to_interaction(inc2, cube, res2)
    for name in ("incident_position", "incident_direction", "out_direction", "out_exit"):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), atol=1e-5)


def test_from_transport_shifts_by_the_cube_centre(key):
    inc, cube, res = _toy_events(key, 200)
    one = lambda t: jax.tree.map(lambda a: a[0], t)
    inc, cube, res = one(inc), one(cube), one(res)
    centre = jnp.array([0.5, 0.5, 0.5])
    parts = res.particles
    pdg = jnp.asarray([22, 11, -11])[parts.type]
    fake = types.SimpleNamespace(
        deposit_mev=res.deposit_mev[None, None, None],
        exiting=types.SimpleNamespace(
            pdg=pdg,
            energy_mev=parts.energy_mev,
            position=parts.position + centre,
            direction=parts.direction,
            mask=parts.mask,
        ),
        overflow=jnp.asarray(False),
    )
    a = rad.from_transport(fake, inc, cube, centre=centre)
    b = rad.to_interaction(inc, cube, res)
    for name in rad._data.FIELDS:
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), atol=1e-5)


def test_interactions_dict_round_trip_and_missing_field(key):
    inc, cube, res = _toy_events(key, 200)
    inter = jax.vmap(rad.to_interaction)(inc, cube, res)
    again = rad.Interactions.from_dict(inter.to_dict())
    for name, value in inter.to_dict().items():
        np.testing.assert_array_equal(value, np.asarray(getattr(again, name)))
    d = inter.to_dict()
    del d["out_exit"]
    with pytest.raises(KeyError, match="out_exit"):
        rad.Interactions.from_dict(d)


def test_particles_below_the_cut_are_dropped_and_deposited():
    inc = rad.Incident(0, 100.0, [0.0, 0.0, 1.0], [0.0, 0.0, -0.5])
    cube = rad.Cube(0, 8.96, 1.0)
    parts = rad.Particles(
        type=jnp.array([1, 2, 0, 0]),
        energy_mev=jnp.array([40.0, 4.0, 3.0, 0.0]),
        position=jnp.array([[0.0, 0.0, 0.5]] * 4),
        direction=jnp.array([[0.0, 0.0, 1.0]] * 4),
        mask=jnp.array([True, True, True, False]),
    )
    inter = rad.to_interaction(
        inc, cube, rad.KernelResult(parts, jnp.asarray(52.0), jnp.asarray(False))
    )
    np.testing.assert_array_equal(inter.counts, [0, 1, 0])
    want = (52.0 + 4.0 + 2 * ELECTRON_MASS_MEV + 3.0) / 100.0
    assert abs(float(inter.edep_fraction) - want) < 1e-6
    assert not bool(inter.passthrough)
