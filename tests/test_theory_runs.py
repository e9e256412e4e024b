"""run_theorem3 and run_weight_bound end to end on a tiny profile, and the reports built from their records.

The notebooks are the only other callers of the two runs; here they run on AlexNet (8 trainable layers)
at the smoke width on 100 digits, one epoch of training, in temporary cache and results folders. The
adversarially trained network is shared: both runs ask for the same one, so the second reuses it.
"""
from __future__ import annotations

import math
import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from tiny import make_tiny_profile  # noqa: E402

from semirobust.config import get_profile  # noqa: E402
from semirobust.experiments.report.style import legibility_problems  # noqa: E402
from semirobust.experiments.theory import theorem2, theorem3, theorem3_report, weight_bound, weight_bound_report  # noqa: E402
from semirobust.utils import REPO_ROOT  # noqa: E402

#: smoke, smaller: 100 training images, one epoch, PGD-2 adversarial training and one epoch of f_b fine-tuning.
TINY = make_tiny_profile(test_subset=40, eval_subset=20, sub_epochs=1, train_attack_steps=2)
ATTACKS = ("none", "fgsm", "pgd")
FB_SIZES = (1, 4)  # a = 7 (Theorem 3's trivial case, a = n-1) and a = 4
GAMMA_IMAGES = 8
EPOCHS = 1


def _book_glue_names(notebook: str) -> set[str]:
    """The glue names the book's pages read from ``notebook``."""
    pattern = re.compile(re.escape(notebook) + r"::(\w+)")
    return {name for page in (REPO_ROOT / "book").rglob("*.md") for name in pattern.findall(page.read_text())}


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("theory_runs")
    return {"cache_dir": root / "cache", "results_dir": root / "results"}


@pytest.fixture(scope="module")
def theorem3_run(folders):
    settings = theorem3.theorem3_settings("alexnet", "digits", profile=TINY, attacks=ATTACKS, fb_sizes=FB_SIZES,
                                          n_images=20, autoattack_images=20, gamma_images=GAMMA_IMAGES, gamma_steps=2,
                                          gamma_restarts=1, apgd_steps=2, device="cpu")
    return settings, theorem3.run_theorem3(settings, device="cpu", progress=False, **folders)


@pytest.fixture(scope="module")
def weight_bound_run(folders):
    settings = weight_bound.weight_bound_settings("alexnet", "digits", profile=TINY, attack="fgsm", fb_layers=2,
                                                  epochs=EPOCHS, n_eval=10, tol=1e-2, device="cpu")
    return settings, weight_bound.run_weight_bound(settings, device="cpu", progress=False, **folders)


# ---------------------------------------------------------------- settings (fast)

def test_a_custom_profile_names_the_record_and_a_named_one_keeps_its_config():
    named = theorem3.theorem3_settings("alexnet", profile="smoke")
    assert named.profile == "smoke" and named.as_config()["profile"] == "smoke"  # record keys unchanged
    custom = theorem3.theorem3_settings("alexnet", profile=TINY)
    assert custom.profile is TINY and custom.n_images == TINY.test_subset
    assert custom.as_config()["profile"]["train_subset"] == 100  # every field of a custom profile names its record
    assert custom.as_config() != theorem3.theorem3_settings("alexnet", profile=get_profile("smoke")).as_config()
    bound = weight_bound.weight_bound_settings("alexnet", profile=TINY)
    assert bound.profile is TINY and bound.epochs == TINY.sub_epochs
    assert weight_bound.weight_bound_settings("alexnet", profile="smoke").as_config()["profile"] == "smoke"


def test_smallest_ratio_skips_undefined_points_and_is_nan_when_none_is_defined():
    assert weight_bound_report.smallest_ratio([None, 3.0, 2.5, None]) == 2.5
    assert isinstance(weight_bound_report.smallest_ratio([4]), float)
    assert math.isnan(weight_bound_report.smallest_ratio([None, None]))
    assert math.isnan(weight_bound_report.smallest_ratio([]))


# ---------------------------------------------------------------- Theorem 3 (trains)

