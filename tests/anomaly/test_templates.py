"""Background templates on the Gaussian toy: closure of every method, and their parts."""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from hepjax import anomaly
from hepjax.anomaly._transit import _skip_zero_steps

REGIONS = anomaly.Regions(signal=(3.3, 3.7), sidebands=((3.0, 3.3), (3.7, 4.6)))


@pytest.fixture(scope="module")
def toy():
    """Sidebands of one background sample; true SR background of an independent one."""
    bkg, _ = anomaly.gaussian_toy(jax.random.key(0), 12_000, dim=3)
    _, sb = REGIONS.split(bkg)
    truth, _ = anomaly.gaussian_toy(jax.random.key(1), 16_000, dim=3)
    sr_truth, _ = REGIONS.split(truth)
    return sb, sr_truth


def closure(template, sr_truth, n=2000):
    """Closure AUC of ``n`` template rows against ``n`` true SR background rows."""
    truth = sr_truth[:n]
    samples = template.sample(jax.random.key(7), truth.mass)
    assert samples.shape == truth.features.shape and np.isfinite(samples).all()
    other = sr_truth[n : 2 * n]
    return anomaly.closure_auc(jax.random.key(8), samples, other.features)


def test_idealized_closes(toy):
    """A perfect template gives AUC 0.5 within a few standard errors."""
    sb, sr_truth = toy
    template = anomaly.fit_template(
        jax.random.key(2), sb.features, sb.mass, method=anomaly.Idealized(sr_truth[:2000])
    )
    result = closure(template, sr_truth)
    assert abs(result.auc - 0.5) < 4 * result.stderr + 0.01, result
    na, nb = result.num_template, result.num_background
    assert result.stderr == pytest.approx(math.sqrt((na + nb + 1) / (12 * na * nb)))
    with pytest.warns(UserWarning, match="1 are drawn again"):
        rows = template.sample(jax.random.key(0), np.full(2001, 3.5))
    assert len(np.unique(rows, axis=0)) == 2000


def test_naive_template_fails_closure(toy):
    """The closure test has power: sideband events as they are (mass ignored) are detected."""
    sb, sr_truth = toy
    naive = anomaly.Idealized(sb.features)  # a "template" of unmoved sideband events
    template = anomaly.fit_template(jax.random.key(2), sb.features, sb.mass, method=naive)
    assert closure(template, sr_truth).auc > 0.6


LEARNED = {
    "CATHODE": anomaly.CATHODE(hidden_size=32, num_transforms=4, steps=800, patience=5),
    "TRANSIT": anomaly.TRANSIT(hidden_size=64, steps=1200, batch_size=256, learning_rate=1e-3),
    "Drapes": anomaly.Drapes(hidden_size=64, num_layers=2, steps=1200, num_steps=12),
    "Drapes-partial": anomaly.Drapes(
        hidden_size=64, num_layers=2, steps=1200, num_steps=16, noise_fraction=0.8
    ),
}


SLOW = pytest.mark.slow  # 10-15 s each on 2 busy cores; Drapes from noise stays in the default run


@pytest.mark.parametrize(
    "name", [n if n == "Drapes" else pytest.param(n, marks=SLOW) for n in LEARNED]
)
def test_learned_template_closes(toy, name):
    sb, sr_truth = toy
    template = anomaly.fit_template(jax.random.key(3), sb.features, sb.mass, method=LEARNED[name])
    assert template.train_seconds > 0
    result = closure(template, sr_truth)
    assert result.auc < 0.57, result


def test_transit_latent_and_transport(toy):
    sb, _ = toy
    method = anomaly.TRANSIT(hidden_size=16, num_layers=1, steps=20, batch_size=64, latent_size=4)
    template = anomaly.fit_template(jax.random.key(4), sb.features, sb.mass, method=method)
    z = template.encode(sb.features[:100], sb.mass[:100])
    assert z.shape == (100, 4)
    moved = template.transport(sb.features[:100], sb.mass[:100], np.full(100, 3.5))
    assert moved.shape == (100, 3) and np.isfinite(moved).all()


