"""bayesfold: OmniFold unfolding with Bayesian neural networks in PyMC.

The core API works on NumPy arrays::

    from bayesfold import SimulationSample, DataSample, unfold
    result = unfold(SimulationSample(gen, reco), DataSample(data), method="point")
    result.histogram(0, bins)

See :mod:`bayesfold.omnifold` for the iteration and :mod:`bayesfold.methods` for
the named methods.
"""

from bayesfold._version import __version__
from bayesfold.exceptions import BayesfoldError, BayesfoldWarning
from bayesfold.methods import METHODS, unfold
from bayesfold.omnifold import omnifold
from bayesfold.result import StepDiagnostics, UnfoldingResult
from bayesfold.samples import DataSample, SimulationSample

__all__ = [
    "METHODS",
    "BayesfoldError",
    "BayesfoldWarning",
    "DataSample",
    "SimulationSample",
    "StepDiagnostics",
    "UnfoldingResult",
    "__version__",
    "omnifold",
    "unfold",
]
