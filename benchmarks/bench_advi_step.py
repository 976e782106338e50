"""Cost of one ADVI step of the Bayesian classifier against one point-estimate step.

For each backend, data type and number of replicas, a fresh Python process
compiles

* the ADVI step of :class:`bayesfold.classifiers.bayesian.BayesianMLPClassifier`
  (one Monte Carlo draw, closed-form KL, Adam on ``mu`` and ``rho``, window
  sums), exactly as ``fit`` runs it, minibatch index update included;
* a point-estimate step of the same network and minibatch: weighted binary
  cross-entropy of :func:`bayesfold.classifiers._network.forward`, Adam
  (``pm.adam``) on the weights,

and prints the median over repeats of the milliseconds per step, side by side,
with the compile time (first call included: Numba compiles then).

Backends: ``numba`` and ``c`` as in :mod:`bayesfold._backend`, and
``c-openblas``, the C backend with ``blas__ldflags=-lopenblas`` (needs
libopenblas-dev; a global PyTensor flag, hence one process per backend). With
``--tanh sigmoid`` the hidden activation is computed as 2 sigmoid(2x) - 1, and
with ``--tanh rational`` as a rational approximation that compilers can
vectorise (max error 3e-8), to show what the scalar ``tanh`` costs.

Run with one BLAS thread, as fits do::

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/bench_advi_step.py

Options: ``--hidden 50,50,50 --batch 512 --replicas 1,100 --backends
numba,c,c-openblas --dtypes float32,float64 --steps 50 --repeats 5``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from typing import Any

import numpy as np

FEATURES = 1


def main() -> None:
    args = _parse()
    if args.worker:
        print(json.dumps(_measure(args)))
        return
    rows = []
    for backend in args.backends.split(","):
        for dtype in args.dtypes.split(","):
            for replicas in args.replicas.split(","):
                rows.append(_run_worker(args, backend, dtype, int(replicas)))
    _print_table(args, rows)


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hidden", default="50,50,50")
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--replicas", default="1,100")
    parser.add_argument("--backends", default="numba,c,c-openblas")
    parser.add_argument("--dtypes", default="float32,float64")
    parser.add_argument(
        "--activation",
        default="tanh",
        help="hidden activation of both networks (the Bayesian default is silu)",
    )
    parser.add_argument(
        "--tanh", choices=("scalar", "sigmoid", "rational"), default="scalar"
    )
    parser.add_argument("--steps", type=int, default=50, help="steps per repeat")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--backend", default="numba", help=argparse.SUPPRESS)
    parser.add_argument("--dtype", default="float32", help=argparse.SUPPRESS)
    parser.add_argument("--n-replicas", type=int, default=1, help=argparse.SUPPRESS)
    return parser.parse_args()


def _run_worker(
    args: argparse.Namespace, backend: str, dtype: str, replicas: int
) -> dict[str, Any]:
    command = [
        sys.executable,
        __file__,
        "--worker",
        f"--backend={backend}",
        f"--dtype={dtype}",
        f"--n-replicas={replicas}",
        f"--hidden={args.hidden}",
        f"--batch={args.batch}",
        f"--activation={args.activation}",
        f"--tanh={args.tanh}",
        f"--steps={args.steps}",
        f"--repeats={args.repeats}",
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {
            "backend": backend,
            "dtype": dtype,
            "replicas": replicas,
            "error": done.stderr.strip().splitlines()[-1:],
        }
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _measure(args: argparse.Namespace) -> dict[str, Any]:
    import warnings

    warnings.simplefilter("ignore")
    import pytensor

    backend = args.backend
    if backend == "c-openblas":
        pytensor.config.blas__ldflags = "-lopenblas"
        backend = "c"
    if args.tanh == "rational":
        _use_rational_tanh()
    elif args.tanh == "sigmoid":
        _use_sigmoid_tanh()

    hidden = tuple(int(k) for k in args.hidden.split(","))
    advi_compile, advi_ms = _advi_step_cost(args, backend, hidden)
    point_compile, point_ms = _point_step_cost(args, backend, hidden)
    return {
        "backend": args.backend,
        "dtype": args.dtype,
        "replicas": args.n_replicas,
        "advi_compile_s": advi_compile,
        "advi_ms": advi_ms,
        "point_compile_s": point_compile,
        "point_ms": point_ms,
    }


def _events(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    rng = np.random.default_rng(0)
    n = 8 * args.batch
    X = rng.normal(size=(n, FEATURES))
    y = rng.random(n) < 0.5
    weights = np.ones((args.n_replicas, n))
    return X, y, weights


def _advi_step_cost(
    args: argparse.Namespace, backend: str, hidden: tuple[int, ...]
) -> tuple[float, float]:
    from bayesfold.classifiers import bayesian

    layout = bayesian._ModelLayout(
        n_features=FEATURES,
        hidden_layers=hidden,
        activation=args.activation,
        n_replicas=args.n_replicas,
        prior_scale=1.0,
        bias_prior_scale=1.0,
        dtype=args.dtype,
        backend=backend,
    )
    start = time.perf_counter()
    model = bayesian._CompiledModel(layout)
    vi = model.variational("advi")
    compile_s = time.perf_counter() - start

    rng = np.random.default_rng(0)
    X, y, weights = _events(args)
    model.set_data(X, y, weights)
    init = bayesian.initial_parameters(
        rng, layout.shapes, layout.n_replicas, layout.activation
    )
    start_point = model.initial_variational("advi", init)
    vi.reset(start_point, bayesian.DEFAULT_LEARNING_RATE, rng)
    batches = bayesian._minibatches(X.shape[0], args.batch, rng)

    def step() -> None:
        index = next(batches)
        if index is not None:
            model.set_batch(index)
        vi.step()

    return compile_s, _median_ms(step, args)


def _point_step_cost(
    args: argparse.Namespace, backend: str, hidden: tuple[int, ...]
) -> tuple[float, float]:
    import pymc as pm
    import pytensor
    import pytensor.tensor as pt

    from bayesfold._backend import compile_mode
    from bayesfold.classifiers import _network

    rng = np.random.default_rng(0)
    X, y, weights = _events(args)
    shapes = _network.layer_shapes(FEATURES, hidden)
    init = _network.initial_parameters(
        rng, shapes, args.n_replicas, args.activation, args.dtype
    )

    start = time.perf_counter()
    with pytensor.config.change_flags(floatX=args.dtype):
        params = [pytensor.shared(p) for p in init]
        X_all = pytensor.shared(X.astype(args.dtype))
        y_all = pytensor.shared(y.astype(args.dtype))
        w_all = pytensor.shared(weights.astype(args.dtype))
        index = pytensor.shared(np.arange(args.batch, dtype=np.int64))
        logits = _network.forward(X_all[index], params, args.activation)
        log_p = -pt.softplus((1 - 2 * y_all[index])[None, :] * logits)
        loss = -(w_all[:, index] * log_p).mean(axis=1).sum()
        updates = pm.adam(loss, params, learning_rate=1e-3)
        function = pytensor.function(
            [], loss, updates=updates, mode=compile_mode(backend)
        )
        function()
    compile_s = time.perf_counter() - start

    from bayesfold.classifiers.bayesian import _minibatches

    batches = _minibatches(X.shape[0], args.batch, rng)

    def step() -> None:
        batch = next(batches)
        if batch is not None:
            index.set_value(batch, borrow=True)
        function()

    return compile_s, _median_ms(step, args)


def _median_ms(step: Any, args: argparse.Namespace) -> float:
    for _ in range(5):
        step()
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        for _ in range(args.steps):
            step()
        times.append((time.perf_counter() - start) / args.steps)
    return 1e3 * float(np.median(times))


def _use_rational_tanh() -> None:
    """Swap the hidden tanh for a vectorisable rational approximation."""
    import pytensor.tensor as pt

    from bayesfold.classifiers import _network

    # Coefficients of Eigen's float tanh (p of degree 13, q of degree 6).
    alpha = [
        -2.76076847742355e-16,
        2.00018790482477e-13,
        -8.60467152213735e-11,
        5.12229709037114e-08,
        1.48572235717979e-05,
        6.37261928875436e-04,
        4.89352455891786e-03,
    ]
    beta = [1.19825839466702e-06, 1.18534705686654e-04, 2.26843463243900e-03]
    beta_last = 4.89352518554385e-03

    def rational_tanh(x: Any) -> Any:
        c = pt.clip(x, -9.0, 9.0)
        x2 = c * c
        p = alpha[0]
        for a in alpha[1:]:
            p = p * x2 + a
        q = beta[0]
        for b in [*beta[1:], beta_last]:
            q = q * x2 + b
        return c * p / q

    _network.ACTIVATIONS["tanh"] = rational_tanh


def _use_sigmoid_tanh() -> None:
    """Swap the hidden tanh for the identity tanh(x) = 2 sigmoid(2x) - 1."""
    import pytensor.tensor as pt

    from bayesfold.classifiers import _network

    _network.ACTIVATIONS["tanh"] = lambda x: 2 * pt.sigmoid(2 * x) - 1


def _print_table(args: argparse.Namespace, rows: list[dict[str, Any]]) -> None:
    header = (
        f"ADVI step vs point step: hidden {args.hidden}, batch {args.batch}, "
        f"{args.activation}"
        + (f" ({args.tanh})" if args.activation == "tanh" else "")
        + f", median of {args.repeats} x {args.steps} steps"
    )
    print(header)
    print(
        f"{'backend':<11} {'dtype':<8} {'R':>4} {'ADVI ms':>9} {'point ms':>9} "
        f"{'ratio':>6} {'ADVI compile s':>15} {'point compile s':>16}"
    )
    for row in rows:
        if "error" in row:
            print(
                f"{row['backend']:<11} {row['dtype']:<8} {row['replicas']:>4} "
                f"failed: {row['error']}"
            )
            continue
        print(
            f"{row['backend']:<11} {row['dtype']:<8} {row['replicas']:>4} "
            f"{row['advi_ms']:>9.2f} {row['point_ms']:>9.2f} "
            f"{row['advi_ms'] / row['point_ms']:>6.2f} "
            f"{row['advi_compile_s']:>15.1f} {row['point_compile_s']:>16.1f}"
        )


if __name__ == "__main__":
    main()
