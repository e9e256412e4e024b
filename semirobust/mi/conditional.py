"""Class-conditional estimation ``sum_y pi(y) I(A; B | y)``: labels, the samples of each class, EDGE per class."""
from __future__ import annotations

import warnings

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
    return labels


def class_groups(labels: np.ndarray, min_class_samples: int) -> list[tuple[np.ndarray, float]]:
    """``[(rows, weight)]`` per class in label order (weight: the class frequency N_y / N); a clear error
    when a class is too small to estimate."""
    classes, counts = np.unique(labels, return_counts=True)
    small = {c: m for c, m in zip(classes.tolist(), counts.tolist()) if m < min_class_samples}
    if small:
        raise ValueError(f"classes {small} have fewer than {min_class_samples} samples; the estimator needs at "
                         "least that many per class: use more samples (e.g. a larger rho subset) or drop those classes.")
    return [(np.flatnonzero(labels == c), m / labels.shape[0]) for c, m in zip(classes.tolist(), counts.tolist())]


def class_conditional_mi(A, B, labels, *, min_class_samples: int = MIN_SAMPLES, **edge_kwargs) -> float:
    """``sum_y pi(y) I(A; B | y)`` in bits, with EDGE inside each class (pi: class frequencies).

    Rule for small classes: a class with fewer than ``min_class_samples`` samples (at least
    :data:`MIN_SAMPLES`) cannot be estimated; it is left out with a warning and the weights of
    the remaining classes are renormalized to sum to 1. If no class is large enough, ValueError.
    ``edge_kwargs`` go to :func:`edge_mi` (the same seed is used in every class).
    """
    n, _ = check_shape(A, "A")
    nb, _ = check_shape(B, "B")
    check_paired(n, nb, ("A", "B"))
    y = check_labels(labels, n)
    check_int("min_class_samples", min_class_samples, MIN_SAMPLES)
    classes, counts = np.unique(y, return_counts=True)
    kept = [(c, m) for c, m in zip(classes.tolist(), counts.tolist()) if m >= min_class_samples]
    skipped = [c for c, m in zip(classes.tolist(), counts.tolist()) if m < min_class_samples]
    if not kept:
        raise ValueError(f"no class has at least {min_class_samples} samples (class sizes: "
                         f"{dict(zip(classes.tolist(), counts.tolist()))}); use more samples.")
    if skipped:
        warnings.warn(f"class_conditional_mi: classes {skipped} have fewer than {min_class_samples} samples "
                      f"and are left out; the other classes' weights are renormalized.", stacklevel=2)
    total = sum(m for _, m in kept)
    value = 0.0
    for c, m in kept:
        rows = np.flatnonzero(y == c)
        value += (m / total) * edge_mi(take_rows(A, rows), take_rows(B, rows), **edge_kwargs)
    return value
