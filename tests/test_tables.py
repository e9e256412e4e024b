"""Table 1 assembly: rows with blanks, the supplementary's values beside ours, the store view."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from semirobust.experiments.table1 import report as tables


def _record(arch="vgg16", dataset="digits", attack="autoattack", eps=8 / 255, fb_layers=12, seed=0, profile="smoke"):
    """A table1 record as run_algorithm1 writes it, with distinct rho values rho_{a+1}..rho_n = 1..fb."""
    config = {"arch": arch, "dataset": dataset, "attack": attack, "eps": eps, "fb_layers": fb_layers, "trials": 2,
              "epochs": 2, "k": 1.0, "profile": profile, "seed": seed}
    metrics = {"acc_star": 40.0, "acc_sr": 20.0, "acc_tilde": 39.5, "diff": -0.5, "acc_tilde_unbiased": 38.5,
               "diff_unbiased": -1.5,
               "rho": [float(j) for j in range(1, fb_layers + 1)]}
    return {"kind": "table1", "config": config, "metrics": metrics}


@pytest.mark.parametrize("fb_layers, present", [(4, 2), (12, 4), (16, 5)])
def test_row_has_the_papers_columns_and_blanks_where_fb_is_too_small(fb_layers, present):
    row = tables.table1_row(_record(fb_layers=fb_layers))
    assert list(row) == list(tables.TABLE1_COLUMNS)
    assert row["Model"] == "VGG16" and row["f_b layers"] == fb_layers
    # one selection rule: Acc~ and Diff validation-selected, never the paper's test-selected 39.5 and -0.5
    assert (row["Acc*"], row["Acc_sr"], row["Acc~"], row["Diff"]) == (40.0, 20.0, 38.5, -1.5)
    rhos = [row[c] for c in tables.RHO_COLUMNS]
    assert sum(not math.isnan(v) for v in rhos) == present
    # rho_{n-x} is the (x+1)-th value from the end: rho list is 1..fb, so rho_n = fb, rho_{n-3} = fb - 3.
    assert row["rho_n"] == fb_layers and row["rho_{n-3}"] == fb_layers - 3
    if fb_layers >= 8:
        assert row["rho_{n-7}"] == fb_layers - 7


def test_rho_at_and_wrong_kind():
    assert tables.rho_at([1.0, 2.0, 3.0], 0) == 3.0
    assert math.isnan(tables.rho_at([1.0, 2.0, 3.0], 3))
    with pytest.raises(ValueError, match="offset"):
        tables.rho_at([1.0], -1)
    with pytest.raises(ValueError, match="table1"):
        tables.table1_row({"kind": "theorem3", "config": {}, "metrics": {}})


def test_frame_orders_models_as_the_paper_and_display_blanks_missing_values():
    frame = tables.table1_frame([_record("resnet50", fb_layers=16), _record("alexnet", fb_layers=4),
                                 _record("vgg16", fb_layers=12)])
    assert list(frame["Model"]) == ["AlexNet", "VGG16", "ResNet50"]
    shown = tables.display_table(frame)
    assert shown.loc[0, "rho_{n-7}"] == "" and shown.loc[0, "rho_n"] == "4.00"
    assert shown.loc[2, "rho_{n-15}"] == "1.00"


def test_reported_file_is_the_supplementarys_tables():
    reported = tables.load_reported()
    assert set(reported["table"]) == {"S2", "S3", "S4"}
    assert set(reported["attack"]) == {"clean", "fgsm", "pgd"}
    s3 = reported[(reported["table"] == "S3") & (reported["network"] == "VGG16") & (reported["dataset"] == "CIFAR-10")
                  & (reported["fb_layers"] == 12)].iloc[0]
    assert (s3["acc_star"], s3["acc_sr"], s3["acc_tilde"]) == (44.9, 17.7, 43.1)  # Table S3 as printed


def test_matching_setting_puts_the_reported_row_right_after_ours():
    ours = _record(dataset="cifar10", attack="pgd", fb_layers=12)
    table = tables.compare_with_reported([ours])
    assert list(table["Source"]) == ["this run", "reported (Table S4)"]
    reported = tables.load_reported()
    source = reported[(reported["table"] == "S4") & (reported["network"] == "VGG16")
                      & (reported["dataset"] == "CIFAR-10") & (reported["fb_layers"] == 12)].iloc[0]
    row = table.iloc[1]
    assert (row["Model"], row["Dataset"], row["f_b layers"]) == ("VGG16", "CIFAR-10", 12)
    assert row["Acc*"] == source["acc_star"] and row["Acc~"] == source["acc_tilde"]
    assert row["rho_{n-11}"] == source["rho_n_minus_11"] and math.isnan(row["rho_{n-15}"])
    assert table.iloc[0]["Acc*"] == 40.0
    assert "reports VGG16 / CIFAR-10 / pgd" in tables.reported_note("vgg16", "cifar10", "pgd", 8 / 255, 12)


@pytest.mark.parametrize("arch, dataset, attack, eps, fb, named", [
    ("vgg16", "digits", "fgsm", 8 / 255, 12, "data set digits"),
    ("alexnet", "cifar10", "fgsm", 8 / 255, 4, "network AlexNet"),
    ("vgg16", "cifar10", "autoattack", 8 / 255, 12, "attack autoattack"),
    ("vgg16", "cifar10", "pgd", 16 / 255, 12, "eps=16/255"),
    ("vgg16", "cifar10", "pgd", 8 / 255, 8, "f_b = 8"),
])
def test_settings_without_a_reported_value_say_why(arch, dataset, attack, eps, fb, named):
    assert tables.reported_rows(arch, dataset, attack, eps, fb).empty
    note = tables.reported_note(arch, dataset, attack, eps, fb)
    assert note.startswith("The supplementary reports no value") and named in note
    table = tables.compare_with_reported([_record(arch, dataset, attack, eps, fb)])
    assert list(table["Source"]) == ["this run"]


def test_stamp_line_names_profile_and_dataset():
    assert tables.stamp_line("smoke", "digits") == "Computed at profile=smoke on dataset=digits (not the paper's scale)"
    assert tables.stamp_line("paper", ["cifar100", "cifar10"]) == "Computed at profile=paper on dataset=cifar10, cifar100"


def test_empty_inputs_give_empty_tables():
    assert tables.table1_frame([]).empty and list(tables.table1_frame([]).columns) == list(tables.TABLE1_COLUMNS)
    assert isinstance(tables.compare_with_reported([]), pd.DataFrame)


def test_attack_label_names_a_reduced_autoattack():
    record = _record()
    assert tables.attack_label(record) == "autoattack"
    record["extra"] = {"eval_attack": {"name": "autoattack", "attacks": ["apgd-ce"]}}
    assert tables.attack_label(record) == "autoattack (apgd-ce only)"


def test_calibrated_rows_show_the_null_beside_rho_and_mark_pairs_not_above_it():
    from semirobust.experiments.table1 import report as tables

    pairs = [{"rho": 1.0 + j, "rho_null_mean": 1.0 + j, "rho_above_null": j == 3} for j in range(4)]
    record = {"kind": "table1", "config": {"arch": "vgg16", "dataset": "digits", "fb_layers": 4, "attack": "pgd", "eps": 16 / 255},
              "metrics": {"acc_star": 50.0, "acc_sr": 10.0, "acc_tilde": 45.0, "diff": -5.0,
                          "rho": [p["rho"] for p in pairs], "rho_pairs": pairs}}
    row = tables.table1_row(record)
    assert row["rho_n"] == 4.0 and row["rho_n null"] == 4.0 and row["rho_n above null"] == "yes"
    assert row["rho_{n-3} above null"] == "no" and row["pairs above null"] == "1 of 4"
    assert row["rho_{n-7} above null"] == "" and math.isnan(row["rho_{n-7} null"])
    frame = tables.table1_frame([record])
    assert "pairs above null" in frame.columns and list(frame.columns[:len(tables.TABLE1_COLUMNS)]) == list(tables.TABLE1_COLUMNS)


def test_several_seeds_show_mean_plus_minus_interval_and_one_seed_shows_the_mean():
    record = _record()
    record["config"]["seeds"] = [0, 1, 2]
    record["metrics"].update({"acc_star_ci": 1.25, "acc_sr_ci": 0.5, "acc_tilde_unbiased_ci": None, "diff_unbiased_ci": 2.0,
                              "acc_tilde_ci": 9.0, "diff_ci": 9.0})
    shown = tables.display_table(tables.table1_frame([record, _record(arch="alexnet", fb_layers=4)]))
    vgg, alex = shown[shown.Model == "VGG16"].iloc[0], shown[shown.Model == "AlexNet"].iloc[0]
    nbsp = "\u00a0"  # "mean ± half" never breaks inside a table cell
    assert (vgg["Acc*"], vgg["Acc_sr"], vgg["Acc~"], vgg["Diff"]) == (
        f"40.0{nbsp}±{nbsp}1.2", f"20.0{nbsp}±{nbsp}0.5", "38.5", f"-1.5{nbsp}±{nbsp}2.0")  # accuracies to one decimal
    assert vgg["seeds"] == "3" and alex["Acc*"] == "40.0" and alex["seeds"] == ""
    assert not any(c.endswith(" ci") for c in shown.columns)


def test_final_autoattack_columns_appear_only_when_the_epochs_used_a_cheaper_attack():
    record = _record()
    assert "Acc* (full AA)" not in tables.table1_row(record)  # no final AutoAttack in the record
    record["metrics"].update(acc_star_autoattack=40.0, acc_tilde_autoattack=35.0, acc_tilde_unbiased_autoattack=None)
    record["extra"] = {"eval_attack": {"attacks": ["apgd-ce"]}}
    row = tables.table1_row(record)
    assert row["Acc* (full AA)"] == 40.0 and math.isnan(row["Acc~ (full AA)"])  # validation-selected: not measured
    shown = tables.display_table(tables.table1_frame([record]))
    assert shown["Acc* (full AA)"].iloc[0] == "40.0" and shown["Acc~ (full AA)"].iloc[0] == ""
    assert list(tables.table1_parts(tables.table1_frame([record]))["autoattack"].columns) == [
        "Model", "Dataset", "f_b layers", *tables.AUTOATTACK_COLUMNS]


def _verdict_record(final_autoattack=True):
    """A three-seed ``table1`` record with what the Table 1 page's sentences read."""
    record = _record()
    record["config"]["seeds"] = [0, 1, 2]
    record["metrics"].update(
        acc_regular_clean=97.0, acc_regular_clean_ci=0.5, acc_regular_attacked=3.0, acc_regular_attacked_ci=None,
        acc_star_clean=90.0, acc_star_ci=1.25, acc_tilde_unbiased=38.0, seeds=[0, 1, 2], grad_evals=2.0e6,
        grad_evals_authors=3.0e7, rho_rule="lowest over the trials that converged", trials=[{}, {}],
        per_seed=[{"best_trial": 1, "converged_trials": 2, "acc_star_autoattack": 39.0 if final_autoattack else None},
                  {}, {}],
        acc_star_autoattack=39.0 if final_autoattack else None, acc_star_autoattack_apgd_ce=39.5,
        acc_tilde_autoattack=36.0, acc_tilde_autoattack_apgd_ce=37.0, acc_tilde_unbiased_autoattack=None,
        acc_tilde_unbiased_autoattack_apgd_ce=None)
    record.update(extra={"eval_attack": {"attacks": ["apgd-ce"]}, "final_autoattack_images": 40, "eval_images": 200,
                         "rho_images": 200},
                  config_hash="c0ffee", device="cpu (x86_64)", git_commit="0123456789abcdef", created_at="2026-12-02")
    return record


