"""Does rho predict success: the trial table over every arm, the primary analysis (cluster-bootstrap Spearman of
rho_{a+1}'s excess over its null against the shortfall), the literal test, the exploratory table and the verdict.
Every record here is synthetic (plain dicts in the table1 format); nothing is trained."""
from __future__ import annotations

import math

import numpy as np
import pytest

from semirobust.experiments.rho import figure_claims, rho_success, rho_success_plots

FAST = 400  # bootstrap resamples in the tests


def _pair(excess, null=0.5, above=None, cka_excess=None):
    return {"rho": null + excess, "rho_null_mean": null, "rho_null_sd": 0.1, "rho_ceiling": 8.0,
            "rho_above_null": bool(excess > 0.3) if above is None else above,
            "cka": 0.2 + (excess / 4 if cka_excess is None else cka_excess), "cka_null_mean": 0.2, "cka_null_sd": 0.01,
            "cka_above_null": True}


def _trial(t, arm, acc, excess, **kw):
    pairs = [_pair(excess, **kw), _pair(0.5)]
    return {"trial": t, "arm": arm, "acc": acc, "val_acc": acc, "test_at_val": acc, "epochs_run": 2,
            "converged": False, "rho": [p["rho"] for p in pairs], "rho_pairs": pairs}


def _record(arch, dataset, seeds):
    """``seeds``: per seed, (acc_star_eval, {arm: [(acc, excess), ...]})."""
    per_seed = []
    for acc_star_eval, arms in seeds:
        arm_dict = {arm: {"trials": [_trial(t, arm, acc, ex) for t, (acc, ex) in enumerate(trials)]}
                    for arm, trials in arms.items()}
        per_seed.append({"acc_star": acc_star_eval + 1.0, "acc_star_eval": acc_star_eval, "arms": arm_dict,
                         "trials": arm_dict["algorithm1"]["trials"]})
    return {"kind": "table1", "config": {"arch": arch, "dataset": dataset, "attack": "autoattack", "eps": 8 / 255,
                                         "fb_layers": 2, "k": 1.0, "seeds": list(range(len(seeds)))},
            "metrics": {"per_seed": per_seed, "acc_star": 40.0, "acc_tilde": 39.0, "acc_tilde_unbiased": 38.0}}


def _synthetic(effect: float, seed: int = 0, clusters=(("vgg16", "fashion-mnist", 5), ("alexnet", "fashion-mnist", 2),
                                                        ("resnet50", "digits", 1), ("vgg16", "digits", 1)),
               trials=4, fail=True):
    """Cells whose trials' shortfall falls with rho_{a+1}'s excess (``effect`` > 0) or ignores it (0). Each seed
    has its own level of shortfall (a cluster effect). ``fail=False`` keeps every shortfall within 2 points."""
    rng = np.random.default_rng(seed)
    records = []
    for arch, dataset, n_seeds in clusters:
        seeds = []
        for _ in range(n_seeds):
            level = rng.normal(0, 1.0)
            arms = {}
            for arm in ("algorithm1", "random_fa", "standard_fb"):
                rows = []
                for _ in range(trials):
                    ex = rng.uniform(0, 2)
                    short = 4.0 + level - 3 * effect * ex + rng.normal(0, 0.7)
                    if not fail:
                        short = rng.uniform(-1, 2)
                    rows.append((50.0 - short, ex))
                arms[arm] = rows
            seeds.append((50.0, arms))
        records.append(_record(arch, dataset, seeds))
    return records


def test_trial_frame_has_a_row_per_seed_arm_trial_and_pair_and_reads_acc_star_eval():
    record = _record("vgg16", "fashion-mnist", [(50.0, {"algorithm1": [(49.0, 1.0), (45.0, 0.1)],
                                                        "random_fa": [(30.0, 0.0)]})] * 2)
    frame = rho_success.trial_frame([record])
    assert len(frame) == 2 * 3 * 2  # seeds x trials of every arm x pairs
    junction = frame[frame.from_fa]
    assert sorted(junction.shortfall.unique()) == [1.0, 5.0, 20.0]  # Acc*_eval (50), not Acc* (51), minus acc
    assert set(junction.arm) == {"algorithm1", "random_fa"}
    assert junction.rho_excess.tolist() == pytest.approx([1.0, 0.1, 0.0] * 2)
    assert junction.cluster.nunique() == 2 and junction.cluster.iloc[0] == "VGG16 / Fashion-MNIST / seed 0"
    assert frame.ksg.isna().all()  # a measure not recorded reads NaN, not 0
    old = {**record, "metrics": {**record["metrics"], "per_seed": [
        {k: v for k, v in s.items() if k not in ("arms", "acc_star_eval")} for s in record["metrics"]["per_seed"]]}}
    legacy = rho_success.trial_frame([old])  # no arms: Algorithm 1's trials; no Acc*_eval: Acc*
    assert set(legacy.arm) == {"algorithm1"} and sorted(legacy[legacy.from_fa].shortfall.unique()) == [2.0, 6.0]