@pytest.mark.slow
def test_run_theorem3_record_has_a_table_s1_row_per_attack_and_size(theorem3_run):
    settings, record = theorem3_run
    assert record["kind"] == "theorem3" and record["profile"] == "smoke"
    assert settings.fa_sizes == (7, 4) and record["config"]["fa_sizes"] == [7, 4]
    rows = record["metrics"]["table_s1"]
    assert sorted((r["attack"], r["fa_layers"]) for r in rows) == sorted((a, s) for a in ATTACKS for s in (7, 4))
    for row in rows:
        assert row["n_fit"] == row["n_eval"] == 20 and row["fb_layers"] == 8 - row["fa_layers"]
        for key in ("acc_star", "acc_tilde_transfer", "acc_tilde_adaptive", "acc_tilde_in_sample", "acc_rand"):
            assert 0 <= row[key] <= 100, (key, row)
    assert len(record["metrics"]["paper_bounds"]) == len(theorem3.paper_theorem3_bounds())


@pytest.mark.slow
def test_run_theorem3_gammas_lie_in_the_label_range_and_the_attack_never_raises_them(theorem3_run):
    _, record = theorem3_run
    check = record["metrics"]["semirobustness"]
    assert check["n_layers"] == 8 and check["n_eval"] == GAMMA_IMAGES and check["n_fit"] == 20
    for key in ("gamma_layers", "gamma_layers_clean", "gamma_layers_sign", "gamma_layers_sign_clean"):
        assert len(check[key]) == 7 and all(-1 <= g <= 1 for g in check[key]), key
    # the PGD minimiser starts from the clean point, so an attacked gamma is at most the clean one
    assert all(g <= c + 1e-5 for g, c in zip(check["gamma_layers"], check["gamma_layers_clean"]))
    entries = check["theorem3"]
    assert [e["fa_layers"] for e in entries] == [7, 4]
    assert entries[0]["trivial"] and not entries[1]["trivial"] and entries[1]["factor"] == (8 - 1 - 4) * (8 - 4) / 2
    assert len(entries[1]["gamma_fb_layers"]) == 8 - 4
    verdicts = record["metrics"]["checks"]
    assert [v["fa_layers"] for v in verdicts["theorem3"]] == [7, 4] and verdicts["theorem3"][0]["possible"]


@pytest.mark.slow
def test_run_theorem3_returns_the_stored_record_for_the_same_settings(theorem3_run, folders):
    settings, record = theorem3_run
    again = theorem3.run_theorem3(settings, device="cpu", progress=False, **folders)
    assert again["created_at"] == record["created_at"] and again["config_hash"] == record["config_hash"]


@pytest.mark.slow
def test_theorem3_report_frames_sentences_glue_and_plots(theorem3_run):
    settings, record = theorem3_run
    assert len(theorem3_report.table_s1_frame(record)) == len(ATTACKS) * 2
    assert list(theorem3_report.theorem3_frame(record)["a (f_a layers)"]) == [7, 4]
    assert len(theorem3_report.lemma2_frame(record)) == 7
    assert theorem3_report.lemma2_caption(record).startswith("**Lemma 2** (gamma_n = ")
    assert len(theorem3_report.paper_bounds_frame(record)) == len(record["metrics"]["paper_bounds"])
    lines = theorem3_report.theorem3_statements(record)
    assert len(lines) == 2 + len(settings.fa_sizes) and all(isinstance(line, str) and line for line in lines)
    values = theorem3_report.theorem3_glue_values(record)
    theorem2_values = theorem2.theorem2_glue_values(record, None)  # no table1 record in this store
    assert _book_glue_names("theorem3_linear.ipynb") <= set(values) | set(theorem2_values) | {"s1_adaptive_fig"}
    assert "not computed" in theorem2_values["theorem2_statement"]
    margins = theorem2.a2_margins(record["metrics"]["semirobustness"])
    assert len(margins) == 6 + 4 and theorem2_values["a2_margin_pairs"] == len(margins)  # trained j = 2..7, linear a = 4
    assert values["s1_adaptive_sentence"].endswith(".") and "a = 7 = n-1 is trivial" in values["s1_adaptive_sentence"]
    assert values["theorem3_model"] == "alexnet" and values["theorem3_fa_layers"] == 7 and values["theorem3_a"] == 4
    assert values["theorem3_acc_star_autoattack"] == "n/a"  # left out of this run
    assert float(values["theorem3_acc_star_pgd"]) == pytest.approx(
        next(r["acc_star"] for r in record["metrics"]["table_s1"] if (r["attack"], r["fa_layers"]) == ("pgd", 7)),
        abs=0.05)
    assert values["theorem3_tested"] == 1 and isinstance(values["theorem3_table"], pd.DataFrame)
    for plot in (theorem3_report.plot_table_s1, theorem3_report.plot_gammas, theorem3_report.plot_s1_adaptive):
        fig = plot(record)
        assert fig.axes and all(ax.get_xlabel() for ax in fig.axes)
        assert not legibility_problems(fig), legibility_problems(fig)
        plt.close(fig)


