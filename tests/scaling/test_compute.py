"""FLOPs per example against XLA's cost analysis; campaigns resume; the learning-rate law."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hepjax import nn, scaling


def _xla_and_formula(hidden_size, num_layers, n):
    model = nn.ParticleTransformerClassifier(
        7, 2, hidden_size=hidden_size, num_heads=8, num_layers=num_layers, key=jax.random.key(0)
    )
    x, mask = jnp.ones((n, 7)), jnp.ones(n, bool)
    measured = scaling.xla_flops(lambda x, mask: model(x, mask), x, mask)
    params = scaling.count_params(model)
    return measured, scaling.transformer_flops(params, n, hidden_size, num_layers, training=False)


def test_flops_match_xla():
    """At d = 128 the matmul count is within 10% of XLA's; the n^2 attention term too:
    C(2n) - 2 C(n) isolates it, 4 L d (4 n^2 - 2 n^2)."""
    xla32, formula32 = _xla_and_formula(128, 2, 32)
    xla64, formula64 = _xla_and_formula(128, 2, 64)
    assert formula32 == pytest.approx(xla32, rel=0.1)
    assert formula64 == pytest.approx(xla64, rel=0.1)
    attention = 4 * 2 * 128 * (64**2 - 2 * 32**2)
    assert formula64 - 2 * formula32 == pytest.approx(attention)
    assert xla64 - 2 * xla32 == pytest.approx(attention, rel=0.1)
    params = 431106
    assert scaling.transformer_flops(params, 64, 128, 2) == 3 * formula64


def test_flops_bad_input():
    with pytest.raises(ValueError, match="num_particles must be a positive int"):
        scaling.transformer_flops(100, 0, 16, 1)
    with pytest.raises(ValueError, match="num_layers must be an int >= 0"):
        scaling.transformer_flops(100, 4, 16, -1)


def _train(settings):
    d = settings["examples"]
    examples = np.geomspace(10, d, 5)
    return {
        "num_params": settings["size"],
        "examples": examples,
        "losses": 1.0 / np.log(examples),
        "flops_per_example": 6.0 * settings["size"],
        "learning_rate": 1e-3,
    }


def test_campaign_resumes(tmp_path):
    cells = [{"size": s, "examples": d} for s in (100, 200) for d in (1000, 2000)]
    calls = []

    def train(settings):
        calls.append(settings)
        return _train(settings)

    first = scaling.run_campaign(train, cells[:3], tmp_path)
    assert first.trained == 3 and len(calls) == 3
    again = scaling.run_campaign(train, cells, tmp_path)
    assert again.trained == 1 and len(calls) == 4 and calls[-1] == cells[3]
    n, d, loss = again.final()
    np.testing.assert_allclose(n, [100, 100, 200, 200])
    np.testing.assert_allclose(d, [1000, 2000, 1000, 2000])
    np.testing.assert_allclose(loss, 1.0 / np.log(d))
    assert again.cells[0].compute[-1] == pytest.approx(6.0 * 100 * 1000)
    assert sorted(p.name.startswith("cell-") for p in tmp_path.iterdir()) == [True] * 4
    assert json.loads(json.dumps(again.cells[2].settings)) == cells[2]
    with pytest.raises(ValueError, match="distinct"):
        scaling.run_campaign(train, [cells[0], cells[0]], tmp_path)


def test_campaign_with_executor(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    cells = [{"size": s, "examples": 1000} for s in (100, 200, 300)]
    with ThreadPoolExecutor(2) as pool:
        result = scaling.run_campaign(_train, cells, tmp_path, executor=pool)
    assert result.trained == 3
    assert [c.num_params for c in result.cells] == [100, 200, 300]


def test_lr_law_recovers_exponents():
    d = np.array([16, 32, 64, 16, 64])
    s = np.array([100, 100, 400, 1600, 1600])
    lr = np.exp(-2.0) * d**-1.0 * s**-0.25
    law = scaling.fit_lr_law(d, s, lr)
    assert (law.c, law.p, law.q) == pytest.approx((-2.0, -1.0, -0.25), abs=1e-9)
    assert law(128, 400) == pytest.approx(np.exp(-2.0) / 128 * 400**-0.25)
    with pytest.raises(ValueError, match="at least 2"):
        scaling.fit_lr_law([16], [100], [1e-3])
