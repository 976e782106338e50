"""``bayesfold unfold CONFIG``, run as a user runs it: the installed script on files.

The toy of ``bayesfold demo`` is written as files (``demo --write-inputs``),
unfolded from them with the point method (300 events, 2 iterations: a few
seconds), and every output is opened with its own library. Broken configs,
existing outputs and signals must leave no output file behind.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import hist
import numpy as np
import pyarrow.parquet as pq
import pytest
import uhi.io.json
import uproot
import xarray as xr
from click.testing import CliRunner

from bayesfold.cli import main
from bayesfold.config import EXAMPLE_CONFIG, load_config, parse_config
from bayesfold.job import run_job, write_demo_inputs
from bayesfold.methods import unfold
from bayesfold.toys import ShiftedGaussianToy

EVENTS = 300
ITERATIONS = 2
SEED = 4


def _bayesfold() -> list[str]:
    script = shutil.which("bayesfold") or str(Path(sys.executable).parent / "bayesfold")
    return (
        [script] if Path(script).exists() else [sys.executable, "-m", "bayesfold.cli"]
    )


def _run(*args: str, **kwargs) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [*_bayesfold(), *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=300,
        **kwargs,
    )


def _write_inputs(folder: Path, file_format: str = "root") -> Path:
    """``bayesfold demo --write-inputs``, through click in this process."""
    toy = ["--events", str(EVENTS), "--iterations", str(ITERATIONS)]
    toy += ["--method", "point"]
    where = ["--write-inputs", str(folder), "--format", file_format]
    result = CliRunner().invoke(main, ["-q", "demo", *where, *toy, "--seed", str(SEED)])
    assert result.exit_code == 0, result.output
    assert f"bayesfold unfold {folder / 'config.toml'}" in result.output
    return folder / "config.toml"


def _quick_inputs(folder: Path, file_format: str = "root") -> Path:
    """The same inputs as ``_write_inputs``, written in this process (faster)."""
    files = write_demo_inputs(
        folder,
        file_format=file_format,
        events=EVENTS,
        iterations=ITERATIONS,
        seed=SEED,
    )
    return files[-1]


def _files(folder: Path) -> set[Path]:
    return {path for path in folder.rglob("*") if path.is_file()}


@pytest.fixture(scope="module")
def unfolded(tmp_path_factory):
    """Demo inputs as ROOT files, unfolded once by the installed script."""
    folder = tmp_path_factory.mktemp("demo") / "inputs"
    config = _write_inputs(folder)
    completed = _run("-q", "unfold", str(config))
    assert completed.returncode == 0, completed.stderr
    return folder, completed


def test_demo_inputs_are_files_and_a_config_that_reads_them(unfolded):
    folder, _ = unfolded
    simulation = uproot.open(folder / "simulation.root")["events"]
    assert simulation.num_entries == EVENTS
    assert {"x_gen", "x_reco", "pass_gen", "pass_reco", "weight"} <= set(
        simulation.keys()
    )
    config = load_config(folder / "config.toml")
    assert config.method.name == "point"
    assert config.method.iterations == ITERATIONS
    assert config.seed == SEED
    assert config.output.folder == folder / "output"


def test_unfold_writes_every_output_and_each_opens(unfolded):
    folder, completed = unfolded
    out = folder / "output"
    assert "2 iterations" in completed.stdout

    posterior = xr.open_datatree(out / "posterior.nc", engine="h5netcdf")
    assert posterior.attrs  # config and versions
    posterior.close()

    weights = pq.read_table(out / "weights.parquet").to_pydict()
    assert weights["event"] == list(range(EVENTS))
    nominal = np.array(weights["weight_nominal"])
    # Every simulated event passes both selections, so the unfolded weights
    # sum to the number of data events.
    assert nominal.sum() == pytest.approx(EVENTS, rel=1e-9)
    tree = uproot.open(out / "weights.root")["weights"]
    np.testing.assert_allclose(tree["weight_nominal"].array(library="np"), nominal)

    stored = json.loads(
        (out / "histograms.json").read_text(), object_hook=uhi.io.json.object_hook
    )
    histogram = hist.Hist(stored["x"])
    assert histogram.values().sum() == pytest.approx(nominal.sum(), rel=1e-9)

    summary = json.loads((out / "summary.json").read_text())
    assert "x" in json.dumps(summary)

    with warnings.catch_warnings():
        # hepdata_validator uses jsonschema's deprecated RefResolver, and
        # leaves the YAML files it reads to the garbage collector.
        warnings.filterwarnings("ignore", r"jsonschema\.", DeprecationWarning)
        warnings.filterwarnings("ignore", "unclosed file", ResourceWarning)
        from hepdata_validator.full_submission_validator import (
            FullSubmissionValidator,
        )

        assert FullSubmissionValidator().validate(directory=str(out / "hepdata"))

    for name in ("unfolded_x", "convergence_x", "weights"):
        png = (out / "plots" / f"{name}.png").read_bytes()
        pdf = (out / "plots" / f"{name}.pdf").read_bytes()
        assert png.startswith(b"\x89PNG")
        assert len(png) > 10_000
        assert pdf.startswith(b"%PDF")
    assert not [path for path in out.rglob("*") if path.name.endswith(".part")]


def test_existing_outputs_are_refused_before_training(unfolded):
    folder, _ = unfolded
    before = {path: path.stat().st_mtime_ns for path in _files(folder / "output")}
    result = CliRunner().invoke(main, ["-q", "unfold", str(folder / "config.toml")])
    assert result.exit_code == 1
    assert "already holds outputs" in result.output
    assert "--overwrite" in result.output
    after = {path: path.stat().st_mtime_ns for path in _files(folder / "output")}
    assert after == before


def test_misspelt_branch_exits_non_zero_and_writes_nothing(tmp_path):
    config = _quick_inputs(tmp_path / "inputs")
    config.write_text(config.read_text().replace('x = "x_gen"', 'x = "x_gne"'))
    before = _files(tmp_path)

    completed = _run("unfold", str(config), "--out", str(tmp_path / "out"))
    assert completed.returncode != 0
    assert "'x_gne'" in completed.stderr
    assert "Did you mean 'x_gen'?" in completed.stderr
    assert "simulation.gen.x" in completed.stderr
    assert "Traceback" not in completed.stderr
    assert _files(tmp_path) == before
    assert not (tmp_path / "out").exists()


def test_unknown_config_key_exits_non_zero_and_writes_nothing(tmp_path):
    config = _quick_inputs(tmp_path / "inputs", "parquet")
    config.write_text(config.read_text().replace("iterations =", "iteratons ="))
    before = _files(tmp_path)
    result = CliRunner().invoke(main, ["unfold", str(config)])
    assert result.exit_code == 1
    assert "`method.iteratons`" in result.output
    assert "Did you mean 'iterations'?" in result.output
    assert _files(tmp_path) == before


def test_files_give_the_same_answer_as_arrays(tmp_path):
    """Parquet inputs unfold exactly as the demo's arrays with the same seed."""
    path = _quick_inputs(tmp_path / "inputs", "parquet")
    # Only the weight columns: the other outputs are tested above.
    path.write_text(
        path.read_text().replace(
            'plots = ["png", "pdf"]', 'plots = []\nformats = ["weights-parquet"]'
        )
    )
    report = run_job(load_config(path), progress=False)

    toy = ShiftedGaussianToy()
    rng = np.random.default_rng(SEED)
    simulation = toy.simulate(EVENTS, rng)
    measured = toy.measure(EVENTS, rng)
    in_memory = unfold(
        simulation,
        measured.data,
        method="point",
        iterations=ITERATIONS,
        random_state=SEED,
        progress=False,
    )
    np.testing.assert_array_equal(report.result.simulation.gen, simulation.gen)
    np.testing.assert_allclose(report.result.weights(), in_memory.weights(), rtol=1e-12)
    assert (tmp_path / "inputs" / "output" / "weights.parquet").exists()


