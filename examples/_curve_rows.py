"""Shared by the jet foundation-model examples (not an example itself): report rows of a
learning curve from the flattened metrics that ``hepjax demo`` hands over."""

import numpy as np

from hepjax.cli import Row


def auc_rows(metrics: dict, group: str, size, describe) -> list[Row]:
    """One row per strategy: the mean over seeds of ``curves.{group}.auc.{strategy}.{size}``.

    Args:
        metrics: the flattened metrics (``"curves.mpm.auc.finetune.100"`` -> per-seed AUCs).
        group: the curve's name in the metrics (``"mpm"``, ``"latent"``, ...).
        size: the number of labels or training events of the rows.
        describe: ``describe(group, strategy) -> str``, the row's quantity.
    """
    prefix, suffix = f"curves.{group}.auc.", f".{size}"
    rows = []
    for key in sorted(k for k in metrics if k.startswith(prefix) and k.endswith(suffix)):
        strategy, values = key[len(prefix) : -len(suffix)], metrics[key]
        rows.append(
            Row(
                describe(group, strategy),
                None,
                float(np.mean(values)),
                note=f"+- {np.std(values):.3f} over {len(values)} seeds",
            )
        )
    return rows