def test_table1_verdict_reads_the_record():
    verdict = tables.table1_verdict(_verdict_record())
    assert verdict.startswith("vgg16, f_b = 12, eps 8/255, seeds [0, 1, 2]: regular network 97.0 ± 0.5% clean and "
                              "3.0% attacked; Acc* 40.0 ± 1.2%, Acc_sr 20.0%, Acc~ 38.0% (validation-selected, 2.0 points "
                              "below Acc* on average).")
    assert "paper rule" not in verdict and "Acc~ 39.5" not in verdict  # one selection rule
    assert "Gradient evaluations" not in verdict  # the evaluation protocol's cost is the Algorithm 1 page's
    assert ("run once per final network of 1 seed(s) on 40 of the test images (APGD-CE alone on the same images in "
            "brackets): Acc* 39.0% (39.5%), Acc~ not measured (not measured, validation-selected).") in verdict
    assert "full standard AutoAttack" not in tables.table1_verdict(_verdict_record(final_autoattack=False))


def test_record_lines_and_the_cost_at_the_papers_scale():
    record = _verdict_record()
    record["metrics"]["per_seed"][0]["trials"] = [{}, {}]
    record["extra"].update(clean_images=360, scored_images=200, val_images=100, train_images=1150)
    lines = tables.record_lines(record)
    assert lines[0] == ("Evaluation attack: autoattack (apgd-ce only) at eps = 8/255; every selected network scored on "
                        "the same 200 test images; stopping and selection after every trial epoch on 100 validation and "
                        "200 test images; rho on 200 attacked test images")
    assert lines[1] == "Regular network on 1,150 training images: clean accuracy 97.0% on 360 test images, under attack 3.0%"
    assert lines[3] == "Acc_sr = 20.0% -> Acc~ = 38.0% validation-selected"
    assert lines[-1] == "Record c0ffee (cpu (x86_64), commit 0123456789, 2026-12-02)" and len(lines) == 6
    sentence = tables.paper_scale_cost()
    assert sentence.startswith("At the paper profile's sizes on CIFAR-10 (Acc* 45%), both procedures ending")
    assert "APGD-CE on 2,000 validation and test images after every epoch" in sentence
    assert "15.0x fewer (9.6x with the authors' 10 trials; 6.3x if APGD-CE ran on the whole" in sentence


