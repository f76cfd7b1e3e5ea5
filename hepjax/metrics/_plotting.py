"""Shared figure set-up: mplhep style, atomic PNG writing. matplotlib is imported lazily."""

import contextlib
import os
import pathlib


@contextlib.contextmanager
def figure(
    path: str | os.PathLike,
    *,
    size: tuple[float, float] = (6.0, 4.5),
    nrows: int = 1,
    ncols: int = 1,
):
    """Yield ``(fig, ax)`` and save the figure to ``path`` (PNG) atomically on exit.

    With ``nrows`` or ``ncols`` above 1, ``ax`` is the array of axes.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise ImportError("plotting needs matplotlib: pip install 'hepjax[plot]'") from err
    try:
        import mplhep

        style = mplhep.style.CMS
    except ImportError:
        style = "default"
    path = pathlib.Path(path)
    with plt.style.context(style):
        fig, ax = plt.subplots(nrows, ncols, figsize=size, layout="constrained")
        try:
            yield fig, ax
            tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
            fig.savefig(tmp, dpi=110)
            os.replace(tmp, path)
        finally:
            plt.close(fig)


def plot_losses(losses, path, *, evals: list[dict] | None = None, smooth: int = 20) -> None:
    """Training loss per step (raw and running mean) and any evaluated metrics."""
    import numpy as np

    losses = np.asarray(losses, dtype=float)
    with figure(path, size=(6.0, 5.5)) as (fig, ax):
        steps = np.arange(1, losses.size + 1)
        ax.plot(steps, losses, alpha=0.3, label="train loss")
        if losses.size >= smooth:
            kernel = np.ones(smooth) / smooth
            ax.plot(
                steps[smooth - 1 :],
                np.convolve(losses, kernel, "valid"),
                label=f"train loss ({smooth}-step mean)",
            )
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        ax.set_yscale("log" if losses.min() > 0 else "linear")
        handles, labels = ax.get_legend_handles_labels()
        names = sorted({k for e in evals or [] for k in e} - {"step"})
        if names:  # evaluation metrics on their own axis, on the right
            right = ax.twinx()
            for i, name in enumerate(names):
                points = [(e["step"], e[name]) for e in evals if name in e]
                right.plot(*zip(*points, strict=True), "o--", color=f"C{i + 2}", label=name)
            right.set_ylabel("evaluation")
            more = right.get_legend_handles_labels()
            handles, labels = handles + more[0], labels + more[1]
        fig.legend(handles, labels, loc="outside lower center", ncols=2, fontsize="x-small")
