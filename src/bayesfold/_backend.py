"""How bayesfold compiles its PyTensor graphs.

The cost of a training step on the small matrices of a step classifier is set
by how PyTensor compiles it, not by the arithmetic (DESIGN, "Scale"). The
choice is made per compiled function, through the ``mode`` argument of
``pytensor.function``, so that importing bayesfold changes no global PyTensor
setting and a user's own ``PYTENSOR_FLAGS`` keep working for everything else.

Backends
--------
``"jax"``
    PyTensor's JAX linker: the whole step becomes one XLA program, whose
    elementwise functions (tanh above all) are vectorised. The fastest measured
    here for the Bayesian classifier (``benchmarks/bench_advi_step.py``: an
    ADVI step of 100 replicas of a 16-unit network in 7 ms against 25 ms with
    Numba). Needs the ``jax`` package. The point MLP's graph unpacks its
    parameters with shapes known only at run time, which XLA cannot trace, so
    it does not run on this backend.
``"numba"``
    PyTensor's Numba linker: elementwise loops fused and compiled by LLVM,
    matrix products through the BLAS that SciPy ships. Needs no system BLAS and
    no C compiler.
``"c"``
    PyTensor's C virtual machine. Without ``blas__ldflags`` (the usual case for
    a pip install) its matrix products fall back to NumPy; with them, to the
    linked BLAS. Both were measured no faster than ``"numba"``.
``"auto"``
    ``"jax"`` where the graph supports it and JAX is installed, else
    ``"numba"``.

One BLAS thread per process is the fast layout on a few cores, with the other
cores doing independent fits; :func:`blas_threads` limits the BLAS thread
pools for the duration of a fit, through threadpoolctl, and restores them.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import warnings
from collections.abc import Callable, Iterator
from typing import Any

from pytensor.compile.mode import Mode, get_mode

from bayesfold.exceptions import ConfigurationError

__all__ = [
    "BACKENDS",
    "DEFAULT_BACKEND",
    "blas_threads",
    "check_backend",
    "compile_mode",
    "quiet_jax",
    "resolve_backend",
]

BACKENDS = ("auto", "jax", "numba", "c")
DEFAULT_BACKEND = "auto"

_MODE_NAMES = {"jax": "JAX", "numba": "NUMBA", "c": "CVM"}


def check_backend(backend: str, *, jax: bool = True) -> None:
    """Raise :class:`ConfigurationError` for a backend name we do not know.

    ``jax=False`` marks a graph that the JAX backend cannot compile.
    """
    allowed = BACKENDS if jax else tuple(b for b in BACKENDS if b != "jax")
    if backend not in allowed:
        raise ConfigurationError(f"backend must be one of {allowed}; got {backend!r}.")


def compile_mode(backend: str, *, jax: bool = True) -> Mode:
    """The PyTensor compilation mode of ``backend``.

    Parameters
    ----------
    backend : {"auto", "jax", "numba", "c"}
    jax : bool
        Whether the graph compiles under JAX (see the module notes).

    Returns
    -------
    pytensor.compile.mode.Mode
        To pass as ``mode=`` when compiling.
    """
    return get_mode(_MODE_NAMES[resolve_backend(backend, jax=jax)])


def resolve_backend(backend: str, *, jax: bool = True) -> str:
    """The backend that ``backend`` names (``"auto"`` resolved)."""
    check_backend(backend, jax=jax)
    if backend != "auto":
        return backend
    return "jax" if jax and _jax_available() else "numba"


def quiet_jax(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` (a compiled PyTensor function) without JAX's dtype notices.

    Without its 64-bit mode, which the float32 graphs here do not need, JAX
    narrows the int64 shape vectors of PyTensor's graphs to int32 and says so
    with a UserWarning each time it traces a function (at the first call and
    whenever the shapes of the data change). The narrowing is harmless for
    arrays of fewer than 2**31 elements.
    """

    @functools.wraps(function)
    def call(*args: Any, **kwargs: Any) -> Any:
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", message="Explicitly requested dtype", category=UserWarning
            )
            return function(*args, **kwargs)

    return call


def set_shared(shared: Any, value: Any, backend: str) -> None:
    """Set a shared variable of a graph compiled for ``backend`` (resolved).

    PyTensor keeps shared values as NumPy arrays, and a JAX-compiled function
    converts each NumPy input to a device array on every call: for the event
    arrays of a fit (10^5 events x 100 replicas of weights) that copy cost 15
    times the step itself. Under JAX the value is therefore stored once as a
    JAX array, in the variable's container, where the compiled function reads
    it as is; ``get_value`` still works on it.
    """
    shared.set_value(value)
    if backend == "jax":
        import jax

        shared.container.storage[0] = jax.device_put(shared.container.storage[0])


@functools.cache
def _jax_available() -> bool:
    return importlib.util.find_spec("jax") is not None


@contextlib.contextmanager
def blas_threads(limit: int | None) -> Iterator[None]:
    """Limit the BLAS thread pools to ``limit`` threads inside the block.

    ``None`` leaves them as they are.
    """
    if limit is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=int(limit), user_api="blas"):
        yield
