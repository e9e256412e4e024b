"""Does rho predict success? The paper's claim, tested over every trial of every Table 1 cell.

Section 3.2 reads a trial that fails to reach Acc* as one whose first pairs of f_b show rho close
to 0. Here every trial of every seed of every cell contributes its calibrated pairs (the permutation
null beside each value, :func:`semirobust.mi.calibrated_mi`) and its shortfall, Acc* minus the
trial's accuracy (both under the evaluation attack, the trial's accuracy at its best epoch). The
claim predicts a negative rank correlation between rho_{a+1} (or rho's excess over its null) and
the shortfall. :func:`rank_correlation` gives Spearman's r with a bootstrap interval, resampling
trials, so that the reader sees what "no effect" (r = 0) would look like beside the estimate.
"""
from __future__ import annotations

import math
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from semirobust.config import MODEL_NAMES
from semirobust.experiments.figures import BOOK_RC, book_figure
from semirobust.experiments.verdicts import interval_status, reading

#: measures whose calibrated pairs are read (``rho``: EDGE bits; ``cka``: linear CKA).
MEASURES = ("rho", "cka")
TRIAL_COLUMNS = ("model", "dataset", "fb_layers", "seed", "trial", "pair", "from_fa", "shortfall", "converged")


def trial_frame(records: list[dict]) -> pd.DataFrame:
    """One row per (cell, seed, trial, layer pair) of ``table1`` records.

    ``pair`` counts from the junction (0: rho_{a+1}, the pair joining f*_a's last layer to f_b's
    first) and ``from_fa`` marks that pair. ``shortfall`` = Acc* of the seed minus the trial's
    accuracy; for each measure, its value, its null mean and ``<measure>_excess`` (value minus null
    mean) come along.
    """
    rows = []
    for record in records:
        config = record["config"]
        per_seed = record["metrics"].get("per_seed") or [record["metrics"]]
        seeds = config.get("seeds") or [config.get("seed", 0)] * len(per_seed)
        for seed, seed_metrics in zip(seeds, per_seed):
            acc_star = seed_metrics["acc_star"]
            for trial in seed_metrics.get("trials", []):
                pairs = trial.get("rho_pairs") or [{"rho": v} for v in trial["rho"]]
                for j, pair in enumerate(pairs):
                    row = {"model": MODEL_NAMES.get(config["arch"], config["arch"]), "dataset": config["dataset"],
                           "fb_layers": int(config["fb_layers"]), "seed": int(seed),
                           "trial": int(trial["trial"]), "pair": j, "from_fa": j == 0,
                           "shortfall": float(acc_star - trial["acc"]),
                           "converged": bool(acc_star - trial["acc"] <= config.get("k", 1.0))}
                    for measure in MEASURES:
                        value, null = pair.get(measure), pair.get(f"{measure}_null_mean")
                        row[measure] = math.nan if value is None else float(value)
                        row[f"{measure}_null_mean"] = math.nan if null is None else float(null)
                        row[f"{measure}_excess"] = row[measure] - row[f"{measure}_null_mean"]
                        row[f"{measure}_above_null"] = pair.get(f"{measure}_above_null")
                    rows.append(row)
    columns = list(TRIAL_COLUMNS) + [f"{m}{s}" for m in MEASURES for s in ("", "_null_mean", "_excess", "_above_null")]
    return pd.DataFrame(rows, columns=columns)


def rank_correlation(x, y, *, level: float = 0.95, n_resamples: int = 2000, seed: int = 0) -> dict:
    """Spearman's r of (x, y) with a paired percentile-bootstrap interval (``scipy.stats.bootstrap``).

    Returns n, r, low, high and the permutation p-value of r = 0 (``scipy.stats.permutation_test``).
    Fewer than 4 finite pairs, or a constant input, give NaNs: no correlation can be read from them.
    """
    from scipy import stats

    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    out = {"n": int(x.size), "r": math.nan, "low": math.nan, "high": math.nan, "p_value": math.nan}
    if x.size < 4 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return out

    def statistic(a, b):
        return stats.spearmanr(a, b).statistic

    out["r"] = float(statistic(x, y))
    rng = np.random.default_rng(seed)
    with warnings.catch_warnings():  # a resample may repeat one point: its r is undefined and left out below
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        boot = stats.bootstrap((x, y), statistic, paired=True, vectorized=False, n_resamples=n_resamples,
                               confidence_level=level, method="percentile", random_state=rng)
        perm = stats.permutation_test((x, y), statistic, permutation_type="pairings", n_resamples=n_resamples,
                                      random_state=rng)
    tail = 100 * (1 - level) / 2
    out["low"], out["high"] = (float(v) for v in np.nanpercentile(boot.bootstrap_distribution, [tail, 100 - tail]))
    out["p_value"] = float(perm.pvalue)
    return out


