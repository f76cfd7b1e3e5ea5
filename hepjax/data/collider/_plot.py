"""Histograms of a generated data set, one colour per class (mplhep style if installed)."""

import json
import os
import pathlib

import numpy as np

from hepjax._core import figure

from ._processes import DATASETS, JETCLASS_FILE_STEMS


def _grid(panels, data, path, title):
    """``panels``: list of (label, key, bins, log); ``data``: class -> {key: values}."""
    from matplotlib import colormaps

    cols = 3
    rows = -(-len(panels) // cols)
    with figure(path, size=(5.2 * cols, 4.2 * rows), nrows=rows, ncols=cols) as (fig, axes):
        axes = np.atleast_1d(axes).ravel()
        for ax, (label, key, bins, log) in zip(axes, panels, strict=False):
            for i, (name, d) in enumerate(data.items()):
                v = np.asarray(d[key], float)
                v = v[np.isfinite(v)]
                color = colormaps["tab10"](i % 10) if len(data) > 6 else f"C{i}"
                style = {"histtype": "step", "density": True, "lw": 1.6, "color": color}
                if v.size:
                    ax.hist(v, bins=bins, label=name, **style)
            ax.set_xlabel(label, fontsize=13)
            ax.set_ylabel("density", fontsize=13)
            ax.tick_params(labelsize=11)
            if log:
                ax.set_yscale("log")
        for ax in axes[len(panels) :]:
            ax.set_visible(False)
        axes[0].legend(fontsize=11, ncols=2 if len(data) > 5 else 1)
        fig.suptitle(title, fontsize=14)
    return path


def _jetnet(folder, names, particles):
    from hepjax.data.formats import read_jetnet

    from ._merge import output_name

    data = {}
    for name in names:
        f = read_jetnet(folder / output_name("jetnet", name, particles))
        pf, jf = f["particle_features"], f["jet_features"]
        m = pf[..., 3] > 0
        data[name] = {
            "mass": jf[:, 2],
            "pt": jf[:, 0],
            "n": jf[:, 3],
            "etarel": pf[..., 0][m],
            "phirel": pf[..., 1][m],
            "ptrel": np.log10(np.maximum(pf[..., 2][m], 1e-6)),
        }
    panels = [
        ("jet mass [GeV]", "mass", np.linspace(0, 300, 61), False),
        ("jet $p_T$ [GeV]", "pt", np.linspace(600, 1600, 51), False),
        ("constituents", "n", np.linspace(0, 150, 51), False),
        (r"$\eta^{\rm rel}$", "etarel", np.linspace(-0.8, 0.8, 61), True),
        (r"$\phi^{\rm rel}$", "phirel", np.linspace(-0.8, 0.8, 61), True),
        (r"$\log_{10} p_T^{\rm rel}$", "ptrel", np.linspace(-4, 0, 61), False),
    ]
    return panels, data


def _jetclass(folder, names):
    from hepjax.data.formats import read_jetclass

    data = {}
    for name in names:
        f = read_jetclass(folder / f"{JETCLASS_FILE_STEMS[name]}_000.root")
        m = f["part_mask"]
        pt = np.hypot(f["part_px"], f["part_py"])
        data[name] = {
            "sdmass": f["jet_sdmass"],
            "pt": f["jet_pt"],
            "n": f["jet_nparticles"],
            "tau21": f["jet_tau2"] / np.maximum(f["jet_tau1"], 1e-9),
            "tau32": f["jet_tau3"] / np.maximum(f["jet_tau2"], 1e-9),
            "ptrel": np.log10(np.maximum((pt / f["jet_pt"][:, None])[m], 1e-6)),
        }
    panels = [
        ("soft-drop mass [GeV]", "sdmass", np.linspace(0, 250, 51), False),
        ("jet $p_T$ [GeV]", "pt", np.linspace(400, 1100, 36), False),
        ("constituents", "n", np.linspace(0, 150, 51), False),
        (r"$\tau_{21}$", "tau21", np.linspace(0, 1, 41), False),
        (r"$\tau_{32}$", "tau32", np.linspace(0, 1, 41), False),
        (r"$\log_{10} p_T^{\rm rel}$", "ptrel", np.linspace(-4, 0, 61), False),
    ]
    return panels, data


def _lhco(folder, names):
    from hepjax.data.formats import lhco_dijet_features, read_lhco_features

    from ._merge import output_name

    data = {}
    for name in names:
        cols = read_lhco_features(folder / output_name("lhco", name))
        f = lhco_dijet_features(cols)
        f["mj2"] = f["mj1"] + f["delta_mj"]
        data[name] = f
    panels = [
        ("$m_{jj}$ [GeV]", "mjj", np.linspace(2000, 5000, 61), False),
        ("lighter jet mass $m_{j1}$ [GeV]", "mj1", np.linspace(0, 800, 41), False),
        ("heavier jet mass $m_{j2}$ [GeV]", "mj2", np.linspace(0, 800, 41), False),
        (r"$\tau_{21}$ (lighter jet)", "tau21_j1", np.linspace(0, 1, 41), False),
        (r"$\tau_{21}$ (heavier jet)", "tau21_j2", np.linspace(0, 1, 41), False),
        (r"$\tau_{32}$ (heavier jet)", "tau32_j2", np.linspace(0, 1, 41), False),
    ]
    return panels, data


def _hh4b(folder, names):
    from hepjax.data._hdf5 import read_hdf5

    data = {}
    for name in names:
        f = read_hdf5(folder / f"{name}.hdf5", {"jet_features": (None, 5), "jet_mask": (None,)})
        jf, m = f["jet_features"], f["jet_mask"]
        lead4 = jf[:, :4]
        p4 = np.stack(
            [
                np.sqrt((lead4[..., 0] * np.cosh(lead4[..., 1])) ** 2 + lead4[..., 3] ** 2),
                lead4[..., 0] * np.cos(lead4[..., 2]),
                lead4[..., 0] * np.sin(lead4[..., 2]),
                lead4[..., 0] * np.sinh(lead4[..., 1]),
            ],
            -1,
        ).sum(1)
        m4 = np.sqrt(np.maximum(p4[:, 0] ** 2 - (p4[:, 1:] ** 2).sum(1), 0))
        data[name] = {
            "pt1": jf[:, 0, 0],
            "pt4": jf[:, 3, 0],
            "njets": m.sum(1),
            "nb": (jf[..., 4] * m).sum(1),
            "m4j": m4,
            "mass": jf[..., 3][m],
        }
    panels = [
        ("leading jet $p_T$ [GeV]", "pt1", np.linspace(0, 600, 61), False),
        ("4th jet $p_T$ [GeV]", "pt4", np.linspace(0, 200, 41), False),
        ("jets", "njets", np.arange(0, 12) - 0.5, False),
        ("b-tagged jets (truth)", "nb", np.arange(0, 7) - 0.5, False),
        ("mass of the 4 leading jets [GeV]", "m4j", np.linspace(0, 1500, 61), False),
        ("jet mass [GeV]", "mass", np.linspace(0, 100, 51), False),
    ]
    return panels, data


def _hh4b_constituents(folder, names):
    from hepjax.data._hdf5 import read_hdf5

    data = {}
    for name in names:
        f = read_hdf5(
            folder / f"{name}.hdf5",
            {"jet_features": (None, 5), "jet_mask": (None,), "jet_higgs": (None,)},
        )
        jf, m = f["jet_features"], f["jet_mask"]
        pt, eta, phi, mass = (jf[:, :2, i] for i in range(4))
        e = np.sqrt((pt * np.cosh(eta)) ** 2 + mass**2)
        p4 = np.stack([e, pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)], -1).sum(1)
        data[name] = {
            "pt1": jf[:, 0, 0],
            "njets": m.sum(1),
            "nhiggs": (f["jet_higgs"] & m).sum(1),
            "mjj": np.sqrt(np.maximum(p4[:, 0] ** 2 - (p4[:, 1:] ** 2).sum(1), 0)),
            "mass": jf[..., 3][m],
            "n": jf[..., 4][m],
        }
    panels = [
        ("leading jet $p_T$ [GeV]", "pt1", np.linspace(200, 1000, 41), False),
        ("large-radius jets", "njets", np.arange(0, 7) - 0.5, False),
        ("jets containing a Higgs boson (truth)", "nhiggs", np.arange(0, 5) - 0.5, False),
        ("mass of the 2 leading jets [GeV]", "mjj", np.linspace(0, 2000, 51), False),
        ("jet mass [GeV]", "mass", np.linspace(0, 300, 61), False),
        ("constituents per jet", "n", np.linspace(0, 200, 41), False),
    ]
    return panels, data


