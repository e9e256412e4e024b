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

__all__ = ["TREND_COLUMNS", "depth_trend", "trend_sentence", "size_comparison", "size_interval", "figure2_claim",
           "dataset_claim"]

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
