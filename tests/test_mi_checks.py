"""The MI estimator page's checks (semirobust.experiments.rho.mi_checks) at a tiny size: the record holds the same
numbers as the closed-form helpers called directly with the same seed, and the report reads them back."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from tiny import make_tiny_profile  # noqa: E402

from semirobust import mi  # noqa: E402
from semirobust.experiments.report.style import legibility_problems  # noqa: E402
from semirobust.experiments.rho import mi_checks, mi_checks_report  # noqa: E402
from semirobust.mi import closed_form  # noqa: E402

SIZES = dict(n=300, rs=(0.0, 0.5, 0.9), ns=(200, 400), seeds=2, dims=(1, 2), timing_ns=(200, 400), timing_dim=4)


@pytest.fixture(scope="module")
def record(tmp_path_factory):
    return mi_checks.run_mi_checks(make_tiny_profile(mi_checks=SIZES), seed=3, device="cpu",
                                   results_dir=tmp_path_factory.mktemp("mi_checks"))


def test_the_record_holds_what_the_closed_form_helpers_compute_with_the_same_seed(record):
    assert record["kind"] == "mi_estimator" and record["config"] == {"profile": "smoke", "seed": 3,
                                                                      "sizes": {**SIZES, "rs": [0.0, 0.5, 0.9],
                                                                                "ns": [200, 400], "dims": [1, 2],
                                                                                "timing_ns": [200, 400]}}
    by_r = closed_form.by_correlation(SIZES["n"], SIZES["rs"], (1, 2, 4), seed=3)
    m = record["metrics"]
    assert m["max_abs_error_one_pair"] == closed_form.max_abs_error(by_r, "noshad")
    assert m["max_abs_error_one_pair_authors"] == closed_form.max_abs_error(by_r, "authors")
    by_n = closed_form.by_sample_size(SIZES["ns"], SIZES["seeds"], seed=3)
    assert m["bias"]["noshad"] == closed_form.bias_sentence(by_n, "noshad")
    dims = mi_checks.by_dimension(SIZES["n"], SIZES["dims"], seed=3)
    assert m["independent_top_dim"] == float(dims.edge_independent.iloc[-1])
    checks = m["invariances"]
    assert m["invariance_gap"] == max(abs(v - checks["base"]) for k, v in checks.items() if k != "other seed")
    assert checks["same seed again"] == checks["base"]
    assert [row["N"] for row in m["timing"]] == [200, 400] and all(row["seconds"] > 0 for row in m["timing"])


def test_the_report_glues_every_name_the_page_cites_and_draws_legible_plots(record):
    values = mi_checks_report.glue_values(record)
    assert values["mi_top_dim"] == 2 and values["mi_tolerance"] == mi.GAUSSIAN_TOLERANCE_BITS
    assert values["mi_stamp"] == ("Computed at profile=smoke (seed 3, cpu) on synthetic data: 300 samples per "
                                  "closed-form check")
    assert values["mi_ranking_authors"].endswith(".") and values["mi_bias_noshad"].endswith(".")
    assert len(mi_checks_report.correlation_sentences(record)) == 1 + len(closed_form.CHECK_PRESETS)
    assert "documented bound" in mi_checks_report.sample_size_sentences(record)[0]
    assert list(mi_checks_report.invariance_frame(record).index)[0] == "base"
    assert len(mi_checks_report.sample_size_summary(record)) == 2 * 2 * 2  # presets x (r = 0, 0.8) x N
    for plot in (mi_checks_report.plot_correlation, mi_checks_report.plot_sample_size,
                 mi_checks_report.plot_dimension, mi_checks_report.plot_timing):
        fig = plot(record)
        assert fig.axes[0].get_xlabel() and not legibility_problems(fig), legibility_problems(fig)
        plt.close(fig)
