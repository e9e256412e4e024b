"""Loop reference of EDGE's hashing step, for tests and the benchmark only.

A straightforward transcription of the estimator's definition: one Python loop over the
samples, a dictionary of buckets per side and one for pairs, then
``I = sum_ij N_ij / N * clip(log2(N_ij N / (N_i M_j)), 0.001, U)``. It takes the same
projections, bandwidths and shifts as :func:`semirobust.mi.bucket_mi` (from
:func:`semirobust.mi.edge_setup`), so both must give the same number.
"""
from __future__ import annotations

import math


def _bucket(row, eps, shift) -> tuple[int, ...]:
    return tuple(math.floor((z + b) / e) for z, b, e in zip(row, shift, eps))


def reference_bucket_mi(zx, zy, eps_x, eps_y, shift_x, shift_y, upper: float = 10.0) -> float:
    """One hashed EDGE estimate with a loop over samples and dictionaries of bucket counts."""
    zx, zy = zx.tolist(), zy.tolist()
    eps_x, eps_y, shift_x, shift_y = eps_x.tolist(), eps_y.tolist(), shift_x.tolist(), shift_y.tolist()
    n = len(zx)
    count_x, count_y, count_xy = {}, {}, {}
    for i in range(n):
        key_x = _bucket(zx[i], eps_x, shift_x)
        key_y = _bucket(zy[i], eps_y, shift_y)
        count_x[key_x] = count_x.get(key_x, 0) + 1
        count_y[key_y] = count_y.get(key_y, 0) + 1
        count_xy[key_x, key_y] = count_xy.get((key_x, key_y), 0) + 1
    total = 0.0
    for (key_x, key_y), n_ij in count_xy.items():
        ratio = math.log2(n_ij * n / (count_x[key_x] * count_y[key_y]))
        total += n_ij * max(min(ratio, upper), 0.001)
    return total / n
