r"""Layer 4: white-box adversarial training and sharpness (Rothen et al., arXiv:2411.09296).

Attacks in feature space (FGSM, PGD in the $L_\infty$ ball) and in weight space
(SAM, sparse SAM), trained through the one loop :func:`hepjax.train.fit`, and
the sharpness of the minimum found: the loss along a gradient-ascent path in
weight space and the top Hessian eigenvalues by Lanczos.

```python notest
from hepjax import robust, train

x_adv = robust.pgd(loss_fn, model, x, y, eps=0.007, step=0.002, steps=10)
loss = robust.adversarial_loss(loss_fn, robust.PGD())          # fit's loss_fn
data = robust.attack_schedule(batches, optax.linear_schedule(0.0, 0.5, 1000))
result = train.fit(model, loss, optax.adam(1e-3), data, steps=2000, key=key)
result = train.fit(model, plain_loss, robust.sam(optax.adam(1e-3)), batches, steps=4000, key=key)
eigs = robust.hessian_eigenvalues(key, lambda m: loss_fn(m, x, y), model, k=5)
curve = robust.ascent_curve(lambda m: loss_fn(m, x, y), model)  # curve.losses
```

- **Feature space**: :func:`fgsm`, :func:`pgd`; strategies :class:`FGSM`,
  :class:`PGD` for :func:`adversarial_loss` and :func:`attack_schedule`.
- **Weight space**: :func:`sam`, :func:`sparse_sam` (Optax transformations).
- **Sharpness**: :func:`ascent_curve` (:class:`AscentResult`),
  :func:`hessian_eigenvalues`, :func:`subset_hessian_eigenvalues` (the last
  layer), :func:`input_hessian_eigenvalues`.
"""

from ._attacks import FGSM as FGSM
from ._attacks import PGD as PGD
from ._attacks import AbstractAttack as AbstractAttack
from ._attacks import adversarial_loss as adversarial_loss
from ._attacks import attack_schedule as attack_schedule
from ._attacks import fgsm as fgsm
from ._attacks import pgd as pgd
from ._sam import sam as sam
from ._sam import sparse_sam as sparse_sam
from ._sharpness import AscentResult as AscentResult
from ._sharpness import ascent_curve as ascent_curve
from ._sharpness import hessian_eigenvalues as hessian_eigenvalues
from ._sharpness import input_hessian_eigenvalues as input_hessian_eigenvalues
from ._sharpness import subset_hessian_eigenvalues as subset_hessian_eigenvalues

__all__ = [
    "FGSM",
    "PGD",
    "AbstractAttack",
    "AscentResult",
    "adversarial_loss",
    "ascent_curve",
    "attack_schedule",
    "fgsm",
    "hessian_eigenvalues",
    "input_hessian_eigenvalues",
    "pgd",
    "sam",
    "sparse_sam",
    "subset_hessian_eigenvalues",
]
