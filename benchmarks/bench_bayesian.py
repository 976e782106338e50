"""Bayesian against point OmniFold, side by side: the toy and 10^5 events.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/bench_bayesian.py [--repeats 3]
        [--skip-large] [--omnifold-python /path/to/venv/bin/python]

Prints, measured in this one run:

* the shifted-Gaussian toy (1000 + 1000 events, 6 iterations) unfolded by the
  default Bayesian method (100 weight draws) and by point OmniFold, medians
  over seeds, and their ratio; with ``--omnifold-python``, also the `omnifold`
  package from PyPI on the same toy (the 73 s to beat);
* 10^5 + 10^5 events with 3 iterations, both methods, and their ratio;
* the cost of an ADVI step against a point-estimate step of the default
  Bayesian network and batch (``bench_advi_step.py``, one process per backend).

Each unfolding runs in its own process after one warm-up unfolding, so that the
figures are those of a warm compilation cache, as on a user's second run. The
warm-up times are printed too. Results go in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent


def unfold_once(method: str, events: int, iterations: int, seed: int) -> None:
    """Worker: unfold the toy once and print seconds, draws and accuracy."""
    from bench_point import time_bayesfold

    seconds, triangular, draws = time_bayesfold(events, iterations, seed, method)
    print(json.dumps({"seconds": seconds, "draws": draws, "triangular": triangular}))


def run(method: str, events: int, iterations: int, seed: int) -> dict[str, float]:
    output = subprocess.run(
        [
            sys.executable,
            __file__,
            "--worker",
            method,
            str(events),
            str(iterations),
            str(seed),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return dict(json.loads(output.strip().splitlines()[-1]))


def median_runs(
    method: str, events: int, iterations: int, seeds: range
) -> tuple[float, list[dict[str, float]]]:
    runs = [run(method, events, iterations, seed) for seed in seeds]
    return statistics.median(r["seconds"] for r in runs), runs


def reference(python: str, seeds: range) -> float:
    script = HERE / "omnifold_reference.py"
    times = []
    for seed in seeds:
        output = subprocess.run(
            [python, str(script), "1000", "6", str(seed)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        times.append(float(json.loads(output.strip().splitlines()[-1])["seconds"]))
    return statistics.median(times)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        method, events, iterations, seed = sys.argv[2:6]
        unfold_once(method, int(events), int(iterations), int(seed))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-large", action="store_true")
    parser.add_argument("--omnifold-python", default=None)
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {platform.processor() or '?'}, "
        f"python {sys.version.split()[0]}"
    )
    seeds = range(args.repeats)
    for method in ("bayesian", "point"):
        warm = run(method, 1000, 6, 99)
        print(f"warm-up {method}: {warm['seconds']:.1f} s (compiles, fills caches)")

    toy: dict[str, float] = {}
    for method in ("bayesian", "point"):
        toy[method], runs = median_runs(method, 1000, 6, seeds)
        print(
            f"toy, 1000 + 1000 events, 6 iterations, {method}: median "
            f"{toy[method]:.1f} s over {len(runs)} seeds, {runs[0]['draws']:.0f} "
            f"draws, triangular x1000 vs truth "
            f"{[round(r['triangular'], 1) for r in runs]}"
        )
    print(f"  ratio bayesian / point: {toy['bayesian'] / toy['point']:.1f}")
    if args.omnifold_python:
        theirs = reference(args.omnifold_python, seeds)
        print(
            f"  omnifold (PyPI) point estimate, same toy: median {theirs:.1f} s; "
            f"bayesfold bayesian is {theirs / toy['bayesian']:.1f}x faster"
        )

    if not args.skip_large:
        large: dict[str, float] = {}
        for method in ("bayesian", "point"):
            result = run(method, 100_000, 3, 0)
            large[method] = result["seconds"]
            print(
                f"10^5 + 10^5 events, 3 iterations, {method}: "
                f"{result['seconds']:.1f} s, {result['draws']:.0f} draws, "
                f"triangular x1000 vs truth {result['triangular']:.2f}"
            )
        print(f"  ratio bayesian / point: {large['bayesian'] / large['point']:.1f}")

    step = subprocess.run(
        [
            sys.executable,
            str(HERE / "bench_advi_step.py"),
            "--hidden",
            "16",
            "--activation",
            "silu",
            "--replicas",
            "10",
            "--backends",
            "jax,numba",
            "--dtypes",
            "float32",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    print(step.strip())


if __name__ == "__main__":
    main()
