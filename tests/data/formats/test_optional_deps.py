import sys

import numpy as np
import pytest

from hepjax.data import formats


@pytest.mark.parametrize("module", ["uproot", "awkward"])
def test_missing_hep_extra_names_it(tmp_path, monkeypatch, module):
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail
    with pytest.raises(ImportError, match=rf"{module} is needed .* pip install 'hepjax\[hep\]'"):
        formats.read_jetclass(tmp_path / "x.root")
    with pytest.raises(ImportError, match=r"pip install 'hepjax\[hep\]'"):
        formats.write_jetclass(tmp_path / "x.root", {"part_mask": np.ones((1, 1), bool)})
