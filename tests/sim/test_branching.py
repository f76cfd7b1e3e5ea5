"""Branching programs: laws, overflow flags, bad input, and gradients through them."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from estimators._stats import check_unbiased

import hepjax.estimators as hje
from hepjax.sim import branching

M, GENS = 1.2, 4


def gw_program(offspring="poisson"):
    def program(key, m):
        out = branching.galton_watson(key, m, GENS, capacity=64, offspring=offspring)
        return out.sizes[-1]

    return program


@pytest.mark.parametrize(
    ("estimator", "offspring"),
    [
        (hje.AlternativePath(), "poisson"),
        (hje.AlternativePath(), "binomial"),
        (hje.ScoreFunction(baseline="leave_one_out"), "poisson"),
    ],
)
def test_galton_watson_derivative(key, estimator, offspring):
    f = hje.value_and_grad(
        gw_program(offspring), estimator=estimator, num_samples=2000, return_samples=True
    )
    _, _, s = jax.jit(f)(key, jnp.asarray(M))
    check_unbiased(s.values, M**GENS, label="E Z_n")
    check_unbiased(s.grads, GENS * M ** (GENS - 1), label="d/dm E Z_n")


def test_galton_watson_law_and_overflow(key):
    sim = jax.jit(jax.vmap(lambda k: branching.galton_watson(k, M, GENS, capacity=64)))
    out = sim(jax.random.split(key, 4000))
    assert out.sizes.shape == (4000, GENS + 1)
    np.testing.assert_array_equal(out.sizes[:, 0], 1.0)
    check_unbiased(out.sizes, M ** np.arange(GENS + 1), label="E Z_k")
    assert not bool(jnp.any(out.overflow))
    big = branching.galton_watson(key, 3.0, 6, capacity=8)
    assert bool(big.overflow)
    # extinct stays extinct
    zero = branching.galton_watson(key, 0.0, 3, capacity=4)
    np.testing.assert_array_equal(zero.sizes, [1.0, 0.0, 0.0, 0.0])


@pytest.mark.slow  # 9-14 s; in `make test-slow` (CI), to keep `make test` under 15 min
def test_shower_laws(key):
    sim = jax.jit(jax.vmap(lambda k: branching.shower(k, 2.5, mode="split")))
    out = sim(jax.random.split(key, 64))
    assert not bool(jnp.any(out.overflow))
    # every split adds one particle; each particle leaves one end hit
    np.testing.assert_array_equal(out.num_particles, out.num_interactions + 1)
    np.testing.assert_allclose(out.num_hits, out.num_interactions + out.num_particles)
    r = jnp.linalg.norm(out.hits, axis=-1)
    np.testing.assert_allclose(
        jnp.sum(jnp.where(out.hit_mask, r, 0), -1), out.radius_sum, rtol=1e-4
    )
    # interactions only inside the (smooth) shell theta < r < theta + 10
    inter = out.hit_kind == 1
    assert float(jnp.min(jnp.where(inter, r, 99.0))) > 2.5 - 1.0
    el = jax.vmap(lambda k: branching.shower(k, 2.5, mode="eloss"))(jax.random.split(key, 16))
    # 25 -> 1 in twelve losses of 2, the 13th floors it at 0, then it stops
    assert int(jnp.max(el.num_interactions)) <= 13 and not bool(jnp.any(el.overflow))
    np.testing.assert_array_equal(el.num_particles, 1)
    small = branching.shower(key, 2.5, mode="split", capacity=4)
    assert bool(small.overflow)
    short = branching.shower(key, 2.5, max_steps=10)
    assert bool(short.overflow)


@pytest.mark.slow
def test_jit_vmap_eager_agree(key):
    keys = jax.random.split(key, 2)
    eager = branching.shower(keys[0], 2.5, mode="split", max_steps=400)
    batched = jax.jit(jax.vmap(lambda k: branching.shower(k, 2.5, mode="split", max_steps=400)))
    b = batched(keys)
    np.testing.assert_allclose(eager.radius_sum, b.radius_sum[0], rtol=1e-5)
    np.testing.assert_array_equal(eager.hit_kind, b.hit_kind[0])
    # the doubling buffer gives the same shower
    grown = branching.shower(keys[0], 2.5, mode="split", max_steps=400, grow_buffer=True)
    np.testing.assert_allclose(grown.radius_sum, eager.radius_sum, rtol=1e-5)
    assert int(grown.num_particles) == int(eager.num_particles)
    # estimators: jit of the estimator and vmap over parameters agree
    f = hje.value_and_grad(gw_program(), estimator=hje.AlternativePath(), num_samples=8)
    _, g = jax.jit(f)(key, jnp.asarray(M))
    _, gb = jax.jit(jax.vmap(f, in_axes=(None, 0)))(key, jnp.array([M, M]))
    np.testing.assert_allclose(gb, g, rtol=1e-5, atol=1e-6)


@pytest.mark.slow  # default suite time budget: runs in make test-slow
def test_shower_gradient_matches_finite_differences(key):
    """Alternative path at theta = 2.5 vs central differences with common random numbers."""

    def prog(k, th):
        return branching.mean_radius_loss(branching.shower(k, th, mode="split"))

    k1, k2 = jax.random.split(key)
    fa = hje.value_and_grad(
        prog,
        estimator=hje.AlternativePath(pruning="derivative"),
        num_samples=300,
        return_samples=True,
    )
    fd = hje.value_and_grad(
        prog,
        estimator=hje.FiniteDifference(step=0.05, relative=False),
        num_samples=600,
        return_samples=True,
    )
    ga = np.asarray(jax.jit(fa)(k1, jnp.asarray(2.5))[2].grads)
    gf = np.asarray(jax.jit(fd)(k2, jnp.asarray(2.5))[2].grads)
    se = np.sqrt(ga.var(ddof=1) / ga.size + gf.var(ddof=1) / gf.size)
    assert abs(ga.mean() - gf.mean()) < 4 * se, (ga.mean(), gf.mean(), se)
    assert gf.mean() > 4 * gf.std() / np.sqrt(gf.size)  # the slope is resolved


def test_cascade_energy_conservation(key):
    x0 = jnp.array([0.56, 42.0] * 3)
    thick = (1.0, 0.5) * 3
    out = jax.vmap(lambda k: branching.em_cascade(k, 1000.0, x0, thick))(jax.random.split(key, 32))
    assert not bool(jnp.any(out.overflow))
    np.testing.assert_allclose(out.deposits.sum(-1) + out.leakage, 1000.0, rtol=1e-5)
    assert float(out.profile.max()) <= 128  # 2^ceil(log2(E0/Ec))
    tiny = branching.em_cascade(key, 1000.0, x0, thick, capacity=2)
    assert bool(tiny.overflow)


def test_cascade_gradient_matches_finite_differences(key):
    """d(deposit in layer 2)/d(radiation lengths): alternative path vs central differences."""
    thick = (2.0, 2.0)

    def prog(k, x0):
        return branching.em_cascade(k, 80.0, x0, thick, step_size=0.2, capacity=16).deposits[1]

    x0 = jnp.array([1.0, 1.0])
    est = {
        "alt": (hje.AlternativePath(pruning="derivative"), 2000),
        "fd": (hje.FiniteDifference(step=0.05), 4000),
    }
    g = {}
    for name, (e, n) in est.items():
        f = jax.jit(hje.value_and_grad(prog, estimator=e, num_samples=n, return_samples=True))
        g[name] = np.asarray(f(jax.random.fold_in(key, n), x0)[2].grads)
    se = np.sqrt(g["alt"].var(0, ddof=1) / 2000 + g["fd"].var(0, ddof=1) / 4000)
    diff = np.abs(g["alt"].mean(0) - g["fd"].mean(0))
    assert np.all(diff < 4 * se), (g["alt"].mean(0), g["fd"].mean(0), se)
    # a longer absorber layer 1 leaves more energy for layer 2
    assert g["fd"].mean(0)[1] < -4 * np.sqrt(g["fd"].var(0, ddof=1)[1] / 4000)


@pytest.mark.usefixtures("no_jaxtyping")
def test_bad_input(key):
    with pytest.raises(ValueError, match="mode must be one of"):
        branching.shower(key, 2.5, mode="pairs")
    with pytest.raises(ValueError, match="energy must be finite and > 0"):
        branching.shower(key, 2.5, energy=-1.0)
    with pytest.raises(ValueError, match="step_size must be finite and > 0"):
        branching.shower(key, 2.5, step_size=0.0)
    with pytest.raises(ValueError, match="amplitude must be a probability"):
        branching.shower(key, 2.5, amplitude=1.5)
    with pytest.raises(ValueError, match="capacity must be a positive int"):
        branching.shower(key, 2.5, capacity=0)
    with pytest.raises(ValueError, match="theta must be a scalar"):
        branching.shower(key, jnp.ones(2))
    with pytest.raises(ValueError, match="too small for the start state"):
        branching.galton_watson(key, 1.0, 3, capacity=2, initial=5)
    with pytest.raises(ValueError, match="binomial probability m/N"):
        branching.galton_watson(key, 5.0, 3, capacity=8, offspring="binomial", max_offspring=4)
    with pytest.raises(ValueError, match="offspring mean >= 0"):
        branching.galton_watson(key, -0.5, 3, capacity=8)
    with pytest.raises(ValueError, match="offspring must be one of"):
        branching.galton_watson(key, 1.0, 3, capacity=8, offspring="normal")
    with pytest.raises(ValueError, match="radiation_length must have shape"):
        branching.em_cascade(key, 100.0, jnp.ones(3), (1.0, 1.0))
    with pytest.raises(ValueError, match="energy must be finite and > 0"):
        branching.em_cascade(key, -100.0, jnp.ones(2), (1.0, 1.0))
    with pytest.raises(TypeError, match="thickness must be static"):
        jax.jit(lambda t: branching.em_cascade(key, 100.0, jnp.ones(2), t))(jnp.ones(2))


def test_spawn_fills_free_slots_in_order():
    from hepjax.sim.branching._buffer import append_rows, spawn

    alive = jnp.array([True, False, True, False, False])
    parents = jnp.array([True, False, True, False, False])
    vals = jnp.arange(5.0)
    new_alive, bufs, lost = spawn(alive, parents, {"v": (10 + vals, vals)})
    np.testing.assert_array_equal(new_alive, [True, True, True, True, False])
    np.testing.assert_array_equal(bufs["v"], [0.0, 10.0, 2.0, 12.0, 4.0])
    assert int(lost) == 0
    full = jnp.array([True, True, True, False, True])
    two = jnp.array([True, True, False, False, False])
    _, bufs, lost = spawn(full, two, {"v": (10 + vals, vals)})
    np.testing.assert_array_equal(bufs["v"], [0.0, 1.0, 2.0, 10.0, 4.0])
    assert int(lost) == 1
    store, count = append_rows(jnp.zeros(3), jnp.asarray(2), 10 + vals, parents)
    np.testing.assert_array_equal(store, [0.0, 0.0, 10.0])
    assert int(count) == 4  # the second row found no room but is counted
