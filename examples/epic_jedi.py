"""EPiC-JeDi: jet generation with EDM diffusion and an EPiC network (arXiv:2310.00049).

The diffusion counterpart of ``epic_fm``, as in the paper's comparison with
PC-JeDi (Leigh et al., arXiv:2303.05376): the same EPiC network, wrapped in
Karras et al.'s EDM preconditioning (:class:`hepjax.generative.EDMDenoiser`,
$\\sigma_{data} = 1$ on standardised features), trained with
:func:`hepjax.generative.edm_loss` and sampled with Karras' second-order
sampler over 50 noise levels. Same data, conditioning, metrics and plots as
``epic_fm``.

    python examples/epic_jedi.py --scale small --out runs/epic_jedi
"""

import pathlib

import _jet_generation as jg  # the workflow shared with epic_fm, next to this file

import hepjax.generative as hg
from hepjax.cli import example_main, register
from hepjax.nn import EPiCVectorField

SIGMA_DATA = 1.0  # the features are standardised


def make_model(cfg: jg.Config, key) -> hg.EDMDenoiser:
    net = EPiCVectorField(
        3,
        cond_dim=2,
        hidden_size=cfg.hidden_size,
        latent=cfg.latent,
        num_layers=cfg.num_layers,
        key=key,
    )
    return hg.EDMDenoiser(net, sigma_data=SIGMA_DATA)


def loss_fn(model, batch, *, key):
    return hg.edm_loss(
        model, batch["x"], key=key, sigma_data=SIGMA_DATA, mask=batch["mask"], cond=batch["cond"]
    )


def sample(model, key, mask, cond, cfg: jg.Config):
    sigmas = hg.karras_sigmas(cfg.sample_steps // 2)
    return hg.sample_sde_sets(model, key, mask, features=3, cond=cond, sigmas=sigmas)


@register(
    "epic_jedi",
    summary="EPiC-JeDi: EDM-diffusion jet generation scored with JetNet metrics",
    paper=jg.PAPER,
    report=jg.report,
)
def run(*, scale: str, out: pathlib.Path) -> dict:
    """Train EPiC-JeDi, sample jets, and score them against the truth."""
    return jg.run(
        "EPiC-JeDi", scale=scale, out=out, make_model=make_model, loss_fn=loss_fn, sample=sample
    )


if __name__ == "__main__":
    example_main(run)