def test_table1_parts_fit_the_column_and_mark_rho_below_its_null():
    """Table 1 split into an accuracy table and a rho table, neither wider than the column allows."""
    record = _record(fb_layers=4)
    pairs = [{"rho": float(j), "rho_null_mean": 1.0, "rho_above_null": j % 2 == 0} for j in range(1, 5)]
    record["metrics"]["rho_pairs"] = pairs
    parts = tables.table1_parts(tables.compare_with_reported([record]))
    assert list(parts["accuracy"].columns) == ["Source", "Model", "Dataset", "f_b layers", "Acc*", "Acc_sr", "Acc~", "Diff"]
    rho = parts["rho"]
    assert list(rho.columns) == ["Source", "Model", "Dataset", "f_b layers", "rho_n", "rho_{n-3}", "pairs above null"]
    assert rho["rho_n"].iloc[0] == "4.00" and rho["rho_{n-3}"].iloc[0] == "1.00" + tables.NOT_ABOVE_NULL
    assert "autoattack" not in parts
    assert all(len(part.columns) <= 10 for part in parts.values())


def test_profile_stamp_names_profile_data_set_and_scale():
    assert tables.profile_stamp("offline", "digits") == ("profile offline, data set digits: a small-scale check, "
                                                          "not the paper's scale")
    assert tables.profile_stamp("paper", ["cifar100", "cifar10"]).endswith("data sets CIFAR-10, CIFAR-100: the paper's scale")


