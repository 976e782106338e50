"""What to report: an observable of the simulated events and its bins."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from bayesfold.exceptions import ConfigurationError

__all__ = ["ObservableSpec"]


@dataclass(frozen=True)
class ObservableSpec:
    """An observable to histogram and its bin edges.

    Attributes
    ----------
    name : str
        Short identifier, used in file names, table names and keys.
    values : int or callable
        Column index of the simulation's ``gen`` array, or a function of the
        ``gen`` array giving one value per event (as
        :meth:`bayesfold.result.UnfoldingResult.observable` accepts).
    edges : ndarray
        Increasing bin edges.
    label : str
        Axis label for plots and tables; the name when empty.
    """

    name: str
    values: int | Callable[[NDArray[np.float64]], NDArray[np.float64]]
    edges: NDArray[np.float64]
    label: str = ""

    def __post_init__(self) -> None:
        edges = np.asarray(self.edges, dtype=np.float64)
        if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0):
            raise ConfigurationError(
                f"observable {self.name!r}: bin edges must be at least two strictly "
                f"increasing numbers; got {edges.tolist()}."
            )
        object.__setattr__(self, "edges", edges)
        if not self.label:
            object.__setattr__(self, "label", self.name)
