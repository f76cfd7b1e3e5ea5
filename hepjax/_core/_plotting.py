"""The one figure helper: mplhep style, atomic PNG writing. matplotlib is imported lazily."""

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
