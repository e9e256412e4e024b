"""Figures 1 and 2's claims, tested on ``table1`` records: the trend of rho with depth once its permutation null's
own rise is subtracted (:func:`depth_trend`, Figure 1), a smaller f_b giving a higher rho at the layer pairs the
sizes share (:func:`size_comparison`, :func:`figure2_claim`, Figure 2) and the data-set ordering
(:func:`dataset_claim`). The figures themselves are drawn by :mod:`semirobust.experiments.report.figures`."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from semirobust.config import DATASET_NAMES, MODEL_NAMES
from semirobust.experiments.report.figures import rho_depth_frame
from semirobust.experiments.report.verdicts import interval_status, reading
from semirobust.inference import interval_reading, mean_interval

__all__ = ["gap_glue", "TREND_COLUMNS", "depth_trend", "trend_sentence", "size_comparison", "size_interval", "figure2_claim",
           "dataset_claim", "cells_within", "cells_within_sentence", "dataset_gap", "dataset_gap_claim",
           "population_text"]

#: the measures' names in running text (sentences are glued as plain text, so no LaTeX)
_PLAIN_NAMES = {"rho": "EDGE rho", "ksg": "KSG estimate", "cka": "linear CKA"}

def _slope(x, y) -> float:
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    if keep.sum() < 2 or np.ptp(x[keep]) == 0:
        return math.nan
    return float(np.polyfit(x[keep], y[keep], 1)[0])

TREND_COLUMNS = ("Model", "Dataset", "f_b layers", "seeds", "pairs", "slope_excess", "low", "high", "slope_raw",
                 "slope_null", "reading")

def depth_trend(records: list[dict], measure: str = "rho") -> pd.DataFrame:
    """The trend statistic of "rho rises with depth" with the null's own rise subtracted: per network (at its
    largest f_b, as Figure 1 draws it) and data set, the least-squares slope of the measure's excess over its
    permutation null's mean against x (per layer pair; positive: higher at earlier pairs of f_b, toward the
    junction, as the paper's figure shows), computed on each seed, then averaged over the seeds with a 95%
    t-interval (the seeds are the clusters; one seed: no interval). ``slope_raw`` and ``slope_null`` (seed means)
    show how much of the raw rise is the null's: slope_raw = slope_excess + slope_null."""
    largest = {}
    for record in records:
        c = record["config"]
        largest[c["arch"]] = max(largest.get(c["arch"], 0), int(c["fb_layers"]))
    rows = []
    for record in records:
        c, metrics = record["config"], record["metrics"]
        if int(c["fb_layers"]) != largest[c["arch"]]:
            continue
        lists = [m.get("rho_pairs") for m in metrics.get("per_seed") or []]
        lists = [p for p in lists if p] or ([metrics["rho_pairs"]] if metrics.get("rho_pairs") else [])
        slopes = {"excess": [], "raw": [], "null": []}
        for pairs in lists:
            x = [len(pairs) - 1 - j for j in range(len(pairs))]  # x = 0: the last pair (rho_n)
            raw = [math.nan if p.get(measure) is None else float(p[measure]) for p in pairs]
            null = [math.nan if p.get(f"{measure}_null_mean") is None else float(p[f"{measure}_null_mean"])
                    for p in pairs]
            slopes["raw"].append(_slope(x, raw))
            slopes["null"].append(_slope(x, null))
            slopes["excess"].append(_slope(x, np.subtract(raw, null)))
        excess = [v for v in slopes["excess"] if math.isfinite(v)]
        mean = float(np.mean(excess)) if excess else math.nan
        half = mean_interval(excess)[1] if len(excess) >= 2 else math.nan
        low, high = mean - half, mean + half
        if not excess:
            words = "no permutation null"
        elif len(excess) < 2:
            words = "one seed: no interval"
        else:
            words = interval_reading(low, high, "rises beyond the null", "falls beyond the null",
                                     "no trend beyond the null shown (the interval contains 0)")
        finite = lambda v: float(np.mean([u for u in v if math.isfinite(u)])) if any(map(math.isfinite, v)) else math.nan  # noqa: E731
        rows.append({"Model": MODEL_NAMES.get(c["arch"], c["arch"]), "Dataset": DATASET_NAMES.get(c["dataset"], c["dataset"]),
                     "f_b layers": int(c["fb_layers"]), "seeds": len(excess), "pairs": len(lists[0]) if lists else 0,
                     "slope_excess": mean, "low": low, "high": high, "slope_raw": finite(slopes["raw"]),
                     "slope_null": finite(slopes["null"]), "reading": words})
    return pd.DataFrame(rows, columns=list(TREND_COLUMNS))

