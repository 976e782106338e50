"""The multilayer perceptron shared by the point and the Bayesian classifiers.

One symbolic forward pass, written once in PyTensor, with a leading replica axis
on every weight tensor so that R independent networks evaluate in one graph:

    h_0 = x                                  (n, d)
    h_l = act(h_{l-1} @ W_l + b_l)           (R, n, k_l)
    logit = h_{L-1} @ W_L + b_L              (R, n)

Initial weights and prior scales follow the fan-in: ``W_l ~ N(0, gain^2 / k_{l-1})``
so that the pre-activations have unit scale at any width.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pytensor.tensor as pt
from numpy.typing import NDArray

from bayesfold.exceptions import ConfigurationError

__all__ = [
    "ACTIVATIONS",
    "Standardizer",
    "forward",
    "initial_parameters",
    "layer_shapes",
]

ACTIVATIONS: dict[str, Callable[[pt.TensorVariable], pt.TensorVariable]] = {
    "tanh": pt.tanh,
    "relu": lambda x: pt.maximum(x, 0.0),
    "elu": lambda x: pt.switch(x > 0, x, pt.expm1(x)),
    "softplus": pt.softplus,
    "silu": lambda x: x * pt.sigmoid(x),
}

# Fan-in gain per activation: 1 keeps tanh near its linear range, sqrt(2)
# compensates the half of the inputs that a rectifier zeroes (He et al. 2015).
FAN_IN_GAIN: dict[str, float] = {
    "tanh": 1.0,
    "relu": float(np.sqrt(2.0)),
    "elu": float(np.sqrt(2.0)),
    "softplus": 1.0,
    "silu": float(np.sqrt(2.0)),
}


def check_architecture(hidden_layers: Sequence[int], activation: str) -> None:
    """Raise :class:`ConfigurationError` for widths or an activation we lack."""
    if activation not in ACTIVATIONS:
        raise ConfigurationError(
            f"activation must be one of {sorted(ACTIVATIONS)}; got {activation!r}."
        )
    widths = list(hidden_layers)
    if any(int(k) != k or k < 1 for k in widths):
        raise ConfigurationError(
            f"hidden_layers must be positive integers; got {widths!r}."
        )


def layer_shapes(
    n_features: int, hidden_layers: Sequence[int]
) -> list[tuple[int, int]]:
    """(fan_in, fan_out) of every dense layer, the output layer of width 1 last."""
    sizes = [n_features, *[int(k) for k in hidden_layers], 1]
    return list(itertools.pairwise(sizes))


def initial_parameters(
    rng: np.random.Generator,
    shapes: Sequence[tuple[int, int]],
    n_replicas: int,
    activation: str,
    dtype: str = "float64",
    *,
    zero_output: bool = True,
) -> list[NDArray[np.floating]]:
    """Fan-in scaled weights and zero biases: [W_1, b_1, ..., W_L, b_L].

    With ``zero_output`` (default) the output layer starts at zero, so the
    initial logit is 0 everywhere: a likelihood ratio of exactly 1. A random
    output layer would start from a random function of O(1) amplitude, and an
    early-stopped fit would keep part of it as spurious structure in the
    weights (seen as shifts of several standard errors in unfolded means).
    """
    gain = FAN_IN_GAIN[activation]
    params: list[NDArray[np.floating]] = []
    for layer, (fan_in, fan_out) in enumerate(shapes):
        is_output = layer == len(shapes) - 1
        scale = 0.0 if zero_output and is_output else gain / np.sqrt(fan_in)
        params.append(
            (scale * rng.standard_normal((n_replicas, fan_in, fan_out))).astype(dtype)
        )
        params.append(np.zeros((n_replicas, fan_out), dtype=dtype))
    return params


def forward(
    X: pt.TensorVariable,
    params: Sequence[pt.TensorVariable],
    activation: str,
) -> pt.TensorVariable:
    """Logits of shape (R, n) for inputs ``X`` of shape (n, d).

    ``params`` alternates weights (R, fan_in, fan_out) and biases (R, fan_out).
    """
    act = ACTIVATIONS[activation]
    n_layers = len(params) // 2
    h = X[None, :, :]
    for layer in range(n_layers):
        W, b = params[2 * layer], params[2 * layer + 1]
        h = pt.matmul(h, W) + b[:, None, :]  # type: ignore[arg-type]
        if layer < n_layers - 1:
            h = act(h)
    return h[:, :, 0]


@dataclass(frozen=True)
class Standardizer:
    """Shift and scale the features to zero mean and unit variance."""

    mean: NDArray[np.float64]
    scale: NDArray[np.float64]

    @classmethod
    def fit(cls, X: NDArray[np.float64]) -> Standardizer:
        mean = X.mean(axis=0)
        scale = X.std(axis=0)
        return cls(mean, np.where(scale > 0, scale, 1.0))

    def transform(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        return (X - self.mean) / self.scale
