"""Calibration: a class-conditional dependence estimate beside what it reads under no dependence.

A raw EDGE value says little at the paper's sizes (a few hundred samples per class, thousands of
dimensions): it sits near its log2 N ceiling whatever the dependence. :func:`calibrated_mi`
runs the same estimator with one side's rows permuted within each class (a permutation null)
and reports the estimate, the null's mean and spread, the ceiling and a p-value, for EDGE
(bits), KSG on PCA (bits) or linear CKA (0..1).
"""
from __future__ import annotations

import math

import numpy as np
import torch

from semirobust.config import check_choice, check_int
from semirobust.mi.conditional import check_labels, class_groups
from semirobust.mi.edge import (
    MIN_SAMPLES,
    SMOOTHNESS,
    bucket_ids,
    check_combine,
    edge_mi,
    edge_settings,
    edge_setup,
    mi_from_buckets,
)
from semirobust.mi.inputs import as_numpy, check_paired, check_shape, take_rows
from semirobust.mi.measures import KSG_COMPONENTS, KSG_K, centered_gram, cka_from_grams, ksg_reduced, pca_reduce
from semirobust.mi.moments import DEFAULT_CHUNK_BYTES

__all__ = ["MEASURES", "calibrated_mi"]

#: Measures :func:`calibrated_mi` accepts: EDGE (bits), KSG on PCA (bits), linear CKA (0..1).
MEASURES = ("edge", "ksg", "cka")


def _edge_class_values(A, B, rows, settings, permutations, rng, seed, chunk_bytes):
    """EDGE on one class: the estimate and its values with B's rows permuted (same hashing when possible)."""
    a_rows, b_rows = take_rows(A, rows), take_rows(B, rows)
    n = len(rows)
    perms = [rng.permutation(n) for _ in range(permutations)]
    if settings["adaptive"]:  # the rerun's bandwidth depends on each estimate: hash every permutation afresh
        value = edge_mi(a_rows, b_rows, seed=seed, chunk_bytes=chunk_bytes, **settings)
        null = [edge_mi(a_rows, take_rows(b_rows, p), seed=seed, chunk_bytes=chunk_bytes, **settings) for p in perms]
        return value, null
    setup = edge_setup(a_rows, b_rows, n_ensemble=settings["n_ensemble"], bandwidth_range=settings["bandwidth_range"],
                       hashing=settings["hashing"], seed=seed, shift_scale=settings["shift_scale"],
                       center=settings["center"], chunk_bytes=chunk_bytes)
    g = check_combine(settings["gamma"], settings["upper"], settings["ensemble"])
    eps_x, eps_y, b_x, b_y = setup.members((SMOOTHNESS * g[0], SMOOTHNESS * g[1]))
    ix, count_x = bucket_ids(setup.zx, eps_x, b_x)
    iy, count_y = bucket_ids(setup.zy, eps_y, b_y)
    members = eps_x.shape[0]
    combine = np.median if settings["ensemble"] == "median" else np.mean

    def estimate(order) -> float:
        ids = iy if order is None else iy.view(members, n)[:, torch.from_numpy(order).to(iy.device)].reshape(-1)
        return float(combine(mi_from_buckets(ix, count_x, ids, count_y, members, n, settings["upper"])))

    return estimate(None), [estimate(p) for p in perms]


def _check_finite(data, name: str) -> None:
    finite = torch.isfinite(data).all() if isinstance(data, torch.Tensor) else np.isfinite(np.asarray(data)).all()
    if not bool(finite):
        raise ValueError(f"{name} contains NaN or infinite values; drop or fix those rows first.")


def calibrated_mi(A, B, labels, *, measure: str = "edge", preset: str = "authors", permutations: int = 20,
                  seed: int = 0, min_class_samples: int = MIN_SAMPLES, components: int = KSG_COMPONENTS,
                  chunk_bytes: int = DEFAULT_CHUNK_BYTES, **edge_overrides) -> dict:
    """A class-conditional dependence estimate with what it reads under no dependence.

    Returns ``mi`` (the class-weighted estimate), ``null_mean`` and ``null_sd`` (the same estimator
    with B's rows permuted within each class, so the class counts stay, ``permutations`` times;
    20 give p >= 1/21), ``ceiling`` (for EDGE and KSG the class-weighted log2 N_y, the most an
    estimate from N_y samples can read; 1 for CKA), ``p_value`` ((1 + #null >= mi) / (1 + permutations))
    and ``above_null`` (p < 0.05: at 20 permutations, above every permuted value), plus the measure,
    preset and every estimator setting, for the record. Every class needs
    ``max(min_class_samples, MIN_SAMPLES)`` samples, else ValueError (the small-class rule of
    :func:`~semirobust.mi.conditional.class_groups`). EDGE without the adaptive rerun hashes
    each class once and only re-pairs the buckets for every permutation, so calibration costs a
    fraction of the hashing.
    """
    check_choice("measure", measure, MEASURES)
    settings = edge_settings(preset, **edge_overrides)
    check_int("permutations", permutations)
    n, _ = check_shape(A, "A")
    nb, _ = check_shape(B, "B")
    check_paired(n, nb, ("A", "B"))
    _check_finite(A, "A")
    _check_finite(B, "B")
    y = check_labels(labels, n)
    groups = class_groups(y, max(min_class_samples, MIN_SAMPLES))
    rng = np.random.default_rng(seed)
    value, null = 0.0, np.zeros(permutations)
    for rows, weight in groups:
        if measure == "edge":
            v, nv = _edge_class_values(A, B, rows, settings, permutations, rng, seed, chunk_bytes)
        else:
            a_np, b_np = as_numpy(take_rows(A, rows), "A"), as_numpy(take_rows(B, rows), "B")
            perms = [rng.permutation(len(rows)) for _ in range(permutations)]
            if measure == "ksg":
                za, zb = pca_reduce(a_np, components, rng), pca_reduce(b_np, components, rng)
                v, nv = ksg_reduced(za, zb, KSG_K), [ksg_reduced(za, zb[p], KSG_K) for p in perms]
            else:
                K, L = centered_gram(a_np), centered_gram(b_np)
                v, nv = cka_from_grams(K, L), [cka_from_grams(K, L[np.ix_(p, p)]) for p in perms]
        value += weight * v
        null += weight * np.asarray(nv)
    ceiling = 1.0 if measure == "cka" else float(sum(w * math.log2(len(r)) for r, w in groups))
    p_value = (1 + int((null >= value).sum())) / (1 + permutations)
    return {"mi": float(value), "null_mean": float(null.mean()), "null_sd": float(null.std(ddof=1)) if permutations > 1
            else 0.0, "ceiling": ceiling, "p_value": p_value, "above_null": bool(p_value < 0.05), "measure": measure,
            "preset": preset if measure == "edge" else None, "permutations": permutations, "seed": seed,
            "settings": settings if measure == "edge" else ({"components": components, "k": KSG_K} if measure == "ksg"
                                                            else {})}
