"""Tests of the tracking metrics: TrackML score, matching, rates, pull summaries."""

import numpy as np
import pytest

from hepjax.tracking import (
    match_candidates,
    plot_pulls,
    plot_rates,
    pull_summary,
    resolution_summary,
    tracking_efficiency,
    tracking_performance,
    trackml_pt_weight,
    trackml_score,
    trackml_weights,
)


def _event(spec, n_noise=0, seed=0):
    """Truth/particles tables; spec = [(pid, nhits, pt, eta)], hits ordered outwards in |z|."""
    rng = np.random.default_rng(seed)
    hit_id, pid, tz = [], [], []
    parts = {k: [] for k in ("particle_id", "vx", "vy", "vz", "px", "py", "pz", "q", "nhits")}
    h = 1
    for p, n, pt, eta in spec:
        phi = rng.uniform(-np.pi, np.pi)
        vz = rng.normal(0, 10)
        sign = 1.0 if eta >= 0 else -1.0
        for k in range(n):
            hit_id.append(h)
            pid.append(p)
            tz.append(vz + sign * (10.0 + 50.0 * k))
            h += 1
        for key, val in zip(
            parts,
            (p, 0.0, 0.0, vz, pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta), 1, n),
            strict=True,
        ):
            parts[key].append(val)
    for _ in range(n_noise):
        hit_id.append(h)
        pid.append(0)
        tz.append(rng.uniform(-500, 500))
        h += 1
    # shuffle the truth rows: nothing may depend on their order
    perm = rng.permutation(len(hit_id))
    truth = {
        "hit_id": np.asarray(hit_id, np.int64)[perm],
        "particle_id": np.asarray(pid, np.int64)[perm],
        "tz": np.asarray(tz, np.float32)[perm],
    }
    particles = {k: np.asarray(v) for k, v in parts.items()}
    particles["particle_id"] = particles["particle_id"].astype(np.int64)
    return truth, particles


def _hits_of(truth, p):
    """Hit ids of particle p ordered along the track (by |tz - vz|: here by hit id)."""
    return np.sort(truth["hit_id"][truth["particle_id"] == p])


def _perfect(truth):
    pids = np.unique(truth["particle_id"])
    return [_hits_of(truth, p) for p in pids if p != 0]


# ---------------------------------------------------------------- TrackML weights


def test_order_weights_closed_form():
    # 9 hits: the profile itself; 4 hits: by hand from the interpolation
    truth, particles = _event([(1, 9, 5.0, 0.3), (2, 4, 5.0, -0.5)])
    w = trackml_weights(truth, particles)
    assert w.sum() == pytest.approx(1.0)
    prof9 = np.array([10, 8, 6, 5, 3, 3, 3, 5, 6.0]) / 49
    w9 = np.array([w[truth["hit_id"] == h][0] for h in _hits_of(truth, 1)])
    np.testing.assert_allclose(w9 / w9.sum(), prof9, rtol=1e-12)
    # 4 hits: the profile's 9 nodes at 3k/8; interpolation at 0, 1, 2, 3
    raw4 = np.array([10.0, 6 - (1 - 0.75) / 0.375, 3.0, 6.0])
    w4 = np.array([w[truth["hit_id"] == h][0] for h in _hits_of(truth, 2)])
    np.testing.assert_allclose(w4 / w4.sum(), raw4 / raw4.sum(), rtol=1e-12)
    # both particles have pt weight 1: each carries half the total
    assert w9.sum() == pytest.approx(0.5) and w4.sum() == pytest.approx(0.5)


