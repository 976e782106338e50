"""Time the `omnifold` package from PyPI (TensorFlow) on the shifted-Gaussian toy.

Runs in its own environment (TensorFlow does not share ours): the benchmark
calls it as ``PYTHON benchmarks/omnifold_reference.py EVENTS ITERATIONS SEED`` and
reads one JSON line from stdout. Same toy, same 3 x 50 network, the package's
default training settings.
"""

import contextlib
import io
import json
import os
import sys
import tempfile
import time

import numpy as np


def main() -> None:
    events, iterations, seed = (int(arg) for arg in sys.argv[1:4])
    rng = np.random.default_rng(seed)
    gen = rng.normal(0.3, 2.5, events)
    reco = gen + rng.normal(-2.5, 0.2, events)
    truth = rng.normal(1.2, 3.0, events)
    data = truth + rng.normal(-2.5, 0.2, events)

    with contextlib.redirect_stdout(io.StringIO()):
        import keras
        from omnifold import DataLoader, MultiFold
        from omnifold.net import MLP, weighted_binary_crossentropy

        # The package saves its best model and reloads it by the loss's name;
        # under Keras 3 the loss must be registered for that to work.
        keras.saving.get_custom_objects()["weighted_binary_crossentropy"] = (
            weighted_binary_crossentropy
        )

        simulation = DataLoader(reco=reco[:, None], gen=gen[:, None], normalize=True)
        measured = DataLoader(reco=data[:, None], normalize=True)
        folder = tempfile.mkdtemp()
        start = time.perf_counter()
        unfolding = MultiFold(
            "bench",
            MLP(1, layer_sizes=[50, 50, 50], activation="relu"),
            MLP(1, layer_sizes=[50, 50, 50], activation="relu"),
            measured,
            simulation,
            niter=iterations,
            weights_folder=os.path.join(folder, "weights"),
            log_folder=folder,
        )
        unfolding.Unfold()
        seconds = time.perf_counter() - start
        weights = unfolding.reweight(gen[:, None], unfolding.model2, batch_size=1000)
    print(
        json.dumps(
            {
                "seconds": seconds,
                "unfolded_mean": float(np.average(gen, weights=weights)),
            }
        )
    )


if __name__ == "__main__":
    main()
