"""Input checks shared by every estimator of :mod:`semirobust.mi`: shapes, pairing, row selection.

Estimators take N x d numpy arrays, memory maps or torch tensors (any device; a vector is one
column). These helpers name the problem and its fix in one place, so every estimator refuses
the same inputs with the same message.
"""
from __future__ import annotations

import numpy as np
import torch

__all__ = ["check_shape", "check_paired", "take_rows", "as_numpy"]


def check_shape(data, name: str) -> tuple[int, int]:
    """(N, d) of a 1-D or 2-D numpy array / torch tensor, with a clear error otherwise."""
    if not isinstance(data, (np.ndarray, torch.Tensor)):
        raise ValueError(f"{name} must be a numpy array or torch tensor, got {type(data).__name__}.")
    if data.ndim == 1:
        return int(data.shape[0]), 1
    if data.ndim != 2:
        raise ValueError(f"{name} must be N x d (or a vector of N values), got shape {tuple(data.shape)}.")
    return int(data.shape[0]), int(data.shape[1])


def check_paired(n_a: int, n_b: int, names: tuple[str, str] = ("X", "Y")) -> None:
    """Both sides hold the same samples (row i of each is sample i)."""
    if n_a != n_b:
        raise ValueError(f"{names[0]} and {names[1]} must have the same number of samples (row i of each is "
                         f"sample i), got {n_a} and {n_b}; pass the two layers' outputs for the same inputs.")


def take_rows(data, rows: np.ndarray):
    """Rows ``rows`` (integer positions) of a numpy array or of a tensor on any device."""
    if isinstance(data, torch.Tensor):
        return data[torch.from_numpy(rows).to(data.device)]
    return data[rows]


def as_numpy(data, name: str) -> np.ndarray:
    """A float64 N x d numpy copy of ``data`` (1-D becomes one column), finite values only."""
    check_shape(data, name)
    array = data.detach().cpu().numpy() if isinstance(data, torch.Tensor) else np.asarray(data)
    array = array.reshape(array.shape[0], -1).astype(np.float64, copy=False)
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinite values; drop or fix those rows first.")
    return array