def test_cluster_rank_correlation_is_wider_than_trials_resampled_as_if_independent():
    """Clusters share a level of both x and y, and within a cluster x and y are unrelated: a bootstrap of the trials
    one by one is overconfident, the cluster bootstrap is not."""
    rng = np.random.default_rng(3)
    x, y, clusters = [], [], []
    for c in range(6):
        shift_x, shift_y = rng.normal(0, 2), rng.normal(0, 2)
        for _ in range(15):
            x.append(shift_x + rng.normal(0, 0.2))
            y.append(shift_y + rng.normal(0, 0.2))
            clusters.append(c)
    by_cluster = rho_success.cluster_rank_correlation(x, y, clusters, n_resamples=FAST)
    by_trial = rho_success.cluster_rank_correlation(x, y, np.arange(len(x)), n_resamples=FAST)
    assert by_cluster["r"] == pytest.approx(by_trial["r"]) and by_cluster["clusters"] == 6
    assert (by_cluster["high"] - by_cluster["low"]) > 2 * (by_trial["high"] - by_trial["low"])
    one = rho_success.cluster_rank_correlation(x[:15], y[:15], clusters[:15], n_resamples=FAST)
    assert math.isfinite(one["r"]) and math.isnan(one["low"])  # one cluster: nothing to resample
    assert math.isnan(rho_success.cluster_rank_correlation([1, 1, 1, 1], [1, 2, 3, 4], [0, 0, 1, 1])["r"])


def test_primary_analysis_with_a_known_effect_is_confirmed_with_the_right_sign():
    frame = rho_success.trial_frame(_synthetic(effect=1.0))
    primary = rho_success.primary_analysis(frame, n_resamples=FAST)
    assert primary.n == 9 * 3 * 4 and primary.clusters == 9
    assert primary.r < 0 and primary.high < 0 and primary.cross_high < 0
    assert primary.status == "confirmed"
    assert primary.cluster_text.startswith("seeds within networks and data sets (9 clusters: VGG16 / Fashion-MNIST "
                                           "5 seeds, AlexNet / Fashion-MNIST 2 seeds")
    result, status, reading = rho_success.success_claim(primary)
    assert status == "confirmed" and "cluster-bootstrap interval" in result
    verdict = rho_success.success_verdict(primary)
    assert "supports" not in verdict and "negatively related" not in verdict and "drop out" not in verdict
    assert "lies below 0" in verdict
    glued = rho_success.primary_glue(primary)
    assert set(glued) == {"rho_primary_measure", "rho_primary_r", "rho_primary_low", "rho_primary_high",
                          "rho_primary_n", "rho_primary_cluster", "failing_rho_at_null", "rho_success_verdict"}
    assert glued["rho_primary_r"] == primary.r and glued["rho_success_verdict"].endswith(".")


@pytest.mark.parametrize("seed", (1, 2, 3))
def test_primary_analysis_on_a_null_set_never_says_supports_and_is_undecided(seed):
    """No relation between rho and the shortfall (and no failing trial, so the literal test is silent): the
    interval covers 0 (on these seeds; at 95% about one null set in twenty excludes it by chance) and the verdict
    says undecided and what would decide it."""
    frame = rho_success.trial_frame(_synthetic(effect=0.0, seed=seed, fail=False))
    primary = rho_success.primary_analysis(frame, n_resamples=FAST, seed=seed)
    texts = [rho_success.success_verdict(primary), *rho_success.success_claim(primary)]
    assert not any("supports" in t for t in texts)
    assert primary.low <= 0 <= primary.high and primary.literal.outcome == "no failing trials"
    assert primary.status == "undecided"
    assert "undecided" in texts[0] and "more clusters would decide it" in texts[0]
    assert "undecided" in texts[3]


def test_the_interval_decides_not_the_sign():
    """A negative r whose interval covers 0 is undecided; the opposite direction is "not confirmed"."""
    literal = rho_success.LiteralTest(2.0, failing=4, failing_at_null=3, succeeding=6, succeeding_at_null=0, unknown=0)
    base = rho_success.PrimaryResult(40, 8, "seeds within networks (8 clusters)", -0.3, -0.6, 0.1, 0.2, -0.2, -0.5,
                                     0.2, literal)
    assert base.status == "undecided" and base.clusters_to_decide > 8
    assert "supports" not in rho_success.success_verdict(base)
    import dataclasses
    assert dataclasses.replace(base, low=-0.5, high=-0.1).status == "confirmed"
    assert dataclasses.replace(base, r=0.3, low=0.1, high=0.5).status == "not confirmed"
    against = rho_success.LiteralTest(2.0, failing=4, failing_at_null=1, succeeding=6, succeeding_at_null=0, unknown=0)
    contradicted = dataclasses.replace(base, low=-0.5, high=-0.1, literal=against)
    assert contradicted.status == "not confirmed"
    assert "does not hold" in rho_success.success_claim(contradicted)[2]
    verdict = rho_success.success_verdict(contradicted)
    assert "goes against it, so the claim is not confirmed" in verdict and "lies below 0" in verdict
    assert "contains 0" not in verdict
    none = dataclasses.replace(base, r=math.nan, low=math.nan, high=math.nan)
    assert none.status == "not testable at this scale"
    assert "not testable" in rho_success.success_verdict(none)


