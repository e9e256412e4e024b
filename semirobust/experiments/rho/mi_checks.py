"""The MI estimator page's checks of EDGE on synthetic data with a known answer, run and recorded: the closed
form by correlation and by sample size, the estimate against dimension, its invariances, and its time against N.

:func:`run_mi_checks` computes them at a profile's ``mi_checks`` sizes and writes one ``mi_estimator`` record
(config: profile, seed, sizes); :mod:`semirobust.experiments.rho.mi_checks_report` reads it for the page."""
from __future__ import annotations

import time

import numpy as np
import pandas as pd
import torch

from semirobust import mi
from semirobust.config import Profile, get_profile
from semirobust.mi import closed_form, gaussian_pair, true_mi
from semirobust.names import RecordKind
from semirobust.results import ResultsStore
from semirobust.utils import resolve_device

__all__ = ["by_dimension", "invariances", "timing", "run_mi_checks"]


def by_dimension(n: int, dims, *, seed: int = 0) -> pd.DataFrame:
    """EDGE on ``d`` coordinate pairs of correlation 0.8 and on independent inputs, against the truth, per d."""
    rows = []
    for dim in dims:
        x, y = gaussian_pair(n, 0.8, dim, seed=seed + 300 + dim)
        rng = np.random.default_rng(seed + 400 + dim)
        rows.append({"dim": dim, "true": true_mi(0.8, dim), "edge": mi.edge_mi(x, y, seed=seed),
                     "edge_independent": mi.edge_mi(rng.standard_normal((n, dim)), rng.standard_normal((n, dim)),
                                                    seed=seed)})
    return pd.DataFrame(rows)


def invariances(n: int, *, seed: int = 0) -> pd.Series:
    """EDGE on one 10-dimensional pair (r = 0.7) unchanged, rerun, permuted jointly, rescaled, translated, and
    with another seed: every value but the last must equal the first."""
    x, y = gaussian_pair(n, 0.7, dim=10, seed=seed + 500)
    perm = np.random.default_rng(seed).permutation(len(x))
    scale = np.random.default_rng(seed + 1).uniform(0.5, 20.0, size=x.shape[1])
    return pd.Series({
        "base": mi.edge_mi(x, y, seed=seed),
        "same seed again": mi.edge_mi(x, y, seed=seed),
        "samples permuted jointly": mi.edge_mi(x[perm], y[perm], seed=seed),
        "X rescaled per feature": mi.edge_mi(x * scale, y, seed=seed),
        "Y translated and rescaled": mi.edge_mi(x, 0.37 * y + 5.0, seed=seed),
        "other seed": mi.edge_mi(x, y, seed=seed + 1),
    }, name="EDGE (bits)")


def timing(ns, dim: int, device, *, seed: int = 0) -> pd.DataFrame:
    """The best of three timed calls of ``edge_mi`` (after a warm-up) on ``device`` per sample size N."""
    rows = []
    for n in ns:
        x, y = gaussian_pair(n, 0.7, dim, seed=seed + 600)
        x, y = torch.from_numpy(x).float().to(device), torch.from_numpy(y).float().to(device)
        mi.edge_mi(x, y, seed=seed)  # warm-up
        best = np.inf
        for _ in range(3):
            start = time.perf_counter()
            mi.edge_mi(x, y, seed=seed)
            best = min(best, time.perf_counter() - start)
        rows.append({"N": n, "seconds": best})
    return pd.DataFrame(rows)


def run_mi_checks(profile: str | Profile = "offline", seed: int = 0, device="auto", results_dir=None) -> dict:
    """Run every check at ``profile``'s ``mi_checks`` sizes (data and estimates seeded by ``seed``; the timing on
    ``device``) and write the ``mi_estimator`` record to ``results_dir`` (None: the default store); returns it."""
    started = time.perf_counter()
    chosen = get_profile(profile, device)
    size, name, dev = chosen.mi_checks, chosen.name, resolve_device(device)
    by_r = closed_form.by_correlation(size["n"], size["rs"], (1, 2, 4), seed=seed)
    ranking = {preset: closed_form.ranking_sentence(by_r, preset) for preset in closed_form.CHECK_PRESETS}
    by_n = closed_form.by_sample_size(size["ns"], size["seeds"], seed=seed)
    noshad_n = by_n[by_n.preset == "noshad"]
    dims = by_dimension(size["n"], size["dims"], seed=seed)
    checks = invariances(size["n"], seed=seed)
    times = timing(size["timing_ns"], size["timing_dim"], dev, seed=seed)
    metrics = {"max_abs_error_one_pair": closed_form.max_abs_error(by_r, "noshad"),
               "max_abs_error_one_pair_authors": closed_form.max_abs_error(by_r, "authors"),
               "bias": {preset: closed_form.bias_sentence(by_n, preset) for preset in closed_form.CHECK_PRESETS},
               "ranking": ranking, "tolerance": mi.GAUSSIAN_TOLERANCE_BITS,
               "ranking_correct": not any("does not rise" in text for text in ranking.values()),
               "independent_max": float(noshad_n[(noshad_n.r == 0.0) & (noshad_n.N >= 1000)].edge.max()),
               "independent_bound": mi.INDEPENDENT_BOUND_BITS,
               "invariance_gap": float((checks.drop("other seed") - checks["base"]).abs().max()),
               "invariances": checks.to_dict(),
               "independent_top_dim": float(dims.edge_independent.iloc[-1]),
               "time_largest_n_s": float(times.seconds.iloc[-1]),
               "time_growth_exponent": float(np.polyfit(np.log(times.N), np.log(times.seconds), 1)[0]),
               "by_correlation": by_r.to_dict("records"), "by_sample_size": by_n.to_dict("records"),
               "by_dimension": dims.to_dict("records"), "timing": times.to_dict("records")}
    return ResultsStore(results_dir).write(RecordKind.MI_ESTIMATOR, {"profile": name, "seed": seed, "sizes": size},
                                           metrics, profile=name, seed=seed, device=dev,
                                           wall_time_s=time.perf_counter() - started, extra={"device": str(dev)})
