"""Classifiers for the two steps of the iteration.

Every classifier follows :class:`Classifier`: ``fit(X, y, *, sample_weight)``
with 1-D weights or 2-D weights (one independent model per replica), and
``predict_logit(X)``, the log-odds of class 1.

- :class:`MLPClassifier`: the network of the Bayesian classifier, fitted by
  maximum likelihood (classical OmniFold);
- :class:`GBDTClassifier`: gradient-boosted trees, a different family;
- :class:`BayesianMLPClassifier`: the same network with a posterior over its
  weights (PyMC, mean-field ADVI by default).
"""

from typing import Any

from bayesfold.classifiers.base import Classifier
from bayesfold.classifiers.gbdt import GBDTClassifier
from bayesfold.classifiers.mlp import MLPClassifier


def __getattr__(name: str) -> Any:
    # PyMC takes seconds to import: load the Bayesian classifier on first use.
    if name == "BayesianMLPClassifier":
        from bayesfold.classifiers.bayesian import BayesianMLPClassifier

        return BayesianMLPClassifier
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["BayesianMLPClassifier", "Classifier", "GBDTClassifier", "MLPClassifier"]
