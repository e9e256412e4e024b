"""The budget and attack readings of a Table 1 cell (semirobust.experiments.table1.budget_report) on a synthetic
record: epochs used per arm, the stopping decision's noise, the gap between the per-epoch attack, the scoring attack
and the full AutoAttack, and the glued values, each recomputed by hand."""
from __future__ import annotations

import math

import pytest

from semirobust.experiments.table1 import arms_report, budget_report


def _record():
    """Three seeds, two arms; Algorithm 1 stops after 1, 2 and 2 epochs, standard f_b runs all 10."""
    per_seed = []
    for s, (a1_epochs, star, score, aa) in enumerate([(1, 74.0, 71.0, 69.0), (2, 75.0, 72.0, 70.5),
                                                     (2, 76.0, 73.0, 70.0)]):
        per_seed.append({
            "acc_star": star, "acc_star_eval": star + 3, "acc_star_autoattack": star - 2.5,
            "acc_star_autoattack_apgd_ce": star - 1.0, "acc_star_val": 75.0, "acc_star_clean": 80.0 + s,
            "acc_tilde_unbiased": score, "acc_tilde_per_epoch_val_selected": score + 4,
            "acc_tilde_unbiased_autoattack": aa, "acc_tilde_unbiased_autoattack_apgd_ce": aa + 1.5,
            "acc_tilde_standard_fb": score - 10,
            "arms": {"algorithm1": {"trials": [{"epochs_run": a1_epochs, "stopped_early": True}]},
                     "standard_fb": {"trials": [{"epochs_run": 10, "stopped_early": False}]}}})
    return {"config": {"arch": "vgg16", "dataset": "fashion-mnist", "fb_layers": 12, "k": 1.0, "eps": 8 / 255,
                       "attack": "autoattack", "epochs": 10, "trials": 1},
            "metrics": {"per_seed": per_seed, "seeds": [0, 1, 2], "acc_star_clean": 81.0, "acc_star_val": 75.0,
                        "arm_names": ["algorithm1", "standard_fb"]},
            "extra": {"scored_images": 1000, "eval_images": 1000, "val_images": 1000, "final_autoattack_images": 200,
                      "profile_settings": {"score_attacks": ["apgd-ce", "apgd-dlr"], "score_apgd_iters": None,
                                           "stopping_apgd_iters": 20, "sub_epochs": 10}}}


def test_epochs_used_per_arm_and_the_stopping_noise():
    record = _record()
    assert arms_report.epochs_used(record, "algorithm1") == [1, 2, 2]
    assert arms_report.epochs_text(record, "algorithm1") == "1.7 (1\u20132) of 10"
    assert arms_report.epochs_text(record, "standard_fb") == "10.0 of 10"
    noise = budget_report.stopping_noise(record)
    assert noise["val_se"] == pytest.approx(round(100 * math.sqrt(0.75 * 0.25 / 1000), 1))
    assert "1,000 validation images" in budget_report.stopping_sentence(record)
    table = budget_report.epochs_table(record)
    assert list(table["trials stopped by the rule"]) == ["3 of 3", "0 of 3"]


def test_the_attack_gap_reads_each_attack_on_each_network():
    table = budget_report.attack_gap_table(_record())
    assert list(table["network"]) == ["robust network (Acc*)", "Algorithm 1, validation-selected"]
    scoring = "scoring attack (APGD-CE + APGD-DLR, 100 iterations each (worst case per image))"
    assert table.loc[0, scoring].startswith("75.0")  # Acc* 74, 75, 76
    assert table.loc[0, "full AutoAttack (200 images)"].startswith("72.5")
    assert table.loc[1, "scoring minus full AutoAttack"].startswith("2.2")  # (2 + 1.5 + 3) / 3
    assert table.loc[0, "per-epoch attack (APGD-CE, 20 iterations)"].startswith("78.0")


def test_the_glued_budget_values():
    values = budget_report.budget_values(_record())
    assert values["trial_epochs_max"] == 10 and values["trials"] == 1
    assert values["scoring_iterations"] == 100 and values["scoring_attack"].startswith("APGD-CE + APGD-DLR")
    assert values["full_aa_images"] == 200 and values["full_aa_seeds"] == 3
    assert values["epochs_used_algorithm1"] == pytest.approx(1.7)
    assert values["acc_star_clean"] == 81.0