def test_order_weights_long_tracks():
    # 17 hits: nodes at even positions, midpoints in between; 25 hits: hits past 20 weigh 0
    truth, particles = _event([(1, 17, 5.0, 0.1), (2, 25, 5.0, 0.2)])
    w = trackml_weights(truth, particles)
    w17 = np.array([w[truth["hit_id"] == h][0] for h in _hits_of(truth, 1)])
    prof = np.array([10, 8, 6, 5, 3, 3, 3, 5, 6.0])
    raw = np.empty(17)
    raw[0::2] = prof
    raw[1::2] = 0.5 * (prof[1:] + prof[:-1])
    np.testing.assert_allclose(w17 / w17.sum(), raw / raw.sum(), rtol=1e-12)
    w25 = np.array([w[truth["hit_id"] == h][0] for h in _hits_of(truth, 2)])
    assert (w25[20:] == 0).all() and (w25[:20] > 0).all()
    # the first 20 hits of a capped track weigh as a 20-hit track
    truth20, p20 = _event([(1, 20, 5.0, 0.1)])
    w20 = trackml_weights(truth20, p20)
    w20 = np.array([w20[truth20["hit_id"] == h][0] for h in _hits_of(truth20, 1)])
    np.testing.assert_allclose(w25[:20] / w25.sum(), w20, rtol=1e-12)


def test_pt_weight_and_zero_weight_hits():
    np.testing.assert_allclose(
        trackml_pt_weight([0.01, 0.05, 0.3, 0.5, 1.75, 3.0, 10.0]),
        [0.0, 0.2, 0.2, 0.2, 0.6, 1.0, 1.0],
    )
    truth, particles = _event([(1, 5, 1.75, 0.0), (2, 3, 5.0, 1.0), (3, 6, 5.0, -1.0)], n_noise=4)
    w = trackml_weights(truth, particles)
    pid = truth["particle_id"]
    assert (w[pid == 0] == 0).all()  # noise
    assert (w[pid == 2] == 0).all()  # fewer than 4 hits
    assert w[pid == 1].sum() / w[pid == 3].sum() == pytest.approx(0.6)


# ---------------------------------------------------------------- TrackML score


def test_score_perfect_and_empty():
    truth, particles = _event(
        [
            (i, n, pt, eta)
            for i, (n, pt, eta) in enumerate(
                [(4, 0.7, 0.1), (7, 2.0, -1.0), (10, 8.0, 2.0), (3, 1.0, 0.0), (12, 0.4, 1.0)], 1
            )
        ],
        n_noise=7,
    )
    assert trackml_score(truth, particles, _perfect(truth)) == pytest.approx(1.0)
    # noise hits in their own candidate change nothing
    noise = truth["hit_id"][truth["particle_id"] == 0]
    assert trackml_score(truth, particles, [*_perfect(truth), noise]) == pytest.approx(1.0)
    assert trackml_score(truth, particles, []) == 0.0
    assert trackml_score(truth, particles, np.zeros((0, 5), np.int64)) == 0.0
    # every hit alone: no double majority for particles with >= 4 hits... except none
    singles = [np.array([h]) for h in truth["hit_id"]]
    assert trackml_score(truth, particles, singles) == 0.0


def test_score_hand_computed():
    # A: 4 hits, pt 5 (w_pt 1); B: 4 hits, pt 1.75 (w_pt 0.6); C: 3 hits (weight 0); 2 noise
    truth, particles = _event([(1, 4, 5.0, 0.5), (2, 4, 1.75, -0.5), (3, 3, 5.0, 1.0)], n_noise=2)
    a, b, c = (_hits_of(truth, p) for p in (1, 2, 3))
    noise = truth["hit_id"][truth["particle_id"] == 0]
    raw4 = np.array([10.0, 6 - (1 - 0.75) / 0.375, 3.0, 6.0])
    cands = [
        np.r_[a, noise[:1]],  # purity 4/5, all of A: scores A's weight
        np.r_[b[:3], c[:2]],  # purity 3/5, 3/4 of B: scores B's first three hits
        b[3:],  # 1/1 purity but 1/4 of B: nothing
        np.r_[c[2:], noise[1:]],  # C (zero weight) and noise
    ]
    expected = (1.0 + 0.6 * raw4[:3].sum() / raw4.sum()) / 1.6
    assert trackml_score(truth, particles, cands) == pytest.approx(expected, rel=1e-12)
    # exactly half is not a majority: A split 2 + 2
    split = [a[:2], a[2:]]
    assert trackml_score(truth, particles, split) == 0.0
    # padded 2D array form gives the same score
    width = max(len(x) for x in cands)
    padded = np.full((len(cands), width), -1, np.int64)
    for i, x in enumerate(cands):
        padded[i, : len(x)] = x
    assert trackml_score(truth, particles, padded) == pytest.approx(expected, rel=1e-12)


