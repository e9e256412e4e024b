"""Class-conditional estimation ``sum_y pi(y) I(A; B | y)``: labels, the small-class rule, EDGE per class.

One rule for classes too small to estimate, used by every class-conditional estimator
(:func:`class_conditional_mi`, :func:`~semirobust.mi.measures.ksg_mi`,
:func:`~semirobust.mi.measures.linear_cka`, :func:`~semirobust.mi.calibration.calibrated_mi`):
a class with fewer samples than the estimator needs is a ValueError that names it. Leaving a
class out would silently change the quantity measured (rho weighs every class by its frequency),
so the caller decides: more samples, or the class dropped explicitly.
"""
from __future__ import annotations

import numpy as np
import torch

from semirobust.config import check_int
from semirobust.mi.edge import MIN_SAMPLES, edge_mi
from semirobust.mi.inputs import check_paired, check_shape, take_rows

__all__ = ["check_labels", "class_groups", "class_conditional_mi"]


def check_labels(labels, n: int) -> np.ndarray:
    """The labels as a numpy vector of ``n`` values (one per sample), with a clear error otherwise."""
    if isinstance(labels, torch.Tensor):
        labels = labels.detach().cpu().numpy()
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.shape[0] != n:
        raise ValueError(f"labels must be a vector of {n} values (one per sample), got shape {labels.shape}.")
    if labels.dtype.kind in "fc" and not np.isfinite(labels).all():
        bad = int((~np.isfinite(labels)).sum())
        raise ValueError(f"labels holds {bad} NaN or infinite value(s) of {n}; every sample needs a class label: drop "
                         "those samples (and their rows of A and B) or fix their labels.")
    return labels


def class_groups(labels: np.ndarray, min_class_samples: int) -> list[tuple[np.ndarray, float]]:
    """``[(rows, weight)]`` per class in label order (weight: the class frequency N_y / N).

    The small-class rule: ValueError, naming the classes, when any class has fewer than
    ``min_class_samples`` samples.
    """
    classes, counts = np.unique(labels, return_counts=True)
    sizes = dict(zip(classes.tolist(), counts.tolist()))
    small = {c: m for c, m in sizes.items() if m < min_class_samples}
    if len(small) == len(sizes):
        raise ValueError(f"no class has at least {min_class_samples} samples (class sizes: {sizes}); the "
                         "estimator needs that many per class: use more samples (e.g. a larger rho subset).")
    if small:
        raise ValueError(f"classes {list(small)} have fewer than {min_class_samples} samples (sizes {small}); the "
                         "estimator needs at least that many per class: use more samples (e.g. a larger rho subset) "
                         "or drop those classes.")
    return [(np.flatnonzero(labels == c), m / labels.shape[0]) for c, m in sizes.items()]


def class_conditional_mi(A, B, labels, *, min_class_samples: int = MIN_SAMPLES, **edge_kwargs) -> float:
    """``sum_y pi(y) I(A; B | y)`` in bits, with EDGE inside each class (pi: class frequencies).

    Every class needs at least ``min_class_samples`` samples (at least :data:`MIN_SAMPLES`),
    else ValueError (:func:`class_groups`). ``edge_kwargs`` go to :func:`edge_mi` (the same
    seed is used in every class).
    """
    n, _ = check_shape(A, "A")
    nb, _ = check_shape(B, "B")
    check_paired(n, nb, ("A", "B"))
    y = check_labels(labels, n)
    check_int("min_class_samples", min_class_samples, MIN_SAMPLES)
    value = 0.0
    for rows, weight in class_groups(y, min_class_samples):
        value += weight * edge_mi(take_rows(A, rows), take_rows(B, rows), **edge_kwargs)
    return value