def plot_dataset(
    folder: str | os.PathLike, out: str | os.PathLike | None = None
) -> list[pathlib.Path]:
    """Histogram a folder written by [`make_dataset`][hepjax.data.collider.make_dataset].

    Draws jet mass, $p_T$, multiplicity and constituent distributions (JetNet,
    JetClass), dijet masses and N-subjettiness ratios (LHCO), or jet counts,
    b-tags and the four-jet mass (HH->4b), or large-radius jet masses, counts and
    Higgs containment (``hh4b_constituents``), per class, into
    ``out/<dataset>.png`` (default ``out = folder/plots``).

    Returns:
        The PNG files written.
    """
    folder = pathlib.Path(folder)
    manifest = folder / "manifest.json"
    if not manifest.is_file():
        raise FileNotFoundError(
            f"folder: no manifest.json in {folder}; was it made by hepjax data make?"
        )
    m = json.loads(manifest.read_text())
    settings = m["settings"]
    dataset = settings["dataset"]
    names = [n for n in DATASETS[dataset] if m["processes"].get(n, {}).get("rows")]
    if not names:
        raise ValueError(f"folder: {folder} holds no finished process yet")
    if dataset == "jetnet":
        panels, data = _jetnet(folder, names, settings["particles"])
    elif dataset == "jetclass":
        panels, data = _jetclass(folder, names)
    elif dataset == "lhco":
        panels, data = _lhco(folder, names)
    elif dataset == "hh4b_constituents":
        panels, data = _hh4b_constituents(folder, names)
    else:
        panels, data = _hh4b(folder, names)
    out = pathlib.Path(out) if out is not None else folder / "plots"
    out.mkdir(parents=True, exist_ok=True)
    title = f"{dataset}-style sample, Pythia {m.get('versions', {}).get('pythia8mc', '?')}"
    return [_grid(panels, data, out / f"{dataset}.png", title)]