# ---------------------------------------------------------------- Section 2.2 (trains)

@pytest.mark.slow
def test_run_weight_bound_has_a_point_per_epoch_and_leaves_f_a_alone(weight_bound_run):
    _, record = weight_bound_run
    assert record["kind"] == "weight_bound" and record["profile"] == "smoke"
    trajectory = record["metrics"]["trajectory"]
    assert [row["epoch"] for row in trajectory] == list(range(EPOCHS + 1))
    for row in trajectory:
        assert row["delta_fa_norm"] == 0  # f*_a frozen during the fine-tuning of f_b
        assert row["delta_fb_norm"] > 0  # f_b starts from the regularly trained network
        assert 0 <= row["delta_fb_norm_aligned"] <= row["delta_fb_norm"] * 1.5  # AlexNet is a chain: aligned
        for name in ("clean", "adv"):
            for key in ("eig_bound", "norm_bound", "output_diff", "eq14_bound"):
                assert math.isfinite(row[f"{key}_{name}"]) and row[f"{key}_{name}"] >= 0, (key, name)
    for name in ("clean", "adv"):
        ref = record["metrics"]["reference"][name]
        assert math.isfinite(ref["lambda_max"]) and ref["n_hvp"] > 0 and ref["c_x"] > 0
    assert all(c["points"] == EPOCHS + 1 for c in record["metrics"]["checks"].values())
    taylor = record["metrics"]["taylor_regime"]
    assert len(taylor) == 2 * len(weight_bound.TAYLOR_DIRECTIONS) * len(weight_bound.TAYLOR_RADII)
    assert record["metrics"]["missing_factors"]["conv_operator_fa"] >= 1


@pytest.mark.slow
def test_weight_bound_report_frames_sentences_glue_and_plots(weight_bound_run):
    settings, record = weight_bound_run
    assert len(weight_bound_report.weight_bound_frame(record)) == EPOCHS + 1
    assert len(weight_bound_report.taylor_frame(record)) == len(record["metrics"]["taylor_regime"])
    assert list(weight_bound_report.reference_frame(record).columns) == ["clean", "adv"]
    assert weight_bound_report.reference_caption(record).startswith(r"**At w\*** (")
    assert "bn_scale_fa" in weight_bound_report.missing_factors_frame(record).index
    assert all(isinstance(line, str) and line for line in weight_bound_report.weight_bound_statements(record))
    values = weight_bound_report.weight_bound_glue_values(record)
    assert _book_glue_names("weight_bound.ipynb") <= set(values) | {"weight_distance_fig"}
    assert (values["weight_bound_fb_layers"], values["weight_bound_epochs"]) == (settings.fb_layers, EPOCHS)
    assert values["weight_bound_taylor_radius"] == f"{min(weight_bound.TAYLOR_RADII):g}"
    for key in ("bound_ratio", "frobenius_ratio", "eq14_ratio"):
        glued = values[f"weight_bound_{key}_clean"]
        defined = [r[f"{key}_clean"] for r in record["metrics"]["trajectory"] if r[f"{key}_clean"] is not None]
        assert glued == (weight_bound_report.ratio_text(min(defined)) if defined else weight_bound_report.NO_GAP)
    assert all(not isinstance(v, float) or math.isfinite(v) for v in values.values())
    for plot in (weight_bound_report.plot_weight_bound, weight_bound_report.plot_bound_ratios,
                 weight_bound_report.plot_distance_gap):
        fig = plot(record)
        assert fig.axes and all(ax.get_xlabel() for ax in fig.axes)
        assert not legibility_problems(fig), legibility_problems(fig)
        plt.close(fig)