def _reference_weights(truth, particles):
    """Per-hit weights written as a plain loop over particles (TrackML definition)."""
    prof = [10.0, 8.0, 6.0, 5.0, 3.0, 3.0, 3.0, 5.0, 6.0]
    w = np.zeros(truth["hit_id"].size)
    for i, p in enumerate(particles["particle_id"]):
        if p == 0:
            continue
        rows = np.flatnonzero(truth["particle_id"] == p)
        n = rows.size
        if n < 4:
            continue
        pt = np.hypot(particles["px"][i], particles["py"][i])
        wpt = 0.2 if pt < 0.5 else (1.0 if pt > 3.0 else 0.2 + 0.8 * (pt - 0.5) / 2.5)
        rows = rows[np.argsort(np.abs(truth["tz"][rows] - particles["vz"][i]), kind="stable")]
        m = min(n, 20)
        table = []
        for k in range(m):
            x = k * 8.0 / (m - 1)  # position in the profile's node units
            j = min(int(np.floor(x)), 7)
            table.append(prof[j] + (x - j) * (prof[j + 1] - prof[j]))
        table = np.array(table) / np.sum(table)
        for k, r in enumerate(rows[:20]):
            w[r] = wpt * table[k]
    return w / w.sum()


def _reference_score(truth, weights, track_of_hit):
    """The TrackML double-majority score as a loop over tracks (ties: smaller particle id)."""
    pid = truth["particle_id"]
    total_per_particle = {p: int((pid == p).sum()) for p in np.unique(pid)}
    score = 0.0
    for t in np.unique(track_of_hit):
        rows = np.flatnonzero(track_of_hit == t)
        counts = {}
        for r in rows:
            counts[pid[r]] = counts.get(pid[r], 0) + 1
        best = max(counts.values())
        p = min(q for q, c in counts.items() if c == best)
        if 2 * best > rows.size and 2 * best > total_per_particle[p]:
            score += weights[rows[pid[rows] == p]].sum()
    return score / weights.sum()


def test_score_agrees_with_trackml_logic():
    rng = np.random.default_rng(1)
    spec = [
        (int(1e17) + i, int(rng.integers(2, 14)), float(rng.uniform(0.1, 6)), 0.0)
        for i in range(40)
    ]
    truth, particles = _event(spec, n_noise=30, seed=2)
    w = trackml_weights(truth, particles)
    np.testing.assert_allclose(w, _reference_weights(truth, particles), rtol=1e-10, atol=1e-15)
    n = truth["hit_id"].size
    for trial in range(5):
        # corrupt a perfect assignment: reassign a fraction of hits to random tracks
        track = truth["particle_id"].copy()
        flip = rng.random(n) < 0.1 * (trial + 1)
        track[flip] = rng.choice(track, flip.sum())
        track[track == 0] = -1 - np.arange((track == 0).sum())  # noise alone
        cands = [truth["hit_id"][track == t] for t in np.unique(track)]
        expected = _reference_score(truth, w, track)
        assert trackml_score(truth, particles, cands) == pytest.approx(expected, rel=1e-10)
        # weights passed explicitly (e.g. truth['weight']) give the same
        got = trackml_score(truth, particles, cands, weights=w)
        assert got == pytest.approx(expected, rel=1e-10)