def trend_sentence(table: pd.DataFrame, measure: str = "rho") -> str:
    """:func:`depth_trend` in words (no full stop): the statistic, each line's slope with its interval, and how
    many lines rise beyond the null, fall, or show no trend at this power."""
    if table.empty:
        return "no layer pairs were measured: the trend is not testable here"
    name = _PLAIN_NAMES.get(measure, measure)
    parts = []
    for _, row in table.iterrows():
        interval = (f"{row.low:+.3f} to {row.high:+.3f}" if math.isfinite(row.low) else
                    "no interval" if math.isfinite(row.slope_excess) else "not measured")
        parts.append(f"{row.Model} on {row.Dataset} ({row.seeds} seed{'s' if row.seeds != 1 else ''}) "
                     f"{row.slope_excess:+.3f} ({interval}; raw {row.slope_raw:+.3f}, the null's own {row.slope_null:+.3f})")
    counts = table["reading"].value_counts()
    rise, fall = int(counts.get("rises beyond the null", 0)), int(counts.get("falls beyond the null", 0))
    flat = int(counts.get("no trend beyond the null shown (the interval contains 0)", 0))
    none = len(table) - rise - fall - flat
    return (f"the slope of {name}'s excess over its permutation null against x (least squares on each seed, per "
            "layer pair; positive: higher at earlier pairs of f_b; mean over the seeds with a 95% t-interval, the "
            f"seeds being the clusters): {'; '.join(parts)}. It rises beyond the null's own rise on {rise} of "
            f"{len(table)} network and data-set lines, falls on {fall}, shows no trend at this power on {flat}"
            f"{f', and has no interval (one seed) on {none}' if none else ''}")

def size_comparison(records: list[dict], measure: str = "rho") -> tuple[pd.DataFrame, str]:
    """The paper's Figure 2 claim (a smaller f_b gives a slightly higher rho for a given layer pair),
    tested on the pairs every f_b size shares (same x: the same physical layers, counted from the end).

    Returns one row per shared x (the measure at each size, the smallest minus the largest size and
    the largest null sd, the scale of a difference that means nothing) and a sentence.
    """
    frame = rho_depth_frame(records)
    if frame.empty or measure not in frame or frame["f_b layers"].nunique() < 2:
        return pd.DataFrame(), "fewer than two f_b sizes: the claim cannot be compared here"
    sizes = sorted(frame["f_b layers"].unique())
    small, large = sizes[0], sizes[-1]
    wide = frame.pivot_table(index="x", columns="f_b layers", values=measure).dropna()
    null_sd = frame.pivot_table(index="x", columns="f_b layers", values=f"{measure}_null_sd") \
        if f"{measure}_null_sd" in frame else None
    table = pd.DataFrame({"x": wide.index, **{f"f_b = {s}": wide[s].values for s in sizes}})
    table["smallest minus largest"] = (wide[small] - wide[large]).values
    if null_sd is not None:
        table["largest null sd"] = null_sd.loc[wide.index].astype(float).max(axis=1).values
    higher = int((table["smallest minus largest"] > 0).sum())
    beyond = int((table["smallest minus largest"] > 2 * table.get("largest null sd", 0)).sum())
    sentence = (f"at {higher} of {len(table)} shared layer pairs the smallest f_b ({small}) has the higher "
                f"{_PLAIN_NAMES.get(measure, measure)} than the largest ({large}); "
                f"the difference exceeds twice the permutation null's sd at {beyond} of them "
                f"(mean difference {table['smallest minus largest'].mean():+.3f})")
    return table, sentence

def size_interval(table: pd.DataFrame) -> dict:
    """The Figure 2 claim's quantity from :func:`size_comparison`'s table: the mean of smallest-minus-largest
    f_b over the shared pairs, its 95% t-interval over the pairs (NaN with fewer than two) and how many pairs
    differ by more than twice the null's sd."""
    if table.empty:
        return {"pairs": 0, "mean": math.nan, "low": math.nan, "high": math.nan, "beyond_null": 0}
    diffs = table["smallest minus largest"].astype(float).tolist()
    mean, half = mean_interval(diffs) if len(diffs) > 1 else (diffs[0], math.nan)
    beyond = int((table["smallest minus largest"] > 2 * table.get("largest null sd", 0)).sum())
    return {"pairs": len(diffs), "mean": mean, "low": mean - half, "high": mean + half, "beyond_null": beyond}

