"""Figures 1 and 2 and the trial curves: labelled axes, legends, saved files, legible in the book's column
(as wide as the column, at most three panels a row, no text under 9 pt there), captions that say what is drawn."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from semirobust.experiments.report import figures as plots  # noqa: E402
from semirobust.experiments.report import style  # noqa: E402
from semirobust.experiments.rho import figure_claims as claims  # noqa: E402


def _record(arch, dataset, fb_layers, scale=1.0):
    config = {"arch": arch, "dataset": dataset, "attack": "autoattack", "eps": 8 / 255, "fb_layers": fb_layers,
              "k": 1.0}
    trials = [{"trial": t, "curve": [{"epoch": 1, "adv_acc": 30.0 + t}, {"epoch": 2, "adv_acc": 35.0 + t}]}
              for t in range(2)]
    metrics = {"acc_star": 37.0, "acc_sr": 20.0, "rho": [scale * j for j in range(1, fb_layers + 1)],
               "trials": trials}
    return {"kind": "table1", "config": config, "metrics": metrics}


def _legend_texts(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_depth_frame_puts_rho_n_at_x_zero():
    frame = plots.rho_depth_frame([_record("alexnet", "digits", 4)])
    assert list(frame["x"]) == [0, 1, 2, 3]
    assert list(frame["rho"]) == [4.0, 3.0, 2.0, 1.0]


def test_figure1_one_panel_per_model_one_line_per_dataset(tmp_path):
    records = [_record("alexnet", "digits", 4), _record("alexnet", "cifar10", 4, 2.0),
               _record("vgg16", "digits", 12), _record("vgg16", "digits", 4, 3.0)]
    fig = plots.figure1(records, models=["alexnet", "vgg16"])
    axes = fig.axes
    assert len(axes) == 2
    assert fig.get_supxlabel() == plots.X_LABEL and axes[0].get_ylabel() == plots.MEASURE_LABELS["rho"]
    assert sorted(t.get_text() for t in fig.legends[0].get_texts()) == ["CIFAR-10", "digits"]
    assert "f_b$ = 12" in axes[1].get_title()  # the largest f_b of VGG16 is drawn
    assert [line.get_label() for line in axes[1].lines if not line.get_label().startswith("_")] == ["digits"]
    assert max(axes[1].lines[0].get_xdata()) == 11
    path = style.save_figure(fig, tmp_path / "figure1.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 1000
    plt.close(fig)


def test_figure2_lines_per_fb_size_in_numeric_order(tmp_path):
    fig = plots.figure2([_record("resnet50", "digits", fb) for fb in (16, 4, 12, 8)])
    ax = fig.axes[0]
    assert _legend_texts(ax) == ["4", "8", "12", "16"]
    assert ax.get_legend().get_title().get_text() == "$f_b$ layers"
    assert ax.get_xlabel() and ax.get_ylabel()
    assert style.save_figure(fig, tmp_path / "sub" / "figure2.pdf").stat().st_size > 1000
    plt.close(fig)


def test_figure2_refuses_mixed_models():
    with pytest.raises(ValueError, match="one model on one data set"):
        plots.figure2([_record("resnet50", "digits", 4), _record("vgg16", "digits", 4)])


def test_trial_curves_show_each_trial_and_the_target():
    fig = plots.trial_curves(_record("vgg16", "digits", 12))
    ax = fig.axes[0]
    assert ax.get_xlabel().startswith("epoch") and "accuracy" in ax.get_ylabel()
    assert _legend_texts(ax)[:2] == ["0", "1"]
    assert any(list(line.get_ydata()) == [37.0, 37.0] for line in ax.lines)  # the Acc* reference line
    assert any(t.startswith("Acc$^*$") for t in _legend_texts(ax))
    plt.close(fig)


def _calibrated(record, above):
    pairs = []
    for j, value in enumerate(record["metrics"]["rho"]):
        pairs.append({"rho": value, "rho_null_mean": value - 0.5, "rho_null_sd": 0.1, "rho_ceiling": 10.0,
                      "rho_above_null": above(j), "cka": 0.5, "cka_null_mean": 0.2, "cka_null_sd": 0.01,
                      "cka_ceiling": 1.0, "cka_above_null": True})
    record["metrics"]["rho_pairs"] = pairs
    return record


def test_calibrated_figures_draw_null_band_ceiling_and_one_figure_per_measure():
    record = _calibrated(_record("vgg16", "digits", 4), above=lambda j: j % 2 == 0)
    frame = plots.rho_depth_frame([record])
    assert {"rho_null_mean", "rho_ceiling", "cka", "cka_above_null"} <= set(frame.columns)
    fig = plots.figure1([record], models=["vgg16"])
    assert [ax.get_ylabel() for ax in fig.axes] == [plots.MEASURE_LABELS["rho"]]
    rho_ax = fig.axes[0]
    assert rho_ax.collections, "no shaded null band"
    assert any(list(line.get_ydata()) == [10.0] * 4 for line in rho_ax.lines), "no ceiling line"
    hollow = [line for line in rho_ax.lines if line.get_markerfacecolor() == "white"]
    assert hollow and len(hollow[0].get_xdata()) == 2, "pairs not above null must be drawn hollow"
    plt.close(fig)
    cka = plots.figure1([record], models=["vgg16"], measure="cka")
    assert cka.axes[0].get_ylabel() == plots.MEASURE_LABELS["cka"]
    assert not any(line.get_linestyle() == ":" for line in cka.axes[0].lines), "CKA has no log2 N ceiling"
    plt.close(cka)
    fig2 = plots.figure2([record], measures=["rho"])
    assert len(fig2.axes) == 1
    plt.close(fig2)
    controls = plots.figure2([record], measures=("ksg", "cka"))  # KSG missing: its panel says so
    assert [ax.get_ylabel() for ax in controls.axes] == [plots.MEASURE_LABELS["ksg"], plots.MEASURE_LABELS["cka"]]
    assert [t.get_text() for t in controls.axes[0].texts] == ["not measured"]
    plt.close(controls)


def test_error_bars_come_from_the_seeds_rho_pairs():
    from semirobust.experiments.report import figures
    from semirobust.inference import mean_interval

    seeds = [[{"rho": 1.0 + s, "cka": 0.5}, {"rho": 2.0 * (s + 1), "cka": 0.4 + 0.1 * s}] for s in range(3)]
    record = {"kind": "table1", "config": {"arch": "vgg16", "dataset": "digits", "fb_layers": 2, "attack": "pgd"},
              "metrics": {"rho": [2.0, 4.0], "rho_pairs": [{"rho": 2.0, "cka": 0.5}, {"rho": 4.0, "cka": 0.5}],
                          "per_seed": [{"rho_pairs": p} for p in seeds]}}
    frame = figures.rho_depth_frame([record])
    last = frame[frame.x == 0].iloc[0]  # x = 0 is the last pair
    assert last["rho_ci"] == pytest.approx(mean_interval([2.0, 4.0, 6.0])[1])
    assert last["cka_ci"] == pytest.approx(mean_interval([0.4, 0.5, 0.6])[1])
    one_seed = figures.rho_depth_frame([{**record, "metrics": {**record["metrics"], "per_seed": [{"rho_pairs": seeds[0]}]}}])
    assert one_seed["rho_ci"].isna().all()
    fig = figures.figure1([record], models=["vgg16"])
    assert any(len(ax.containers) for ax in fig.axes)  # the errorbar container is drawn


def test_size_comparison_aligns_shared_pairs_from_the_end():
    def record(fb, rhos, sd=0.1):
        pairs = [{"rho": r, "rho_null_mean": 0.0, "rho_null_sd": sd, "rho_ceiling": 9.0, "rho_above_null": True}
                 for r in rhos]
        return {"kind": "table1", "config": {"arch": "resnet50", "dataset": "digits", "fb_layers": fb, "attack": "pgd"},
                "metrics": {"rho": rhos, "rho_pairs": pairs}}

    small = record(2, [5.0, 1.0])  # x = 1: 5.0 ; x = 0: 1.0
    large = record(4, [9.0, 9.0, 4.0, 1.05])  # x = 1: 4.0 ; x = 0: 1.05
    table, sentence = claims.size_comparison([small, large])
    assert table["x"].tolist() == [0, 1]
    assert table["smallest minus largest"].tolist() == pytest.approx([-0.05, 1.0])
    assert "at 1 of 2 shared layer pairs" in sentence and "at 1 of them" in sentence
    _, alone = claims.size_comparison([small])
    assert "cannot be compared" in alone


def test_figure_verdicts_read_the_records():
    records = [_record("resnet50", "digits", fb) for fb in (4, 16)]
    records[0]["metrics"].update(acc_tilde=36.25, rho_pairs=[{"rho_above_null": True}, {"rho_above_null": False}])
    records[1]["metrics"].update(acc_tilde=35.0)
    verdict = plots.figure1_verdict(records, "Acc~ came within k", "over 4 trials, r is -0.50")
    assert verdict == ("Acc~ came within k. Of the 2 layer pairs drawn in Figure 1, 1 have an EDGE rho above its "
                       "permutation null in every seed. Over 4 trials, r is -0.50.")
    assert plots.figure2_verdict(records, "smaller f_b gives higher rho") == (
        "Smaller f_b gives higher rho. Accuracies under attack: f_b = 4: Acc* 37.0, Acc~ 36.2; "
        "f_b = 16: Acc* 37.0, Acc~ 35.0.")


# --- legible in the book's column ------------------------------------------------------------------

def _all_figures():
    from semirobust.experiments.rho import rho_success_plots

    calibrated = [_calibrated(_record(arch, "digits", fb), above=lambda j: j % 2 == 0)
                  for arch, fb in (("alexnet", 4), ("vgg16", 12), ("resnet50", 16))]
    for r in calibrated:
        for pair in r["metrics"]["rho_pairs"]:
            pair.update(ksg=1.0, ksg_null_mean=0.5, ksg_null_sd=0.1, ksg_ceiling=6.0, ksg_above_null=True)
    sizes = [_calibrated(_record("resnet50", "digits", fb), above=lambda j: True) for fb in (4, 8, 12, 16)]
    trials = pd.DataFrame([{"model": m, "dataset": "digits", "fb_layers": 4, "seed": 0, "arm": arm, "trial": t,
                            "cluster": f"{m} / digits / seed 0", "pair": 0, "from_fa": True, "shortfall": float(t),
                            "rho": 1.0 + t, "rho_null_mean": 0.5, "rho_excess": 0.5 + t, "rho_above_null": True,
                            "cka": 0.5, "cka_null_mean": 0.1, "cka_excess": 0.4, "cka_above_null": t > 0,
                            "ksg": 0.3 * t, "ksg_null_mean": 0.1, "ksg_excess": 0.3 * t - 0.1, "ksg_above_null": t > 1}
                           for m in ("AlexNet", "VGG16") for arm in ("algorithm1", "random_fa", "regular_fa",
                                                                     "standard_fb", "full_finetune") for t in range(3)])
    two_datasets = calibrated + [_calibrated(_record(arch, "fashion-mnist", fb, 0.5), above=lambda j: j > 0)
                                 for arch, fb in (("alexnet", 4), ("vgg16", 12), ("resnet50", 16))]
    return {
        **{f"figure1 {m}": plots.figure1(calibrated, models=["alexnet", "vgg16", "resnet50"], measure=m)
           for m in ("rho", "ksg", "cka")},
        "figure1 four models": plots.figure1(calibrated * 2, models=["alexnet", "vgg16", "resnet50", "alexnet"]),
        **{f"figure1 excess {m}": plots.figure1_excess(two_datasets, models=["alexnet", "vgg16", "resnet50"], measure=m)
           for m in ("rho", "ksg", "cka")},
        "figure2": plots.figure2(sizes), "figure2 controls": plots.figure2(sizes, measures=("ksg", "cka")),
        "trial curves": plots.trial_curves(_record("vgg16", "digits", 12)),
        "rho success": rho_success_plots.plot_success(trials),
        "rho success on KSG": rho_success_plots.plot_success(trials, ("ksg_excess", "cka_excess")),
        **_theory_figures(), **_mi_figures(),
    }


def _theorem3_record():
    """A synthetic ``theorem3`` record: Table S1 over four inputs and two splits, gamma_j of 8 layers."""
    rows = [{"attack": attack, "fa_layers": a, "fb_layers": 8 - a, "acc_star": 90.0, "acc_tilde_transfer": 80.0 - a,
             "acc_tilde_adaptive": None if attack == "none" else 10.0 + a, "acc_tilde_in_sample": 85.0,
             "acc_rand": 10.0, "agreement": 90.0} for attack in ("none", "fgsm", "pgd", "autoattack") for a in (4, 7)]
    check = {"n_layers": 8, "eps": 16 / 255, "gamma_layers": [0.1 * j for j in range(1, 8)],
             "gamma_layers_clean": [0.2 * j for j in range(1, 8)],
             "theorem3": [{"fa_layers": a, "trivial": a == 7, "gamma_fb_layers": [0.3] * (8 - a),
                           "gamma_fb_layers_clean": [0.4] * (8 - a)} for a in (4, 7)]}
    return {"config": {"arch": "vgg16", "dataset": "digits", "eps": 16 / 255}, "profile": "offline",
            "metrics": {"table_s1": rows, "semirobustness": check}}


def _weight_bound_record():
    """A synthetic ``weight_bound`` record: three epochs of every trajectory column, one undefined ratio."""
    trajectory = []
    for epoch in range(3):
        row = {"epoch": epoch, "delta_fb_norm": 1.0 + epoch, "delta_fb_norm_aligned": 0.5 + epoch}
        for name in ("clean", "adv"):
            row.update({f"{key}_{name}": 0.1 * (epoch + 1) for key in (
                "excess_loss", "second_order", "first_order", "eig_bound", "norm_bound", "output_diff")})
            row.update({f"{key}_{name}": None if epoch == 0 else 10.0 * epoch for key in (
                "bound_ratio", "frobenius_ratio", "eq14_ratio")})
        trajectory.append(row)
    return {"config": {"arch": "vgg16", "dataset": "digits", "attack": "pgd", "eps": 16 / 255, "fb_layers": 12},
            "profile": "offline", "metrics": {"trajectory": trajectory}}


def _theory_figures():
    from semirobust.experiments.rho import dependence_study
    from semirobust.experiments.theory import theorem3_report, weight_bound_report

    theorem3, weights = _theorem3_record(), _weight_bound_record()
    study = pd.DataFrame([{"measure": m, "preset": p, "kind": kind, "n": n, "dim": d, "estimate": 1.0, "null_mean": 0.5,
                           "null_sd": 0.1} for m, p in dependence_study.ESTIMATORS for kind in dependence_study.KINDS
                          for n in (100, 390, 1000) for d in (64, 512, 4096)])
    return {"theorem3 table s1": theorem3_report.plot_table_s1(theorem3),
            "theorem3 gammas": theorem3_report.plot_gammas(theorem3),
            "theorem3 s1 adaptive": theorem3_report.plot_s1_adaptive(theorem3),
            "weight bound": weight_bound_report.plot_weight_bound(weights),
            "weight bound ratios": weight_bound_report.plot_bound_ratios(weights),
            "weight distance gap": weight_bound_report.plot_distance_gap(weights),
            "dependence study": dependence_study.plot_study(study)}


def _mi_record():
    """A synthetic ``mi_estimator`` record with the tables the MI page's plots read."""
    sizes = {"n": 2000, "ns": [250, 1000, 4000], "dims": [1, 4, 16, 64], "timing_dim": 64}
    by_r = [{"preset": p, "dim": d, "r": r, "true": r * d, "edge": r * d * 0.9} for p in ("authors", "noshad")
            for d in (1, 2, 4) for r in (0.0, 0.5, 0.9)]
    by_n = [{"preset": p, "r": r, "N": n, "seed": s, "edge": r + 0.01 * s} for p in ("authors", "noshad")
            for r in (0.0, 0.8) for n in sizes["ns"] for s in range(3)]
    by_dim = [{"dim": d, "true": 0.7 * d, "edge": min(0.7 * d, 9.0), "edge_independent": 0.01 * d} for d in sizes["dims"]]
    timing = [{"N": n, "seconds": 1e-4 * n} for n in (1000, 10000, 100000)]
    return {"config": {"profile": "offline", "seed": 0, "sizes": sizes}, "extra": {"device": "cpu"},
            "metrics": {"by_correlation": by_r, "by_sample_size": by_n, "by_dimension": by_dim, "timing": timing}}


