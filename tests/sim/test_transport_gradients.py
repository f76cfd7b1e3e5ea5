"""Pathwise derivatives of hepjax.sim.transport deposits with respect to densities and
thicknesses, against finite differences with common random numbers."""

import jax
import jax.numpy as jnp
import numpy as np

from hepjax.sim import transport


def test_deposit_derivatives_match_common_random_number_differences():
    p = transport.Particle(11, 50.0)

    def deposit(key, rho, thick):
        world = transport.Slabs(["Cu", "Si"], thick, density_g_cm3=rho)
        return transport.simulate(key, world, p, cut_mev=1.0, capacity=64).deposit_mev[1]

    n = 256
    keys = jax.random.split(jax.random.key(0), n)
    rho0 = jnp.array([8.96, 2.329])
    th0 = jnp.array([0.5, 0.5])
    jac = jax.jit(jax.vmap(lambda k: jax.jacfwd(deposit, argnums=(1, 2))(k, rho0, th0)))(keys)
    f = jax.jit(jax.vmap(deposit, in_axes=(0, None, None)))
    for j, v0 in enumerate((rho0, th0)):
        for i in range(2):
            h = 1e-3 * float(v0[i])
            e = jnp.zeros(2).at[i].set(h)
            plus = (rho0 + e, th0) if j == 0 else (rho0, th0 + e)
            minus = (rho0 - e, th0) if j == 0 else (rho0, th0 - e)
            fd = np.asarray((f(keys, *plus) - f(keys, *minus)) / (2 * h), np.float64)
            g = np.asarray(jac[j][:, i], np.float64)
            assert np.all(np.isfinite(g))
            d = g - fd
            # paired comparison: the two agree except where a step switches between a
            # boundary and an interaction inside (h) (a jump the pathwise derivative omits)
            se = d.std(ddof=1) / np.sqrt(n)
            assert abs(d.mean()) < 4 * se + 1e-3 * abs(g.mean()) + 1e-4, (
                j,
                i,
                g.mean(),
                fd.mean(),
                se,
            )
    # the deposit in the silicon grows with its density and thickness (more material
    # crossed), by about the stopping power: d E / d(rho) ~ S t, d E / d t ~ S rho
    g_rho = float(jac[0][:, 1].mean())
    g_t = float(jac[1][:, 1].mean())
    assert 0.5 < g_rho / 0.5 < 3.0  # MeV cm^2/g: ~ the collision stopping power of Si
    # an infinite slab depends on rho * t only: rho dE/drho = t dE/dt, event by event
    np.testing.assert_allclose(jac[1][:, 1] * 0.5, jac[0][:, 1] * 2.329, rtol=1e-2, atol=1e-4)
    assert np.isclose(g_t, g_rho * 2.329 / 0.5, rtol=1e-2)
