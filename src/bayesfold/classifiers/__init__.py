"""Classifiers for the two steps of the iteration.

Every classifier follows :class:`Classifier`: ``fit(X, y, *, sample_weight)``
with 1-D weights or 2-D weights (one independent model per replica), and
``predict_logit(X)``, the log-odds of class 1.

- :class:`MLPClassifier`: the network of the Bayesian classifier, fitted by
  maximum likelihood (classical OmniFold);
- :class:`GBDTClassifier`: gradient-boosted trees, a different family.
"""

from bayesfold.classifiers.base import Classifier
from bayesfold.classifiers.gbdt import GBDTClassifier
from bayesfold.classifiers.mlp import MLPClassifier

# The Bayesian network, bayesfold.classifiers.bayesian.BayesianMLPClassifier,
# is exported here once that module exists.

__all__ = ["Classifier", "GBDTClassifier", "MLPClassifier"]