def test_score_shared_hits():
    truth, particles = _event([(1, 6, 5.0, 0.0), (2, 6, 5.0, 0.0)])
    a, b = _hits_of(truth, 1), _hits_of(truth, 2)
    with pytest.raises(ValueError, match="share 1 hit"):
        trackml_score(truth, particles, [a, np.r_[b, a[:1]]])
    got = trackml_score(truth, particles, [a, np.r_[b, a[:1]]], shared_hits="first")
    assert got == pytest.approx(1.0)


# ---------------------------------------------------------------- efficiency, fakes, duplicates


def test_rates_constructed_case():
    spec = [(1, 8, 2.0, 0.5), (2, 8, 4.0, -1.0), (3, 8, 0.5, 0.0), (4, 8, 1.5, 3.0), (5, 2, 3.0, 0)]
    truth, particles = _event(spec, n_noise=10)
    h = {p: _hits_of(truth, p) for p in range(1, 6)}
    noise = truth["hit_id"][truth["particle_id"] == 0]
    cands = [
        h[1],  # matched to 1
        h[1][:5],  # duplicate of 1 (same purity, fewer hits)
        np.r_[h[2][:4], h[1][5:]],  # 4/7 of particle 2: matched to 2
        np.r_[h[2][4:6], noise[:3]],  # majority noise: fake
        np.r_[h[3][:3], h[4][:3]],  # tie 3/3: matched to the smaller id, 3 (purity 0.5)
        h[5],  # particle 5 has 2 hits (min_hits 3 leaves it out of the efficiency only)
    ]
    m = match_candidates(truth, cands)
    np.testing.assert_array_equal(m.particle_id, [1, 1, 2, 0, 3, 5])
    np.testing.assert_array_equal(m.matched, [1, 1, 1, 0, 1, 1])
    np.testing.assert_array_equal(m.duplicate, [0, 1, 0, 0, 0, 0])
    np.testing.assert_allclose(m.purity, [1, 1, 4 / 7, 3 / 5, 0.5, 1])
    # selected particles (pt >= 1, |eta| <= 2.5, >= 3 hits): 1, 2 -> both found
    s = tracking_efficiency(truth, particles, cands)
    assert s["n_particles"] == 2 and s["efficiency"] == 1.0
    assert s["n_tracks"] == 6 and s["n_fake"] == 1 and s["n_duplicate"] == 1
    assert s["fake_rate"] == pytest.approx(1 / 6)
    assert s["duplicate_rate_error"] == pytest.approx(np.sqrt(1 / 6 * 5 / 6 / 6))
    # a stricter matching fraction: track 2 (4/7) and 4 (0.5) become fakes; particle 2 is lost
    s = tracking_efficiency(truth, particles, cands, matching_fraction=0.6)
    assert s["efficiency"] == 0.5 and s["n_fake"] == 3
    # double majority: the duplicate of 1 (5/8) and track 2 (4/8) match; track 4 (3/8) not
    m2 = match_candidates(truth, cands, double_majority=True)
    np.testing.assert_array_equal(m2.matched, [1, 1, 1, 0, 0, 1])
    # looser selection: all reconstructable particles (pt >= 0.4, |eta| <= 4)
    s = tracking_efficiency(truth, particles, cands, pt_min=0.4, eta_max=4.0)
    assert s["n_particles"] == 4 and s["n_matched_particles"] == 3
    # select_tracks: fake/duplicate rates only over candidates passing pt/eta cuts
    # (a noise-majority fake has no kinematics and stays in)
    perf = tracking_performance(truth, particles, cands, select_tracks=True)
    np.testing.assert_array_equal(perf.track_selected, [1, 1, 1, 1, 0, 1])
    assert perf.summary()["n_tracks"] == 5


