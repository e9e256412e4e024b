"""Figure 1's analysis choices (issue 36 items 3-5): the detection rule that picks the primary measure from the
dependence study, Spearman's r within arm, and the data-set gap per layer pair. Synthetic inputs only."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from semirobust.experiments.rho import detection, figure_claims, rho_success, within_arm

FAST = 300


def _study(rates: dict) -> pd.DataFrame:
    """A dependence-study frame: ``rates[(measure, preset)][n]`` = detected of 10 dependent pairs at N = n, with
    5 independent pairs per N never above the null."""
    rows = []
    for (measure, preset), by_n in rates.items():
        for n, detected in by_n.items():
            for i in range(10):
                rows.append({"kind": "gaussian" if i % 2 else "relu", "n": n, "dim": 64, "measure": measure,
                             "preset": preset, "above_null": i < detected})
            for _ in range(5):
                rows.append({"kind": "independent", "n": n, "dim": 64, "measure": measure, "preset": preset,
                             "above_null": True})  # false alarms must not count as detections
    return pd.DataFrame(rows)


STUDY = _study({("edge", "authors"): {20: 0, 50: 1, 100: 8, 1000: 10},
                ("edge", "noshad"): {20: 0, 50: 0, 100: 0, 1000: 0},
                ("ksg", ""): {20: 7, 50: 9, 100: 8, 1000: 10},
                ("cka", ""): {20: 9, 50: 10, 100: 10, 1000: 10}})


def test_detection_rates_count_only_dependent_pairs():
    table = detection.detection_rates(STUDY)
    row = table[(table.estimator == "ksg") & (table.n == 20)].iloc[0]
    assert (row.detected, row.dependent, row.rate) == (7, 10, 0.7)


def test_smallest_detecting_n_picks_the_smallest_size_meeting_the_rate_or_none():
    assert detection.smallest_detecting_n(STUDY, "edge (authors)") == 100  # 50 has 10%, 100 has 80%
    assert detection.smallest_detecting_n(STUDY, "ksg") == 50  # 70% at 20 is below 80%
    assert detection.smallest_detecting_n(STUDY, "cka") == 20
    assert detection.smallest_detecting_n(STUDY, "edge (noshad)") is None
    assert detection.smallest_detecting_n(STUDY, "edge (authors)", rate=1.0) == 1000


def test_rate_at_reads_the_largest_study_size_not_above_the_records_size():
    assert detection.rate_at(STUDY, "edge (authors)", 20) == (20, 0.0)
    assert detection.rate_at(STUDY, "edge (authors)", 200) == (100, 0.8)  # not credited with 1000
    assert detection.rate_at(STUDY, "edge (authors)", None) == (1000, 1.0)  # every test image
    size, rate = detection.rate_at(STUDY, "ksg", 10)
    assert size is None and math.isnan(rate)


def test_primary_measure_is_the_first_candidate_that_detects_at_the_records_size():
    assert detection.primary_measure(STUDY, 20) == "cka"  # KSG detects 70% at 20
    assert detection.primary_measure(STUDY, 50) == "ksg"
    assert detection.primary_measure(STUDY, 10) is None  # no study size that small
    none = _study({("ksg", ""): {20: 1}, ("cka", ""): {20: 2}})
    assert detection.primary_measure(none, 20) is None


def test_edge_paper_status_and_glue():
    assert detection.edge_paper_status(STUDY, 20) == detection.NOT_TESTABLE_EDGE
    assert not detection.edge_can_detect(STUDY, 20) and detection.edge_can_detect(STUDY, 100)
    assert detection.edge_paper_status(STUDY, 100).startswith("testable: EDGE detects 80%")
    glued = detection.detection_glue(STUDY, 20)
    assert glued["rho_detect_n_per_class"] == 100 and glued["rho_detect_rate"] == 0.0
    assert glued["rho_chosen_measure"] == "linear CKA" and glued["rho_chosen_detect_rate"] == 0.9
    assert glued["edge_paper_status"] == detection.NOT_TESTABLE_EDGE and glued["rho_records_n_per_class"] == "20 images per class"
    never = detection.detection_glue(_study({("edge", "authors"): {20: 0, 50: 2}}), 20)
    assert never["rho_detect_n_per_class"] == "none of the study's sizes (20 and 50)"
    assert never["rho_chosen_measure"] == "none" and math.isnan(never["rho_chosen_detect_rate"])


def test_records_n_per_class_reads_the_profile():
    assert detection.records_n_per_class("offline", ["fashion-mnist", "digits"]) == 20
    assert detection.records_n_per_class("paper", ["cifar10"]) is None


def _arms_differ_in_mean_only(seed=0, n_clusters=12, per_arm=6):
    """Within each arm x and y are independent; the arms' means differ in both (a random f_a: low x, high y)."""
    rng = np.random.default_rng(seed)
    x, y, arms, clusters = [], [], [], []
    for c in range(n_clusters):
        for arm, (mx, my) in {"algorithm1": (2.0, 0.0), "random_fa": (0.0, 20.0), "regular_fa": (1.0, 10.0)}.items():
            x += list(mx + rng.normal(0, 0.3, per_arm))
            y += list(my + rng.normal(0, 1.0, per_arm))
            arms += [arm] * per_arm
            clusters += [c] * per_arm
    return np.array(x), np.array(y), np.array(arms), np.array(clusters)


