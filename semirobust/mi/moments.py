"""Per-feature moments and projections of large inputs, streamed in row chunks.

High-dimensional inputs (a flattened convolution map of N samples can exceed memory) are read
in row chunks of at most ``chunk_bytes``, on the device they live on (numpy inputs and memory
maps on the CPU): once for the per-feature sums and sums of squares (float64 accumulators, row
parts on every core, no copy) and once for the projection, one matrix product per chunk (in
float64 for float64 inputs, else float32). Results are float64.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from semirobust.mi.inputs import check_shape

__all__ = ["DEFAULT_CHUNK_BYTES", "feature_moments", "project"]

#: Default size of one chunk of rows read at a time (bytes of float64).
DEFAULT_CHUNK_BYTES = 256 * 2**20


def _work_dtype(data) -> torch.dtype:
    """float64 for float64 inputs, float32 for everything else (float16, integers, bool)."""
    return torch.float64 if data.dtype in (np.float64, torch.float64) else torch.float32


def _rows(data, start: int, stop: int) -> torch.Tensor:
    """Rows ``start:stop`` as a 2-D tensor in the working dtype on the data's device."""
    block = data[start:stop]
    if isinstance(block, np.ndarray):
        block = np.ascontiguousarray(block)
        if not block.flags.writeable:  # e.g. a read-only memmap; torch refuses to wrap those silently
            block = block.copy()
        block = torch.from_numpy(block)
    block = block.detach().to(_work_dtype(data))  # activations may still carry their autograd graph
    return block.reshape(block.shape[0], -1)


def _chunk_rows(dim: int, chunk_bytes: int) -> int:
    return max(1, int(chunk_bytes) // (8 * max(1, dim)))


#: Columns whose variance is below this share of their squared mean have their variance recomputed
#: exactly (two passes): the one-pass ``E[x^2] - E[x]^2`` loses digits there. float32 data are summed
#: in float32 over blocks of rows (relative error ~1e-6), hence the larger share.
_CANCELLATION = {torch.float64: 1e-4, torch.float32: 1e-2}
#: Rows summed in float32 before the float64 accumulator takes over (float32 data).
_FLOAT32_BLOCK = 256
_POOL: ThreadPoolExecutor | None = None


def _row_parts(block: np.ndarray) -> list[np.ndarray]:
    """``block`` split by rows into one part per torch thread (numpy's reductions run on one core)."""
    parts = max(1, min(torch.get_num_threads(), block.shape[0] // 256))
    return [block[i * block.shape[0] // parts:(i + 1) * block.shape[0] // parts] for i in range(parts)]


def _parallel(fn, parts: list) -> list:
    """``fn`` on every part, on a thread pool (numpy releases the GIL in its reductions)."""
    global _POOL
    if len(parts) == 1:
        return [fn(parts[0])]
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=max(2, torch.get_num_threads()))
    return list(_POOL.map(fn, parts))


def _part_sums(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column sums and sums of squares of ``a`` in float64 (float32 data: in float32 per block of rows,
    twice as fast as casting every element)."""
    if a.dtype != np.float32:
        return np.einsum("ij->j", a, dtype=np.float64), np.einsum("ij,ij->j", a, a, dtype=np.float64)
    s1, s2 = np.zeros(a.shape[1]), np.zeros(a.shape[1])
    for start in range(0, a.shape[0], _FLOAT32_BLOCK):
        b = a[start:start + _FLOAT32_BLOCK]
        s1 += np.einsum("ij->j", b)
        s2 += np.einsum("ij,ij->j", b, b)
    return s1, s2


def _sums(block: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-column sum and sum of squares of a 2-D block, accumulated in float64 (one read on the CPU)."""
    if block.device.type == "cpu":
        found = _parallel(_part_sums, _row_parts(block.numpy()))
        return torch.from_numpy(sum(f[0] for f in found)), torch.from_numpy(sum(f[1] for f in found))
    block = block.to(torch.float64)
    return block.sum(dim=0), block.square().sum(dim=0)


def feature_moments(data, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-feature mean and (population) standard deviation (float64), read once in row chunks.

    Sums of ``x`` and ``x^2`` accumulate in float64 (row parts in parallel on the CPU, no copy of the
    data); columns where ``E[x^2] - E[x]^2`` would lose digits (variance below ``_CANCELLATION`` of
    the squared mean) have their variance recomputed exactly from ``x - mean``.
    """
    n, dim = check_shape(data, "data")
    step = _chunk_rows(dim, chunk_bytes)
    total = total_sq = None
    for start in range(0, n, step):
        s1, s2 = _sums(_rows(data, start, min(n, start + step)))
        total, total_sq = (s1, s2) if total is None else (total + s1, total_sq + s2)
    mean = total / n
    var = (total_sq / n - mean * mean).clamp(min=0.0)
    unstable = torch.nonzero(var <= _CANCELLATION[_work_dtype(data)] * mean * mean).view(-1)
    if len(unstable):
        sq = torch.zeros(len(unstable), dtype=torch.float64, device=mean.device)
        for start in range(0, n, step):
            block = _rows(data, start, min(n, start + step))[:, unstable.to(mean.device)].to(torch.float64)
            sq += (block - mean[unstable]).square().sum(dim=0)
        var[unstable] = sq / n
    return mean, torch.sqrt(var)


def project(data, mean: torch.Tensor | None, weights: torch.Tensor,
            chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> torch.Tensor:
    """``(data - mean) @ weights`` (N x d'), one matrix product per row chunk, returned in float64.

    The product runs in the working dtype (float64 for float64 data, else float32). ``mean=None``
    projects the data as they are (no copy of a chunk). A 1-D ``weights`` (per-feature standard
    deviations) divides instead: ``(data - mean) / weights``.
    """
    n, dim = check_shape(data, "data")
    step = _chunk_rows(dim, chunk_bytes)
    work = _work_dtype(data)
    mean = None if mean is None else mean.to(work)
    weights = weights.to(work)
    d_out = dim if weights.ndim == 1 else weights.shape[1]
    out = torch.empty((n, d_out), dtype=torch.float64, device=weights.device)
    for start in range(0, n, step):
        stop = min(n, start + step)
        block = _rows(data, start, stop)
        if mean is not None:
            block = block - mean
        out[start:stop] = block / weights if weights.ndim == 1 else block @ weights
    return out