@pytest.mark.parametrize("diff, half, status", [(-0.5, 0.3, "confirmed"), (-3.0, 0.5, "not confirmed"),
                                                (-0.5, 2.0, "undecided"), (0.2, None, "undecided")])
def test_table1_claim_reads_the_interval_of_the_validation_selected_diff(diff, half, status):
    record = _verdict_record()
    record["metrics"].update(diff_unbiased=diff, diff_unbiased_ci=half, diff_ci=0.4)
    result, found, reading = tables.table1_claim(record)
    assert found == status
    assert f"Acc~ - Acc* = {diff:+.1f}" in result and "VGG16, f_b = 12, 3 seeds" in result
    assert "supports" not in reading and "supports" not in result
    if half is None:
        assert reading == "No interval (one seed): undecided."
    elif status == "undecided":
        assert "contains -k = -1 point" in reading


# --- verdict boxes: statuses from intervals, never "supports" when the interval covers no effect -------------

@pytest.mark.parametrize("low, high, predicts, status", [
    (-0.9, -0.2, "below", "confirmed"), (0.1, 0.5, "below", "not confirmed"), (-0.5, 0.4, "below", "undecided"),
    (0.2, 0.9, "above", "confirmed"), (-0.9, -0.1, "above", "not confirmed"), (None, None, "below", "undecided"),
    (float("nan"), 0.3, "above", "undecided"),
])
def test_interval_status(low, high, predicts, status):
    from semirobust.experiments.report.verdicts import interval_status

    assert interval_status(low, high, 0.0, predicts) == status


def test_readings_never_say_supports_and_claims_glue_under_fixed_names():
    from semirobust.experiments.report import verdicts

    for status in verdicts.STATUSES:
        for predicts in ("below", "above"):
            assert "support" not in verdicts.reading(status, "0", predicts)
    assert verdicts.reading("undecided", "0, the value of no effect") == (
        "The interval contains 0, the value of no effect: undecided, this run cannot tell the claim from its opposite.")
    assert verdicts.claim_values("x_y", "claim", "undecided", "r = 0.1") == {
        "claim_x_y_text": "claim", "claim_x_y_status": "undecided", "claim_x_y_evidence": "r = 0.1"}
    with pytest.raises(ValueError, match="Unknown status"):
        verdicts.claim_values("x", "claim", "supported", "")


