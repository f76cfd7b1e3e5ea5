"""All the distances of a generated sample to the truth in one call, EFPs computed once."""

from typing import Any

from ._distances import fpd, kpd
from ._inputs import jets_and_mask
from ._observables import _efps, masses
from ._w1 import quantiled_kl, w1efp, w1m, w1p


def all_metrics(
    truth: Any,
    generated: Any,
    *,
    num_eval_samples: int = 50_000,
    num_batches: int = 5,
    kl_bins: int = 30,
    fpd_kwargs: dict | None = None,
    kpd_kwargs: dict | None = None,
    seed: int = 42,
) -> dict[str, tuple[float, float]]:
    r"""``{"w1m", "w1p", "w1efp", "fpd", "kpd", "kl"}`` → ``(value, error)`` for two jet samples.

    The metrics of the EPiC-FM paper's tables (arXiv:2310.00049): the JetNet
    W1 distances (averaged over features), FPD and KPD on the 36 EFPs of
    degree $\le 4$ (computed once and shared), and the quantile-binned KL
    divergence of the relative jet mass
    ([`quantiled_kl`][hepjax.metrics.jets.quantiled_kl], ``kl_bins`` bins,
    ``num_batches`` batches of ``min(num_eval_samples, N)`` masses).

    Args:
        truth: ``(N1, n, 4)`` JetNet-format truth jets (the reference).
        generated: ``(N2, m, 4)`` jets to evaluate.
        num_eval_samples: jets per W1 batch.
        num_batches: W1 and KL batches.
        kl_bins: equiprobable bins of the KL divergence.
        fpd_kwargs: overrides for [`fpd`][hepjax.metrics.jets.fpd]
            (e.g. ``min_samples``/``max_samples`` for small samples).
        kpd_kwargs: overrides for [`kpd`][hepjax.metrics.jets.kpd].
        seed: seed of every metric's batches.
    """
    x1, _ = jets_and_mask("truth", truth)
    x2, _ = jets_and_mask("generated", generated)
    w1 = dict(num_eval_samples=num_eval_samples, num_batches=num_batches, seed=seed)
    f1, f2 = _efps(x1, "fpd"), _efps(x2, "fpd")
    m1, m2 = masses("truth", truth), masses("generated", generated)
    kl_size = min(num_eval_samples, len(m1), len(m2))
    return {
        "w1m": w1m(truth, generated, **w1),
        "w1p": w1p(truth, generated, **w1),
        "w1efp": w1efp(truth, generated, **w1),
        "fpd": fpd(f1, f2, **{"seed": seed, **(fpd_kwargs or {})}),
        "kpd": kpd(f1, f2, **{"seed": seed, **(kpd_kwargs or {})}),
        "kl": quantiled_kl(
            m1,
            m2,
            num_bins=kl_bins,
            num_eval_samples=kl_size,
            num_batches=num_batches,
            seed=seed,
        ),
    }
