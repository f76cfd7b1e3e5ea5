"""hepjax.jets: masking, tokenisers, pre-training, fine-tuning strategies, checkpoints, errors."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hepjax import jets, nn
from hepjax.physics import p4_from_ptetaphim

N_PART, F = 8, 3
CENTRES = np.array([[2.0, 0.0, 0.0], [-2.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, -2.0, 0.0]])


def toy_jets(rng, num, *, labelled=True, identity=False):
    """Each jet's particles sit around one of four centres (the class: centre 0/1 vs 2/3);
    the angular spread also depends on the class, and the jets have 4-8 particles."""
    cluster = rng.integers(0, 4, num)
    sizes = rng.integers(4, N_PART + 1, num)
    mask = np.arange(N_PART)[None] < sizes[:, None]
    x = CENTRES[cluster][:, None] + 0.1 * rng.normal(size=(num, N_PART, F))
    labels = (cluster >= 2).astype(np.int32)
    spread = np.where(labels == 1, 0.4, 0.05)[:, None]
    eta = spread * rng.normal(size=(num, N_PART))
    phi = spread * rng.normal(size=(num, N_PART))
    p4 = np.asarray(p4_from_ptetaphim(rng.uniform(5, 50, (num, N_PART)), eta, phi))
    x = np.where(mask[..., None], x, 0.0).astype(np.float32)
    p4 = np.where(mask[..., None], p4, 0.0).astype(np.float32)
    ident = (cluster[:, None] + np.zeros((1, N_PART), int)) if identity else None
    return jets.Jets(x, p4, mask, labels if labelled else None, ident), cluster


def backbone(key, **kw):
    cfg = dict(embed_size=16, num_heads=2, num_layers=1, num_class_layers=1, num_classes=2)
    return nn.ParticleTransformer(num_features=F, **{**cfg, **kw}, key=key)


def test_choose_masked_counts_and_uniformity(key):
    mask = jnp.arange(10) < 7
    keys = jax.random.split(key, 4000)
    chosen = jax.vmap(lambda k: jets.choose_masked(k, mask, 0.3))(keys)
    counts = np.asarray(chosen.sum(1))
    assert (counts == round(0.3 * 7)).all()
    assert not np.asarray(chosen[:, 7:]).any()
    freq = np.asarray(chosen[:, :7].mean(0))
    p = 2 / 7
    assert np.all(np.abs(freq - p) < 4 * np.sqrt(p * (1 - p) / 4000))
    one = jets.choose_masked(key, jnp.arange(10) < 1, 0.3)
    assert int(one.sum()) == 1  # at least one masked particle


def test_kmeans_recovers_separated_centres(key, rng):
    pts = CENTRES[rng.integers(0, 4, 400)] + 0.05 * rng.normal(size=(400, F))
    centres = np.asarray(jets.kmeans(key, pts, 4, num_iterations=20))
    dist = np.linalg.norm(centres[:, None] - CENTRES[None], axis=-1).min(0)
    assert dist.max() < 0.05  # each true centre has a fitted one within 4 sigma/sqrt(100)


def test_kmeans_tokenizer(key, rng):
    data, cluster = toy_jets(rng, 200)
    tok = jets.KMeansTokenizer(num_codes=4).fit(key, data.x, data.mask)
    ids = np.asarray(jax.vmap(tok.encode)(jnp.asarray(data.x), jnp.asarray(data.mask)))
    assert (ids[~data.mask] == -1).all()
    # tokens are a relabelling of the clusters
    for c in range(4):
        assert np.unique(ids[(cluster == c)[:, None] & data.mask]).size == 1
    with pytest.raises(ValueError, match="not fitted"):
        jets.KMeansTokenizer(num_codes=4).encode(jnp.zeros((3, F)), jnp.ones(3, bool))


@pytest.mark.slow
def test_vqvae_tokenizer_learns_and_uses_codes(key, rng):
    data, _cluster = toy_jets(rng, 128)
    tok = jets.VQVAETokenizer(num_codes=8, latent_size=4, hidden_size=16, num_heads=2).fit(
        key, data.x, data.mask, steps=60, batch_size=32, replace_every=30, learning_rate=3e-3
    )
    assert tok.losses.shape == (60,)
    assert tok.losses[-10:].mean() < tok.losses[:10].mean()
    assert 0 < tok.usage <= 1
    ids = np.asarray(jax.vmap(tok.encode)(jnp.asarray(data.x), jnp.asarray(data.mask)))
    assert (ids[~data.mask] == -1).all() and (ids[data.mask] >= 0).all()
    assert ids[data.mask].max() < 8


def test_pretrain_masked_tokens_learns_context(key, rng):
    """All particles of a jet share a token, so the masked tokens follow from the visible ones."""
    data, _ = toy_jets(rng, 256, labelled=False)
    k1, k2, k3 = jax.random.split(key, 3)
    tok = jets.KMeansTokenizer(num_codes=4).fit(k1, data.x, data.mask)
    res = jets.pretrain(
        k2,
        backbone(k3),
        data,
        objective=jets.MaskedTokens(tokenizer=tok),
        steps=80,
        batch_size=32,
        learning_rate=3e-3,
    )
    assert np.isfinite(res.losses).all()
    assert jets.masked_accuracy(key, res, data) > 0.8  # chance: 0.25


@pytest.mark.slow
def test_pretrain_masked_features_with_identity_and_decoder(key, rng):
    data, _ = toy_jets(rng, 64, labelled=False, identity=True)
    obj = jets.MaskedFeatures(num_identities=4, decoder_layers=1)
    res = jets.pretrain(
        key, backbone(key), data, objective=obj, steps=30, batch_size=32, learning_rate=3e-3
    )
    assert res.losses[-5:].mean() < res.losses[:5].mean()
    assert res.model.decoder is not None
    with pytest.raises(ValueError, match="identity"):
        jets.pretrain(
            key, backbone(key), toy_jets(rng, 8, labelled=False)[0], objective=obj, steps=1
        )


def _leaves_equal(a, b):
    la, lb = (
        jax.tree.leaves(eqx.filter(a, eqx.is_array)),
        jax.tree.leaves(eqx.filter(b, eqx.is_array)),
    )
    return all(np.array_equal(x, y) for x, y in zip(la, lb, strict=True))


@pytest.mark.slow
def test_finetune_strategies(key, rng):
    data, _ = toy_jets(rng, 64)
    bb = backbone(key)
    common = dict(steps=6, batch_size=16)
    frozen = jets.finetune(key, bb, data, strategy="frozen", **common)
    assert _leaves_equal(frozen.model.backbone, bb)
    held = jets.finetune(key, bb, data, strategy="finetune", freeze_steps=6, **common)
    assert _leaves_equal(held.model.backbone, bb)
    moved = jets.finetune(key, bb, data, strategy="finetune", freeze_steps=3, **common)
    assert not _leaves_equal(moved.model.backbone, bb)
    # the head trains at the full rate, the backbone at backbone_lr_scale of it
    scratch = jets.finetune(
        key, bb, data, strategy="scratch", head=jets.MLPHead(hidden_size=8), **common
    )
    assert not _leaves_equal(scratch.model.backbone, bb)
    att = jets.finetune(key, bb, data, head=jets.ClassAttentionHead(num_heads=2), **common)
    ev = jets.evaluate(att, data)
    assert 0 <= ev.accuracy <= 1 and 0 <= ev.auc <= 1 and ev.scores.shape == (64,)


def test_finetune_learns_and_beats_chance(key, rng):
    data, _ = toy_jets(rng, 256)
    test, _ = toy_jets(rng, 256)
    res = jets.finetune(
        key, backbone(key), data, strategy="scratch", steps=60, batch_size=32, learning_rate=3e-3
    )
    ev = jets.evaluate(res, test, signal_efficiency=0.5)
    assert ev.auc > 0.95 and ev.background_rejection > 5


@pytest.mark.slow
def test_event_head(key, rng):
    num, j = 32, 3
    data, _ = toy_jets(rng, num * j)
    jet_mask = np.arange(j)[None] < rng.integers(1, j + 1, num)[:, None]
    mask = data.mask.reshape(num, j, N_PART) & jet_mask[..., None]
    events = jets.Events(
        data.x.reshape(num, j, N_PART, F),
        data.four_momenta.reshape(num, j, N_PART, 4),
        mask,
        jet_mask,
        data.labels.reshape(num, j)[:, 0],
        high_level=rng.normal(size=(num, j, 2)).astype(np.float32),
    )
    for rep in jets._finetune.REPRESENTATIONS:
        res = jets.finetune(
            key,
            backbone(key),
            events,
            head=jets.EventHead(representation=rep),
            steps=3,
            batch_size=16,
        )
        assert res.logits_batch(events).shape == (num, 2)
    # padded jets never matter
    clf = res.model
    i = int(np.argmin(jet_mask.sum(1)))
    args = [
        jnp.asarray(a[i])
        for a in (events.x, events.four_momenta, events.mask, events.jet_mask, events.high_level)
    ]
    junk = [a.at[~args[3]].set(7.0) if a.dtype != bool else a for a in args[:2]] + args[2:]
    np.testing.assert_allclose(clf(*junk), clf(*args), rtol=1e-5, atol=1e-5)
    with pytest.raises(TypeError, match="EventHead"):
        jets.finetune(key, backbone(key), events, steps=1)


def test_backbone_checkpoint_roundtrip_and_wrong_architecture(key, tmp_path):
    bb = backbone(key)
    jets.save_backbone(tmp_path / "bb", bb)
    back = jets.load_backbone(tmp_path / "bb")
    assert _leaves_equal(back, bb)
    x = jnp.ones((4, F))
    p4 = jnp.tile(jnp.array([10.0, 6.0, 0.0, 8.0]), (4, 1))
    np.testing.assert_array_equal(back(x, p4, jnp.ones(4, bool)), bb(x, p4, jnp.ones(4, bool)))
    with pytest.raises(ValueError, match="another architecture"):
        jets.load_backbone(tmp_path / "bb", like=backbone(key, embed_size=8))
    # saving again into the same folder replaces the backbone (an example rerun)
    other = backbone(jax.random.fold_in(key, 1))
    jets.save_backbone(tmp_path / "bb", other)
    assert _leaves_equal(jets.load_backbone(tmp_path / "bb"), other)


def test_bad_input_messages(key, rng):
    data, _ = toy_jets(rng, 8)
    empty = data.mask.copy()
    empty[3] = False
    with pytest.raises(ValueError, match="no real particles"):
        jets.Jets(data.x, data.four_momenta, empty)
    with pytest.raises(ValueError, match="mask must have shape"):
        jets.Jets(data.x, data.four_momenta, data.mask[:, :5])
    with pytest.raises(ValueError, match=r"labels must be in \[0, num_classes\)"):
        jets.finetune(key, backbone(key), data, head=jets.LinearHead(num_classes=1), steps=1)
    tok = jets.KMeansTokenizer(num_codes=2).fit(key, data.x, data.mask)
    for bad in (0.0, 1.0, 1.5, -0.1):
        with pytest.raises(ValueError, match=r"mask_fraction must be in \(0, 1\)"):
            jets.MaskedTokens(tokenizer=tok, mask_fraction=bad)
    with pytest.raises(ValueError, match="strategy"):
        jets.finetune(key, backbone(key), data, strategy="partial", steps=1)


@pytest.mark.slow
def test_learning_curve_records_every_seed(key, rng, tmp_path):
    data, _ = toy_jets(rng, 64)
    test, _ = toy_jets(rng, 64)
    lc = jets.learning_curve(
        key,
        backbone(key),
        data,
        test,
        sizes=[16, 0.5],
        seeds=2,
        strategies=("frozen", "scratch"),
        steps=3,
        batch_size=8,
    )
    assert lc.sizes == [16, 32]
    assert lc.auc["frozen"].shape == (2, 2) and np.isfinite(lc.auc["scratch"]).all()
    d = lc.to_dict()
    assert len(d["auc"]["scratch"]["32"]) == 2
    jets.plot_learning_curves({"toy": lc}, tmp_path / "lc.png")
    assert (tmp_path / "lc.png").stat().st_size > 0