def figure2_claim(records: list[dict], table: pd.DataFrame) -> tuple[str, str, str]:
    """The Figure 2 verdict box: (result, status, reading). The claim: a smaller f_b gives a higher rho for a
    given layer pair, i.e. smallest minus largest f_b above 0 at the shared pairs."""
    sizes = sorted({int(r["config"]["fb_layers"]) for r in records})
    if len(sizes) < 2 or table.empty:
        why = f"only f_b = {', '.join(map(str, sizes)) or 'none'} was run, two sizes are needed"
        return f"Not measured: {why}.", "not testable at this scale", reading("not testable at this scale", "", no_interval=why)
    found = size_interval(table)
    result = (f"EDGE rho at f_b = {sizes[0]} minus f_b = {sizes[-1]}, over the {found['pairs']} layer pairs both share: "
              f"mean {found['mean']:+.3f} bits")
    if math.isfinite(found["low"]):
        result += f" (95% t-interval over the pairs {found['low']:+.3f} to {found['high']:+.3f})"
    result += f"; beyond twice the permutation null's sd at {found['beyond_null']} of {found['pairs']}."
    status = interval_status(found["low"], found["high"], 0.0, "above")
    why = "one shared pair" if found["pairs"] < 2 else ""
    return result, status, reading(status, "0, no difference between the sizes", "above", no_interval=why)

def dataset_claim(records: list[dict]) -> tuple[str, str, str]:
    """The paper's data-set reading of Figure 1 (rho lowest on CIFAR-100, highest on Imagenette): (result,
    status, reading). Not testable unless both data sets were run; with both, each model's mean EDGE rho per
    data set is reported, and the status stays undecided: no interval is computed for this comparison."""
    present = sorted({r["config"]["dataset"] for r in records})
    names = ", ".join(DATASET_NAMES.get(d, d) for d in present) or "no data set"
    if not {"cifar100", "imagenette"} <= set(present):
        why = f"only {names} was run; the claim compares CIFAR-100 with Imagenette"
        return f"Not measured: {why}.", "not testable at this scale", reading("not testable at this scale", "",
                                                                             no_interval=why)
    frame = rho_depth_frame(records)
    means = frame.groupby(["Model", "Dataset"])["rho"].mean().unstack()
    result = "; ".join(f"{model}: " + ", ".join(f"{d} {v:.2f}" for d, v in row.dropna().items())
                       for model, row in means.iterrows())
    why = "no interval is computed for this comparison"
    return f"Mean EDGE rho over the pairs of f_b, bits: {result}.", "undecided", reading("undecided", "",
                                                                                       no_interval=why)

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


def _hardness(record: dict) -> float:
    """A cell's clean accuracy of its regular network (mean over seeds; Acc* where a record lacks it): lower is
    harder."""
    metrics = record["metrics"]
    per_seed = metrics.get("per_seed") or [metrics]
    values = [m.get("acc_regular_clean", m.get("acc_star")) for m in per_seed]
    values = [float(v) for v in values if v is not None]
    return float(np.mean(values)) if values else math.nan


def _excess_rows(records: list[dict], measure: str) -> pd.DataFrame:
    """One row per (model, data set, f_b, seed, x) of the measure's excess over its null's mean (x = 0: the last
    pair of f_b, as Figure 1 counts)."""
    rows = []
    for record in records:
        config, metrics = record["config"], record["metrics"]
        per_seed = metrics.get("per_seed") or [metrics]
        seeds = config.get("seeds") or metrics.get("seeds") or [config.get("seed", 0)] * len(per_seed)
        for seed, seed_metrics in zip(seeds, per_seed):
            pairs = seed_metrics.get("rho_pairs") or []
            for j, pair in enumerate(pairs):
                value, null = pair.get(measure), pair.get(f"{measure}_null_mean")
                if value is None or null is None:
                    continue
                rows.append({"model": MODEL_NAMES.get(config["arch"], config["arch"]), "dataset": config["dataset"],
                             "fb_layers": int(config["fb_layers"]), "seed": int(seed), "x": len(pairs) - 1 - j,
                             "excess": float(value) - float(null)})
    return pd.DataFrame(rows, columns=["model", "dataset", "fb_layers", "seed", "x", "excess"])