def _mi_figures():
    from semirobust.experiments.rho import mi_checks_report as report

    record = _mi_record()
    return {"mi vs correlation": report.plot_correlation(record), "mi vs samples": report.plot_sample_size(record),
            "mi vs dimension": report.plot_dimension(record), "mi time": report.plot_timing(record)}


def test_every_figure_reads_in_the_column():
    """As wide as the column (752 px at a 1280 px window), at most three panels a row, no text under 9 pt: every
    plotting function of the book (the budgets, frontier and arms plots: tests/test_pays.py, tests/test_controls.py)."""
    figures = _all_figures()
    problems = {name: style.legibility_problems(fig) for name, fig in figures.items()}
    for fig in figures.values():
        plt.close(fig)
    assert not any(problems.values()), {k: v[:5] for k, v in problems.items() if v}


def test_legibility_check_catches_small_text_wide_figures_and_crowded_rows():
    fig, axes = plt.subplots(1, 4, figsize=(13.8, 3))
    axes[0].set_title("tiny", fontsize=7)
    problems = style.legibility_problems(fig)
    assert any("wide" in p for p in problems) and any("panels in a row" in p for p in problems)
    assert any("'tiny'" in p for p in problems)
    plt.close(fig)
    fig, axes = style.book_figure(5)
    assert axes.shape == (2, 3) and fig.get_figwidth() == pytest.approx(style.COLUMN_INCHES)
    plt.close(fig)


