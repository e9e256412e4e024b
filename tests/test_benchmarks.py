"""The offline units' benchmark runs at a tiny size and reports every unit with its old/new ratio and the cost
model's numbers (its timings are evidence, never asserted)."""
from __future__ import annotations

import importlib.util

import pytest

from semirobust.utils import REPO_ROOT


@pytest.mark.slow
def test_the_offline_units_benchmark_runs_at_a_tiny_size(capsys):
    spec = importlib.util.spec_from_file_location("bench_offline_units", REPO_ROOT / "benchmarks" / "bench_offline_units.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = bench.main(["--scale", "0.005", "--repeats", "1", "--threads", "1", "--no-save"])
    assert set(out["units"]) == {"train_epoch", "trial_epoch", "scoring", "after_trials"}
    for unit in out["units"].values():
        assert unit["old_s"] > 0 and unit["new_s"] > 0 and unit["ratio"] > 0
    assert out["peak_gflops"] > 0 and 0 < out["trial_over_train_predicted"] <= 1.0
    assert "old/new" in capsys.readouterr().out