def test_config_example_is_printed_and_valid():
    result = CliRunner().invoke(main, ["config", "--example"])
    assert result.exit_code == 0
    assert result.output == EXAMPLE_CONFIG
    import tomllib

    parse_config(tomllib.loads(result.output))


def _start(config: Path, out: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*_bayesfold(), "unfold", str(config), "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


def _wait_for(condition, process: subprocess.Popen[str], limit: float = 120.0):
    start = time.monotonic()
    while not condition():
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() - start < limit, "the run never reached the point"
        time.sleep(0.005)


def test_sigterm_while_training_leaves_no_output(tmp_path):
    config = _quick_inputs(tmp_path / "inputs")
    # More iterations, so that the signal surely arrives while training.
    config.write_text(config.read_text().replace("iterations = 2", "iterations = 8"))
    out = tmp_path / "out"
    process = _start(config, out)
    # The CLI logs the events it read just before it starts training.
    log = []

    def reading_done() -> bool:
        log.append(process.stderr.readline())
        return "data events" in log[-1]

    _wait_for(reading_done, process)
    time.sleep(0.5)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert "terminated by signal" in stderr
    assert not out.exists() or not _files(out)


@pytest.mark.slow
def test_sigint_while_writing_leaves_only_complete_files(tmp_path):
    config = _quick_inputs(tmp_path / "inputs")
    out = tmp_path / "out"
    process = _start(config, out)
    # Signal as soon as the first output (or its temporary) appears.
    _wait_for(lambda: out.exists() and any(out.iterdir()), process)
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=60)
    assert process.returncode != 0
    left = _files(out) if out.exists() else set()
    assert not [path for path in left if ".part" in path.name]
    # The writers move their outputs into place all at once, and each plot's
    # formats together: whatever is there is whole and opens.
    for path in left:
        if path.suffix == ".png":
            assert path.read_bytes().startswith(b"\x89PNG")
        elif path.suffix == ".pdf":
            assert path.read_bytes().rstrip().endswith(b"%%EOF")
        elif path.suffix == ".parquet":
            pq.read_table(path)
        elif path.suffix == ".json":
            json.loads(path.read_text())


def test_config_check_reads_the_inputs_without_unfolding(tmp_path):
    config = _quick_inputs(tmp_path / "inputs", "parquet")
    result = CliRunner().invoke(main, ["-q", "config", "--check", str(config)])
    assert result.exit_code == 0, result.output
    assert f"{EVENTS} simulated events" in result.output
    assert not (tmp_path / "inputs" / "output").exists()
    (tmp_path / "inputs" / "data.parquet").unlink()
    result = CliRunner().invoke(main, ["-q", "config", "--check", str(config)])
    assert result.exit_code == 1
    assert "data.parquet does not exist" in result.output