def test_captions_say_what_is_drawn_what_the_marks_are_and_n():
    record = _calibrated(_record("vgg16", "digits", 4), above=lambda j: True)
    record.update(profile="offline", extra={"rho_images": 200, "eval_images": 200})
    record["config"]["seeds"] = [0, 1, 2]
    caption = plots.figure1_caption([record])
    for words in ("EDGE rho", "permutation null", "mean ± 2 sd", "95% t-interval", "3 seeds", "n = 200",
                  "profile offline", "data set digits"):
        assert words in caption, words
    one_seed = {**record, "config": {**record["config"], "seeds": [0]}}
    assert "No error bars: one seed" in plots.figure1_caption([one_seed], "cka")
    assert "ceiling" not in plots.figure1_caption([one_seed], "cka")
    assert "one line per f_b size (4 layers)" in plots.figure2_caption([record])
    curves = plots.trial_curves_caption(record)
    assert "n = 200 attacked test images" in curves and "Acc* - k" in curves


# --- Figure 1 with the null subtracted, and the trend with depth ------------------------------------

def _seeded(arch, dataset, fb, raw, null, seeds=3, noise=0.0, seed=0):
    """A record whose per-seed pairs (rho_{a+1} .. rho_n) have rho = raw(x) and null mean = null(x), x = 0 the last
    pair, plus seed noise on rho."""
    import numpy as np

    rng = np.random.default_rng(seed)
    per_seed = []
    for _ in range(seeds):
        pairs = []
        for j in range(fb):
            x = fb - 1 - j
            pairs.append({"rho": raw(x) + rng.normal(0, noise), "rho_null_mean": null(x), "rho_null_sd": 0.05,
                          "rho_ceiling": 9.0, "rho_above_null": raw(x) > null(x) + 0.1})
        per_seed.append({"rho_pairs": pairs})
    mean_pairs = [{k: (sum(s["rho_pairs"][j][k] for s in per_seed) / seeds if k != "rho_above_null"
                       else all(s["rho_pairs"][j][k] for s in per_seed)) for k in per_seed[0]["rho_pairs"][j]}
                  for j in range(fb)]
    return {"kind": "table1", "config": {"arch": arch, "dataset": dataset, "attack": "autoattack", "eps": 8 / 255,
                                         "fb_layers": fb, "k": 1.0, "seeds": list(range(seeds))},
            "metrics": {"rho": [p["rho"] for p in mean_pairs], "rho_pairs": mean_pairs, "per_seed": per_seed}}


