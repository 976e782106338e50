"""The command line, run as a user runs it: the installed ``bayesfold`` script."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from bayesfold import __version__
from bayesfold.cli import main
from bayesfold.metrics import triangular_discriminator

SUMMARY_KEYS = {
    "method",
    "iterations",
    "n_sim",
    "n_data",
    "seconds",
    "bin_edges",
    "unfolded",
    "truth_expected",
    "prior",
    "metrics",
}


def _bayesfold() -> list[str]:
    script = shutil.which("bayesfold")
    return [script] if script else [sys.executable, "-m", "bayesfold.cli"]


def test_version_from_installed_script():
    completed = subprocess.run(
        [*_bayesfold(), "--version"], capture_output=True, text=True, check=True
    )
    assert __version__ in completed.stdout


def test_demo_writes_plot_and_summary(tmp_path):
    out = tmp_path / "demo"
    completed = subprocess.run(
        [
            *_bayesfold(),
            "-q",
            "demo",
            "--events",
            "300",
            "--iterations",
            "2",
            "--seed",
            "3",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "triangular discriminator" in completed.stdout
    assert (out / "unfolded.png").stat().st_size > 10_000
    summary = json.loads((out / "summary.json").read_text())
    assert not SUMMARY_KEYS - summary.keys()
    assert summary["iterations"] == 2
    assert summary["n_sim"] == summary["n_data"] == 300
    n_bins = len(summary["bin_edges"]) - 1
    for key in ("unfolded", "truth_expected", "prior"):
        assert len(summary[key]) == n_bins
    # Counts are for the data's event count: the unfolded and prior histograms
    # hold (nearly) all 300 events, the expected truth its analytic share.
    assert sum(summary["unfolded"]) == pytest.approx(300, rel=0.02)
    assert sum(summary["truth_expected"]) == pytest.approx(300, rel=0.02)
    metrics = summary["metrics"]
    assert metrics["triangular_prior_vs_truth"] > 0
    assert np.isfinite(metrics["triangular_unfolded_vs_truth"])
    assert not list(out.glob("*.part"))
    # The default method is the Bayesian one: 10 replicas x 10 last-step
    # draws, with credible intervals per bin that hold the posterior mean.
    assert summary["method"] == "bayesian"
    assert len(summary["draws"]) == 100
    assert all(len(draw) == n_bins for draw in summary["draws"])
    lower, upper = np.array(summary["lower_95"]), np.array(summary["upper_95"])
    inner = np.array(summary["lower_68"]), np.array(summary["upper_68"])
    assert np.all(lower <= inner[0])
    assert np.all(inner[1] <= upper)
    assert np.any(upper > lower)


def test_unknown_method_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(
        main, ["demo", "--method", "magic", "--out", str(tmp_path / "x")]
    )
    assert result.exit_code == 2
    assert "unknown method 'magic'" in result.output
    assert not (tmp_path / "x").exists()


def test_methods_lists_every_method():
    result = CliRunner().invoke(main, ["methods"])
    assert result.exit_code == 0
    for name in ("point", "gbdt", "ensemble", "bootstrap"):
        assert name in result.output


def _coverage_args(out, methods):
    return [
        "-q",
        "coverage",
        "--methods",
        methods,
        "--experiments",
        "2",
        "--events",
        "300",
        "--iterations",
        "1",
        "--replicas",
        "4",
        "--out",
        str(out),
    ]


def test_coverage_writes_json_and_draws_per_method(tmp_path):
    out = tmp_path / "coverage"
    result = CliRunner().invoke(main, _coverage_args(out, "bootstrap,point"))
    assert result.exit_code == 0, result.output
    report = json.loads((out / "coverage.json").read_text())
    bootstrap = report["methods"]["bootstrap"]
    assert bootstrap["experiments"] == 2
    for key in ("coverage_68", "coverage_95"):
        assert 0 <= bootstrap[key] <= 1
    # Wider intervals hold the truth at least as often.
    assert bootstrap["coverage_95"] >= bootstrap["coverage_68"]
    assert bootstrap["mean_width_95"] > bootstrap["mean_width_68"] > 0
    # 4 draws cannot estimate the covariance of 7 bins: no joint chi2 test.
    assert bootstrap["chi2_median"] is None
    assert bootstrap["chi2"] == []
    assert "joint chi2" not in result.output
    # Point OmniFold has no interval, but its accuracy is measured.
    point = report["methods"]["point"]
    assert point["coverage_68"] is None
    assert point["pull_width"] is None
    assert "one draw, no interval" in result.output
    for method in (bootstrap, point):
        assert 0 < method["triangular_mean"] < 1
        assert method["triangular_error"] > 0
    # Every experiment's draws come back, truth included, in the study's bins.
    with np.load(out / "coverage-draws.npz") as arrays:
        assert arrays["bootstrap_draws"].shape == (2, 4, 7)
        assert arrays["point_draws"].shape == (2, 1, 7)
        np.testing.assert_array_equal(arrays["bootstrap_truth"], arrays["point_truth"])
        mean = arrays["point_draws"][:, 0]
        truth = arrays["point_truth"]
    triangular = [
        triangular_discriminator(m, t) for m, t in zip(mean, truth, strict=True)
    ]
    assert point["triangular_mean"] == pytest.approx(np.mean(triangular))


def test_coverage_keeps_finished_methods_when_a_later_one_fails(tmp_path, monkeypatch):
    """A study stopped part-way keeps the methods it has measured."""
    from bayesfold import studies

    real = studies.coverage

    def fail_on_ibu(toy, *, method, **kwargs):
        if method == "ibu":
            raise KeyboardInterrupt
        return real(toy, method=method, **kwargs)

    monkeypatch.setattr(studies, "coverage", fail_on_ibu)
    out = tmp_path / "coverage"
    result = CliRunner().invoke(main, _coverage_args(out, "bootstrap,ibu"))
    assert result.exit_code != 0
    report = json.loads((out / "coverage.json").read_text())
    assert list(report["methods"]) == ["bootstrap"]


@pytest.mark.parametrize(
    ("command", "existing"),
    [
        (["demo"], "summary.json"),
        (["coverage", "--methods", "bootstrap"], "coverage.json"),
    ],
)
def test_existing_outputs_are_refused_before_any_work(tmp_path, command, existing):
    """Without --overwrite nothing runs and the old file stays as it was."""
    (tmp_path / existing).write_text("earlier result\n")
    result = CliRunner().invoke(main, ["-q", *command, "--out", str(tmp_path)])
    assert result.exit_code != 0
    assert "--overwrite" in result.output
    assert (tmp_path / existing).read_text() == "earlier result\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [existing]
