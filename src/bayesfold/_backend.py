"""How bayesfold compiles its PyTensor graphs.

The cost of a training step on the small matrices of a step classifier is set
by how PyTensor compiles it, not by the arithmetic (DESIGN, "Scale"). The
choice is made per compiled function, through the ``mode`` argument of
``pytensor.function``, so that importing bayesfold changes no global PyTensor
setting and a user's own ``PYTENSOR_FLAGS`` keep working for everything else.

Backends
--------
``"numba"``
    PyTensor's Numba linker: elementwise loops fused and compiled by LLVM,
    matrix products through the BLAS that SciPy ships. Needs no system BLAS and
    no C compiler, and is the fastest of those measured here
    (``benchmarks/bench_advi_step.py``).
``"c"``
    PyTensor's C virtual machine. Without ``blas__ldflags`` (the usual case for
    a pip install) its matrix products fall back to NumPy; with them, to the
    linked BLAS. Both were measured no faster than ``"numba"``.
``"auto"``
    ``"numba"``, the default.

One BLAS thread per process is the fast layout on a few cores, with the other
cores doing independent fits; :func:`blas_threads` limits the BLAS thread
pools for the duration of a fit, through threadpoolctl, and restores them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from pytensor.compile.mode import Mode, get_mode

from bayesfold.exceptions import ConfigurationError

__all__ = [
    "BACKENDS",
    "DEFAULT_BACKEND",
    "blas_threads",
    "check_backend",
    "compile_mode",
]

BACKENDS = ("auto", "numba", "c")
DEFAULT_BACKEND = "auto"

_MODE_NAMES = {"auto": "NUMBA", "numba": "NUMBA", "c": "CVM"}


def check_backend(backend: str) -> None:
    """Raise :class:`ConfigurationError` for a backend name we do not know."""
    if backend not in BACKENDS:
        raise ConfigurationError(f"backend must be one of {BACKENDS}; got {backend!r}.")


def compile_mode(backend: str) -> Mode:
    """The PyTensor compilation mode of ``backend``.

    Parameters
    ----------
    backend : {"auto", "numba", "c"}

    Returns
    -------
    pytensor.compile.mode.Mode
        To pass as ``mode=`` when compiling.
    """
    check_backend(backend)
    return get_mode(_MODE_NAMES[backend])


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