def test_depth_trend_subtracts_the_nulls_own_rise():
    """Raw rho rises with x only because its null does (excess flat): the trend on the excess is ~0 and its
    interval covers 0, while the raw slope is the null's. Where the excess itself rises, the trend says so."""
    flat = _seeded("vgg16", "fashion-mnist", 6, raw=lambda x: 1.0 + 0.3 * x, null=lambda x: 0.5 + 0.3 * x,
                   seeds=4, noise=0.05)
    rising = _seeded("vgg16", "digits", 6, raw=lambda x: 1.0 + 0.5 * x, null=lambda x: 0.5 + 0.3 * x, seeds=4,
                     noise=0.05, seed=1)
    lone = _seeded("resnet50", "digits", 4, raw=lambda x: 1.0, null=lambda x: 0.5, seeds=1)
    table = claims.depth_trend([flat, rising, lone])
    row = table.set_index(["Model", "Dataset"])
    f, r = row.loc[("VGG16", "Fashion-MNIST")], row.loc[("VGG16", "digits")]
    assert abs(f.slope_excess) < 0.03 and f.low < 0 < f.high and f.slope_null == pytest.approx(0.3)
    assert f.slope_raw == pytest.approx(f.slope_excess + f.slope_null)
    assert f.reading.startswith("no trend") and f.seeds == 4
    assert r.slope_excess == pytest.approx(0.2, abs=0.03) and r.low > 0 and r.reading == "rises beyond the null"
    assert row.loc[("ResNet50", "digits")].reading == "one seed: no interval"
    sentence = claims.trend_sentence(table)
    assert "rises beyond the null's own rise on 1 of 3" in sentence and "no interval (one seed) on 1" in sentence
    assert "supports" not in sentence


