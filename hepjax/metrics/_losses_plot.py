"""Training-curve plot."""

from hepjax._core import figure


def plot_losses(losses, path, *, evals: list[dict] | None = None, smooth: int = 20) -> None:
    """Training loss per step (raw and running mean) and any evaluated metrics.

    Args:
        losses: the training loss of every step, a sequence of floats (e.g. ``FitResult.losses``).
        path: the image file to write (its suffix picks the format).
        evals: optional evaluation records, dicts with a ``"step"`` key and metric values (e.g.
            ``FitResult.evals``), drawn against a second axis on the right.
        smooth: window in steps of the running mean drawn over the raw loss.
    """
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
