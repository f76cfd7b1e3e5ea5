"""FGSM and PGD: closed forms on a linear model, the L-inf ball, adversarial training."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from hepjax import robust, train


def logistic_loss(model, x, y):
    w, b = model
    logits = x @ w + b
    return jnp.mean(optax.sigmoid_binary_cross_entropy(logits, y))


@pytest.fixture
def problem(key):
    kw, kx, ky = jax.random.split(key, 3)
    w = jax.random.normal(kw, (6,))
    x = jax.random.normal(kx, (32, 6))
    y = (jax.random.uniform(ky, (32,)) < 0.5).astype(jnp.float32)
    return (w, jnp.float32(0.1)), x, y


def test_fgsm_linear_closed_form(problem):
    """d loss / d x_i = (sigmoid(z_i) - y_i) w / B, so x' = x + eps sign((sigmoid(z) - y) w)."""
    model, x, y = problem
    w, b = model
    x_adv = robust.fgsm(logistic_loss, model, x, y, eps=0.007)
    residual = jax.nn.sigmoid(x @ w + b) - y
    expected = x + 0.007 * jnp.sign(residual[:, None] * w[None, :])
    np.testing.assert_allclose(x_adv, expected, atol=1e-7)
    assert float(logistic_loss(model, x_adv, y)) > float(logistic_loss(model, x, y))


@pytest.mark.parametrize("random_start", [False, True])
def test_pgd_stays_in_ball_and_raises_loss(problem, key, random_start):
    model, x, y = problem
    eps = 0.05
    attack = jax.jit(
        lambda x: robust.pgd(
            logistic_loss,
            model,
            x,
            y,
            eps=eps,
            step=0.02,
            steps=10,
            key=key if random_start else None,
        )
    )
    x_adv = attack(x)
    assert float(jnp.max(jnp.abs(x_adv - x))) <= eps + 1e-6  # float32 rounding of x + d
    base = float(logistic_loss(model, x, y))
    assert float(logistic_loss(model, x_adv, y)) > base
    # for a linear model the ball's worst corner is the FGSM point, and PGD reaches it
    x_fgsm = robust.fgsm(logistic_loss, model, x, y, eps=eps)
    np.testing.assert_allclose(x_adv, x_fgsm, atol=1e-6)


def test_pgd_bounds_and_pytree_inputs(key):
    """Floating leaves are attacked and clipped; the boolean mask passes through."""

    def loss(w, x, y):
        feats, mask = x
        return jnp.sum(jnp.where(mask[..., None], feats * w, 0.0)) * y

    feats = jax.random.uniform(key, (4, 3))
    mask = jnp.array([True, True, False, True])
    w = jnp.array([1.0, -1.0, 2.0])
    feats_adv, mask_adv = robust.pgd(loss, w, (feats, mask), 1.0, eps=0.3, bounds=(0.0, 1.0))
    assert mask_adv.dtype == jnp.bool_ and bool(jnp.all(mask_adv == mask))
    assert float(jnp.min(feats_adv)) >= 0.0 and float(jnp.max(feats_adv)) <= 1.0
    assert float(jnp.max(jnp.abs(feats_adv - feats))) <= 0.3 + 1e-6
    np.testing.assert_array_equal(feats_adv[2], feats[2])  # padding: zero gradient, unmoved


def test_bad_radius_messages(problem):
    model, x, y = problem
    with pytest.raises(ValueError, match="eps must be >= 0"):
        robust.fgsm(logistic_loss, model, x, y, eps=-0.1)
    with pytest.raises(ValueError, match="eps must be >= 0"):
        robust.pgd(logistic_loss, model, x, y, eps=-1e-3)
    with pytest.raises(ValueError, match="step must be >= 0"):
        robust.PGD(step=-0.1)
    with pytest.raises(ValueError, match="steps must be a positive int"):
        robust.pgd(logistic_loss, model, x, y, steps=0)


def test_attack_schedule_fraction():
    def data(step):
        return np.zeros((10, 2), np.float32), np.zeros(10, np.float32)

    stream = robust.attack_schedule(data, optax.linear_schedule(0.0, 0.5, 10))
    assert stream(0)[2].sum() == 0
    assert stream(10)[2].sum() == 5
    with pytest.raises(ValueError, match="fraction must be in"):
        robust.attack_schedule(data, 1.5)


def test_adversarial_training_with_fit(problem, key):
    """The adversarial loss equals the plain loss on the mixed batch, and fit trains on it."""
    model, x, y = problem
    attacked = np.arange(32) < 16
    loss = robust.adversarial_loss(logistic_loss, robust.FGSM(eps=0.1))
    value = loss(model, (x, y, attacked), key=key)
    x_adv = robust.fgsm(logistic_loss, model, x, y, eps=0.1)
    mixed = jnp.where(attacked[:, None], x_adv, x)
    np.testing.assert_allclose(value, logistic_loss(model, mixed, y), rtol=1e-6)

    data = robust.attack_schedule(lambda s: (np.asarray(x), np.asarray(y)), 0.5)
    pgd_loss = robust.adversarial_loss(logistic_loss, robust.PGD(eps=0.05, step=0.02, steps=3))
    result = train.fit(model, pgd_loss, optax.adam(0.05), data, steps=20, key=key)
    assert np.all(np.isfinite(result.losses))
    assert result.losses[-1] < result.losses[0]


def test_attack_is_jittable_and_vmappable(problem):
    """Per-example attacks under vmap equal the batch attack (the loss is a mean)."""
    model, x, y = problem

    def one(model, x, y):
        return logistic_loss(model, x[None], y[None])

    per_example = jax.vmap(lambda a, b: robust.fgsm(one, model, a, b, eps=0.01))(x, y)
    batch = eqx.filter_jit(robust.fgsm)(logistic_loss, model, x, y, eps=0.01)
    np.testing.assert_allclose(per_example, batch, atol=1e-7)