def _primary(low, high, n=12):
    """The primary analysis of the claim "rho predicts success" with a given cluster-bootstrap interval (the literal
    test in line with the claim, so the interval alone decides)."""
    from semirobust.experiments.rho import rho_success

    literal = rho_success.LiteralTest(2.0, failing=3, failing_at_null=3, succeeding=9, succeeding_at_null=0, unknown=0)
    return rho_success.PrimaryResult(n, 6, "seeds within networks and data sets (6 clusters)", (low + high) / 2, low,
                                     high, 0.05, 0.0, -0.5, 0.5, literal)


@pytest.mark.parametrize("low, high, status", [(-0.9, -0.3, "confirmed"), (-0.6, 0.2, "undecided"),
                                               (0.1, 0.7, "not confirmed")])
def test_every_page_verdict_holds_back_when_the_interval_covers_no_effect(low, high, status):
    """The Figure 1 box (rho predicts success), Figure 2 (smaller f_b, higher rho) and the efficiency box read
    their intervals; none says "supports", and an interval over the value of no effect is undecided."""
    from semirobust.experiments.rho import figure_claims as claims
    from semirobust.experiments.rho import rho_success
    from semirobust.experiments.supplementary import efficiency

    result, found, reading = rho_success.success_claim(_primary(low, high))
    assert found == status and f"{low:+.2f} to {high:+.2f}" in result
    texts = [result, reading, rho_success.success_verdict(_primary(low, high))]
    table = pd.DataFrame({"x": [0, 1, 2], "smallest minus largest": [-high, -(low + high) / 2, -low],
                          "largest null sd": [0.01] * 3})
    records = [{"config": {"fb_layers": fb}} for fb in (4, 16)]
    f2 = claims.figure2_claim(records, table)
    texts += list(f2)
    report = {"device": "cpu", "cases": [{"shape": "cifar10", "arch": "vgg16", "ratios": [
        {"fb_layers": 12, "precision": "fp32", "throughput_frozen_over_full": 1.0, "memory_frozen_over_full": 0.9,
         "throughput_frozen_over_authors": 1.1, "memory_frozen_over_authors": 0.9}],
        "analytic": {"12": {"throughput_frozen_over_full": 1.03, "full_over_plain": 7.7, "fp32_state_saved_mb": 0.1}},
        "measurements": [{"variant": "full", "fb_layers": None, "precision": "fp32", "step_s": 2.0,
                          "step_s_all": [2.0, 2.0 * (1 + low) / (1 + (low + high) / 2), 2.0 * (1 + high) / (1 + (low + high) / 2)],
                          "multiple_of_plain": 7.0, "memory_mb": 10.0},
                         {"variant": "frozen", "fb_layers": 12, "precision": "fp32", "step_s": 2.0,
                          "step_s_all": [2.0], "multiple_of_plain": 7.0, "memory_mb": 9.0}]}]}
    texts += list(efficiency.efficiency_claim(report))
    for text in texts:
        assert "supports" not in text or "interval lies below 0" in text, text
    undecided = [text for text in texts if "contains" in text]
    if status == "undecided":
        assert undecided and f2[1] == "undecided"


def test_claims_that_this_scale_cannot_measure_say_so():
    from semirobust.experiments.rho import figure_claims as claims
    from semirobust.experiments.rho import rho_success

    result, status, reading = rho_success.success_claim(_primary(float("nan"), float("nan"), n=2))
    assert status == "not testable at this scale" and "2 trials" in result
    records = [{"config": {"arch": "vgg16", "dataset": "digits", "fb_layers": 12}, "metrics": {"rho": [1.0]}}]
    assert claims.dataset_claim(records)[1] == "not testable at this scale"
    assert claims.figure2_claim(records, pd.DataFrame())[1] == "not testable at this scale"


def test_headline_values_glue_one_selection_rule_under_the_names_the_pages_cite():
    record = _verdict_record()
    record["metrics"].update(acc_regular_clean=97.04, acc_regular_attacked=3.01, diff_unbiased=-2.0)
    values = tables.headline_values(record)
    assert (values["acc_star"], values["acc_sr"], values["acc_tilde"], values["diff"]) == (40.0, 20.0, 38.0, -2.0)
    assert values["acc_tilde"] == values["acc_tilde_unbiased"]  # the Algorithm 1 page's Acc~ is Table 1's
    assert (values["acc_tilde_paper_rule"], values["diff_paper_rule"]) == (39.5, -0.5)
    assert values["rho_n"] == 12.0 and values["acc_regular_clean"] == 97.0
