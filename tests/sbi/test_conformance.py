"""Every estimator of hepjax.sbi through the same checks: the protocol they all share.

Tiny networks and a few optimizer steps: these tests check the interface
(fitting, shapes, errors, jit/vmap agreement, the protocol methods), not the
quality of the posteriors (test_estimators.py and test_hierarchical.py do that).
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hepjax import sbi
from hepjax.sbi import frequentist as freq

TRAINING = sbi.TrainingOptions(max_steps=12, batch_size=40, patience=3, progress=False)
NUM_SIMS = 160

ESTIMATORS = {
    "NPE": lambda: sbi.NPE(num_transforms=1, hidden_size=8, training=TRAINING),
    "FMPE": lambda: sbi.FMPE(hidden_size=8, num_layers=1, num_steps=3, training=TRAINING),
    "NRE": lambda: sbi.NRE(hidden_size=8, num_layers=1, num_proposals=4, training=TRAINING),
    "NLE": lambda: sbi.NLE(
        num_transforms=1, hidden_size=8, num_chains=2, num_warmup=10, training=TRAINING
    ),
    "HierarchicalNPE": lambda: sbi.HierarchicalNPE(
        global_estimator=sbi.NPE(num_transforms=1, hidden_size=8, training=TRAINING),
        summary_features=4,
        ensemble_context=False,
        num_transforms=1,
        hidden_size=8,
        training=TRAINING,
    ),
}
# the density each estimator has besides relative_log_likelihood
DENSITY = {
    "NPE": "log_prob",
    "FMPE": "log_prob",
    "NRE": "log_ratio",
    "NLE": "log_likelihood",
    "HierarchicalNPE": "log_prob",
}


class Case:
    """An estimator class with its training data, one observation and test parameters."""

    def __init__(self, name):
        self.name = name
        self.make = ESTIMATORS[name]
        key = jax.random.key(17)
        if name == "HierarchicalNPE":
            task = sbi.tasks.get("hierarchical_gaussian", min_events=2, max_events=5)
            theta, z, x = task.simulate_with_local(key, NUM_SIMS)
            self.fit_args = (np.asarray(theta), np.asarray(z), np.asarray(x))
        else:
            task = sbi.tasks.get("gaussian_linear", dim=2)
            theta, x = task.simulate(key, NUM_SIMS)
            self.fit_args = (np.asarray(theta), np.asarray(x))
        self.theta, self.x = self.fit_args[0], self.fit_args[-1]
        self.x_obs = self.x[0]
        self.thetas = self.theta[:4]


@pytest.fixture(scope="module", params=sorted(ESTIMATORS))
def fitted(request):
    case = Case(request.param)
    est = case.make()
    before = jax.tree.leaves(est)
    fitted = est.fit(jax.random.key(3), *case.fit_args)
    return case, est, before, fitted


def test_fit_returns_a_new_fitted_estimator_and_leaves_self_unchanged(fitted):
    _, est, before, fit = fitted
    assert type(fit) is type(est) and fit is not est
    assert not est.is_fitted and fit.is_fitted
    after = jax.tree.leaves(est)
    assert len(after) == len(before)
    for a, b in zip(after, before, strict=True):
        assert a is b
    h = fit.history
    assert isinstance(h, sbi.TrainingResult)
    assert h.num_train + h.num_val == NUM_SIMS
    assert 1 <= h.num_steps <= TRAINING.max_steps and len(h.train_losses) == h.num_steps
    assert h.best_step in set(h.validation_steps.tolist())
    assert h.best_validation_loss == h.validation_losses.min()
    assert h.seconds > 0


def test_methods_before_fit_raise_not_fitted(key):
    case = Case("NPE")
    for name in sorted(ESTIMATORS):
        est = ESTIMATORS[name]()
        calls = {
            "sample": lambda e: e.sample(key, case.x_obs, 3),
            "sample_batch": lambda e: e.sample_batch(key, case.x[:2], 3),
            "relative_log_likelihood": lambda e: e.relative_log_likelihood(
                case.thetas[0], case.x_obs
            ),
            DENSITY[name]: lambda e, m=DENSITY[name]: getattr(e, m)(case.thetas, case.x_obs),
        }
        for method, call in calls.items():
            with pytest.raises(sbi.NotFittedError, match=f"{name} is not fitted.*before {method}"):
                call(est)


@pytest.mark.parametrize(
    "fitted",
    # NLE samples by NUTS, whose compilation takes ~20 s a run on 2 CPU cores
    [n if n != "NLE" else pytest.param(n, marks=pytest.mark.slow) for n in sorted(ESTIMATORS)],
    indirect=True,
)
def test_samples_have_the_right_shape_and_are_finite(fitted, key):
    case, _, _, est = fitted
    d = case.theta.shape[1]
    samples = np.asarray(est.sample(key, case.x_obs, 5))
    assert samples.shape == (5, d) and np.isfinite(samples).all()
    batch = np.asarray(est.sample_batch(key, case.x[:2], 4))
    assert batch.shape == (2, 4, d) and np.isfinite(batch).all()


def test_protocol_methods_return_the_right_shapes(fitted):
    case, _, _, est = fitted
    density = getattr(est, DENSITY[case.name])
    many = np.asarray(density(case.thetas, case.x_obs))
    one = np.asarray(density(case.thetas[0], case.x_obs))
    assert many.shape == (4,) and one.shape == () and np.isfinite(many).all()
    np.testing.assert_allclose(one, many[0], rtol=1e-4, atol=1e-4)
    rel = est.relative_log_likelihood(case.thetas[0], case.x_obs)
    assert jnp.shape(rel) == () and bool(jnp.isfinite(rel))


def test_jit_and_vmap_agree_with_eager(fitted):
    case, _, _, est = fitted
    f = est.relative_log_likelihood
    eager = np.array([float(f(t, case.x_obs)) for t in case.thetas])
    vmapped = np.asarray(jax.vmap(f, in_axes=(0, None))(case.thetas, case.x_obs))
    jitted = np.asarray(jax.jit(jax.vmap(f, in_axes=(0, None)))(case.thetas, case.x_obs))
    np.testing.assert_allclose(vmapped, eager, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(jitted, eager, rtol=1e-4, atol=1e-4)
    # no prior on these estimators: the relative log likelihood is the density method itself
    density = np.asarray(getattr(est, DENSITY[case.name])(case.thetas, case.x_obs))
    np.testing.assert_allclose(density, eager, rtol=1e-4, atol=1e-4)
    # the density method under jit
    jit_density = eqx.filter_jit(lambda e, t, x: getattr(e, DENSITY[case.name])(t, x))
    np.testing.assert_allclose(
        np.asarray(jit_density(est, case.thetas, case.x_obs)), eager, rtol=1e-4, atol=1e-4
    )


def test_every_estimator_serves_the_frequentist_statistic(fitted):
    case, _, _, est = fitted
    loglik = freq.learned_log_likelihood(est)
    d = case.theta.shape[1]
    grid = np.linspace(-0.5, 0.5, 4)
    nuisance = np.linspace(-0.5, 0.5, 3) if d == 2 else None
    stat = freq.profile_likelihood_ratio(loglik, grid, nuisance)
    t, nu_hat = jax.jit(stat)(jnp.asarray(case.x_obs))
    assert t.shape == (4,) and nu_hat.shape == (4,)
    assert bool(jnp.all(jnp.isfinite(t))) and float(jnp.min(t)) >= 0.0


def test_bad_input_errors_name_the_argument(fitted, key, no_jaxtyping):
    case, est, _, fit = fitted
    theta, x = case.theta, case.x
    with pytest.raises(ValueError, match="x_obs must be one"):
        fit.sample(key, x[:3, ..., :1], 3)
    with pytest.raises(ValueError, match="n must be a positive int"):
        fit.sample(key, case.x_obs, 0)
    with pytest.raises(ValueError, match="theta must have shape"):
        getattr(fit, DENSITY[case.name])(np.zeros((3, 7)), case.x_obs)
    with pytest.raises(TypeError, match="x_obs must hold real numbers"):
        fit.sample(key, case.x_obs.astype(bool), 3)
    bad_rows = (theta[:-1], *case.fit_args[1:])
    with pytest.raises(ValueError, match="theta and x must have one row per"):
        est.fit(key, *bad_rows)
    with pytest.raises(TypeError, match="x must hold real numbers"):
        est.fit(key, *case.fit_args[:-1], x.astype(bool))
    with pytest.raises(TypeError, match="training must be sbi.TrainingOptions"):
        type(est)(training={"max_steps": 10})
    raise_nan = eqx.tree_at(
        lambda e: e.training, est, sbi.TrainingOptions(nan_policy="raise", max_steps=2)
    )
    bad = np.array(theta, copy=True)
    bad[[1, 2], 0] = np.nan
    with pytest.raises(ValueError, match="2 of 160 training (rows|ensembles) have NaN"):
        raise_nan.fit(key, bad, *case.fit_args[1:])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (dict(batch_size=0), "batch_size must be a positive int"),
        (dict(max_steps=2.5), "max_steps must be a positive int"),
        (dict(patience=True), "patience must be a positive int"),
        (dict(validation_fraction=1.0), r"validation_fraction must be in \(0, 1\)"),
        (dict(clip_norm=-1.0), "clip_norm must be a positive number or None"),
        (dict(nan_policy="ignore"), "nan_policy must be one of"),
    ],
)
def test_training_options_are_checked_once(options, message, no_jaxtyping):
    with pytest.raises(ValueError, match=message):
        sbi.TrainingOptions(**options)


def test_training_options_optimizer_must_be_optax(no_jaxtyping):
    with pytest.raises(TypeError, match="optimizer must be an optax.GradientTransformation"):
        sbi.TrainingOptions(optimizer="adam")


def test_training_options_take_any_optax_optimizer(key):
    import optax

    case = Case("NPE")
    training = sbi.TrainingOptions(optimizer=optax.sgd(0.0), max_steps=4, progress=False)
    est = sbi.NPE(num_transforms=1, hidden_size=8, training=training)
    frozen = est.fit(key, *case.fit_args)
    # a zero learning rate leaves the flow at its initialisation: the identity on z-scores,
    # whose validation loss is the same at every evaluation
    losses = frozen.history.validation_losses
    np.testing.assert_allclose(losses, losses[0], rtol=1e-6)


def test_frequentist_needs_the_method_it_uses():
    class NoLikelihood:
        def sample(self, key, x_obs, n):
            return jnp.zeros((n, 1))

    with pytest.raises(TypeError, match="relative_log_likelihood.*NoLikelihood has none"):
        freq.learned_log_likelihood(NoLikelihood())
    with pytest.raises(sbi.NotFittedError, match="FMPE is not fitted"):
        freq.learned_log_likelihood(sbi.FMPE())


# --------------------------------------------------------------------- ensembles and masks

SET_ESTIMATORS = {
    "NPE": lambda emb: sbi.NPE(num_transforms=1, hidden_size=8, embedding=emb, training=TRAINING),
    "FMPE": lambda emb: sbi.FMPE(
        hidden_size=8, num_layers=1, num_steps=3, embedding=emb, training=TRAINING
    ),
    "NRE": lambda emb: sbi.NRE(
        hidden_size=8, num_layers=1, num_proposals=4, embedding=emb, training=TRAINING
    ),
}


def test_nan_padding_becomes_the_mask_once_at_the_boundary(key, no_jaxtyping):
    from hepjax.sbi._base import prepare_training_data

    task = sbi.tasks.get("hierarchical_gaussian", min_events=2, max_events=5)
    theta, x_nan = (np.asarray(a) for a in task.simulate(jax.random.key(5), 120))
    mask = ~np.isnan(x_nan[..., 0])
    x_junk = np.where(mask[..., None], x_nan, 1e3)
    emb = eqx.filter_jit(lambda k: sbi.DeepSetEmbedding(2, 4, width=8, key=k))(key)
    from_nan = prepare_training_data(theta, x_nan, None, TRAINING, emb)
    from_mask = prepare_training_data(theta, x_junk, mask, TRAINING, emb)
    for name in ("theta", "x", "mask"):
        np.testing.assert_array_equal(from_nan[3][name], from_mask[3][name])
    assert np.isfinite(from_nan[3]["x"]).all()  # no NaN reaches a network
    assert np.all(from_nan[3]["x"][~mask] == 0.0)  # padding is zero-filled
    with pytest.raises(ValueError, match=r"mask must be a bool array of shape \(120, 5\)"):
        prepare_training_data(theta, x_junk, mask[:, :4], TRAINING, emb)
    with pytest.raises(ValueError, match="mask is for ensembles"):
        prepare_training_data(theta, x_nan[:, 0], mask, TRAINING, emb)


@pytest.mark.parametrize(
    "name",
    [
        "NPE",
        pytest.param("FMPE", marks=pytest.mark.slow),
        pytest.param("NRE", marks=pytest.mark.slow),
    ],
)
def test_ensembles_with_a_mask_equal_nan_padding(name, key, no_jaxtyping):
    """One fitted set estimator answers the same for NaN padding and for a mask with junk."""
    task = sbi.tasks.get("hierarchical_gaussian", min_events=2, max_events=5)
    theta, x_nan = (np.asarray(a) for a in task.simulate(jax.random.key(5), 120))
    mask = ~np.isnan(x_nan[..., 0])
    x_junk = np.where(mask[..., None], x_nan, 1e3)  # explicit mask: padding content ignored
    emb = eqx.filter_jit(lambda k: sbi.DeepSetEmbedding(2, 4, width=8, key=k))(key)
    est = SET_ESTIMATORS[name](emb).fit(key, theta, x_junk, mask)
    s_nan = np.asarray(est.sample(key, x_nan[0], 4))
    s_mask = np.asarray(est.sample(key, x_junk[0], 4, mask=mask[0]))
    np.testing.assert_allclose(s_mask, s_nan, rtol=1e-4, atol=1e-5)
    b_nan = np.asarray(est.sample_batch(key, x_nan[:2], 2))
    b_mask = np.asarray(est.sample_batch(key, x_junk[:2], 2, mask=mask[:2]))
    np.testing.assert_allclose(b_mask, b_nan, rtol=1e-4, atol=1e-5)
    r_nan = est.relative_log_likelihood(theta[0], x_nan[0])
    r_mask = eqx.filter_jit(est.relative_log_likelihood)(theta[0], x_junk[0], mask[0])
    np.testing.assert_allclose(float(r_mask), float(r_nan), rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="entirely of padding"):
        est.sample(key, x_junk[0], 2, mask=np.zeros(5, bool))