#: the scope of the within-cell reading (see :func:`success_correlations`).
WITHIN_CELLS = "rho_{a+1} within cells"


def within_cells(part: pd.DataFrame, columns) -> pd.DataFrame:
    """``columns`` minus their mean over the rows of the same cell (model, data set, f_b size)."""
    keys = ["model", "dataset", "fb_layers"]
    out = part.copy()
    for column in columns:
        if column in out:
            out[column] = out[column] - out.groupby(keys)[column].transform("mean")
    return out


def success_correlations(frame: pd.DataFrame, *, seed: int = 0) -> pd.DataFrame:
    """Spearman's r of shortfall against each measure's value and excess, at the junction pair
    (rho_{a+1}, one point per trial), at the junction pair within cells (each value and shortfall
    minus its cell's mean: pooled cells mix networks whose rho and whose shortfall both differ, which
    makes a correlation across networks without one inside any of them), and over every pair."""
    rows = []
    junction = frame[frame.from_fa]
    columns = [c for m in MEASURES for c in (m, f"{m}_excess")] + ["shortfall"]
    for scope, part in (("rho_{a+1} (junction pair)", junction), (WITHIN_CELLS, within_cells(junction, columns)),
                        ("every pair", frame)):
        for measure in MEASURES:
            for column in (measure, f"{measure}_excess"):
                if column not in part or part[column].isna().all():
                    continue
                found = rank_correlation(part[column], part["shortfall"], seed=seed)
                rows.append({"pairs": scope, "measure": column, **found})
    return pd.DataFrame(rows, columns=["pairs", "measure", "n", "r", "low", "high", "p_value"])


def success_verdict(correlations: pd.DataFrame, measure: str = "rho") -> str:
    """One sentence on the paper's claim from the junction-pair row of ``measure``."""
    rows = correlations[(correlations.measure == measure) & correlations.pairs.str.startswith("rho_{a+1}")]
    if rows.empty or not np.isfinite(rows.r.iloc[0]):
        n = 0 if rows.empty else int(rows.n.iloc[0])
        return (f"with {n} trials (or no spread in rho or in the shortfall), no rank correlation can be read: "
                "the claim is untested here")
    row = rows.iloc[0]
    if row.high < 0:
        reading = "supports the claim (the interval lies below 0)"
    elif row.low > 0:
        reading = "goes against the claim (the interval lies above 0: higher rho, larger shortfall)"
    else:
        reading = "does not support the claim: the interval contains 0, the value of no effect"
    text = (f"over {int(row.n)} trials, Spearman's r between rho_{{a+1}} and Acc* minus the trial's accuracy is "
            f"{row.r:+.2f} (95% bootstrap interval {row.low:+.2f} to {row.high:+.2f}; permutation p = {row.p_value:.2g}), "
            f"which {reading}; the claim predicts r < 0")
    inside = correlations[(correlations.measure == measure) & (correlations.pairs == WITHIN_CELLS)]
    if not inside.empty and np.isfinite(inside.r.iloc[0]):
        w = inside.iloc[0]
        verdict = ("also holds" if w.high < 0 else "goes the other way" if w.low > 0 else
                   "is not seen (the interval contains 0)")
        text += (f". Within cells, where differences between networks drop out (each trial's rho and shortfall minus "
                 f"its cell's mean), r = {w.r:+.2f} ({w.low:+.2f} to {w.high:+.2f}): the relation {verdict} there")
    return text


def plot_success(frame: pd.DataFrame, measures=MEASURES):
    """Shortfall against each measure at the junction pair, one marker per model; hollow: not above null.
    Drawn for the book's column (``figures.book_figure``); the caption (:func:`success_caption`) says what the
    marks are."""
    junction = frame[frame.from_fa]
    measures = [m for m in measures if m in junction and junction[m].notna().any()]
    with plt.rc_context(BOOK_RC):
        fig, axes = book_figure(max(len(measures), 1), height=3.0)
        palette = dict(zip(dict.fromkeys(junction.model), sns.color_palette("colorblind")))
        for ax, measure in zip(axes[0], measures):
            for model, group in junction.groupby("model", sort=False):
                above = group[f"{measure}_above_null"].fillna(False).astype(bool)
                ax.plot(group[measure][above], group.shortfall[above], "o", color=palette[model],
                        label=model if above.any() else None)
                ax.plot(group[measure][~above], group.shortfall[~above], "o", mfc="white", color=palette[model],
                        label=None if above.any() else model)  # one legend entry per model
            null = junction[f"{measure}_null_mean"].mean()
            if np.isfinite(null):
                ax.axvline(null, color="0.5", ls="--", lw=1, label="mean null")
            ax.axhline(0, color="0.8", lw=1)
            ax.set_xlabel({"rho": r"$\rho_{a+1}$ (EDGE, bits)", "cka": "linear CKA at the junction"}.get(measure, measure))
            ax.set_ylabel(r"Acc$^*$ $-$ trial accuracy")
        if measures:
            axes[0][0].legend()
    return fig


