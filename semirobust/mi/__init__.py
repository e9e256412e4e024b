"""Dependence between two layers' outputs: EDGE mutual information, cross-checks, calibration.

* :mod:`~semirobust.mi.edge`: the EDGE estimator (Noshad, Zeng & Hero 2019) in bits: k-NN
  bandwidths, hashing, presets, :func:`edge_mi`;
* :mod:`~semirobust.mi.moments`: per-feature moments and projections of large inputs in row chunks;
* :mod:`~semirobust.mi.conditional`: ``sum_y pi(y) I(A; B | y)`` and the one rule for classes too
  small to estimate (a ValueError naming them, in every class-conditional estimator);
* :mod:`~semirobust.mi.measures`: KSG on a PCA reduction (bits) and linear CKA, the cross-checks;
* :mod:`~semirobust.mi.calibration`: :func:`calibrated_mi`, each estimate beside its permutation null;
* :mod:`~semirobust.mi.synthetic`: correlated Gaussian pairs and their closed-form MI;
* :mod:`~semirobust.mi.inputs`: the input checks they share.

Everything callers use is importable from ``semirobust.mi``.
"""
from semirobust.mi.calibration import MEASURES, calibrated_mi
from semirobust.mi.conditional import class_conditional_mi
from semirobust.mi.edge import (
    DEFAULT_UPPER,
    ENSEMBLES,
    EPS_FLOOR,
    EPS_SCALE,
    FLOOR_HASH_LIMIT,
    FLOOR_HASH_MAX_DIM,
    GAUSSIAN_TOLERANCE_BITS,
    HASHINGS,
    INDEPENDENT_BOUND_BITS,
    KNN_QUERIES,
    LOWER_CLIP,
    MIN_SAMPLES,
    MIN_STD,
    PRESETS,
    SMOOTHNESS,
    EdgeSetup,
    Estimator,
    bucket_mi,
    edge_mi,
    edge_settings,
    edge_setup,
    ensemble_mi,
    knn_distance,
    knn_k,
    mi_from_buckets,
    projected_dim,
)
from semirobust.mi.measures import KSG_COMPONENTS, KSG_K, ksg_mi, linear_cka
from semirobust.mi.moments import DEFAULT_CHUNK_BYTES, feature_moments, project
from semirobust.mi.synthetic import gaussian_pair, true_mi

__all__ = ["MIN_SAMPLES", "PRESETS", "MEASURES", "edge_settings", "edge_setup", "bucket_mi", "mi_from_buckets",
           "ensemble_mi", "edge_mi", "class_conditional_mi", "ksg_mi", "linear_cka", "calibrated_mi", "EdgeSetup",
           "projected_dim", "knn_k", "knn_distance", "feature_moments", "project", "GAUSSIAN_TOLERANCE_BITS",
           "INDEPENDENT_BOUND_BITS", "DEFAULT_UPPER", "LOWER_CLIP", "DEFAULT_CHUNK_BYTES", "FLOOR_HASH_MAX_DIM",
           "FLOOR_HASH_LIMIT", "KNN_QUERIES", "EPS_FLOOR", "EPS_SCALE", "SMOOTHNESS", "MIN_STD", "HASHINGS",
           "ENSEMBLES", "Estimator", "KSG_COMPONENTS", "KSG_K", "gaussian_pair", "true_mi"]
