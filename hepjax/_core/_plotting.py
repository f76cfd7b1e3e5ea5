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


def figure_html(figure, *, alt: str = "figure", dpi: int = 80) -> str:
    """An ``<img>`` tag holding a figure as an inline PNG (a ``data:`` URI).

    The executed tutorials print it (markdown-exec, ``html="on"``) under the
    block that drew the figure, so the page needs no image file beside it and
    renders offline.

    Args:
        figure: a matplotlib figure (saved as PNG, then closed) or the path of
            a PNG file already written (for example by a ``plot_*`` function).
        alt: the image's alternative text (HTML-escaped).
        dpi: resolution of a matplotlib figure.
    """
    import base64
    import html
    import io

    if isinstance(figure, str | os.PathLike):
        data = pathlib.Path(figure).read_bytes()
        if not data.startswith(b"\x89PNG"):
            raise ValueError(f"figure: {figure} is not a PNG file")
    else:
        import matplotlib.pyplot as plt

        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
        plt.close(figure)
        data = buffer.getvalue()
    encoded = base64.b64encode(data).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{encoded}">'