def test_within_arm_r_is_near_zero_when_arms_differ_in_mean_but_not_in_slope():
    x, y, arms, clusters = _arms_differ_in_mean_only()
    inside = within_arm.within_arm_correlation(x, y, arms, clusters, n_resamples=FAST)
    pooled = rho_success.cluster_rank_correlation(x, y, clusters, n_resamples=FAST)
    assert pooled["r"] < -0.6 and pooled["high"] < 0  # the arms' design alone
    assert abs(inside["r"]) < 0.15 and inside["low"] < 0 < inside["high"]
    assert inside["n"] == x.size and inside["clusters"] == 12


def test_within_arm_r_finds_a_slope_shared_by_the_arms():
    rng = np.random.default_rng(1)
    x, _, arms, clusters = _arms_differ_in_mean_only()
    y = -2 * x + np.where(arms == "random_fa", 30.0, 0.0) + rng.normal(0, 0.2, x.size)
    found = within_arm.within_arm_correlation(x, y, arms, clusters, n_resamples=FAST)
    assert found["r"] < -0.8 and found["high"] < 0


def test_within_arm_ranks_are_centred_per_arm():
    ranks = within_arm.within_arm_ranks([5.0, 1.0, 3.0, 100.0, 7.0], ["a", "a", "a", "b", "c"])
    assert ranks[:3].tolist() == pytest.approx([1 / 3, -1 / 3, 0.0])
    assert np.isnan(ranks[3]) and np.isnan(ranks[4])  # one value: nothing to rank against


def _trial(t, arm, acc, ksg_excess, rho_excess=0.0):
    pair = {"rho": 2.0 + rho_excess, "rho_null_mean": 2.0, "rho_above_null": False,
            "ksg": 0.1 + ksg_excess, "ksg_null_mean": 0.1, "ksg_above_null": ksg_excess > 0.2,
            "cka": 0.3 + ksg_excess / 5, "cka_null_mean": 0.3, "cka_above_null": True}
    return {"trial": t, "arm": arm, "acc": acc, "rho_pairs": [pair, dict(pair)]}


def _cells(n_seeds=6, seed=0):
    """Trials whose shortfall is set by the arm only (random f_a: low KSG, large shortfall)."""
    rng = np.random.default_rng(seed)
    records = []
    for dataset in ("fashion-mnist", "digits"):
        per_seed = []
        for _ in range(n_seeds):
            arms = {}
            for arm, (mx, my) in {"algorithm1": (1.0, 1.0), "random_fa": (0.1, 15.0)}.items():
                arms[arm] = {"trials": [_trial(t, arm, 50.0 - (my + rng.normal(0, 1)), mx + rng.normal(0, 0.1))
                                        for t in range(4)]}
            per_seed.append({"acc_star": 50.0, "acc_star_eval": 50.0, "arms": arms})
        records.append({"config": {"arch": "vgg16", "dataset": dataset, "fb_layers": 2,
                                   "seeds": list(range(n_seeds))}, "metrics": {"per_seed": per_seed}})
    return records


def test_primary_analysis_on_the_chosen_measure_within_arm_and_the_pooled_row_is_exploratory():
    frame = rho_success.trial_frame(_cells(seed=3))
    primary = rho_success.primary_analysis(frame, measure="ksg", within_arm=True, n_resamples=FAST)
    pooled = rho_success.primary_analysis(frame, measure="ksg", n_resamples=FAST)
    assert pooled.r < -0.6 and pooled.high < 0  # pooled: the arms differ by design
    assert abs(primary.r) < 0.2 and primary.low < 0 < primary.high  # within arm: nothing
    assert primary.within_arm and primary.measure == rho_success.MEASURE_TEXTS["ksg"]
    assert "within arm" in rho_success.success_verdict(primary) and "CKA at the junction" in primary.cross_short
    table = rho_success.exploratory_correlations(frame, measure="ksg", within_arm=True, n_resamples=FAST)
    assert table.role.tolist()[:2] == ["primary", "cross-check"]
    assert table.r.iloc[0] == pytest.approx(primary.r)
    confounded = table[table.measure.str.contains("pooled across arms")]
    assert len(confounded) == 2 and (confounded.role == "exploratory").all()
    assert "confounded by the arms' design" in confounded.measure.iloc[0]
    assert table.measure.duplicated().sum() == 0


def test_success_claim_is_not_testable_when_edge_cannot_detect():
    frame = rho_success.trial_frame(_cells(seed=3))
    primary = rho_success.primary_analysis(frame, measure="ksg", within_arm=True, n_resamples=FAST)
    result, status, text = rho_success.success_claim(primary, detection.edge_untestable(STUDY, 20))
    assert status == "not testable at this scale"
    assert "cannot detect dependence at this sample size" in text and "the primary test gives: " in text and primary.status in text
    assert rho_success.success_claim(primary)[1] == primary.status == "undecided"