def test_binned_rates():
    spec = [
        (i + 1, 6, pt, eta)
        for i, (pt, eta) in enumerate(
            [(0.5, 0.1), (1.5, 0.2), (1.5, -1.2), (3.0, 1.5), (3.0, -0.3), (7.0, 2.2)]
        )
    ]
    truth, particles = _event(spec)
    cands = [_hits_of(truth, p) for p in (1, 2, 4, 6)] + [_hits_of(truth, 4)[:4]]
    perf = tracking_performance(truth, particles, cands)
    eff = perf.binned("efficiency", "pt", [0.1, 1.0, 2.0, 5.0, 10.0])
    np.testing.assert_array_equal(eff.total, [1, 2, 2, 1])
    np.testing.assert_array_equal(eff.passed, [1, 1, 1, 1])
    np.testing.assert_allclose(eff.value, [1, 0.5, 0.5, 1])
    np.testing.assert_allclose(eff.error, [0, np.sqrt(0.125), np.sqrt(0.125), 0])
    eta = perf.binned("efficiency", "eta", [-2.5, 0.0, 2.5])  # pt >= 1 still applies
    np.testing.assert_array_equal(eta.total, [2, 3])
    np.testing.assert_array_equal(eta.passed, [0, 3])
    dup = perf.binned("duplicate_rate", "pt", [0.1, 2.0, 5.0, 10.0])
    np.testing.assert_array_equal(dup.total, [2, 2, 1])
    np.testing.assert_array_equal(dup.passed, [0, 1, 0])
    empty = perf.binned("fake_rate", "pt", [20.0, 30.0])
    assert empty.total[0] == 0 and np.isnan(empty.value[0])


def test_rates_no_candidates_and_given_kinematics():
    truth, particles = _event([(1, 5, 2.0, 0.0), (2, 5, 2.0, 0.0)])
    s = tracking_efficiency(truth, particles, [])
    assert s["efficiency"] == 0.0 and s["n_tracks"] == 0 and np.isnan(s["fake_rate"])
    perf = tracking_performance(
        truth, particles, [_hits_of(truth, 1)], track_pt=[0.5], select_tracks=True
    )
    assert perf.summary()["n_tracks"] == 0


def test_empty_event():
    truth = {"hit_id": np.zeros(0, np.int64), "particle_id": np.zeros(0, np.int64), "tz": []}
    particles = {k: np.zeros(0) for k in ("vx", "vy", "vz", "px", "py", "pz")}
    particles["particle_id"] = np.zeros(0, np.int64)
    assert trackml_score(truth, particles, []) == 0.0
    s = tracking_efficiency(truth, particles, [])
    assert s["n_particles"] == 0 and np.isnan(s["efficiency"]) and np.isnan(s["fake_rate"])


def test_metrics_bad_inputs():
    truth, particles = _event([(1, 5, 2.0, 0.0)])
    h = _hits_of(truth, 1)
    with pytest.raises(ValueError, match="not in truth"):
        trackml_score(truth, particles, [np.r_[h, 999]])
    with pytest.raises(ValueError, match="more than once"):
        match_candidates(truth, [np.r_[h, h[:1]]])
    with pytest.raises(ValueError, match="integer hit ids"):
        match_candidates(truth, [h.astype(float)])
    with pytest.raises(ValueError, match="sequence of hit-id arrays"):
        match_candidates(truth, {1: h})
    with pytest.raises(ValueError, match="column 'particle_id'"):
        match_candidates({"hit_id": truth["hit_id"]}, [h])
    with pytest.raises(ValueError, match="equal lengths"):
        match_candidates({"hit_id": truth["hit_id"], "particle_id": np.ones(2, int)}, [h])
    with pytest.raises(ValueError, match="unique"):
        dup = {k: np.r_[v, v[:1]] for k, v in truth.items()}
        match_candidates(dup, [h])
    bad = dict(truth, tz=np.where(truth["hit_id"] == h[0], np.nan, truth["tz"]))
    with pytest.raises(ValueError, match="finite"):
        trackml_weights(bad, particles)
    with pytest.raises(ValueError, match="matching_fraction"):
        match_candidates(truth, [h], matching_fraction=0.0)
    with pytest.raises(ValueError, match="shared_hits"):
        trackml_score(truth, particles, [h], shared_hits="drop")
    with pytest.raises(ValueError, match="weights must have shape"):
        trackml_score(truth, particles, [h], weights=np.ones(3))
    with pytest.raises(ValueError, match="track_pt must have shape"):
        tracking_performance(truth, particles, [h], track_pt=[1.0, 2.0])
    with pytest.raises(ValueError, match="min_hits"):
        tracking_performance(truth, particles, [h], min_hits=0)
    perf = tracking_performance(truth, particles, [h])
    with pytest.raises(ValueError, match="quantity"):
        perf.binned("purity", "pt", [0, 1])
    with pytest.raises(ValueError, match="bins"):
        perf.binned("efficiency", "pt", [1.0])