def dataset_gap(records: list[dict], measure: str = "ksg", level: float = 0.95) -> dict:
    """Does the harder data set show lower dependence per layer pair? The harder data set is the one whose regular
    networks have the lower clean accuracy (:func:`_hardness`, computed, not assumed); the gap is the measure's excess
    over its permutation null on the harder minus the easier data set, paired by layer pair (same network, same f_b,
    same x) and seed where both data sets have them, averaged over the shared pairs per seed, then over the seeds
    with a t-interval (the seeds are the clusters; one seed: no interval). The paper's reading ("rho lowest on
    CIFAR-100") predicts a gap below 0. Returns harder, easier, pairs (the shared pairs in words), n_pairs, seeds,
    gap, low, high, per_seed (the seeds' gaps)."""
    by_dataset = {}
    for record in records:
        by_dataset.setdefault(record["config"]["dataset"], []).append(_hardness(record))
    empty = {"harder": None, "easier": None, "pairs": "none", "n_pairs": 0, "seeds": 0, "gap": math.nan,
             "low": math.nan, "high": math.nan, "per_seed": [], "measure": measure}
    ranked = sorted((float(np.nanmean(v)) if np.isfinite(v).any() else math.inf, d) for d, v in by_dataset.items())
    if len(ranked) < 2:
        return empty
    harder, easier = ranked[0][1], ranked[-1][1]
    frame = _excess_rows(records, measure)
    keys = ["model", "fb_layers", "seed", "x"]
    merged = frame[frame.dataset == harder].merge(frame[frame.dataset == easier], on=keys, suffixes=("_h", "_e"))
    found = {**empty, "harder": DATASET_NAMES.get(harder, harder), "easier": DATASET_NAMES.get(easier, easier)}
    if merged.empty:
        return found
    merged["gap"] = merged.excess_h - merged.excess_e
    per_seed = merged.groupby("seed").gap.mean()
    shared = merged.groupby(["model", "fb_layers"]).x.agg(lambda xs: sorted(set(xs)))
    found["pairs"] = "; ".join(f"{m} f_b = {fb}: x = {', '.join(map(str, xs))}" for (m, fb), xs in shared.items())
    found.update(n_pairs=int(sum(len(xs) for xs in shared)), seeds=int(per_seed.size), per_seed=per_seed.tolist(),
                 gap=float(per_seed.mean()))
    if per_seed.size >= 2:
        mean, half = mean_interval(per_seed.tolist(), level)
        found.update(low=mean - half, high=mean + half)
    return found


def gap_glue(gap: dict) -> dict:
    """The gap's glue values: the gap, its interval in words (``rho_dataset_gap_interval``: "95% interval ... to
    ..." or why there is none) and its bounds as numbers only where an interval exists (never a NaN on a page)."""
    values = {"rho_dataset_gap": gap["gap"], "rho_dataset_gap_pairs": gap["pairs"]}
    if math.isfinite(gap["low"]) and math.isfinite(gap["high"]):
        values.update(rho_dataset_gap_low=gap["low"], rho_dataset_gap_high=gap["high"],
                      rho_dataset_gap_interval=f"95% interval {gap['low']:+.3f} to {gap['high']:+.3f}")
    else:
        seeds = len(gap["per_seed"])
        values["rho_dataset_gap_interval"] = (f"no interval: {seeds} seed" + ("" if seeds == 1 else "s")
                                              + " with both data sets" if seeds else "not measured")
    return values


def dataset_gap_claim(gap: dict) -> tuple[str, str, str]:
    """The verdict box on "the harder data set shows lower rho per layer pair": (result, status, reading), from
    :func:`dataset_gap`'s interval (predicted below 0)."""
    name = _PLAIN_NAMES.get(gap["measure"], gap["measure"])
    if gap["harder"] is None or gap["n_pairs"] == 0:
        why = ("one data set was run" if gap["harder"] is None else
               f"{gap['harder']} and {gap['easier']} share no layer pair and seed")
        return f"Not measured: {why}.", "not testable at this scale", reading("not testable at this scale", "",
                                                                             no_interval=why)
    result = (f"{name}'s excess over its permutation null, {gap['harder']} (the harder data set: lower clean accuracy "
              f"of the regular networks) minus {gap['easier']}, over {gap['n_pairs']} shared layer pairs "
              f"({gap['pairs']}) and {gap['seeds']} seed{'s' if gap['seeds'] != 1 else ''}: {gap['gap']:+.3f}")
    if math.isfinite(gap["low"]):
        result += f" (95% t-interval over the seeds {gap['low']:+.3f} to {gap['high']:+.3f})"
    status = interval_status(gap["low"], gap["high"], 0.0, "below")
    why = "one seed" if gap["seeds"] < 2 else ""
    return result + ".", status, reading(status, "0, no difference between the data sets", "below", no_interval=why)


def population_text(trials: pd.DataFrame, records: list[dict]) -> str:
    """The analysis's population in words: the trials (one row per trial at the junction of
    :func:`semirobust.experiments.rho.rho_success.trial_frame`'s rows with ``from_fa``) and the listed cells."""
    n_trials = int(trials["from_fa"].sum()) if "from_fa" in trials else 0
    return (f"{n_trials} trial{'s' if n_trials != 1 else ''} of every arm in {len(records)} listed "
            f"cell{'s' if len(records) != 1 else ''}")
