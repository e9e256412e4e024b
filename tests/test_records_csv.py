"""The Table 1 page's CSV files (semirobust.experiments.table1.records_csv): every headline number and interval the
page glues is recomputed from the files alone, with plain pandas, numpy and scipy, never the library's
aggregation functions, on a tiny synthetic record set."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from semirobust.experiments.supplementary import pays_report
from semirobust.experiments.supplementary.pays import METHODS
from semirobust.experiments.table1 import arms_report as controls
from semirobust.experiments.table1 import report as tables
from semirobust.experiments.table1.algorithm1 import AGGREGATED, aggregate_seeds
from semirobust.experiments.table1.arms import ARMS, CONTROLS
from semirobust.experiments.table1.records_csv import PER_EPOCH_FILE, PER_SEED_FILE, relative_link, write_table1_csv

EPOCHS, TRIALS = 3, 2


def _trial(rng, trial, level):
    curve = [{"epoch": e + 1, "adv_acc": float(level - 4 + e + rng.normal(0, 0.7)),
              "val_acc": float(level - 5 + e + rng.normal(0, 0.7)), "train_loss": 1.0 / (e + 1), "train_acc": 50.0 + e,
              "lr": 0.01, "time_s": 1.0} for e in range(EPOCHS)]
    return {"trial": trial, "acc": max(p["adv_acc"] for p in curve), "curve": curve}


def _record(seeds=5, images=1000, gap=-2.6, spread=1.2, seed=7):
    """A table1 record as run_algorithm1 assembles it: per-seed metrics (every arm with its trials' curves, the
    paper's test-selected Acc~ the best per-epoch test accuracy), and the means and intervals aggregate_seeds
    writes."""
    rng = np.random.default_rng(seed)
    per_seed = []
    for _ in range(seeds):
        acc_star = float(60 + rng.normal(0, 0.8))
        values = {"acc_star": acc_star, "acc_star_eval": acc_star + 0.4, "acc_star_clean": 80.0, "acc_sr": 12.0,
                  "acc_regular_clean": 90.0, "acc_regular_attacked": 2.0, "rho": [0.5, 0.4]}
        arms = {}
        for a, arm in enumerate(ARMS):
            level = acc_star + gap - 3 * a
            trials = [_trial(rng, t, level) for t in range(TRIALS)]
            paper = max(p["adv_acc"] for t in trials for p in t["curve"])
            selected = float(level + rng.normal(0, spread))
            arms[arm] = {"trials": trials, "acc_tilde": paper, "acc_tilde_unbiased": selected}
            if arm == "algorithm1":
                values.update(acc_tilde=paper, acc_tilde_unbiased=selected, trials=trials,
                              diff=paper - values["acc_star_eval"], diff_unbiased=selected - acc_star)
            else:
                values.update({f"acc_tilde_{arm}": selected, f"acc_tilde_{arm}_paper": paper})
        values["arms"] = arms
        per_seed.append(values)
    metrics = {**aggregate_seeds(per_seed, AGGREGATED), "seeds": list(range(seeds)), "per_seed": per_seed}
    return {"kind": "table1", "config": {"arch": "vgg16", "dataset": "fashion-mnist", "fb_layers": 12, "k": 1.0,
                                         "eps": 8 / 255, "attack": "autoattack", "seeds": list(range(seeds))},
            "metrics": metrics, "extra": {"scored_images": images, "eval_images": 200}}


def _t_interval(d, level):
    d = np.asarray(d, dtype=float)
    half = stats.t.ppf(0.5 + level / 2, d.size - 1) * d.std(ddof=1) / np.sqrt(d.size)
    return d.mean() - half, d.mean() + half


def _two_level(a, b, images, level, draws=20_000, seed=123):
    """Seeds resampled; each arm's accuracies redrawn from their binomials on ``images`` images, one quantile
    shared by the seeds of an arm (one image draw), the arms independent: the model the page states."""
    rng = np.random.default_rng(seed)
    a, b = np.asarray(a) / 100, np.asarray(b) / 100
    pick = rng.integers(0, a.size, (draws, a.size))
    u, v = rng.random((draws, 1)), rng.random((draws, 1))
    out = (stats.binom.ppf(u, images, a[pick]) - stats.binom.ppf(v, images, b[pick])).mean(axis=1) / images * 100
    tail = 50 * (1 - level)
    return np.percentile(out, tail), np.percentile(out, 100 - tail)


def _answer(low, high, margin):
    if -margin < low and high < margin:
        return "equivalent"
    if low > margin or high < -margin:
        return "not equivalent"
    return "undecided"


@pytest.mark.parametrize("images, gap, spread, answer", [(1000, -2.6, 1.2, "undecided"),
                                                         (100_000, 0.0, 0.3, "equivalent")])
def test_every_glued_number_of_the_table1_page_is_recomputed_from_the_csv_files(tmp_path, images, gap, spread,
                                                                                   answer):
    record = _record(images=images, gap=gap, spread=spread)
    paths = write_table1_csv(record, tmp_path / "data")
    assert paths == {"per_seed": tmp_path / "data" / PER_SEED_FILE, "per_epoch": tmp_path / "data" / PER_EPOCH_FILE}
    seeds = pd.read_csv(paths["per_seed"])
    epochs = pd.read_csv(paths["per_epoch"])
    headline, design = tables.headline_values(record), controls.glue_values(record)
    n, margin = len(seeds), seeds["equivalence_margin"].iloc[0]
    scored = int(seeds["scored_images"].iloc[0])
    assert (design["n_seeds"], design["test_images_scored"], design["equivalence_margin"]) == (n, scored, margin)

    # the headline numbers: means over the seeds, Acc~ and Diff validation-selected (Table 1's one rule)
    assert headline["acc_star"] == round(seeds["acc_star"].mean(), 2)
    assert headline["acc_sr"] == round(seeds["acc_sr"].mean(), 2)
    assert headline["acc_tilde"] == round(seeds["acc_tilde_algorithm1"].mean(), 2)
    diffs = seeds["acc_tilde_algorithm1"] - seeds["acc_star"]
    assert headline["diff"] == round(diffs.mean(), 2)
    assert headline["acc_tilde_paper_rule"] == round(seeds["acc_tilde_algorithm1_paper_rule"].mean(), 2)
    assert headline["diff_paper_rule"] == round((seeds["acc_tilde_algorithm1_paper_rule"] - seeds["acc_star_eval"]).mean(), 2)
    # the paper's rule is the best per-epoch test accuracy over the trials: read again from the per-epoch file
    best = epochs[epochs["arm"] == "algorithm1"].groupby("seed")["adv_acc"].max()
    assert np.allclose(best.to_numpy(), seeds["acc_tilde_algorithm1_paper_rule"].to_numpy())
    assert len(epochs) == n * len(ARMS) * TRIALS * EPOCHS

    # Diff's two intervals: over the seeds (t) and over the seeds and the test images (two-level)
    low, high = _t_interval(diffs, 0.95)
    assert (design["diff_paired"], design["diff_paired_low"], design["diff_paired_high"]) == (
        round(diffs.mean(), 1), round(low, 1), round(high, 1))
    low2, high2 = _two_level(seeds["acc_tilde_algorithm1"], seeds["acc_star"], scored, 0.95)
    assert design["diff_two_level_low"] == pytest.approx(low2, abs=0.3)
    assert design["diff_two_level_high"] == pytest.approx(high2, abs=0.3)

    # the equivalence answer: the wider of the two 90% intervals against the margin
    t90, wide90 = _t_interval(diffs, 0.90), _two_level(seeds["acc_tilde_algorithm1"], seeds["acc_star"], scored, 0.90)
    expected = _answer(min(t90[0], wide90[0]), max(t90[1], wide90[1]), margin)
    assert design["equivalence"] == expected == answer

    # the controls: each arm's mean, and Algorithm 1 minus it with both intervals
    frame = controls.control_differences(record).set_index("arm")
    for arm in CONTROLS:
        assert design[f"acc_tilde_{arm}"] == round(seeds[f"acc_tilde_{arm}"].mean(), 1)
        d = seeds["acc_tilde_algorithm1"] - seeds[f"acc_tilde_{arm}"]
        low, high = _t_interval(d, 0.95)
        assert frame.loc[arm, ["mean", "low", "high"]].tolist() == pytest.approx([d.mean(), low, high], abs=1e-9)
        low2, high2 = _two_level(seeds["acc_tilde_algorithm1"], seeds[f"acc_tilde_{arm}"], scored, 0.95)
        assert frame.loc[arm, "two_level_low"] == pytest.approx(low2, abs=0.3)
        assert frame.loc[arm, "two_level_high"] == pytest.approx(high2, abs=0.3)


def test_the_per_seed_file_leaves_out_arms_no_seed_ran(tmp_path):
    record = _record(seeds=2)
    for values in record["metrics"]["per_seed"]:
        values.pop("acc_tilde_full_finetune")
        values.pop("acc_tilde_full_finetune_paper")
    seeds = pd.read_csv(write_table1_csv(record, tmp_path)["per_seed"])
    assert "acc_tilde_full_finetune" not in seeds and "acc_tilde_random_fa" in seeds and list(seeds["seed"]) == [0, 1]


def test_the_glued_link_is_relative_to_the_executed_notebook(tmp_path, monkeypatch):
    paths = write_table1_csv(_record(seeds=2), tmp_path / "data")
    monkeypatch.chdir(tmp_path)
    assert relative_link(paths["per_seed"]) == f"data/{PER_SEED_FILE}"


def _pays_records(seeds=3, seed=5):
    """pays_seed records as run_pays_seed writes them: each method's curve (epoch, cost, wall, acc) and the target."""
    rng = np.random.default_rng(seed)
    records = []
    for s in range(seeds):
        curves = {}
        for m, method in enumerate(METHODS):
            start = 1e6 * m
            curves[method] = [{"epoch": e, "cost": start + 1e6 * (e + 1), "wall": 10.0 * (e + 1) + m,
                               "acc": float(40 + 6 * e + {0: 0, 2: -10}.get(m, 3) + rng.normal(0, 1))}
                               for e in range(5)]
        records.append({"config": {"seed": s}, "metrics": {"curves": curves, "finals": {},
                                                           "target": curves["full_pgd"][-1]["acc"] - 2.0}})
    return records


def test_the_frontier_numbers_are_recomputed_from_its_csv_file(tmp_path):
    records = _pays_records()
    path = pays_report.write_frontier_csv(records, tmp_path / "data")
    assert path == tmp_path / "data" / pays_report.FRONTIER_FILE
    points = pd.read_csv(path)
    assert len(points) == 3 * len(METHODS) * 5
    values = pays_report.glue_values(records)
    targets = points.groupby("seed")["target"].first()
    assert values["pays_seeds"] == targets.size and values["pays_target_acc"] == round(targets.mean(), 1)

    def first_cost(frame):  # the cost of the first point (in cost order) at or above the seed's target
        frame = frame.sort_values("cost")
        hit = frame[frame["acc"] >= frame["target"]]
        return hit["cost"].iloc[0] if len(hit) else np.nan

    reach = points.groupby(["method", "seed"]).apply(first_cost, include_groups=False).unstack("seed")
    for method in METHODS:
        ratios = reach.loc[method] / reach.loc["full_pgd"]
        expected = "not reached" if ratios.isna().any() else round(ratios.mean(), 2)
        assert values[f"pays_cost_{method}"] == expected