# ---------------------------------------------------------------- pulls and resolutions


def test_pull_summary_statistics():
    rng = np.random.default_rng(3)
    n = 20000
    x = rng.normal([0.0, 0.1, -0.2, 0.0, 0.0], [1.0, 1.0, 2.0, 0.5, 1.0], size=(n, 5))
    x[::100, 4] = np.nan  # non-finite entries are left out
    s = pull_summary(x)
    assert list(s) == ["loc0", "loc1", "phi", "theta", "qop"]
    for name, mu, sd in zip(s, [0.0, 0.1, -0.2, 0.0, 0.0], [1.0, 1.0, 2.0, 0.5, 1.0], strict=True):
        assert abs(s[name]["mean"] - mu) < 4 * s[name]["mean_error"]
        assert abs(s[name]["width"] - sd) < 4 * s[name]["width_error"]
    assert s["qop"]["n"] == n - n // 100
    assert s["loc0"]["mean_error"] == pytest.approx(s["loc0"]["width"] / np.sqrt(n))
    masked = pull_summary(x[:, :2], names=["a", "b"], mask=np.arange(n) < 100)
    assert masked["a"]["n"] == 100 and masked["a"]["mean"] == pytest.approx(x[:100, 0].mean())
    with pytest.raises(ValueError, match="names must have 2"):
        pull_summary(x[:, :2], names=["a"])
    with pytest.raises(ValueError, match="mask must have shape"):
        pull_summary(x, mask=np.ones(3, bool))


def test_resolution_summary_wraps_phi():
    truths = np.array([[0.0, 0.0, np.pi - 0.01, 1.0, 0.1]] * 4)
    est = truths + np.array([[0.1, 0.0, 0.02, 0.0, 0.0]] * 4)
    est[:, 2] -= 2 * np.pi  # the estimate wrapped to the other side
    s = resolution_summary(est, truths)
    assert s["phi"]["mean"] == pytest.approx(0.02)
    assert s["loc0"]["mean"] == pytest.approx(0.1)
    with pytest.raises(ValueError, match="same shape"):
        resolution_summary(est, truths[:2])


def test_plots(tmp_path):
    truth, particles = _event([(1, 5, 2.0, 0.0), (2, 5, 5.0, 1.0)])
    perf = tracking_performance(truth, particles, [_hits_of(truth, 1)])
    bins = [0.5, 1.0, 3.0, 10.0]
    plot_rates(
        {"a": perf.binned("efficiency", "pt", bins), "b": perf.binned("efficiency", "pt", bins)},
        tmp_path / "eff.png",
        ylabel="efficiency",
    )
    assert (tmp_path / "eff.png").stat().st_size > 0
    pulls = np.random.default_rng(0).normal(0.2, 1.5, size=(4000, 5))
    fits = plot_pulls(pulls, tmp_path / "pulls.png")
    assert (tmp_path / "pulls.png").stat().st_size > 0
    for f in fits.values():
        assert abs(f["mu"] - 0.2) < 4 * f["mu_error"] + 0.02
        assert abs(f["sigma"] - 1.5) < 4 * f["sigma_error"] + 0.02
    with pytest.raises(ValueError, match="share one variable"):
        plot_rates(
            {
                "a": perf.binned("efficiency", "pt", bins),
                "b": perf.binned("efficiency", "eta", bins),
            },
            tmp_path / "x.png",
        )