def test_figure1_excess_primary_panel_left_raw_with_null_band_right_one_line_per_dataset():
    records = [_seeded("vgg16", d, 4, raw=lambda x, s=s: s + 0.2 * x, null=lambda x: 0.5) for d, s in
               (("fashion-mnist", 1.0), ("digits", 2.0))]
    fig = plots.figure1_excess(records, models=["vgg16"])
    left, right = fig.axes
    assert left.get_ylabel() == plots.EXCESS_LABELS["rho"] and right.get_ylabel() == plots.MEASURE_LABELS["rho"]
    assert "excess over null" in left.get_title() and "null band" in right.get_title()
    assert sorted(t.get_text() for t in fig.legends[0].get_texts()) == ["Fashion-MNIST", "digits"]
    lines = [line for line in left.lines if not line.get_label().startswith("_")]
    assert [list(line.get_ydata()) for line in lines] == [pytest.approx([0.5, 0.7, 0.9, 1.1]),
                                                         pytest.approx([1.5, 1.7, 1.9, 2.1])]
    assert right.collections, "no null band on the raw panel"
    assert any(len(ax.containers) for ax in fig.axes)  # seed error bars (three seeds)
    assert not style.legibility_problems(fig)
    plt.close(fig)
    caption = plots.figure1_excess_caption(records)
    for words in ("excess over the within-class permutation null", "± 2 sd", "95% t-interval", "3 seeds",
                  "one line per data set"):
        assert words in caption, words


