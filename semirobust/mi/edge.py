"""EDGE mutual-information estimator (Noshad, Zeng & Hero 2019), vectorized, in bits.

EDGE ("ensemble dependency graph estimator") estimates I(X; Y) from N paired samples in
O(N) time by hashing both sides into buckets and counting collisions. This module follows the
semantics of the authors' published code (github.com/mrtnoshad/EDGE, version 4.4.1):

1. Each side is standardized per feature (constant features, std < 1e-4, are only centered).
   With more than 6 dimensions on either side both sides are p-stable projected: multiplied
   by a Gaussian matrix with N(0, 1/d) entries down to ``floor(log2(N / 10))`` dimensions
   (capped at the input dimension). Otherwise ("floor" hashing) the standardized data are
   hashed as they are.
2. The bandwidth of each projected coordinate is the mean distance, over 500 random query
   points, to the k-th nearest neighbour along that coordinate, with the published rule
   ``k = floor(0.43 N^(2/3 + 0.17 d/(d+1)) exp(-1/max(10000, d^4)))``, plus 1e-4, times
   ``18 d' / max(1 + ln d, 1)`` and the smoothness factor ``0.4 * gamma``.
3. An ensemble of ``L`` estimates uses bandwidths ``eps * linspace(1, 1 + range, L)`` and a
   random shift ``b`` in ``[0, eps)`` per coordinate; a sample's bucket is
   ``floor((z + b) / eps)``. With bucket counts N_i (X), M_j (Y) and N_ij (pairs),
   ``I = sum_ij N_ij / N * clip(log2(N_ij N / (N_i M_j)), 0.001, U)``. The ensemble value is
   the median (or mean) of the L estimates.
4. Adaptive bandwidth (published default): the estimate I is recomputed once with the
   smoothness multiplied by ``0.4 * 2^(-sqrt(2 I) + 0.5 / I)``, as the published code's
   recursive call does (it applies its 0.4 smoothness factor a second time).

Deviations from the published code, each to make a documented property exact: features are
standardized (and centered) before floor hashing too, so the estimate does not change when a
side is rescaled or translated; k-NN query points are drawn as random ranks of the sorted
coordinate, so the estimate does not change when the samples are permuted jointly; the shifts
are uniform in [0, eps) per coordinate (the published code's ``stochastic`` option draws them
in [0, 0.1 eps)); at least one projected dimension is kept below 20 samples.

Everything runs in torch on the device the inputs live on (numpy inputs and memory maps on the
CPU). Large inputs are standardized and projected in row chunks of at most ``chunk_bytes``
(:mod:`semirobust.mi.moments`); everything after the projection is float64. The L hashed
estimates are computed together from integer bucket codes with ``unique`` (no loop over
samples). Random draws come from ``numpy.random.default_rng(seed)``, so a seed gives the same
draws on any device. :func:`edge_setup` (projections, bandwidths, shifts) and :func:`bucket_mi`
(the hashed estimates) are separate, so a reference implementation can reuse the same draws;
:func:`bucket_ids` and :func:`mi_from_buckets` are separate too, so a permutation null can
re-pair the same buckets (:mod:`semirobust.mi.calibration`).
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from semirobust.config import check_choice, check_int
from semirobust.mi.inputs import check_paired, check_shape
from semirobust.mi.moments import DEFAULT_CHUNK_BYTES, feature_moments, project

#: Fewest samples :func:`edge_mi` accepts (k-NN bandwidths and buckets need a handful).
MIN_SAMPLES = 10
#: Published rule: floor hashing when both sides have at most this many dimensions.
FLOOR_HASH_MAX_DIM = 6
#: Floor hashing (no projection) is refused above this many dimensions.
FLOOR_HASH_LIMIT = 64
#: Published rule: number of random query points for the k-NN bandwidth.
KNN_QUERIES = 500
#: Published constants of the bandwidth rule (additive floor, scale, smoothness factor).
EPS_FLOOR = 1e-4
EPS_SCALE = 18.0
SMOOTHNESS = 0.4
#: Features with a smaller standard deviation are treated as constant (published rule).
MIN_STD = 1e-4
#: Default upper clip U of the log-ratio, in bits.
DEFAULT_UPPER = 10.0
#: Lower clip of the log-ratio, in bits (published constant).
LOWER_CLIP = 0.001
#: Validated accuracy (tests/test_mi.py, notebooks/mi_estimator.ipynb): for one jointly Gaussian
#: coordinate pair with correlation r <= 0.95 and N >= 1000, |EDGE - (-0.5 log2(1 - r^2))| is
#: at most this many bits. In more dimensions EDGE is biased upwards and does not keep the ranking (mi_estimator).
GAUSSIAN_TOLERANCE_BITS = 0.35
#: Validated bound: independent inputs of 1 or 2 dimensions per side (N >= 1000) give at most this.
INDEPENDENT_BOUND_BITS = 0.05
HASHINGS = ("auto", "p-stable", "floor")
ENSEMBLES = ("median", "mean")


def projected_dim(n_samples: int, dim: int) -> int:
    """Published projection size ``min(dim, floor(log2(N / 10)))``, at least 1."""
    return max(1, min(int(dim), math.floor(math.log2(n_samples / 10.0))))


def knn_k(n_samples: int, dim: int) -> int:
    """Published k of the k-NN bandwidth for N samples and d projected dimensions (1..N)."""
    k = math.floor(0.43 * n_samples ** (2.0 / 3.0 + 0.17 * dim / (dim + 1.0)) * math.exp(-1.0 / max(10000, dim**4)))
    return int(min(max(k, 1), n_samples))


def _sort_columns(z: torch.Tensor) -> torch.Tensor:
    """Each column of ``z`` sorted ascending (numpy's sort on the CPU is several times faster)."""
    if z.device.type == "cpu":
        return torch.from_numpy(np.ascontiguousarray(np.sort(z.numpy().T, axis=1).T))
    return torch.sort(z, dim=0).values


def knn_distance(z: torch.Tensor, ranks: torch.Tensor, k: int) -> torch.Tensor:
    """Mean over query points of the distance to the k-th nearest neighbour, per column.

    Each column of ``z`` (N x d) is treated as 1-D data; the query points are the values at
    sorted positions ``ranks`` (the point itself counts as its first neighbour, as in
    scikit-learn's ``kneighbors`` on training points). The k nearest points of a sorted 1-D
    sample form a window of k consecutive values containing the query, so the distance is
    ``min_a max(s[p] - s[a], s[a+k-1] - s[p])`` over window starts a, found by bisection.
    """
    s = _sort_columns(z)
    n, d = s.shape
    if not 1 <= k <= n:
        raise ValueError(f"k={k} must be between 1 and the number of samples {n}.")
    p = ranks.to(s.device).view(-1, 1).expand(-1, d)
    v = s.gather(0, p)
    lo = (p - k + 1).clamp(min=0)
    hi = p.clamp(max=n - k)

    def window(a: torch.Tensor) -> torch.Tensor:
        a = torch.minimum(torch.maximum(a, lo), hi)
        return torch.maximum(v - s.gather(0, a), s.gather(0, a + k - 1) - v)

    # smallest start a in [lo, hi + 1) where the right end is at least as far as the left end
    left, right = lo.clone(), hi + 1
    for _ in range(max(1, math.ceil(math.log2(k + 1)) + 1)):
        active = left < right
        mid = (left + right) // 2
        midc = torch.minimum(mid, hi)
        right_wins = (s.gather(0, midc + k - 1) - v) >= (v - s.gather(0, midc))
        right = torch.where(active & right_wins, mid, right)
        left = torch.where(active & ~right_wins, mid + 1, left)
    inf = torch.full_like(v, math.inf)
    at = torch.where(left <= hi, window(left), inf)
    before = torch.where(left - 1 >= lo, window(left - 1), inf)
    return torch.minimum(at, before).mean(dim=0)


@dataclass(frozen=True)
class EdgeSetup:
    """The projections, bandwidths and shifts of one EDGE estimate, shared by every implementation.

    ``zx``/``zy``: projected (or standardized) samples, N x d'. ``eps_x``/``eps_y``: base
    bandwidth per coordinate at smoothness 1. ``scales``: the L bandwidth multipliers of the
    ensemble. ``shift_x``/``shift_y``: L x d' shift fractions in [0, 1).
    """

    zx: torch.Tensor
    zy: torch.Tensor
    eps_x: torch.Tensor
    eps_y: torch.Tensor
    scales: torch.Tensor
    shift_x: torch.Tensor
    shift_y: torch.Tensor
    hashing: str

    def members(self, gamma: tuple[float, float]) -> tuple[torch.Tensor, ...]:
        """Bandwidths and shifts ``(eps_x, eps_y, b_x, b_y)``, each L x d', for smoothness ``gamma``."""
        scales = self.scales.to(self.eps_x.device).view(-1, 1)
        eps_x = self.eps_x.view(1, -1) * scales * gamma[0]
        eps_y = self.eps_y.view(1, -1) * scales * gamma[1]
        return eps_x, eps_y, self.shift_x * eps_x, self.shift_y * eps_y


def _side(data, name, d_out, hashing, rng, chunk_bytes, center: bool = True) -> torch.Tensor:
    """Standardize (floor) or p-stable project (N(0, 1/d) on standardized features) one side.

    ``center=False`` projects the raw (uncentred) features, as the published code does: it moves
    the bucket grid by a constant per coordinate, which matters when the shifts are small.
    """
    n, dim = check_shape(data, name)
    mean, std = feature_moments(data, chunk_bytes)
    if not (torch.isfinite(mean).all() and torch.isfinite(std).all()):
        raise ValueError(non_finite_reason(data, name, chunk_bytes))
    std = torch.where(std < MIN_STD, torch.ones_like(std), std)
    if hashing == "floor":
        weights = std
    else:
        gauss = torch.from_numpy(rng.standard_normal((dim, d_out))).to(std.device)
        weights = gauss / (std.view(-1, 1) * math.sqrt(dim))
    return project(data, mean if center else None, weights, chunk_bytes)


def non_finite_reason(data, name: str, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> str:
    """Why the float64 moments of ``data`` are not finite: NaN or infinite values in it, or finite values so
    large that their squares overflow (the data read once more, in row chunks; only on this error path)."""
    n, dim = check_shape(data, name)
    rows, largest = max(1, chunk_bytes // (8 * max(1, dim))), 0.0
    for start in range(0, n, rows):
        block = torch.as_tensor(data[start:start + rows]).detach().double()
        if not torch.isfinite(block).all():
            return f"{name} contains NaN or infinite values; drop or fix those rows first."
        largest = max(largest, float(block.abs().max())) if block.numel() else largest
    return (f"{name} holds values up to {largest:.3g} in magnitude, too large for its per-feature variances in "
            f"float64 (their squares overflow); rescale {name} first (EDGE standardizes every feature, so dividing "
            "by a constant does not change the estimate).")


def edge_setup(X, Y, *, n_ensemble: int = 10, bandwidth_range: float = 0.1, hashing: str = "auto",
               seed: int = 0, shift_scale: float = 1.0, center: bool = True,
               chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> EdgeSetup:
    """Project both sides and draw the bandwidths and shifts of an EDGE estimate (seeded).

    Shifts are uniform in ``[0, shift_scale * eps)`` per coordinate: 1 spreads them over a whole
    bucket, 0.1 is the published ``stochastic=True`` rule the authors ran.
    """
    n, dx = check_shape(X, "X")
    ny, dy = check_shape(Y, "Y")
    check_paired(n, ny)
    if n < MIN_SAMPLES:
        raise ValueError(f"EDGE needs at least {MIN_SAMPLES} samples, got {n}.")
    check_choice("hashing", hashing, HASHINGS)
    check_int("n_ensemble", n_ensemble)
    if not bandwidth_range >= 0:
        raise ValueError(f"bandwidth_range={bandwidth_range!r} must be >= 0.")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed={seed!r} must be a non-negative integer.")
    if chunk_bytes < 1:
        raise ValueError(f"chunk_bytes={chunk_bytes!r} must be positive.")
    if not 0 <= shift_scale <= 1:
        raise ValueError(f"shift_scale={shift_scale!r} must be in [0, 1].")
    if hashing == "floor" and max(dx, dy) > FLOOR_HASH_LIMIT:
        raise ValueError(f"hashing='floor' on {max(dx, dy)} dimensions (limit {FLOOR_HASH_LIMIT}) would put every "
                         "sample in a bucket of its own and store an N x d float64 copy; use 'p-stable' or 'auto'.")
    if hashing == "auto":
        hashing = "floor" if max(dx, dy) <= FLOOR_HASH_MAX_DIM else "p-stable"
    px, py = (dx, dy) if hashing == "floor" else (projected_dim(n, dx), projected_dim(n, dy))

    rng = np.random.default_rng(int(seed))
    zx = _side(X, "X", px, hashing, rng, chunk_bytes, center)
    zy = _side(Y, "Y", py, hashing, rng, chunk_bytes, center).to(zx.device)
    base = []
    for z, dim in ((zx, dx), (zy, dy)):
        d_out = z.shape[1]
        ranks = torch.from_numpy(rng.integers(0, n, size=KNN_QUERIES))
        knn = knn_distance(z, ranks, knn_k(n, d_out))
        base.append((knn + EPS_FLOOR) * (EPS_SCALE * d_out / max(1.0 + math.log(dim), 1.0)))
    scales = torch.linspace(1.0, 1.0 + float(bandwidth_range), n_ensemble, dtype=torch.float64)
    shift_x = torch.from_numpy(rng.random((n_ensemble, px)) * float(shift_scale)).to(zx.device)
    shift_y = torch.from_numpy(rng.random((n_ensemble, py)) * float(shift_scale)).to(zx.device)
    return EdgeSetup(zx, zy, base[0], base[1], scales, shift_x, shift_y, hashing)


def _unique(values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sorted unique values, inverse indices and counts (numpy's sort on the CPU is faster)."""
    if values.device.type == "cpu":
        found = np.unique(values.numpy(), return_inverse=True, return_counts=True)
        return tuple(torch.from_numpy(np.asarray(a).reshape(-1)) for a in found)
    return torch.unique(values, return_inverse=True, return_counts=True)


#: Largest radix product combined by one float64 matrix product (integers stay exact below 2^53).
_RADIX_LIMIT = 2**53


def bucket_ids(z: torch.Tensor, eps: torch.Tensor, shift: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Bucket id (0..B-1, over all L members) of each member and sample, and each bucket's size.

    The bucket of sample i in member l is the integer row ``floor((z_i + shift_l) / eps_l)``;
    ids are flattened member-major (index ``l * N + i``). The member index and the codes
    (minus their minimum) are combined in mixed radix into one int64 key, exactly: blocks of
    columns whose radix product stays below 2^53 are combined by one float64 matrix product,
    and the key is renumbered with ``unique`` whenever the next block would overflow int64.
    """
    n_members, n = eps.shape[0], z.shape[0]
    # floor is monotone, so each column's lowest/highest code comes from its lowest/highest value
    low = torch.floor((z.amin(dim=0) + shift) / eps).t().unsqueeze(2)
    high = torch.floor((z.amax(dim=0) + shift) / eps).t().unsqueeze(2)
    if not bool(((high - low) < 2.0**52).all()):
        raise ValueError("bucket codes overflow: the bandwidth is too small for the data's range.")
    widths = [int(w) for w in (high - low).amax(dim=1).view(-1).add(1).tolist()]
    # d' x L x N, so column c of all members is the contiguous row c of codes.view(d', L * N)
    codes = z.t().unsqueeze(1) + shift.t().unsqueeze(2)
    codes = codes.div_(eps.t().unsqueeze(2)).floor_().sub_(low).view(len(widths), -1)
    limit = min(_RADIX_LIMIT, 2**62 // (n_members * n))
    key, span = torch.arange(n_members * n, device=z.device) // n, n_members
    start = 0
    while start < len(widths):
        if widths[start] > limit:  # one very wide column: renumber its codes first
            stop = start + 1
            _, block, found = _unique(codes[start].to(torch.int64))
            width = found.shape[0]
        else:
            stop, width = start, 1
            while stop < len(widths) and width * widths[stop] <= limit:
                width, stop = width * widths[stop], stop + 1
            radix = torch.tensor([[math.prod(widths[c + 1:stop]) for c in range(start, stop)]],
                                 dtype=torch.float64, device=z.device)
            block = (radix @ codes[start:stop]).view(-1).to(torch.int64)
        if span * width > 2**62:
            _, key, found = _unique(key)
            span = found.shape[0]
        key, span, start = key * width + block, span * width, stop
    _, ids, counts = _unique(key)
    return ids, counts


def bucket_mi(zx: torch.Tensor, zy: torch.Tensor, eps_x: torch.Tensor, eps_y: torch.Tensor,
              shift_x: torch.Tensor, shift_y: torch.Tensor, upper: float = DEFAULT_UPPER) -> np.ndarray:
    """Hashed EDGE estimates (bits) of L ensemble members at once, with no loop over samples.

    ``eps_*`` and ``shift_*`` are L x d' (one row per member); returns the L estimates
    ``sum_ij N_ij / N * clip(log2(N_ij N / (N_i M_j)), 0.001, U)``.
    """
    ix, count_x = bucket_ids(zx, eps_x, shift_x)
    iy, count_y = bucket_ids(zy, eps_y, shift_y)
    return mi_from_buckets(ix, count_x, iy, count_y, eps_x.shape[0], zx.shape[0], upper)


def mi_from_buckets(ix: torch.Tensor, count_x: torch.Tensor, iy: torch.Tensor, count_y: torch.Tensor,
                    n_members: int, n: int, upper: float = DEFAULT_UPPER) -> np.ndarray:
    """The L estimates from bucket ids (member-major, ``l * N + i``) and bucket sizes of both sides.

    Separate from the hashing so a permutation null can re-pair the same buckets: permuting Y's
    samples permutes its ids within each member and leaves every bucket size unchanged.
    """
    n_y = count_y.shape[0]
    pairs, _, n_ij = _unique(ix * n_y + iy)
    member = torch.empty(count_x.shape[0], dtype=torch.int64, device=ix.device)
    member[ix] = torch.arange(n_members, device=ix.device).repeat_interleave(n)
    n_i, m_j = count_x[pairs // n_y], count_y[pairs % n_y]
    n_ij = n_ij.to(torch.float64)
    ratio = torch.log2(n_ij * n / (n_i * m_j).to(torch.float64))
    terms = n_ij * ratio.clamp(min=LOWER_CLIP, max=upper)
    totals = torch.zeros(n_members, dtype=torch.float64, device=ix.device).index_add_(0, member[pairs // n_y], terms)
    return (totals / n).cpu().numpy()


Estimator = Callable[..., np.ndarray]


def check_combine(gamma, upper, ensemble) -> tuple[float, float]:
    """Validate the ensemble options; return gamma as a pair."""
    g = (gamma, gamma) if np.isscalar(gamma) else tuple(gamma)
    if len(g) != 2 or not all(isinstance(v, numbers.Real) and not isinstance(v, bool) and v > 0 for v in g):
        raise ValueError(f"gamma={gamma!r} must be a positive number or a pair of them.")
    check_choice("ensemble", ensemble, ENSEMBLES)
    if not isinstance(upper, numbers.Real) or not upper > LOWER_CLIP:
        raise ValueError(f"upper={upper!r} must be a number above the lower clip {LOWER_CLIP}.")
    return float(g[0]), float(g[1])


def ensemble_mi(setup: EdgeSetup, *, gamma: float | tuple[float, float] = 1.0, upper: float = DEFAULT_UPPER,
                ensemble: str = "median", adaptive: bool = True, estimator: Estimator = bucket_mi) -> float:
    """Combine the L hashed estimates of ``setup`` (median or mean), with the adaptive rerun.

    ``estimator`` computes the L hashed estimates from ``(zx, zy, eps_x, eps_y, b_x, b_y, upper)``
    (L x d' bandwidths and shifts); it is :func:`bucket_mi` unless a test passes a reference.
    """
    g = check_combine(gamma, upper, ensemble)
    smooth = (SMOOTHNESS * g[0], SMOOTHNESS * g[1])
    values = estimator(setup.zx, setup.zy, *setup.members(smooth), upper)
    value = float(np.median(values) if ensemble == "median" else np.mean(values))
    if not adaptive:
        return value
    factor = 2.0 ** (-math.sqrt(2.0 * value) + 0.5 / value)
    return ensemble_mi(setup, gamma=(smooth[0] * factor, smooth[1] * factor), upper=upper,
                       ensemble=ensemble, adaptive=False, estimator=estimator)


#: Estimator settings by preset. ``authors``: what the paper's code ran (their copy of EDGE 4.4.1,
#: Sekeh-Lab/SemirobustSubnetworks MI/AuxiliaryScripts/mi_estimator.py: ``L_ensemble=1``,
#: ``normalize_epsilon=False``, ``stochastic=True``, i.e. one hashing, no adaptive rerun, shifts in
#: [0, 0.1 eps), raw features projected without centring). ``noshad``: Noshad's 4.4.1 defaults (an ensemble of 10 over a 10% bandwidth range,
#: median, the adaptive rerun), with shifts spread over the whole bucket.
PRESETS = {
    "authors": {"upper": DEFAULT_UPPER, "gamma": 1.0, "n_ensemble": 1, "bandwidth_range": 0.1, "ensemble": "median",
                "adaptive": False, "hashing": "auto", "shift_scale": 0.1, "center": False},
    "noshad": {"upper": DEFAULT_UPPER, "gamma": 1.0, "n_ensemble": 10, "bandwidth_range": 0.1, "ensemble": "median",
               "adaptive": True, "hashing": "auto", "shift_scale": 1.0, "center": True},
}
_SETTINGS = tuple(PRESETS["authors"])


def edge_settings(preset: str = "noshad", **overrides) -> dict:
    """The full estimator settings of ``preset`` with explicit ``overrides`` (clear error when unknown)."""
    check_choice("EDGE preset", preset, PRESETS)
    unknown = sorted(set(overrides) - set(_SETTINGS))
    if unknown:
        raise ValueError(f"Unknown EDGE setting(s) {unknown}; valid: {', '.join(_SETTINGS)}.")
    return {**PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None}}


def edge_mi(X, Y, *, preset: str = "noshad", upper: float | None = None, gamma=None, n_ensemble: int | None = None,
            bandwidth_range: float | None = None, ensemble: str | None = None, adaptive: bool | None = None,
            hashing: str | None = None, shift_scale: float | None = None, center: bool | None = None,
            seed: int = 0, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> float:
    """EDGE estimate of I(X; Y) in bits; X is N x d_x, Y is N x d_y (numpy or torch, any device).

    ``preset``: "authors" (what the paper's code ran) or "noshad" (the 4.4.1 defaults); every
    keyword given explicitly overrides the preset. ``upper``: clip U of the log-ratio; ``gamma``:
    smoothness (bandwidth factor) per side; ``n_ensemble``/``bandwidth_range``: L bandwidths
    ``eps * linspace(1, 1 + range, L)``; ``ensemble``: "median" or "mean" of them; ``adaptive``: the
    published bandwidth renormalization by the first estimate; ``hashing``: "auto" (floor when
    both sides have at most 6 dimensions), "p-stable" or "floor"; ``shift_scale``: shifts uniform
    in [0, shift_scale eps); ``center``: centre features before projecting (the published code
    does not); ``seed``: all random draws.
    """
    s = edge_settings(preset, upper=upper, gamma=gamma, n_ensemble=n_ensemble, bandwidth_range=bandwidth_range,
                      ensemble=ensemble, adaptive=adaptive, hashing=hashing, shift_scale=shift_scale, center=center)
    check_combine(s["gamma"], s["upper"], s["ensemble"])
    setup = edge_setup(X, Y, n_ensemble=s["n_ensemble"], bandwidth_range=s["bandwidth_range"], hashing=s["hashing"],
                       seed=seed, shift_scale=s["shift_scale"], center=s["center"], chunk_bytes=chunk_bytes)
    return ensemble_mi(setup, gamma=s["gamma"], upper=s["upper"], ensemble=s["ensemble"], adaptive=s["adaptive"])


__all__ = ["MIN_SAMPLES", "FLOOR_HASH_MAX_DIM", "FLOOR_HASH_LIMIT", "KNN_QUERIES", "EPS_FLOOR", "EPS_SCALE", "SMOOTHNESS",
           "MIN_STD", "DEFAULT_UPPER", "LOWER_CLIP", "GAUSSIAN_TOLERANCE_BITS", "INDEPENDENT_BOUND_BITS", "HASHINGS",
           "ENSEMBLES", "PRESETS", "Estimator", "EdgeSetup", "projected_dim", "knn_k", "knn_distance", "edge_setup",
           "bucket_ids", "bucket_mi", "mi_from_buckets", "check_combine", "non_finite_reason", "ensemble_mi", "edge_settings", "edge_mi"]
