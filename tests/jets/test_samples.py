"""jetclass_jets: Pythia 8 + FastJet jets in the Jets layout, cached (slow: runs Pythia)."""

import numpy as np
import pytest

from hepjax import jets


@pytest.mark.slow
def test_jetclass_jets_layout_and_cache(tmp_path):
    pytest.importorskip("pythia8mc")
    pytest.importorskip("fastjet")
    data = jets.jetclass_jets(("QCD", "Tbqq"), 12, seed=3, max_particles=16, cache_dir=tmp_path)
    assert len(data) == 24 and data.x.shape == (24, 16, 3)
    assert np.bincount(data.labels).tolist() == [12, 12]
    # log pT of a real particle matches its four-momentum
    pt = np.hypot(data.four_momenta[..., 1], data.four_momenta[..., 2])
    np.testing.assert_allclose(data.x[..., 2][data.mask], np.log(pt[data.mask]), rtol=1e-5)
    # top jets have more constituents than QCD jets on average at the same pT
    n = data.mask.sum(1)
    assert n[data.labels == 1].mean() > n[data.labels == 0].mean() - 2
    again = jets.jetclass_jets(("QCD", "Tbqq"), 12, seed=3, max_particles=16, cache_dir=tmp_path)
    np.testing.assert_array_equal(again.x, data.x)
    assert len(list((tmp_path / "jets-foundation").glob("*.h5"))) == 2
