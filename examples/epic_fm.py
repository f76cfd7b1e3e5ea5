"""EPiC-FM: jet generation with flow matching and an EPiC network (arXiv:2310.00049).

Top jets in JetNet layout (Pythia 8 + FastJet when the ``hep`` extra is
installed, generated once and cached; the toy shower otherwise) are
standardised, and an :class:`hepjax.nn.EPiCVectorField` conditioned on the jet
mass and pT is trained with conditional flow matching (``CondOT(sigma_min=1e-4)``),
AdamW and EMA weights. Jets are sampled with the midpoint rule in 100 steps and
scored with the JetNet metrics against the truth-vs-truth floor and the
independent-particle baseline.

    python examples/epic_fm.py --scale small --out runs/epic_fm
"""

import pathlib

import _jet_generation as jg  # the workflow shared with epic_jedi, next to this file

import hepjax.generative as hg
from hepjax.cli import example_main, register
from hepjax.nn import EPiCVectorField

PATH = hg.CondOT(sigma_min=1e-4)


def make_model(cfg: jg.Config, key) -> EPiCVectorField:
    return EPiCVectorField(
        3,
        cond_dim=2,
        hidden_size=cfg.hidden_size,
        latent=cfg.latent,
        num_layers=cfg.num_layers,
        key=key,
    )


def loss_fn(model, batch, *, key):
    return hg.flow_matching_loss(
        model, batch["x"], key=key, path=PATH, mask=batch["mask"], cond=batch["cond"]
    )


def sample(model, key, mask, cond, cfg: jg.Config):
    return hg.sample_ode_sets(
        model, key, mask, features=3, cond=cond, solver="midpoint", num_steps=cfg.sample_steps
    )


@register(
    "epic_fm",
    summary="EPiC-FM: flow-matching jet generation scored with JetNet metrics",
    paper=jg.PAPER,
    report=jg.report,
)
def run(*, scale: str, out: pathlib.Path) -> dict:
    """Train EPiC-FM, sample jets, and score them against the truth."""
    return jg.run(
        "EPiC-FM", scale=scale, out=out, make_model=make_model, loss_fn=loss_fn, sample=sample
    )


if __name__ == "__main__":
    example_main(run)
