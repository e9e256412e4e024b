"""Table S5 of the supplementary as the ``pays`` page shows it: the methods' columns over the profile's seeds
(:func:`table_s5_frame`), the supplementary's own rows (:func:`reported_table_s5`) and the sentence comparing
them. The runs are :mod:`semirobust.experiments.supplementary.table_s5`'s."""
from __future__ import annotations

import csv
import dataclasses
from importlib import resources

import numpy as np
import pandas as pd

from semirobust.config import RunConfig
from semirobust.cost import training_cost
from semirobust.experiments.supplementary.pays_report import interval_text
from semirobust.experiments.supplementary.table_s5 import run_table_s5_seed
from semirobust.experiments.table1.arms import ARMS, TABLE_S5_ARMS
from semirobust.experiments.table1.configs import SEED_KIND, summary_config
from semirobust.experiments.table1.report import rho_at
from semirobust.models import build_model
from semirobust.results import ResultsStore

#: Table S5's method names as the supplementary prints them, and ours
S5_NAMES = {"adversarial": "PGD", "atta": "ATTA", "trades": "TRADES"}
S5_REPORTED_NAMES = {"pgd10": "PGD-10", "atta": "ATTA", "trades": "TRADES", "atta_trades": "ATTA+TRADES"}
S5_OFFSETS = (0, 3, 7, 11)


def table_s5_frame(config: RunConfig, *, results_dir=None) -> pd.DataFrame:
    """Table S5's columns for each method over the profile's ``table_s5_seeds`` (mean ± 95% half-width where
    there are two seeds or more): Acc*, Acc~ (validation-selected, scored), Diff (paired per seed), the epochs to
    reach Acc* (mean over the trials that came within k; – when none did), the mean trial time and training cost,
    and rho at the supplementary's offsets (EDGE, bits)."""
    store = ResultsStore(results_dir)
    profile = config.resolved_profile
    model = build_model(config.arch, config.dataset, width=profile.width)
    seeds = [dataclasses.replace(config, seed=config.seed + s) for s in profile.table_s5_seeds]
    per_seed = [(store.read(SEED_KIND, summary_config(c)), run_table_s5_seed(c, results_dir=results_dir)) for c in seeds]
    rows = []
    for method in profile.table_s5_methods:
        arm = ARMS[TABLE_S5_ARMS[method]]
        stars = [rec["metrics"]["acc_star"] for rec, _ in per_seed]
        tildes = [arms[method]["acc_tilde_unbiased"] for _, arms in per_seed]
        diffs = [t - s for t, s in zip(tildes, stars) if t is not None]
        epochs = [arms[method]["epochs"] for _, arms in per_seed if arms[method]["epochs"] is not None]
        converged = sum(arms[method]["converged_trials"] for _, arms in per_seed)
        trials = sum(len(arms[method]["trials"]) for _, arms in per_seed)
        time_s = [arms[method]["wall_time_s"] / len(arms[method]["trials"]) for _, arms in per_seed]
        n_train = per_seed[0][0]["extra"]["train_images"]
        cost = [sum(t["epochs_run"] for t in arms[method]["trials"]) / len(arms[method]["trials"]) *
                training_cost(model, arm.mode, config.fb_layers, n_train, profile.train_attack_steps)
                for _, arms in per_seed]
        row = {"Method": S5_NAMES[method], "Acc*": interval_text(stars), "Acc~": interval_text(tildes),
               "Diff": interval_text(diffs),
               "Epochs": (f"{np.mean(epochs):.1f}" if epochs else "–") + f" ({converged}/{trials} within k)",
               "Time (s)": f"{np.mean(time_s):.0f}", "Cost (10³)": f"{np.mean(cost) / 1e3:.1f}"}
        for offset in S5_OFFSETS:
            values = [rho_at(arms[method]["rho"], offset) for _, arms in per_seed]
            values = [v for v in values if v is not None and not np.isnan(v)]
            row["rho_n" if offset == 0 else f"rho_n-{offset}"] = f"{np.mean(values):.2f}" if values else "–"
        rows.append(row)
    return pd.DataFrame(rows)


def reported_table_s5(fb_layers: int) -> pd.DataFrame:
    """The supplementary's Table S5 rows at ``fb_layers`` (VGG16, CIFAR-10, AutoAttack; data_files/README.md)."""
    with resources.files("semirobust").joinpath("data_files", "reported_table_s5.csv").open("r", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if int(r["fb_layers"]) == fb_layers]
    out = []
    for r in rows:
        row = {"Method": S5_REPORTED_NAMES[r["method"]] + " (reported)", "Acc*": r["acc_star"], "Acc~": r["acc_tilde"],
               "Diff": r["diff"], "Epochs": r["epochs"] or "–", "Time (s)": r["time_s"], "Cost (10³)": "–"}
        for offset, column in zip(S5_OFFSETS, ("rho_n", "rho_n_minus_3", "rho_n_minus_7", "rho_n_minus_11")):
            row["rho_n" if offset == 0 else f"rho_n-{offset}"] = r[column] or "–"
        out.append(row)
    return pd.DataFrame(out)


def table_s5_sentence(frame: pd.DataFrame, reported: pd.DataFrame | None = None) -> str:
    """Which f_b training method came closest to Acc* (by the mean Diff) and had the shortest trials, here and
    in the supplementary's rows (``reported``: :func:`reported_table_s5`)."""
    def mean(text):
        return float(text.split(" ± ")[0]) if text not in ("–", "") else float("nan")
    diffs = {row["Method"]: mean(row["Diff"]) for _, row in frame.iterrows()}
    times = {row["Method"]: float(row["Time (s)"]) for _, row in frame.iterrows()}
    closest = max(diffs, key=lambda m: diffs[m])
    fastest = min(times, key=lambda m: times[m])
    parts = ", ".join(f"{m} {d:+.1f}" for m, d in diffs.items())
    text = (f"Diff = Acc~ - Acc* per method (points): {parts}; {closest} came closest to Acc*, and {fastest} had "
            "the shortest trials.")
    if reported is not None and len(reported):
        theirs = {row["Method"].replace(" (reported)", ""): float(row["Diff"]) for _, row in reported.iterrows()}
        their_times = {row["Method"].replace(" (reported)", ""): float(row["Time (s)"]) for _, row in reported.iterrows()}
        best = max(theirs, key=lambda m: theirs[m])
        text += (" In the supplementary (VGG16, CIFAR-10, AutoAttack) " + ", ".join(f"{m} {d:+.2f}" for m, d in theirs.items())
                 + f": {best} came closest, and {min(their_times, key=lambda m: their_times[m])} had the shortest trials.")
    return text


__all__ = ["S5_NAMES", "S5_REPORTED_NAMES", "S5_OFFSETS", "table_s5_frame", "reported_table_s5", "table_s5_sentence"]
