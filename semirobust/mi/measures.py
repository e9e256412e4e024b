"""Cross-check measures of dependence beside EDGE: KSG on a PCA reduction (bits) and linear CKA (0..1).

Both take the same inputs as :func:`~semirobust.mi.edge.edge_mi` and, with labels, are
class-weighted within classes under the same small-class rule
(:func:`~semirobust.mi.conditional.class_groups`). Their building blocks (:func:`pca_reduce`,
:func:`ksg_reduced`, :func:`centered_gram`, :func:`cka_from_grams`) are public so the
permutation null of :mod:`semirobust.mi.calibration` can reuse one reduction for every permutation.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.spatial import cKDTree
from scipy.special import digamma

from semirobust.config import check_int
from semirobust.mi.conditional import check_labels, class_groups
from semirobust.mi.edge import MIN_SAMPLES
from semirobust.mi.inputs import as_numpy, check_paired

__all__ = ["KSG_COMPONENTS", "KSG_K", "CKA_MIN_SAMPLES", "pca_reduce", "ksg_reduced", "ksg_mi", "centered_gram",
           "cka_from_grams", "linear_cka"]

#: Components per side that KSG keeps by default (PCA), and its k.
KSG_COMPONENTS = 8
KSG_K = 3
#: Fewest samples per class linear CKA accepts (a centred Gram matrix of 2 samples has rank 1).
CKA_MIN_SAMPLES = 3


def pca_reduce(X: np.ndarray, components: int, rng: np.random.Generator) -> np.ndarray:
    """Centered, standardized top principal components of X (at most ``components``), tie-broken.

    A tiny seeded jitter (1e-10 of each component's scale) breaks the exact ties ReLU outputs
    produce, which the k-NN counts of KSG cannot handle.
    """
    Xc = X - X.mean(axis=0)
    k = max(1, min(int(components), Xc.shape[1], Xc.shape[0] - 1))
    if Xc.shape[1] > k:
        _, _, vt = np.linalg.svd(Xc, full_matrices=False)
        Xc = Xc @ vt[:k].T
    scale = Xc.std(axis=0)
    Xc = Xc / np.where(scale > 1e-12, scale, 1.0)
    return Xc + 1e-10 * rng.standard_normal(Xc.shape)


def ksg_reduced(zx: np.ndarray, zy: np.ndarray, k: int) -> float:
    """Kraskov-Stoegbauer-Grassberger estimator 1 (max-norm), in bits, on already reduced sides."""
    n = zx.shape[0]
    joint = np.hstack([zx, zy])
    radius = cKDTree(joint).query(joint, k=k + 1, p=np.inf)[0][:, -1]
    radius = np.nextafter(radius, 0)  # strictly closer than the k-th joint neighbour
    nx = cKDTree(zx).query_ball_point(zx, radius, p=np.inf, return_length=True) - 1
    ny = cKDTree(zy).query_ball_point(zy, radius, p=np.inf, return_length=True) - 1
    nats = digamma(k) + digamma(n) - np.mean(digamma(nx + 1) + digamma(ny + 1))
    return float(nats / math.log(2.0))


def ksg_mi(X, Y, labels=None, *, components: int = KSG_COMPONENTS, k: int = KSG_K, seed: int = 0) -> float:
    """KSG mutual information (bits) on a PCA reduction of each side to ``components`` dimensions.

    With ``labels``, the class-conditional ``sum_y pi(y) I(X; Y | y)``; every class needs
    ``max(MIN_SAMPLES, k + 2)`` samples. k-NN searches use scipy's ``cKDTree``. PCA keeps what
    dominates the variance; KSG is then reliable in those few dimensions, so this measures
    dependence between the leading directions of two layers.
    """
    A, B = as_numpy(X, "X"), as_numpy(Y, "Y")
    check_paired(A.shape[0], B.shape[0])
    check_int("k", k)
    check_int("components", components)
    y = np.zeros(A.shape[0], dtype=int) if labels is None else check_labels(labels, A.shape[0])
    rng = np.random.default_rng(seed)
    value = 0.0
    for rows, weight in class_groups(y, max(MIN_SAMPLES, k + 2)):
        value += weight * ksg_reduced(pca_reduce(A[rows], components, rng), pca_reduce(B[rows], components, rng), k)
    return value


def centered_gram(X: np.ndarray) -> np.ndarray:
    """The N x N Gram matrix of the centred rows of X."""
    Xc = X - X.mean(axis=0)
    return Xc @ Xc.T


def cka_from_grams(K: np.ndarray, L: np.ndarray) -> float:
    """Linear CKA from two centred Gram matrices (0 when either side is constant)."""
    denom = np.linalg.norm(K) * np.linalg.norm(L)
    return float((K * L).sum() / denom) if denom > 0 else 0.0


def linear_cka(X, Y, labels=None) -> float:
    """Linear centered kernel alignment of X and Y (0: no linear relation, 1: equal up to rotation and scale).

    Closed form ``||Xc^T Yc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F)``, computed from the N x N Gram
    matrices so a wide layer costs one N x d product. With ``labels``: class-weighted within classes
    (every class needs :data:`CKA_MIN_SAMPLES` samples).
    """
    A, B = as_numpy(X, "X"), as_numpy(Y, "Y")
    check_paired(A.shape[0], B.shape[0])
    y = np.zeros(A.shape[0], dtype=int) if labels is None else check_labels(labels, A.shape[0])
    return sum(w * cka_from_grams(centered_gram(A[r]), centered_gram(B[r]))
               for r, w in class_groups(y, CKA_MIN_SAMPLES))
