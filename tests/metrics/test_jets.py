"""hepjax.metrics.jets against jetnet (stored fixture), scipy and closed forms; errors."""

import itertools
import json
import pathlib

import numpy as np
import pytest
from scipy.stats import wasserstein_distance

from hepjax.metrics import jets as jm
from hepjax.physics import nsubjettiness

DATA = pathlib.Path(__file__).parent / "data"
REF = json.loads((DATA / "jetnet_reference.json").read_text())
CFG = REF["config"]
W1_KW = dict(num_eval_samples=CFG["num_eval_samples"], num_batches=CFG["num_batches"])


@pytest.fixture(scope="module")
def jets():
    d = np.load(DATA / "jetnet_inputs.npz")
    return d["jets1"], d["jets2"]


def _within(ours, theirs, err, rtol):
    ours, theirs, err = (np.asarray(v, float) for v in (ours, theirs, err))
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=0)
    assert np.all(np.abs(ours - theirs) <= err)  # also within jetnet's own stated error


# --- agreement with jetnet 0.2.5 on the same jets (fixture made by scripts/jetnet_reference.py)


def test_w1m_matches_jetnet(jets):
    v, e = jm.w1m(*jets, seed=CFG["seed"], **W1_KW)
    _within(v, REF["values"]["w1m"][0], REF["values"]["w1m"][1], 1e-10)
    np.testing.assert_allclose(e, REF["values"]["w1m"][1], rtol=1e-8)
    assert REF["w1m_return_std_false_type"] == "tuple"  # the jetnet bug our docs mention


def test_w1p_matches_jetnet(jets):
    means, stds = jm.w1p(*jets, average=False, seed=CFG["seed"], **W1_KW)
    ref_m, ref_s = REF["values"]["w1p"]
    _within(means, ref_m, ref_s, 1e-10)
    np.testing.assert_allclose(stds, ref_s, rtol=1e-8)
    v, e = jm.w1p(*jets, seed=CFG["seed"], **W1_KW)
    assert v == pytest.approx(np.mean(ref_m), rel=1e-10)
    assert e == pytest.approx(np.mean(ref_s), rel=1e-8)


def test_w1efp_matches_jetnet(jets):
    means, stds = jm.w1efp(*jets, average=False, seed=CFG["seed"], **W1_KW)
    ref_m, ref_s = REF["values"]["w1efp"]
    _within(means, ref_m, ref_s, 1e-8)
    np.testing.assert_allclose(stds, ref_s, rtol=1e-6)


def test_fpd_and_kpd_match_jetnet(jets):
    v, e = jm.fpd(
        *jets,
        min_samples=CFG["fpd_min_samples"],
        max_samples=CFG["fpd_max_samples"],
        num_batches=CFG["fpd_num_batches"],
        num_points=CFG["fpd_num_points"],
        seed=CFG["seed"],
    )
    _within(v, *REF["values"]["fpd"], 1e-5)
    assert e == pytest.approx(REF["values"]["fpd"][1], rel=1e-5)
    v, e = jm.kpd(
        *jets,
        num_batches=CFG["kpd_num_batches"],
        batch_size=CFG["kpd_batch_size"],
        seed=CFG["seed"],
    )
    _within(v, *REF["values"]["kpd"], 1e-5)
    assert e == pytest.approx(REF["values"]["kpd"][1], rel=1e-4)


def test_efps_and_mass_match_energyflow(jets):
    np.testing.assert_allclose(jm.efps(jets[0][:10]), REF["efps_first_jets"], rtol=1e-12)
    np.testing.assert_allclose(jm.jet_mass(jets[0][:10]), REF["masses_first_jets"], rtol=1e-12)


def test_all_metrics_equals_the_single_calls(jets):
    a, b = jets[0][:400], jets[1][:300]
    small = dict(min_samples=100, max_samples=300, num_batches=4, num_points=3)
    out = jm.all_metrics(
        a,
        b,
        num_eval_samples=300,
        num_batches=3,
        fpd_kwargs=small,
        kpd_kwargs=dict(batch_size=100, num_batches=3),
        seed=5,
    )
    kw = dict(num_eval_samples=300, num_batches=3, seed=5)
    assert out["w1m"] == jm.w1m(a, b, **kw)
    assert out["w1p"] == jm.w1p(a, b, **kw)
    assert out["w1efp"] == jm.w1efp(a, b, **kw)
    assert out["fpd"] == jm.fpd(a, b, seed=5, **small)
    assert out["kpd"] == jm.kpd(a, b, batch_size=100, num_batches=3, seed=5)
    ma, mb = jm.jet_mass(a), jm.jet_mass(b)
    assert out["kl"] == jm.quantiled_kl(ma, mb, num_eval_samples=300, num_batches=3, seed=5)


# --- exact references: scipy, brute force, closed forms


