"""bayesfold: OmniFold unfolding with Bayesian neural networks in PyMC."""

from bayesfold._version import __version__

__all__ = ["__version__"]
