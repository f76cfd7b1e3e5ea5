"""The exact SSA: law, shapes, overflow flag, bad input, and gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from estimators._stats import check_unbiased

import hepjax.estimators as hje
from hepjax.sim import gillespie

K1, K2 = 10.0, 0.5


def bd_mean(k1, k2, t):
    return k1 / k2 * (1 - jnp.exp(-k2 * t))


def test_birth_death_law(key):
    net = gillespie.birth_death()
    t_obs = jnp.array([0.5, 2.0, 6.0])
    sim = jax.jit(
        jax.vmap(
            lambda k: gillespie.simulate(
                k, net, jnp.array([K1, K2]), jnp.array([0]), t_obs, max_steps=400
            )
        )
    )
    sol = sim(jax.random.split(key, 4000))
    assert sol.x.shape == (4000, 3, 1)
    assert not bool(jnp.any(sol.overflow))
    assert bool(jnp.all(sol.reached))
    x = np.asarray(sol.x[..., 0])
    np.testing.assert_array_equal(x, np.round(x))
    check_unbiased(x, bd_mean(K1, K2, t_obs), label="E X(t)")
    # X(t) is Poisson: Var = mean. Check the second moment too.
    m = bd_mean(K1, K2, t_obs)
    check_unbiased(x**2, m + m**2, label="E X(t)^2")


def test_mass_action_combinatorics():
    net = gillespie.mass_action([[2, 0], [1, 1]], [[0, 1], [0, 0]])
    a = net.propensities(jnp.array([5.0, 3.0]), jnp.array([2.0, 0.5]))
    np.testing.assert_allclose(a, [2.0 * 5 * 4 / 2, 0.5 * 5 * 3])
    a0 = net.propensities(jnp.array([1.0, 0.0]), jnp.array([2.0, 0.5]))
    np.testing.assert_allclose(a0, [0.0, 0.0])


def test_bimolecular_conservation_and_networks(key):
    net = gillespie.bimolecular()
    sol = gillespie.simulate(
        key,
        net,
        jnp.array([0.01, 0.1]),
        jnp.array([50, 40, 0]),
        jnp.linspace(0, 10, 11),
        max_steps=5000,
    )
    assert not bool(sol.overflow)
    a, b, c = sol.x[:, 0], sol.x[:, 1], sol.x[:, 2]
    np.testing.assert_array_equal(a + c, 50)
    np.testing.assert_array_equal(b + c, 40)
    assert float(c[-1]) > 0
    rep = gillespie.repressilator()
    sol = gillespie.simulate(
        key,
        rep,
        jnp.array([50.0, 0.05, 5.0, 1.0, 1.0]),
        jnp.zeros(6),
        jnp.linspace(0, 5, 6),
        max_steps=20000,
    )
    assert not bool(sol.overflow) and bool(jnp.all(sol.x >= 0))
    lv = gillespie.lotka_volterra()
    sol = gillespie.simulate(
        key,
        lv,
        jnp.array([1.0, 0.005, 0.6]),
        jnp.array([50, 100]),
        jnp.linspace(0, 2, 5),
        max_steps=20000,
    )
    assert sol.x.shape == (5, 2) and bool(jnp.all(sol.x >= 0))


def test_overflow_is_flagged_not_truncated(key):
    net = gillespie.birth_death()
    t_obs = jnp.array([0.1, 1.0, 10.0])
    sol = gillespie.simulate(key, net, jnp.array([K1, K2]), jnp.array([0]), t_obs, max_steps=15)
    assert bool(sol.overflow)
    assert int(sol.num_events) == 15
    assert bool(sol.reached[0]) and not bool(sol.reached[-1])
    # same shapes whatever max_steps: memory does not grow with events
    big = gillespie.simulate(key, net, jnp.array([K1, K2]), jnp.array([0]), t_obs, max_steps=5000)
    assert big.x.shape == sol.x.shape and not bool(big.overflow)
    with pytest.raises(Exception, match="max_steps events ran out"):
        gillespie.simulate(
            key, net, jnp.array([K1, K2]), jnp.array([0]), t_obs, max_steps=15, throw=True
        ).x.block_until_ready()


def test_jit_eager_and_vmap_loop_agree(key):
    net = gillespie.birth_death()
    args = (net, jnp.array([K1, K2]), jnp.array([3]), jnp.array([0.5, 1.0]))

    def run(k):
        return gillespie.simulate(k, *args, max_steps=100).x

    run_jit = jax.jit(run)
    np.testing.assert_array_equal(run(key), run_jit(key))
    keys = jax.random.split(key, 5)
    np.testing.assert_array_equal(jax.vmap(run)(keys), jnp.stack([run_jit(k) for k in keys]))


def test_float64(key):
    with jax.enable_x64(True):
        net = gillespie.birth_death()
        rates = jnp.array([K1, K2], jnp.float64)
        sol = gillespie.simulate(key, net, rates, jnp.array([0]), jnp.array([1.0]), max_steps=100)
        assert sol.x.dtype == jnp.float64 and sol.t.dtype == jnp.float64


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"rates": [-1.0, 0.5]}, ValueError, "rates must be finite and >= 0"),
        ({"rates": [np.inf, 0.5]}, ValueError, "rates must be finite and >= 0"),
        ({"rates": [1.0, 0.5, 2.0]}, ValueError, r"rates must have shape \(2,\)"),
        ({"x0": [-1]}, ValueError, "x0 must be non-negative integer counts"),
        ({"x0": [1.5]}, ValueError, "x0 must be non-negative integer counts"),
        ({"x0": [1, 2]}, ValueError, r"x0 must have shape \(1,\)"),
        ({"t_obs": [2.0, 1.0]}, ValueError, "t_obs must be finite, sorted"),
        ({"t_obs": [[1.0]]}, ValueError, "t_obs must be a non-empty 1-d array"),
        ({"max_steps": 0}, ValueError, "max_steps must be a positive int"),
        ({"max_steps": 2.5}, ValueError, "max_steps must be a positive int"),
        ({"network": "bd"}, TypeError, "network must be a ReactionNetwork"),
    ],
)
def test_bad_input(kwargs, exc, match, key):
    args = {
        "network": gillespie.birth_death(),
        "rates": [1.0, 0.5],
        "x0": [0],
        "t_obs": [1.0, 2.0],
        "max_steps": 10,
    }
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        gillespie.simulate(
            key,
            args["network"],
            jnp.asarray(args["rates"]),
            jnp.asarray(args["x0"]),
            jnp.asarray(args["t_obs"]),
            max_steps=args["max_steps"],
        )


def test_traced_bad_rates_raise_with_throw(key):
    net = gillespie.birth_death()
    f = jax.jit(
        lambda r: (
            gillespie.simulate(
                key, net, r, jnp.array([0]), jnp.array([1.0]), max_steps=50, throw=True
            ).x
        )
    )
    with pytest.raises(Exception, match="rates must be finite and >= 0"):
        f(jnp.array([-1.0, 0.5])).block_until_ready()


@pytest.mark.parametrize(
    ("reactants", "products", "match"),
    [
        ([[0], [1]], [[1, 0], [0, 1]], "same shape"),
        ([0, 1], [1, 0], r"reactants must have shape \(reactions, species\)"),
        ([[0], [-1]], [[1], [0]], "non-negative"),
        ([[0.5], [1]], [[1], [0]], "integer"),
    ],
)
def test_bad_stoichiometry(reactants, products, match):
    with pytest.raises((ValueError, TypeError), match=match):
        gillespie.mass_action(reactants, products)


# ----------------------------------------------------------------- gradients


def _bd_program(t_obs, coeffs):
    net = gillespie.birth_death()

    def program(key, rates):
        sol = gillespie.simulate(key, net, rates, jnp.array([0]), t_obs, max_steps=300)
        return sol.x[:, 0] @ coeffs

    return program


@pytest.mark.parametrize(
    "estimator", [hje.AlternativePath(), hje.ScoreFunction()], ids=["altpath", "score"]
)
def test_birth_death_gradient_unbiased(estimator, key):
    t_obs = jnp.array([1.0, 3.0])
    coeffs = jnp.array([1.0, 0.5])
    rates = jnp.array([K1, K2])

    def exact(r):
        return bd_mean(r[0], r[1], t_obs) @ coeffs

    f = jax.jit(
        hje.value_and_grad(
            _bd_program(t_obs, coeffs), estimator=estimator, num_samples=3000, return_samples=True
        )
    )
    _, grad, s = f(key, rates)
    assert grad.shape == (2,)
    check_unbiased(s.values, exact(rates), label="value")
    check_unbiased(s.grads, jax.grad(exact)(rates), label="dE/dk")


@pytest.mark.slow  # default suite time budget: runs in make test-slow
def test_gradient_jit_eager_agree(key):
    program = _bd_program(jnp.array([1.0]), jnp.array([1.0]))
    f = hje.value_and_grad(program, estimator=hje.AlternativePath(), num_samples=8)
    rates = jnp.array([K1, K2])
    f_jit = jax.jit(f)
    v1, g1 = f(key, rates)
    v2, g2 = f_jit(key, rates)
    np.testing.assert_allclose(v1, v2, rtol=1e-6)
    np.testing.assert_allclose(g1, g2, rtol=1e-5, atol=1e-5)
    # (vmap against a loop of the transformed program: tests/estimators/test_api.py)


def test_objectives():
    t = jnp.arange(200) * 0.1
    wave = jnp.sin(2 * jnp.pi * t / 4.0)
    np.testing.assert_allclose(gillespie.oscillation_period(wave, 0.1), 4.0, rtol=0.05)
    assert float(gillespie.autocorrelation(wave, 20)) < -0.9  # half a period
    assert float(gillespie.autocorrelation(wave, 40)) > 0.9  # a full period
    x = jnp.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    m = gillespie.steady_state_moments(x, burn_in=1)
    np.testing.assert_allclose(m, [[4.0, 5.0], [17.0, 26.0]])
    loss = gillespie.mean_trajectory_loss(x, jnp.zeros_like(x), jnp.array([1.0, 0.0]))
    np.testing.assert_allclose(loss, (1 + 9 + 25) / 3)


def test_steady_state_mean_gradient_with_alternative_path(key):
    # Late-time mean of birth-death: k1/k2 (1 - e^{-k2 t}) averaged over t.
    net = gillespie.birth_death()
    t_obs = jnp.array([4.0, 6.0, 8.0])

    def program(key, rates):
        sol = gillespie.simulate(key, net, rates, jnp.array([0]), t_obs, max_steps=300)
        return gillespie.steady_state_moments(sol.x)[0, 0]

    def exact(r):
        return jnp.mean(bd_mean(r[0], r[1], t_obs))

    rates = jnp.array([5.0, 0.5])
    f = jax.jit(
        hje.value_and_grad(
            program, estimator=hje.AlternativePath(), num_samples=2000, return_samples=True
        )
    )
    _, _, s = f(key, rates)
    check_unbiased(s.grads, jax.grad(exact)(rates), label="steady-state mean")


def test_gradient_through_scan_of_while_loops(key):
    # A batch of trajectories inside the program (lax.map is a scan around the
    # SSA's while_loop): nested control flow for the alternative path.
    net = gillespie.birth_death()
    T = 1.0

    def program(key, rates):
        def one(k):
            return gillespie.simulate(
                k, net, rates, jnp.array([0]), jnp.array([T]), max_steps=100
            ).x[0, 0]

        xs = jax.lax.map(one, jax.random.split(key, 3))
        return jnp.mean(xs) + 0.1 * jnp.mean(xs) ** 2

    def exact(r):
        m = bd_mean(r[0], r[1], T)  # X(T) ~ Poisson(m); mean of 3 has variance m / 3
        return m + 0.1 * (m / 3 + m**2)

    rates = jnp.array([K1, K2])
    f = jax.jit(
        hje.value_and_grad(
            program, estimator=hje.AlternativePath(), num_samples=1500, return_samples=True
        )
    )
    _, _, s = f(key, rates)
    check_unbiased(s.values, exact(rates), label="value")
    check_unbiased(s.grads, jax.grad(exact)(rates), label="grad")