def _gap_records(gap, seeds=4, noise=0.05, seed=0, clean=(80.0, 95.0)):
    """Two data sets of one network; the first (lower clean accuracy: harder) has ``gap`` less KSG excess at every
    pair; digits has one pair more (not shared)."""
    rng = np.random.default_rng(seed)
    records = []
    for dataset, acc, shift, n_pairs in (("fashion-mnist", clean[0], gap, 3), ("digits", clean[1], 0.0, 4)):
        per_seed = []
        for _ in range(seeds):
            pairs = [{"ksg": 0.5 + shift + rng.normal(0, noise), "ksg_null_mean": 0.1} for _ in range(n_pairs)]
            per_seed.append({"acc_regular_clean": acc, "acc_star": 40.0, "rho_pairs": pairs})
        records.append({"config": {"arch": "alexnet", "dataset": dataset, "fb_layers": 4, "seeds": list(range(seeds))},
                        "metrics": {"per_seed": per_seed}})
    return records


def test_dataset_gap_pairs_by_layer_pair_and_seed_with_an_interval_over_seeds():
    found = figure_claims.dataset_gap(_gap_records(-0.3), "ksg")
    assert (found["harder"], found["easier"]) == ("Fashion-MNIST", "digits")
    assert found["n_pairs"] == 3 and found["seeds"] == 4 and "x = 0, 1, 2" in found["pairs"]
    assert found["gap"] == pytest.approx(-0.3, abs=0.05) and found["high"] < 0
    result, status, _ = figure_claims.dataset_gap_claim(found)
    assert status == "confirmed" and "3 shared layer pairs" in result
    flipped = figure_claims.dataset_gap(_gap_records(-0.3, clean=(99.0, 60.0)), "ksg")
    assert flipped["harder"] == "digits" and flipped["low"] > 0  # hardness is computed, not assumed
    assert figure_claims.dataset_gap_claim(flipped)[1] == "not confirmed"
    none = figure_claims.dataset_gap(_gap_records(0.0, noise=0.3, seed=3), "ksg")
    assert figure_claims.dataset_gap_claim(none)[1] == "undecided"


def test_dataset_gap_with_one_data_set_or_one_seed():
    one = figure_claims.dataset_gap(_gap_records(-0.3)[:1], "ksg")
    assert figure_claims.dataset_gap_claim(one)[1] == "not testable at this scale"
    single = figure_claims.dataset_gap(_gap_records(-0.3, seeds=1), "ksg")
    assert math.isnan(single["low"]) and figure_claims.dataset_gap_claim(single)[1] == "undecided"


def test_analysis_measure_and_why_edge_is_not_testable():
    assert detection.analysis_measure(STUDY, 20) == "cka"
    assert detection.analysis_measure(STUDY, 10) == "rho"  # nothing detects: EDGE's, and not testable
    why = detection.edge_untestable(STUDY, 20)
    assert why.startswith("the paper's estimator cannot detect") and "0% of the dependence study's dependent pairs at 20" in why
    assert why.endswith("linear CKA does, so the primary analysis uses it")
    assert detection.edge_untestable(STUDY, 100) == ""
    assert "ran no size as small as 10" in detection.edge_untestable(STUDY, 10)


def test_within_arm_glue_and_population_text():
    frame = rho_success.trial_frame(_cells(seed=3))
    primary = rho_success.primary_analysis(frame, measure="ksg", within_arm=True, n_resamples=FAST)
    glued = rho_success.within_arm_glue(primary)
    assert (glued["rho_within_arm_r"], glued["rho_within_arm_low"]) == (primary.r, primary.low)
    pooled = rho_success.primary_analysis(frame, measure="ksg", n_resamples=FAST)
    assert math.isnan(rho_success.within_arm_glue(pooled)["rho_within_arm_r"])
    assert figure_claims.population_text(frame, _cells()) == "96 trials of every arm in 2 listed cells"


def test_the_gap_glues_its_interval_in_words_and_never_a_nan():
    from semirobust.experiments.rho.figure_claims import gap_glue

    one = gap_glue({"gap": 0.03, "low": math.nan, "high": math.nan, "pairs": "x = 0", "per_seed": [0.03]})
    assert one["rho_dataset_gap_interval"] == "no interval: 1 seed with both data sets"
    assert "rho_dataset_gap_low" not in one and "rho_dataset_gap_high" not in one
    three = gap_glue({"gap": -0.1, "low": -0.2, "high": 0.05, "pairs": "x = 0", "per_seed": [-0.1, -0.2, 0.0]})
    assert three["rho_dataset_gap_interval"] == "95% interval -0.200 to +0.050"
    assert three["rho_dataset_gap_low"] == -0.2 and three["rho_dataset_gap_high"] == 0.05
