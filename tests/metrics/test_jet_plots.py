import numpy as np
import pytest

import hepjax.metrics as hm
from hepjax.metrics import jets as jm


def test_relative_mass_of_two_massless_particles():
    jets = np.zeros((1, 4, 4), np.float32)
    jets[0, 0] = [0.1, -0.2, 0.6, 1.0]
    jets[0, 1] = [-0.3, 0.25, 0.4, 1.0]
    jets[0, 2] = [5.0, 5.0, 9.0, 0.0]  # padding must not count
    m2 = 2 * 0.6 * 0.4 * (np.cosh(0.4) - np.cos(0.45))
    np.testing.assert_allclose(jm.jet_mass(jets), [np.sqrt(m2)], rtol=1e-5)


def test_plot_jet_distributions_writes_a_png(tmp_path, rng):
    jets = np.zeros((200, 5, 4), np.float32)
    jets[..., :3] = rng.normal(size=(200, 5, 3)) * 0.1
    jets[..., 2] = np.abs(jets[..., 2])
    jets[..., 3] = np.arange(5)[None] < rng.integers(1, 6, size=(200, 1))
    path = tmp_path / "jets.png"
    hm.plot_jet_distributions({"truth": jets, "model": jets[::-1]}, path)
    assert path.stat().st_size > 10_000
    with pytest.raises(ValueError, match="at least one sample"):
        hm.plot_jet_distributions({}, path)
