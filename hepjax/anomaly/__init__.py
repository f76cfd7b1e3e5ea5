r"""Layer 4: weakly supervised resonance search (CATHODE, TRANSIT, Drapes with CWoLa).

A bump hunt in the resonant mass $m$: the events of a signal region (SR) are
compared with a background template learned on the sidebands (SB); a
classifier of SR data against the template (CWoLa) finds a localised signal,
and a cut on it raises the significance by the SIC.

```python notest
from hepjax import anomaly

regions = anomaly.Regions(signal=(3.3, 3.7), sidebands=((3.0, 3.3), (3.7, 4.6)))
template = anomaly.fit_template(key, sb_features, sb_mass, method=anomaly.TRANSIT())
samples = template.sample(key, sr_mass)
scores = anomaly.cwola(key, sr_features, samples, classifier=anomaly.BoostedTrees(), folds=5)
curve = anomaly.sic(scores, is_signal)  # curve.max, curve.at(1000)
```

- **Regions and events**: :class:`Regions`, :class:`Events`, :func:`inject_signal`,
  and the closed-form :func:`gaussian_toy`.
- **Templates** (strategies of :func:`fit_template`): :class:`Idealized`,
  :class:`CATHODE`, :class:`TRANSIT`, :class:`Drapes`; :func:`sample_masses`
  draws SR masses from a KDE.
- **Classifiers** (strategies of :func:`cwola`): :class:`BoostedTrees`
  (scikit-learn, ``pip install 'hepjax[anomaly]'``), :class:`MLPEnsemble`.
- **Metrics**: :func:`sic` (:class:`SICResult`), :func:`closure_auc`,
  :func:`mass_sculpting`, :func:`plot_sic`.
"""

from ._classifiers import AbstractClassifier as AbstractClassifier
from ._classifiers import BoostedTrees as BoostedTrees
from ._classifiers import MLPEnsemble as MLPEnsemble
from ._classifiers import cwola as cwola
from ._drapes import Drapes as Drapes
from ._drapes import DrapesTemplate as DrapesTemplate
from ._metrics import ClosureResult as ClosureResult
from ._metrics import MassSculptingResult as MassSculptingResult
from ._metrics import SICResult as SICResult
from ._metrics import closure_auc as closure_auc
from ._metrics import mass_sculpting as mass_sculpting
from ._metrics import plot_sic as plot_sic
from ._metrics import sic as sic
from ._regions import Events as Events
from ._regions import Regions as Regions
from ._regions import inject_signal as inject_signal
from ._templates import CATHODE as CATHODE
from ._templates import AbstractTemplate as AbstractTemplate
from ._templates import AbstractTemplateMethod as AbstractTemplateMethod
from ._templates import CATHODETemplate as CATHODETemplate
from ._templates import Idealized as Idealized
from ._templates import IdealizedTemplate as IdealizedTemplate
from ._templates import fit_template as fit_template
from ._templates import sample_masses as sample_masses
from ._toy import gaussian_toy as gaussian_toy
from ._toy import gaussian_toy_log_prob as gaussian_toy_log_prob
from ._transit import TRANSIT as TRANSIT
from ._transit import ConditionalResidualMLP as ConditionalResidualMLP
from ._transit import TRANSITTemplate as TRANSITTemplate

__all__ = [
    "CATHODE",
    "TRANSIT",
    "AbstractClassifier",
    "AbstractTemplate",
    "AbstractTemplateMethod",
    "BoostedTrees",
    "CATHODETemplate",
    "ClosureResult",
    "ConditionalResidualMLP",
    "Drapes",
    "DrapesTemplate",
    "Events",
    "Idealized",
    "IdealizedTemplate",
    "MLPEnsemble",
    "MassSculptingResult",
    "Regions",
    "SICResult",
    "TRANSITTemplate",
    "closure_auc",
    "cwola",
    "fit_template",
    "gaussian_toy",
    "gaussian_toy_log_prob",
    "inject_signal",
    "mass_sculpting",
    "plot_sic",
    "sample_masses",
    "sic",
]
