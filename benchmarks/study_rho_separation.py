"""Quick check: does each calibrated measure separate a dependent layer-like pair from an independent one?

X is N x d Gaussian, Y = relu(X W) + 0.1 noise (d/2 dims, Y almost a function of X); the
independent pair is the same Y with its rows permuted. For EDGE (``authors`` preset), KSG on PCA
and linear CKA, prints the estimate, its within-class permutation null (20 permutations), the
p-value and ``above_null``, for both pairs, at sizes of the paper's per-class test sets. This is a
single-seed preview of the notebook study (notebooks/mi_estimator.ipynb), which is still to come.

    python benchmarks/study_rho_separation.py
"""
from __future__ import annotations

import time

import numpy as np

from semirobust import mi

CELLS = ((50, 512), (100, 512), (100, 2048), (1000, 512))


def pair(n: int, d: int, seed: int, dependent: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(X, Y) with Y = relu(X W) + 0.1 noise; Y's rows permuted when not ``dependent``."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    w = rng.standard_normal((d, d // 2)) / np.sqrt(d)
    y = np.maximum(x @ w, 0) + 0.1 * rng.standard_normal((n, d // 2))
    if not dependent:
        y = y[rng.permutation(n)]
    return x, y


def main() -> None:
    for n, d in CELLS:
        labels = np.zeros(n, dtype=int)
        for measure in mi.MEASURES:
            parts = []
            for dependent in (True, False):
                start = time.perf_counter()
                r = mi.calibrated_mi(*pair(n, d, 1, dependent), labels, measure=measure, permutations=20, seed=0)
                parts.append(f"{'dep' if dependent else 'ind'} {r['mi']:.3f} null {r['null_mean']:.3f}"
                             f"+-{r['null_sd']:.3f} p {r['p_value']:.3f} above {r['above_null']}"
                             f" ({time.perf_counter() - start:.1f} s)")
            print(f"N={n:>5} d={d:>5} {measure:>4}: " + " | ".join(parts), flush=True)


if __name__ == "__main__":
    main()