def test_w1m_w1p_equal_scipy_on_the_drawn_batches(jets):
    a, b = jets
    kw = dict(num_eval_samples=300, num_batches=3, seed=7)
    idx = jm.bootstrap_indices(len(a), len(b), 300, 3, 7)
    ma, mb = jm.jet_mass(a), jm.jet_mass(b)
    ref = [wasserstein_distance(ma[r1], mb[r2]) for r1, r2 in idx]
    v, e = jm.w1m(a, b, **kw)
    assert v == pytest.approx(np.mean(ref), rel=1e-12)
    assert e == pytest.approx(np.std(ref), rel=1e-9)
    per = []
    for r1, r2 in idx:
        p1 = a[r1][a[r1][..., 3] > 0.5][:, :3].astype(np.float64)
        p2 = b[r2][b[r2][..., 3] > 0.5][:, :3].astype(np.float64)
        per.append([wasserstein_distance(p1[:, i], p2[:, i]) for i in range(3)])
    means, stds = jm.w1p(a, b, average=False, **kw)
    np.testing.assert_allclose(means, np.mean(per, axis=0), rtol=1e-12)
    np.testing.assert_allclose(stds, np.std(per, axis=0), rtol=1e-9)


def _jet(rng, n_real, n_pad):
    x = np.zeros((n_real + n_pad, 4))
    x[:n_real, 0] = rng.normal(0, 0.2, n_real)
    x[:n_real, 1] = rng.normal(0, 0.2, n_real)
    x[:n_real, 2] = rng.dirichlet(np.ones(n_real))
    x[:n_real, 3] = 1.0
    x[n_real:, :3] = rng.normal(0, 5.0, (n_pad, 3))  # garbage behind the mask
    return x


def test_efp_brute_force_over_all_index_tuples(rng):
    jet = _jet(rng, 5, 2)
    eta, phi, z = jet[:5, 0], jet[:5, 1], jet[:5, 2]
    theta = np.hypot(eta[:, None] - eta[None], phi[:, None] - phi[None])
    got = jm.efps(jet[None])[0]
    for col, graph in [(9, ((0, 1), (0, 2), (1, 2))), (17, ((0, 1), (0, 2), (1, 3), (2, 3)))]:
        nv = 1 + max(max(e) for e in graph)
        total = 0.0
        for idx in itertools.product(range(5), repeat=nv):
            term = np.prod(z[list(idx)])
            for a, b in graph:
                term *= theta[idx[a], idx[b]]
            total += term
        assert got[col] == pytest.approx(total, rel=1e-12)
    assert got[0] == pytest.approx(z.sum(), rel=1e-14)
    assert got[21] == pytest.approx(got[1] ** 2, rel=1e-12)  # disconnected: a product


def test_mass_closed_form_and_d2_brute_force(rng):
    jet = np.zeros((1, 4, 4))
    jet[0, :2] = [[0.1, -0.2, 0.6, 1], [-0.3, 0.25, 0.4, 1]]
    d_eta, d_phi = 0.4, -0.45
    m2 = 2 * 0.6 * 0.4 * (np.cosh(d_eta) - np.cos(d_phi))
    assert jm.jet_mass(jet)[0] == pytest.approx(np.sqrt(m2), rel=1e-12)
    j = _jet(rng, 6, 3)
    x = j[:6, :3]
    z = x[:, 2] / x[:, 2].sum()
    th = np.hypot(x[:, None, 0] - x[None, :, 0], x[:, None, 1] - x[None, :, 1])
    e2 = sum(z[i] * z[k] * th[i, k] for i in range(6) for k in range(i + 1, 6))
    e3 = sum(
        z[i] * z[k] * z[m] * th[i, k] * th[i, m] * th[k, m]
        for i, k, m in itertools.combinations(range(6), 3)
    )
    assert jm.d2(j[None])[0] == pytest.approx(e3 / e2**3, rel=1e-10)


def test_substructure_uses_physics_nsubjettiness(rng):
    j = _jet(rng, 8, 2)
    s = jm.substructure(j[None])
    eta, phi, pt = j[:, 0], j[:, 1], j[:, 2]
    p4 = np.stack([pt * np.cosh(eta), pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)], -1)
    taus = np.asarray(nsubjettiness(p4.astype(np.float32), j[:, 3] > 0.5, 3))
    assert s["tau21"][0] == pytest.approx(taus[1] / taus[0], rel=1e-5)
    assert s["tau32"][0] == pytest.approx(taus[2] / taus[1], rel=1e-5)
    np.testing.assert_allclose(jm.tau21(j[None]), s["tau21"])
    np.testing.assert_allclose(jm.tau32(j[None]), s["tau32"])