def test_skip_zero_steps():
    """A generator step with an exactly zero gradient changes neither parameters nor moments."""
    opt = _skip_zero_steps(optax.adamw(1e-2, weight_decay=0.1))
    params = {"w": jnp.ones(3)}
    state = opt.init(params)
    updates, state1 = opt.update({"w": jnp.array([1.0, -1.0, 2.0])}, state, params)
    assert jnp.all(updates["w"] != 0)
    zero_updates, state2 = opt.update({"w": jnp.zeros(3)}, state1, params)
    assert jnp.all(zero_updates["w"] == 0)
    for a, b in zip(jax.tree.leaves(state1), jax.tree.leaves(state2), strict=True):
        np.testing.assert_array_equal(a, b)


def test_transit_generator_waits_for_discriminator():
    """While the discriminator's loss is not below ln 2, the generator gets no gradient."""
    method = anomaly.TRANSIT(hidden_size=16, num_layers=1, latent_size=2)
    x = jax.random.normal(jax.random.key(0), (64, 3))
    m = jax.random.normal(jax.random.key(1), (64, 1))
    # fit the nets as TRANSIT.fit builds them, with a blind discriminator (logit 0: loss ln 2)
    from hepjax.anomaly._transit import ConditionalResidualMLP, _Nets, _Squeeze

    size = {"hidden_size": 16, "num_layers": 1}
    ks = jax.random.split(jax.random.key(2), 3)
    nets = _Nets(
        ConditionalResidualMLP(3, 2, 1, key=ks[0], **size),
        ConditionalResidualMLP(2, 3, 1, key=ks[1], **size),
        ConditionalResidualMLP(3, 1, 1, key=ks[2], **size),
    )
    disc_out = nets.discriminator.out
    blind = _Squeeze(
        eqx.tree_at(
            lambda lin: (lin.weight, lin.bias),
            disc_out,
            (jnp.zeros_like(disc_out.weight), jnp.zeros_like(disc_out.bias)),
        )
    )
    nets = eqx.tree_at(lambda n: n.discriminator.out, nets, blind)
    grads = eqx.filter_grad(method.loss)(nets, {"x": x, "m": m}, key=jax.random.key(3))
    gen = jax.tree.leaves((grads.encoder, grads.decoder))
    assert all(jnp.all(g == 0) for g in gen)
    assert any(jnp.any(g != 0) for g in jax.tree.leaves(grads.discriminator))


def test_drapes_noise_levels_and_edit(toy):
    sb, _ = toy
    method = anomaly.Drapes(hidden_size=16, num_layers=1, steps=50, num_steps=8)
    template = anomaly.fit_template(jax.random.key(5), sb.features, sb.mass, method=method)
    assert template.sigma_at(1.0) == pytest.approx(80.0)
    assert template.sigma_at(1e-9) == pytest.approx(0.002, rel=1e-3)
    assert template.sigma_at(0.3) < template.sigma_at(0.6)
    x = sb.features[:50]
    edited = template.edit(jax.random.key(6), x, sb.mass[:50], noise_fraction=1e-6)
    np.testing.assert_allclose(edited, x, atol=0.05)  # almost no noise: almost unchanged
    with pytest.raises(ValueError, match="noise_fraction must be in"):
        anomaly.Drapes(noise_fraction=0.0)


def test_fit_template_bad_input(toy):
    sb, _ = toy
    x = sb.features[:100].copy()
    x[[3, 7], 1] = np.nan
    with pytest.raises(ValueError, match="sb_features has 2 of 100 rows with NaN or inf"):
        anomaly.fit_template(jax.random.key(0), x, sb.mass[:100], method=anomaly.CATHODE())
    with pytest.raises(TypeError, match="method"):  # runtime type checking or ours
        anomaly.fit_template(jax.random.key(0), sb.features, sb.mass, method="CATHODE")
    with pytest.raises((ValueError, TypeError), match="sb_mass"):  # jaxtyping's check or ours
        anomaly.fit_template(
            jax.random.key(0), sb.features[:100], sb.mass[:99], method=anomaly.CATHODE()
        )
    with pytest.raises(ValueError, match="sb_features have 3 features but sr_background has 2"):
        anomaly.fit_template(
            jax.random.key(0), sb.features, sb.mass, method=anomaly.Idealized(np.zeros((5, 2)))
        )