def test_per_dataset_parameters_say_each_data_sets_budget():
    from types import SimpleNamespace

    configs = [SimpleNamespace(dataset=d, eps=e / 255, resolved_trials=t, resolved_epochs=2, k=1.0)
               for d, e, t in (("fashion-mnist", 8, 1), ("digits", 16, 2))] * 2
    found = plots.per_dataset_parameters(configs)
    assert found == {"eps": "8/255 (Fashion-MNIST), 16/255 (digits)", "trials": "1 (Fashion-MNIST), 2 (digits)",
                     "epochs": 2, "k": 1.0}


# --- the book's figures are saved only when legible; the notebook helpers ----------------------------------

def test_save_figure_refuses_an_illegible_figure_and_names_its_problems(tmp_path):
    fig, ax = plt.subplots(figsize=(10, 3))
    ax.set_title("small", fontsize=6)
    with pytest.raises(ValueError, match=r"figure wide\.png would not read.*10\.00 in wide.*'small' at") as error:
        style.save_figure(fig, tmp_path / "wide.png")
    assert "book_figure" in str(error.value) and not (tmp_path / "wide.png").exists()
    plt.close(fig)


def test_show_figure_saves_glues_the_figure_and_its_caption_and_closes_it(tmp_path, monkeypatch):
    import myst_nb

    from semirobust.experiments.report import notebook

    glued = []
    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display=True: glued.append((name, value, display)))
    fig = plots.trial_curves(_record("vgg16", "digits", 12))
    path = notebook.show_figure(fig, "curves", "what is drawn", tmp_path / "figures", stem="curves_vgg16")
    assert path == tmp_path / "figures" / "curves_vgg16.png" and path.read_bytes()[:4] == b"\x89PNG"
    assert glued == [("curves", fig, False), ("curves_caption", "what is drawn", False)]
    assert not plt.fignum_exists(fig.number)
    glued.clear()
    fig = plots.trial_curves(_record("vgg16", "digits", 12))
    notebook.show_figure(fig, "inline", figures_dir=tmp_path, inline=True)
    assert glued == [("inline", fig, True)] and (tmp_path / "inline.png").exists()
    glued.clear()
    notebook.glue_all({"a": 1, "b": "two"})
    assert glued == [("a", 1, False), ("b", "two", False)]