def success_caption(frame: pd.DataFrame) -> str:
    """The caption of :func:`plot_success`: what each point is, the marks, n and the runs behind it."""
    junction = frame[frame.from_fa]
    cells = junction[["model", "dataset", "fb_layers"]].drop_duplicates().shape[0]
    return (f"Each point is one trial ({len(junction)} trials of {cells} Table 1 cells, every seed): the dependence "
            "of the junction pair (rho_{a+1}, EDGE in bits, left; linear CKA, right) of the trial's best-epoch network "
            "against its shortfall Acc* minus the trial's accuracy under attack, in points. Filled: above the "
            "permutation null; hollow: not. Dashed: the mean permutation null over the trials; grey: no shortfall.")


def success_claim(correlations: pd.DataFrame, measure: str = "rho") -> tuple[str, str, str]:
    """The Figure 1 verdict box on the claim "rho predicts success": (result, status, reading). The claim
    predicts Spearman's r between rho_{a+1} and the shortfall below 0; with fewer than four trials (or no
    spread) nothing can be read."""
    values = success_values(correlations, measure)
    if not np.isfinite(values["r"]):
        why = f"{values['n']} trials, or no spread in rho or in the shortfall"
        return (f"No rank correlation can be read ({why}).", "not testable at this scale",
                reading("not testable at this scale", "", no_interval=why))
    result = (f"Spearman's r between rho_{{a+1}} and Acc* minus the trial's accuracy: {values['r']:+.2f} over "
              f"{values['n']} trials (95% bootstrap interval {values['low']:+.2f} to {values['high']:+.2f})")
    if np.isfinite(values["within_r"]):
        result += (f"; within cells {values['within_r']:+.2f} ({values['within_low']:+.2f} to "
                   f"{values['within_high']:+.2f})")
    status = interval_status(values["low"], values["high"], 0.0, "below")
    return result + ".", status, reading(status, "0, the value of no effect", "below")


def cells_within(records: list[dict], k: float) -> dict:
    """How many cells brought Acc~ within ``k`` points of Acc* (paper rule and validation-selected),
    with the median and largest shortfall, from the cells' seed means."""
    gaps = [r["metrics"]["acc_star"] - r["metrics"]["acc_tilde"] for r in records]
    unbiased = [r["metrics"]["acc_star"] - r["metrics"]["acc_tilde_unbiased"] for r in records
                if r["metrics"].get("acc_tilde_unbiased") is not None]
    return {"cells": len(gaps), "k": float(k), "within": sum(g <= k for g in gaps),
            "within_unbiased": sum(g <= k for g in unbiased),
            "median_gap": float(np.median(gaps)) if gaps else math.nan,
            "largest_gap": float(max(gaps)) if gaps else math.nan,
            "median_gap_unbiased": float(np.median(unbiased)) if unbiased else math.nan}


def cells_within_sentence(within: dict) -> str:
    """:func:`cells_within` in words (no full stop: the page closes or continues it)."""
    return (f"Acc~ came within k = {within['k']:g} point of Acc* in {within['within']} of {within['cells']} cells "
            f"(paper rule; {within['within_unbiased']} of {within['cells']} validation-selected); the median "
            f"shortfall Acc* - Acc~ was {within['median_gap']:.1f} points and the largest {within['largest_gap']:.1f}")


def success_values(correlations: pd.DataFrame, measure: str = "rho") -> dict:
    """The junction pair's Spearman r and its interval across cells (``r``, ``low``, ``high``, ``n``) and within
    cells (``within_r``, ...), from :func:`success_correlations`; NaN (n 0) when there were too few trials."""
    rows = correlations[correlations.measure == measure]
    junction = rows[rows.pairs.str.startswith("rho_{a+1} (")]
    inside = rows[rows.pairs == WITHIN_CELLS]
    values = {}
    for key in ("r", "low", "high"):
        values[key] = float(junction[key].iloc[0]) if len(junction) else math.nan
        values[f"within_{key}"] = float(inside[key].iloc[0]) if len(inside) else math.nan
    values["n"] = int(junction["n"].iloc[0]) if len(junction) else 0
    return values


__all__ = ["WITHIN_CELLS", "within_cells", "MEASURES", "TRIAL_COLUMNS", "trial_frame", "rank_correlation", "success_correlations",
           "success_verdict", "plot_success", "success_caption", "success_claim", "cells_within", "cells_within_sentence",
           "success_values"]
