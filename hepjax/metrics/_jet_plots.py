"""Histograms that compare generated jets with the truth, JetNet layout (mplhep style)."""

import os

import numpy as np
from jaxtyping import ArrayLike, Float

from .._core import check_shape, figure
from .jets import jet_mass

_PANELS = (
    ("jet", r"relative jet mass $m^{rel}$"),
    (0, r"particle $\eta^{rel}$"),
    (1, r"particle $\phi^{rel}$"),
    (2, r"particle $p_T^{rel}$"),
    ("n", "particle multiplicity"),
)


def plot_jet_distributions(
    jets: dict[str, Float[ArrayLike, "N n 4"]],
    path: str | os.PathLike,
    *,
    bins: int = 40,
) -> None:
    """Compare the jet mass, particle features and multiplicity of several jet samples.

    Args:
        jets: name -> JetNet-layout jets ``(N, n, 4)``; the first entry is the
            reference (drawn filled), the others are drawn as lines on its binning.
        path: the PNG to write (atomically).
        bins: number of bins per panel, spanning the reference's 0.1-99.9% quantiles.
    """
    if not jets:
        raise ValueError("jets must name at least one sample")
    samples = {name: np.asarray(x) for name, x in jets.items()}
    for name, x in samples.items():
        check_shape(f"jets[{name!r}]", x, (None, None, 4))

    def values(x, what):
        mask = x[..., 3] > 0.5
        if what == "jet":
            return jet_mass(x)
        if what == "n":
            return mask.sum(1)
        return x[..., what][mask]

    with figure(path, size=(15.0, 3.6), ncols=len(_PANELS)) as (_fig, axes):
        reference = next(iter(samples))
        for ax, (what, label) in zip(axes, _PANELS, strict=True):
            ref = values(samples[reference], what)
            lo, hi = np.quantile(ref, [0.001, 0.999]) if what != "n" else (0, ref.max() + 1)
            edges = np.linspace(lo, hi, bins + 1) if what != "n" else np.arange(lo, hi + 1) - 0.5
            for i, (name, x) in enumerate(samples.items()):
                kwargs = dict(alpha=0.35) if i == 0 else dict(histtype="step", lw=1.6)
                with np.errstate(invalid="ignore", divide="ignore"):  # all outside the range
                    ax.hist(values(x, what), edges, density=True, label=name, **kwargs)
            ax.set_xlabel(label, fontsize=11)
            ax.tick_params(labelsize=9)
            if what == 2:
                ax.set_yscale("log")
        axes[0].set_ylabel("density", fontsize=11)
        axes[0].legend(fontsize=9)
