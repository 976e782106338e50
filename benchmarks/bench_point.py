"""Point-estimate OmniFold: time the shifted-Gaussian toy and 10^5 events.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/bench_point.py [--repeats 3]
        [--omnifold-python /path/to/venv/bin/python]

With ``--omnifold-python`` (an environment with ``omnifold`` and TensorFlow), the
`omnifold` package from PyPI runs the same toy in the same session, and the ratio
of the two medians is printed. Results go in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bayesfold import unfold
from bayesfold.metrics import triangular_discriminator
from bayesfold.toys import ShiftedGaussianToy

BINS = np.linspace(-10.0, 12.0, 23)


def time_bayesfold(
    events: int, iterations: int, seed: int, method: str = "point"
) -> tuple[float, float, int]:
    """Seconds, triangular x1000 against truth, and draws of one unfolding."""
    toy = ShiftedGaussianToy()
    rng = np.random.default_rng(seed)
    simulation = toy.simulate(events, rng)
    measured = toy.measure(events, rng)
    start = time.perf_counter()
    result = unfold(
        simulation,
        measured.data,
        method=method,
        iterations=iterations,
        random_state=seed,
        progress=False,
    )
    seconds = time.perf_counter() - start
    truth = toy.expected_truth(BINS, measured.n_generated)
    unfolded = result.histogram(0, BINS).values()
    triangular = 1000 * triangular_discriminator(unfolded, truth)
    return seconds, triangular, result.n_draws


def time_reference(python: str, events: int, iterations: int, seed: int) -> float:
    script = Path(__file__).with_name("omnifold_reference.py")
    output = subprocess.run(
        [python, str(script), str(events), str(iterations), str(seed)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return float(json.loads(output.strip().splitlines()[-1])["seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--omnifold-python", default=None)
    parser.add_argument("--skip-large", action="store_true")
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {platform.processor() or '?'}, "
        f"python {sys.version.split()[0]}"
    )

    runs = [time_bayesfold(1000, 6, seed) for seed in range(args.repeats)]
    ours = statistics.median(seconds for seconds, _, _ in runs)
    print(
        f"bayesfold point, 1000 events, 6 iterations: median {ours:.1f} s "
        f"over {args.repeats} seeds; triangular x1000 vs truth "
        f"{[round(t, 1) for _, t, _ in runs]}"
    )

    if args.omnifold_python:
        theirs = statistics.median(
            time_reference(args.omnifold_python, 1000, 6, seed)
            for seed in range(args.repeats)
        )
        print(
            f"omnifold (PyPI, TensorFlow), same toy: median {theirs:.1f} s; "
            f"ratio omnifold / bayesfold = {theirs / ours:.1f}"
        )

    if not args.skip_large:
        seconds, triangular, _ = time_bayesfold(100_000, 3, 0)
        print(
            f"bayesfold point, 10^5 events, 3 iterations: {seconds:.1f} s; "
            f"triangular x1000 vs truth {triangular:.2f}"
        )


if __name__ == "__main__":
    main()
