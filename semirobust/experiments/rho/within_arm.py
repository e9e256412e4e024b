"""Spearman's r within arms: the correlation of a measure with the shortfall once the arms' own levels are removed.

The arms differ by design (a frozen random f_a fails by construction and has little dependence at the junction),
so a correlation pooled across arms mostly compares arms. Here each arm's values of x and of y are rank-transformed
within the arm (the arm as a fixed effect: centred ranks scaled to the arm's size), and r is the correlation of
those within-arm ranks over every trial: the stratified Spearman's r. Its interval comes from the same cluster
bootstrap as the pooled one (whole clusters resampled, the ranks recomputed on every resample).
"""
from __future__ import annotations

import math

import numpy as np
from scipy import stats

from semirobust.inference import cluster_bootstrap_draws, percentile_reading

__all__ = ["within_arm_ranks", "within_arm_spearman", "within_arm_correlation"]


def within_arm_ranks(values, arms) -> np.ndarray:
    """Each value's rank within its arm, centred and scaled to (-0.5, 0.5): (rank - 0.5) / size - 0.5; NaN for an
    arm with fewer than 2 values (nothing to rank against)."""
    values, arms = np.asarray(values, dtype=float), np.asarray(arms)
    out = np.full(values.shape, np.nan)
    for arm in np.unique(arms):
        idx = np.flatnonzero(arms == arm)
        if idx.size >= 2:
            out[idx] = (stats.rankdata(values[idx]) - 0.5) / idx.size - 0.5
    return out


def within_arm_spearman(xya: np.ndarray) -> float:
    """The stratified Spearman's r of the rows (x, y, arm code): the correlation of x's and y's within-arm ranks
    (:func:`within_arm_ranks`); NaN with fewer than 3 ranked rows or no spread within the arms."""
    rx, ry = within_arm_ranks(xya[:, 0], xya[:, 2]), within_arm_ranks(xya[:, 1], xya[:, 2])
    keep = np.isfinite(rx) & np.isfinite(ry)
    rx, ry = rx[keep], ry[keep]
    if rx.size < 3 or np.ptp(rx) == 0 or np.ptp(ry) == 0:
        return math.nan
    return float(np.corrcoef(rx, ry)[0, 1])


def within_arm_correlation(x, y, arms, clusters, *, level: float = 0.95, n_resamples: int = 2000,
                           seed: int = 0) -> dict:
    """:func:`within_arm_spearman` of (x, y) stratified by ``arms``, with a percentile interval from a cluster
    bootstrap over ``clusters`` and its two-sided p-value of r = 0. Same keys as
    :func:`semirobust.experiments.rho.rho_success.cluster_rank_correlation`: n, clusters, r, low, high, p_value
    (NaN r with fewer than 4 finite pairs; no interval with fewer than 2 clusters)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    codes = np.unique(np.asarray(arms).astype(str), return_inverse=True)[1].astype(float)
    clusters = np.asarray(clusters)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y, codes, clusters = x[keep], y[keep], codes[keep], clusters[keep]
    out = {"n": int(x.size), "clusters": int(np.unique(clusters).size), "r": math.nan, "low": math.nan,
           "high": math.nan, "p_value": math.nan}
    if x.size < 4:
        return out
    xya = np.column_stack([x, y, codes])
    out["r"] = within_arm_spearman(xya)
    if not math.isfinite(out["r"]) or out["clusters"] < 2:
        return out
    draws = cluster_bootstrap_draws(xya, clusters, within_arm_spearman, n_resamples=n_resamples, seed=seed)
    out.update(percentile_reading(draws, level))
    return out