def test_failing_rho_at_null_counts_by_hand():
    # shortfalls (Acc*_eval 50): 10, 8, 1, 0.5, 3 ; at null: the 1st, the 3rd; the 2nd and 5th fail above the null
    record = _record("vgg16", "fashion-mnist", [(50.0, {"algorithm1": [(40.0, 0.1), (42.0, 1.0), (49.0, 0.0)],
                                                        "random_fa": [(49.5, 1.5), (47.0, 0.9)]})])
    frame = rho_success.trial_frame([record])
    literal = rho_success.literal_test(frame)
    assert (literal.failing, literal.failing_at_null, literal.succeeding, literal.succeeding_at_null) == (3, 1, 2, 1)
    assert literal.text == "1 of 3 failing trials, 1 of 2 succeeding"
    assert literal.outcome == "against the claim"  # most failing trials are above their null
    assert rho_success.literal_test(frame, margin=9.0).text == "1 of 1 failing trial, 1 of 4 succeeding"
    assert rho_success.literal_test(frame, margin=9.0).outcome == "in line with the claim"
    assert rho_success.literal_test(frame, margin=20.0).outcome == "no failing trials"
    primary = rho_success.primary_analysis(frame, n_resamples=FAST)
    assert rho_success.failing_rho_at_null(primary) == "1 of 3 failing trials, 1 of 2 succeeding"


def test_exploratory_rows_are_holm_adjusted_and_the_primary_row_is_not():
    frame = rho_success.trial_frame(_synthetic(effect=1.0, seed=1))
    table = rho_success.exploratory_correlations(frame, n_resamples=FAST)
    assert table.role.tolist()[:2] == ["primary", "cross-check"]
    assert table[table.role != "exploratory"].p_holm.isna().all()
    explore = table[table.role == "exploratory"]
    assert "KSG excess at the junction" not in set(explore.measure)  # KSG not recorded: no row
    assert {"raw rho_{a+1}", "rho_{a+2} excess over null", "mean rho excess over the later pairs"} <= set(explore.measure)
    assert any("within cells" in m for m in explore.measure)
    tested = explore.dropna(subset=["p_value"])  # the later pairs have no spread here: no r, no p
    assert len(tested) >= 4 and explore.p_holm.isna().sum() == explore.p_value.isna().sum()
    assert (tested.p_holm >= tested.p_value - 1e-12).all()
    from semirobust.inference import holm
    assert tested.p_holm.tolist() == pytest.approx(holm(tested.p_value.tolist()))


def test_plot_success_draws_the_primary_measure_and_the_cross_check():
    frame = rho_success.trial_frame(_synthetic(effect=1.0))
    fig = rho_success_plots.plot_success(frame)
    assert len(fig.axes) == 2 and "null mean" in fig.axes[0].get_xlabel()
    caption = rho_success_plots.success_caption(frame)
    assert "108 trials" in caption and "9 clusters" in caption and "2 points" in caption


def test_figure1_cells_are_read_each_data_set_at_its_own_budget():
    from semirobust.experiments.table1 import population

    configs, _ = population.figure1_page_configs("offline", "fashion-mnist,digits")
    assert sorted({(c.dataset, round(c.eps * 255)) for c in configs}) == [("digits", 16), ("fashion-mnist", 8)]


def test_cells_within_counts_by_hand():
    def cell(acc_tilde, unbiased):
        return {"metrics": {"acc_star": 52.0, "acc_tilde": acc_tilde, "acc_tilde_unbiased": unbiased}}

    found = figure_claims.cells_within([cell(51.5, 30.0), cell(45.0, 44.0)], k=1.0)
    assert (found["cells"], found["within"], found["within_unbiased"]) == (2, 1, 0)
    assert found["largest_gap"] == pytest.approx(7.0) and found["median_gap"] == pytest.approx(3.75)
    assert figure_claims.cells_within_sentence(found) == (
        "Acc~ came within k = 1 point of Acc* in 1 of 2 cells (paper rule; 0 of 2 validation-selected); the median "
        "shortfall Acc* - Acc~ was 3.8 points and the largest 7.0")