def test_padding_and_permutation_invariance(rng):
    j = np.stack([_jet(rng, 7, 3) for _ in range(6)])
    perm = rng.permutation(10)
    wider = np.concatenate([j, np.zeros((6, 4, 4))], axis=1)
    wider[:, 10:, :3] = 9.0  # garbage in new padded slots
    for fn in (jm.jet_mass, jm.efps, jm.d2):
        ref = fn(j)
        np.testing.assert_allclose(fn(j[:, perm]), ref, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(fn(wider), ref, rtol=1e-10, atol=1e-14)
    kw = dict(num_eval_samples=6, num_batches=2)
    assert jm.w1p(j, j[::-1], **kw) == jm.w1p(j[:, perm], wider[::-1], **kw)


def test_explicit_mask_argument(rng):
    j = np.stack([_jet(rng, 5, 2) for _ in range(4)])
    mask = j[..., 3] > 0.5
    np.testing.assert_allclose(jm.jet_mass(j[..., :3], mask), jm.jet_mass(j))
    kw = dict(num_eval_samples=4, num_batches=2)
    assert jm.w1m(j[..., :3], j, mask1=mask[..., None], **kw) == jm.w1m(j, j, **kw)


def test_quantiled_kl(rng):
    x = rng.normal(size=3000)
    assert jm.quantiled_kl(x, x, num_batches=1) == (0.0, 0.0)
    y = rng.normal(0.5, 1.0, size=3000)
    edges = np.quantile(x, np.linspace(0, 1, 31))
    edges[[0, -1]] = -np.inf, np.inf
    p = np.histogram(x, edges)[0] / x.size
    q = np.histogram(y, edges)[0] / y.size + 1e-10
    q /= q.sum()
    v, e = jm.quantiled_kl(x, y, num_batches=1)
    assert v == pytest.approx(np.sum(p * np.log(p / q)), rel=1e-12) and e == 0.0
    v, e = jm.quantiled_kl(x, y, num_batches=8, seed=1)
    assert e > 0 and abs(v - 0.125) < 0.05  # KL(N(0,1) || N(0.5,1)) = 0.125, binned


def test_fpd_recovers_a_mean_shift_and_kpd_sign(rng):
    x = rng.normal(size=(4000, 3))
    y = rng.normal(size=(4000, 3)) + np.array([0.3, 0.0, 0.0])
    v, e = jm.fpd(x, y, min_samples=1000, max_samples=4000, num_batches=5, normalise=False)
    # Exact for Gaussians: |delta mu|^2 = 0.09 (covariances equal); sampling noise of the
    # finite samples ~ 2 * 0.3 * sqrt(2 / 4000) ~ 0.013.
    assert abs(v - 0.09) < 0.04 and e >= 0
    same, _ = jm.fpd(x, rng.normal(size=(4000, 3)), min_samples=1000, max_samples=4000)
    assert same < 0.01
    k_diff, _ = jm.kpd(x, y, num_batches=3, batch_size=500)
    k_same, _ = jm.kpd(x, rng.normal(size=(4000, 3)), num_batches=3, batch_size=500)
    assert k_diff > 0 and abs(k_same) < k_diff


def test_kpd_batch_equals_float64_brute_force(rng):
    import jax

    from hepjax.metrics.jets._distances import _mmd_batch

    x, y = rng.uniform(-1, 1, (50, 4)), rng.uniform(-1, 1, (60, 4)) * 0.8
    k = lambda a, b: (a @ b.T / 4 + 1) ** 4
    kxx, kyy = k(x, x), k(y, y)
    ref = (
        (kxx.sum() - np.trace(kxx)) / (50 * 49)
        + (kyy.sum() - np.trace(kyy)) / (60 * 59)
        - 2 * k(x, y).mean()
    )
    with jax.enable_x64(True):
        assert float(_mmd_batch(x, y)) == pytest.approx(ref, rel=1e-5)


# --- errors


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda j: jm.w1m(j, j[..., :2]), r"jets2 must have shape \(N, n, 4\)"),
        (lambda j: jm.w1p(j[..., :3], j), "jets1 has 3 features per particle: pass its mask"),
        (lambda j: jm.w1m(j, j, mask2=np.ones((3, 3), bool)), "mask for jets2 must have shape"),
        (lambda j: jm.efps(j, which="d<=5"), "which must be one of"),
        (lambda j: jm.fpd(np.ones((5, 3)), np.ones((5, 4))), "same number of features"),
        (lambda j: jm.fpd(j, np.ones((5, 3))), "both be jets"),
        (lambda j: jm.kpd(np.ones((1, 3)), np.ones((5, 3))), r"real must have shape \(N, d\)"),
        (lambda j: jm.w1m(j, j, num_batches=0), "num_batches must be a positive int"),
        (lambda j: jm.fpd(j, j, min_samples=10, max_samples=5), "max_samples"),
        (lambda j: jm.quantiled_kl(np.ones((3, 2)), np.ones(3)), "reference must be a 1D"),
    ],
)
def test_errors(rng, call, match):
    j = np.stack([_jet(rng, 4, 2) for _ in range(3)])
    with pytest.raises(ValueError, match=match):
        call(j)


def test_all_padding_jet_is_an_error(rng, no_jaxtyping):
    j = np.stack([_jet(rng, 4, 2) for _ in range(3)])
    j[1, :, 3] = 0.0
    with pytest.raises(ValueError, match=r"jets2 has 1 jet\(s\) with no real particle.*jet 1"):
        jm.w1m(j[[0, 2]], j)
    with pytest.raises(ValueError, match="num_eval_samples must be a positive int"):
        jm.w1p(j[[0, 2]], j[[0, 2]], num_eval_samples=2.5)
