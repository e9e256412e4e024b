"""Correlated Gaussian pairs, whose mutual information is known in closed form.

The reference every estimator is checked against (tests, the EDGE page, the dependence study):
``dim`` independent coordinate pairs, each standard normal with correlation ``r``, carry
``I(X; Y) = -dim/2 log2(1 - r^2)`` bits.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["gaussian_pair", "true_mi"]


def _check_correlation(r) -> None:
    if not -1.0 < r < 1.0:
        raise ValueError(f"r={r!r} must be a correlation in (-1, 1).")


def gaussian_pair(n: int, r: float, dim: int = 1, seed: int = 0, dtype=np.float64) -> tuple[np.ndarray, np.ndarray]:
    """X, Y (n x dim, ``dtype``): dim independent coordinate pairs with correlation r (seeded).

    Draws X, then the noise of Y, from ``numpy.random.default_rng(seed)``; ``Y = r X + sqrt(1 - r^2) noise``.
    """
    _check_correlation(r)
    r = float(r)  # a Python float keeps float32 draws in float32
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dim), dtype=dtype)
    y = r * x + math.sqrt(1 - r * r) * rng.standard_normal((n, dim), dtype=dtype)
    return x, y


def true_mi(r: float, dim: int = 1) -> float:
    """The mutual information of :func:`gaussian_pair` in bits: ``-dim/2 log2(1 - r^2)``."""
    _check_correlation(r)
    return -0.5 * dim * math.log2(1 - r * r)
