"""Does rho predict success: the trial table, the rank correlation and its interval, the verdict."""
from __future__ import annotations

import math

import numpy as np
import pytest

from semirobust.experiments import rho_success


def _record(arch="vgg16", trials_per_seed=((50.0, 1.0), (40.0, 0.1)), acc_star=52.0, seeds=(0, 1)):
    """A table1 record: per seed, trials given as (accuracy, rho at the junction pair)."""
    per_seed = []
    for _ in seeds:
        trials = [{"trial": t, "acc": acc, "rho": [rho, 2.0],
                   "rho_pairs": [{"rho": rho, "rho_null_mean": 0.5, "rho_above_null": rho > 0.5, "cka": rho / 2,
                                  "cka_null_mean": 0.1, "cka_above_null": True},
                                 {"rho": 2.0, "rho_null_mean": 0.5, "rho_above_null": True}]}
                  for t, (acc, rho) in enumerate(trials_per_seed)]
        per_seed.append({"acc_star": acc_star, "trials": trials})
    return {"kind": "table1", "config": {"arch": arch, "dataset": "digits", "fb_layers": 12, "k": 1.0,
                                         "seeds": list(seeds)},
            "metrics": {"per_seed": per_seed, "acc_star": acc_star, "acc_tilde": max(a for a, _ in trials_per_seed),
                        "acc_tilde_unbiased": min(a for a, _ in trials_per_seed)}}


def test_trial_frame_has_one_row_per_seed_trial_and_pair():
    frame = rho_success.trial_frame([_record()])
    assert len(frame) == 2 * 2 * 2
    junction = frame[frame.from_fa]
    assert sorted(junction.shortfall.unique()) == [2.0, 12.0]
    assert junction.rho_excess.tolist() == pytest.approx([0.5, -0.4, 0.5, -0.4])
    assert junction.converged.sum() == 0 and set(junction.seed) == {0, 1}
    assert math.isnan(frame[~frame.from_fa].cka.iloc[0])  # a pair without CKA reads NaN, not 0


def test_rank_correlation_matches_closed_forms():
    x = np.arange(20.0)
    perfect = rho_success.rank_correlation(x, -x ** 3)
    assert perfect["r"] == pytest.approx(-1.0) and perfect["high"] == pytest.approx(-1.0)
    assert perfect["p_value"] < 0.01
    rng = np.random.default_rng(0)
    noise = rho_success.rank_correlation(rng.standard_normal(300), rng.standard_normal(300))
    assert noise["low"] < 0 < noise["high"] and noise["p_value"] > 0.01
    assert math.isnan(rho_success.rank_correlation([1, 1, 1, 1], [1, 2, 3, 4])["r"])
    assert math.isnan(rho_success.rank_correlation([1, 2, 3], [3, 2, 1])["r"])  # too few points
    partial = rho_success.rank_correlation([1, 2, np.nan, 4, 5], [2, 1, 0, 4, 3])
    assert partial["n"] == 4


def test_verdict_reads_the_interval_not_the_sign():
    records = [_record(trials_per_seed=((a, r),) * 1, seeds=(s,)) for s, (a, r) in
               enumerate([(51.0, 3.0), (49.0, 2.0), (45.0, 1.0), (40.0, 0.5), (35.0, 0.2), (30.0, 0.1)])]
    frame = rho_success.trial_frame(records)
    table = rho_success.success_correlations(frame)
    sentence = rho_success.success_verdict(table)
    assert "supports the claim" in sentence and "over 6 trials" in sentence
    flat = rho_success.success_verdict(rho_success.success_correlations(rho_success.trial_frame([_record()])[:0]))
    assert "untested" in flat


def test_cells_within_counts_by_hand():
    records = [_record(trials_per_seed=((51.5, 1.0), (30.0, 1.0))), _record(trials_per_seed=((45.0, 1.0), (44.0, 1.0)))]
    found = rho_success.cells_within(records, k=1.0)
    assert (found["cells"], found["within"], found["within_unbiased"]) == (2, 1, 0)
    assert found["largest_gap"] == pytest.approx(7.0) and found["median_gap"] == pytest.approx(3.75)


def test_plot_success_draws_one_panel_per_measure():
    fig = rho_success.plot_success(rho_success.trial_frame([_record()]))
    assert len(fig.axes) == 2


def test_within_cells_removes_a_correlation_made_by_differences_between_networks():
    """Two cells: one with high rho and small shortfalls, one with low rho and large ones, and inside each
    cell rho unrelated to the shortfall. Pooled, rho 'predicts' success; within cells it does not."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    rows = []
    for model, rho_level, gap_level in (("vgg16", 5.0, 1.0), ("resnet50", 1.0, 20.0)):
        for trial in range(12):
            rows.append({"model": model, "dataset": "digits", "fb_layers": 4, "seed": 0, "trial": trial, "pair": 0,
                         "from_fa": True, "rho": rho_level + rng.normal(0, 0.3), "rho_excess": rng.normal(),
                         "cka": rng.random(), "cka_excess": rng.normal(),
                         "shortfall": gap_level + rng.normal(0, 1.0), "converged": False})
    table = rho_success.success_correlations(pd.DataFrame(rows))
    pooled = table[(table.pairs.str.startswith("rho_{a+1} (")) & (table.measure == "rho")].iloc[0]
    inside = table[(table.pairs == rho_success.WITHIN_CELLS) & (table.measure == "rho")].iloc[0]
    assert pooled.high < 0  # a strong pooled "effect"
    assert inside.low < 0 < inside.high  # none inside the cells
    assert "is not seen" in rho_success.success_verdict(table)


def test_cells_sentence_and_success_values_for_the_page():
    within = rho_success.cells_within([_record(), _record(trials_per_seed=((45.0, 1.0),))], k=1.0)
    assert rho_success.cells_within_sentence(within) == (
        "Acc~ came within k = 1 point of Acc* in 0 of 2 cells (paper rule; 0 of 2 validation-selected); the median "
        "shortfall Acc* - Acc~ was 4.5 points and the largest 7.0")
    frame = rho_success.trial_frame([_record(trials_per_seed=((50.0, 1.0), (40.0, 0.1), (45.0, 0.6), (51.0, 1.2)))])
    correlations = rho_success.success_correlations(frame, seed=0)
    values = rho_success.success_values(correlations)
    junction = correlations[(correlations.measure == "rho") & (correlations.pairs == "rho_{a+1} (junction pair)")]
    assert values["r"] == junction.r.iloc[0] and values["n"] == 8 and set(values) == {
        "r", "low", "high", "within_r", "within_low", "within_high", "n"}
    empty = rho_success.success_values(correlations.iloc[0:0])
    assert empty["n"] == 0 and math.isnan(empty["r"]) and math.isnan(empty["within_high"])
