"""Unfolding methods by name: one entry point for the API and the CLI.

Each name maps to the OmniFold iteration with a classifier and a way of making
draws, or to a binned classical method (which needs ``bins``, the truth bin
edges). All return an :class:`~bayesfold.result.UnfoldingResult`.

========== ===================================================================
name       what it runs
========== ===================================================================
point      OmniFold with the point-estimate MLP (one draw)
gbdt       OmniFold with gradient-boosted trees (one draw)
ensemble   point MLP, ``replicas`` draws from independent initialisations
bootstrap  point MLP, ``replicas`` draws from Poisson bootstraps of both samples
bayesian   Bayesian MLP (PyMC, ADVI); ``replicas`` posterior chains through
           the iterations, each feeding the next step with a posterior draw
ibu        iterative Bayesian unfolding in ``bins``; ``replicas`` draws from
           its propagated covariance (:mod:`bayesfold.ibu`)
fbu        Fully Bayesian Unfolding in ``bins``, NUTS; ``replicas`` posterior
           draws (:mod:`bayesfold.fbu`)
========== ===================================================================
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from bayesfold.exceptions import ConfigurationError
from bayesfold.omnifold import omnifold
from bayesfold.result import UnfoldingResult
from bayesfold.samples import DataSample, SimulationSample

__all__ = ["BINNED_METHODS", "DEFAULT_DRAWS", "METHODS", "unfold"]

#: Draws of the resampling methods unless ``replicas`` is given.
DEFAULT_DRAWS = 20

#: Replicas of the Bayesian method unless ``replicas`` is given: posterior
#: chains through the iterations, fitted as one vectorised model.
DEFAULT_BAYESIAN_REPLICAS = 10
#: Posterior draws per replica at the last step 1: 10 x 10 = 100 weight draws.
DEFAULT_BAYESIAN_FINAL_DRAWS = 10


def _point() -> dict[str, Any]:
    """OmniFold with the point-estimate MLP (one draw)."""
    from bayesfold.classifiers.mlp import MLPClassifier

    return {"classifier": MLPClassifier()}


def _gbdt() -> dict[str, Any]:
    """OmniFold with gradient-boosted trees (one draw)."""
    from bayesfold.classifiers.gbdt import GBDTClassifier

    return {"classifier": GBDTClassifier()}


def _ensemble() -> dict[str, Any]:
    """Point MLP; draws from independent initialisations."""
    return {**_point(), "replicas": DEFAULT_DRAWS}


def _bootstrap() -> dict[str, Any]:
    """Point MLP; draws from Poisson bootstraps of data and simulation."""
    return {**_point(), "replicas": DEFAULT_DRAWS, "bootstrap": "poisson"}


def _bayesian() -> dict[str, Any]:
    """Bayesian MLP (PyMC, mean-field ADVI): replica chains, posterior draws."""
    from bayesfold.classifiers.bayesian import BayesianMLPClassifier

    return {
        "classifier": BayesianMLPClassifier(warm_start=True),
        # Step 2 (and 1b) map weights from one level to the other with the
        # simulation alone; their posterior spread would count the
        # simulation's statistics a second time (docs/validation.md).
        "step2_classifier": BayesianMLPClassifier(warm_start=True, prediction="mean"),
        "replicas": DEFAULT_BAYESIAN_REPLICAS,
        "final_draws": DEFAULT_BAYESIAN_FINAL_DRAWS,
        "reference": "previous",
        "data_total": "posterior",
    }


def _ibu() -> dict[str, Any]:
    """Iterative Bayesian unfolding (binned); draws from its propagated errors."""
    from bayesfold.ibu import unfold_ibu

    return {"runner": unfold_ibu}


def _fbu() -> dict[str, Any]:
    """Fully Bayesian Unfolding (binned, PyMC NUTS); posterior draws."""
    from bayesfold.fbu import unfold_fbu

    return {"runner": unfold_fbu}


#: Default settings of each method, as keyword arguments of ``omnifold`` (or,
#: under ``"runner"``, of the function that replaces it).
METHODS: dict[str, Callable[[], dict[str, Any]]] = {
    "point": _point,
    "gbdt": _gbdt,
    "ensemble": _ensemble,
    "bootstrap": _bootstrap,
    "bayesian": _bayesian,
    "ibu": _ibu,
    "fbu": _fbu,
}

#: Methods that unfold histograms: they need ``bins``, the truth bin edges.
BINNED_METHODS = frozenset({"ibu", "fbu"})


def unfold(
    simulation: SimulationSample,
    data: DataSample,
    *,
    method: str = "point",
    iterations: int = 4,
    random_state: int | np.random.Generator | None = None,
    progress: bool = True,
    **options: Any,
) -> UnfoldingResult:
    """Unfold with a method named in :data:`METHODS`.

    Extra keyword arguments go to :func:`~bayesfold.omnifold.omnifold` (for
    the binned methods to :func:`~bayesfold.ibu.unfold_ibu` or
    :func:`~bayesfold.fbu.unfold_fbu`, which need ``bins``) and override the
    method's own settings (for example ``replicas=50``).
    """
    if method not in METHODS:
        raise ConfigurationError(
            f"unknown method {method!r}; choose one of {', '.join(METHODS)}."
        )
    settings = {**METHODS[method](), **options}
    runner = settings.pop("runner", omnifold)
    result = runner(
        simulation,
        data,
        iterations=iterations,
        random_state=random_state,
        progress=progress,
        **settings,
    )
    # The result carries the name the user chose; the runner's own description
    # (classifier, resampling) stays in the metadata.
    metadata = {**result.metadata, "runner_method": result.method}
    return dataclasses.replace(result, method=method, metadata=metadata)
