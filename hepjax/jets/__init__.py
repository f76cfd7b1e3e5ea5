"""Layer 4: jet foundation models: masked pre-training, tokenisers and fine-tuning.

Built on :class:`hepjax.nn.ParticleTransformer` (or any backbone with
``embed(x, four_momenta, mask) -> (particles, jet)``) and the one training
loop :func:`hepjax.train.fit`:

- data: :class:`Jets` and :class:`Events` (padded sets with masks, checked once);
- tokenisers: :class:`VQVAETokenizer` and :class:`KMeansTokenizer`;
- pre-training: :func:`pretrain` with :class:`MaskedTokens` (masked particle
  modelling, arXiv:2401.13537) or :class:`MaskedFeatures` (the tokeniser-free
  variant, arXiv:2409.12589);
- fine-tuning: :func:`finetune` with ``strategy="frozen"|"finetune"|"scratch"``
  and the heads :class:`LinearHead`, :class:`MLPHead`,
  :class:`ClassAttentionHead` and :class:`EventHead` (arXiv:2401.13536);
- samples: :func:`jetclass_jets` (Pythia 8 + FastJet, cached; a second domain
  with :data:`SHOWER_VARIATION`) and :func:`hh4b_events` (X->HH->4b against
  QCD, events of large-radius jets with their constituents);
- checkpoints: :func:`save_backbone`, :func:`load_backbone` (Orbax);
- evaluation: :func:`evaluate`, :func:`learning_curve`, :func:`plot_learning_curves`.
"""

from ._checkpoint import load_backbone as load_backbone
from ._checkpoint import save_backbone as save_backbone
from ._data import Events as Events
from ._data import Jets as Jets
from ._evaluate import EvaluationResult as EvaluationResult
from ._evaluate import LearningCurveResult as LearningCurveResult
from ._evaluate import evaluate as evaluate
from ._evaluate import learning_curve as learning_curve
from ._evaluate import plot_learning_curves as plot_learning_curves
from ._finetune import ClassAttentionHead as ClassAttentionHead
from ._finetune import EventClassifier as EventClassifier
from ._finetune import EventHead as EventHead
from ._finetune import FinetuneResult as FinetuneResult
from ._finetune import JetClassifier as JetClassifier
from ._finetune import LinearHead as LinearHead
from ._finetune import MLPHead as MLPHead
from ._finetune import finetune as finetune
from ._pretrain import MaskedFeatures as MaskedFeatures
from ._pretrain import MaskedModel as MaskedModel
from ._pretrain import MaskedTokens as MaskedTokens
from ._pretrain import PretrainResult as PretrainResult
from ._pretrain import choose_masked as choose_masked
from ._pretrain import masked_accuracy as masked_accuracy
from ._pretrain import pretrain as pretrain
from ._samples import SHOWER_VARIATION as SHOWER_VARIATION
from ._samples import hh4b_events as hh4b_events
from ._samples import jetclass_jets as jetclass_jets
from ._tokenizers import KMeansTokenizer as KMeansTokenizer
from ._tokenizers import VQVAETokenizer as VQVAETokenizer
from ._tokenizers import kmeans as kmeans

__all__ = [
    "SHOWER_VARIATION",
    "ClassAttentionHead",
    "EvaluationResult",
    "EventClassifier",
    "EventHead",
    "Events",
    "FinetuneResult",
    "JetClassifier",
    "Jets",
    "KMeansTokenizer",
    "LearningCurveResult",
    "LinearHead",
    "MLPHead",
    "MaskedFeatures",
    "MaskedModel",
    "MaskedTokens",
    "PretrainResult",
    "VQVAETokenizer",
    "choose_masked",
    "evaluate",
    "finetune",
    "hh4b_events",
    "jetclass_jets",
    "kmeans",
    "learning_curve",
    "load_backbone",
    "masked_accuracy",
    "plot_learning_curves",
    "pretrain",
    "save_backbone",
]
