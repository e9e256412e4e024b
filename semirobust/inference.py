"""The statistics behind a verdict: paired differences, equivalence (two one-sided tests), cluster bootstrap, Holm.

A verdict compares arms run on the same seeds, so differences are paired by seed; "within k" is an
equivalence question, answered by two one-sided t-tests (TOST) at a stated margin, which may say
"undecided at this power"; estimates from trials nested in seeds nested in networks are resampled by
cluster, never as if every trial were independent; many exploratory readings are corrected with Holm's
step-down procedure. The functions take plain numbers, so they are tested against hand calculations.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from semirobust.config import check_int

#: the three answers of :func:`equivalence_test`.
EQUIVALENCE_ANSWERS = ("equivalent", "not equivalent", "undecided")


def _finite_array(values, name: str) -> np.ndarray:
    array = np.asarray([v for v in values if v is not None], dtype=float)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} holds a NaN or an infinite value: {array.tolist()}.")
    return array


def _check_level(level: float, name: str = "level") -> None:
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 < level < 1:
        raise ValueError(f"{name}={level!r} must be a number in (0, 1), e.g. 0.95.")


@dataclass(frozen=True)
class PairedDifference:
    """Mean of per-seed differences ``a - b`` with its two-sided Student-t interval."""

    mean: float
    low: float
    high: float
    sd: float  # standard deviation of the per-seed differences
    n: int  # number of pairs (seeds)
    level: float

    @property
    def covers_zero(self) -> bool:
        return self.low <= 0 <= self.high


def mean_interval(values: Sequence[float | None], level: float = 0.95) -> tuple[float, float]:
    """Mean and half-width of the two-sided Student-t interval over seeds (``mean +- half``); None values are
    left out. Raises when fewer than two values remain: an interval from one seed does not exist."""
    values = np.asarray([v for v in values if v is not None], dtype=float)
    if values.size < 2:
        raise ValueError(f"a {level:.0%} interval needs at least 2 seeds, got {values.size}; "
                         "run more seeds (profile.seeds) or ask for the mean only.")
    half = stats.t.ppf(0.5 + level / 2, values.size - 1) * values.std(ddof=1) / np.sqrt(values.size)
    return float(values.mean()), float(half)


def mean_and_half(values: Sequence[float | None], level: float = 0.95) -> tuple[float, float | None]:
    """:func:`mean_interval` where two or more values (None left out) give an interval; one value: ``(it, None)``,
    no interval; none: ``(nan, None)``."""
    present = [v for v in values if v is not None]
    if not present:
        return math.nan, None
    if len(present) < 2:
        return float(present[0]), None
    return mean_interval(present, level)


def paired_difference(a: Sequence[float], b: Sequence[float], level: float = 0.95) -> PairedDifference:
    """``a[i] - b[i]`` per seed, averaged, with a t-interval on ``n - 1`` degrees of freedom.

    Raises when fewer than two pairs are given (no interval exists) or when the lengths differ.
    """
    _check_level(level)
    a, b = _finite_array(a, "a"), _finite_array(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"paired values need the same seeds: {a.size} against {b.size} values.")
    if a.size < 2:
        raise ValueError(f"a paired interval needs at least 2 seeds, got {a.size}; run more seeds.")
    diff = a - b
    mean, sd = float(diff.mean()), float(diff.std(ddof=1))
    half = float(stats.t.ppf(0.5 + level / 2, diff.size - 1)) * sd / math.sqrt(diff.size)
    return PairedDifference(mean, mean - half, mean + half, sd, int(diff.size), level)


@dataclass(frozen=True)
class Equivalence:
    """Two one-sided tests of ``|mean difference| < margin`` (Schuirmann 1987) and the reading."""

    answer: str  # one of EQUIVALENCE_ANSWERS
    mean: float
    low: float  # the (1 - 2 alpha) interval the decision reads
    high: float
    margin: float
    p_lower: float  # H0: difference <= -margin
    p_upper: float  # H0: difference >= +margin
    n: int
    alpha: float
    seeds_to_decide: int | None  # seeds at which this spread would give an interval of width < 2 * margin


def seeds_for_equivalence(sd: float, margin: float, mean: float = 0.0, alpha: float = 0.05,
                          max_seeds: int = 10_000) -> int | None:
    """Smallest n whose (1 - 2 alpha) t-interval around ``mean`` fits inside ``(-margin, margin)`` at this sd.

    None when no n does (``|mean| >= margin``: the estimate itself lies outside the margin).
    """
    if abs(mean) >= margin:
        return None
    if sd == 0:
        return 2
    for n in range(2, max_seeds + 1):
        half = float(stats.t.ppf(1 - alpha, n - 1)) * sd / math.sqrt(n)
        if abs(mean) + half < margin:
            return n
    return None


def equivalence_test(differences: Sequence[float], margin: float, alpha: float = 0.05) -> Equivalence:
    """TOST on per-seed differences at ``margin`` (in the differences' units, e.g. accuracy points).

    * "equivalent": both one-sided tests reject, i.e. the (1 - 2 alpha) interval lies inside (-margin, margin);
    * "not equivalent": the interval lies entirely outside [-margin, margin] (the difference is beyond the
      margin at the same level);
    * "undecided": neither: at this power the data cannot tell; ``seeds_to_decide`` says how many seeds
      the same spread would need for the interval to fit inside the margin.
    """
    if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not margin > 0:
        raise ValueError(f"margin={margin!r} must be a positive number.")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 0.5:
        raise ValueError(f"alpha={alpha!r} must be a number in (0, 0.5).")
    d = _finite_array(differences, "differences")
    if d.size < 2:
        raise ValueError(f"an equivalence test needs at least 2 seeds, got {d.size}; run more seeds.")
    n, mean, sd = int(d.size), float(d.mean()), float(d.std(ddof=1))
    se = sd / math.sqrt(n)
    df = n - 1
    if se == 0:
        p_lower = 0.0 if mean > -margin else 1.0
        p_upper = 0.0 if mean < margin else 1.0
        low = high = mean
    else:
        p_lower = float(stats.t.sf((mean + margin) / se, df))
        p_upper = float(stats.t.cdf((mean - margin) / se, df))
        half = float(stats.t.ppf(1 - alpha, df)) * se
        low, high = mean - half, mean + half
    if p_lower < alpha and p_upper < alpha:
        answer = "equivalent"
    elif low > margin or high < -margin:
        answer = "not equivalent"
    else:
        answer = "undecided"
    to_decide = None if answer != "undecided" else seeds_for_equivalence(sd, margin, mean, alpha)
    return Equivalence(answer, mean, low, high, float(margin), p_lower, p_upper, n, float(alpha), to_decide)


def cluster_bootstrap_draws(values, clusters: Sequence, statistic: Callable[[np.ndarray], float] = np.mean,
                            n_resamples: int = 2000, seed: int = 0) -> np.ndarray:
    """``n_resamples`` values of ``statistic`` on resamples of whole clusters (with replacement).

    ``values`` is 1-d (one number per unit) or 2-d (one row per unit, e.g. the paired (x, y) of a
    correlation: ``statistic`` then receives the resampled rows). Each resample draws as many clusters as
    there are, with replacement, and keeps every unit of each drawn cluster. A resample on which the
    statistic is undefined (NaN, e.g. a correlation of constant values) stays NaN.
    """
    check_int("n_resamples", n_resamples)
    values = _finite_array(values, "values")
    clusters = np.asarray(clusters)
    if values.ndim not in (1, 2) or values.shape[0] != clusters.shape[0]:
        raise ValueError(f"{values.shape[0] if values.ndim else 0} values but {clusters.shape[0]} cluster labels "
                         "(values must be 1-d, or 2-d with one row per unit).")
    labels = np.unique(clusters)
    if labels.size < 2:
        raise ValueError("a cluster bootstrap needs at least 2 clusters; with one there is nothing to resample.")
    members = [np.flatnonzero(clusters == label) for label in labels]
    rng = np.random.default_rng(seed)
    draws = np.empty(n_resamples)
    for i in range(n_resamples):
        chosen = rng.integers(0, labels.size, size=labels.size)
        draws[i] = statistic(values[np.concatenate([members[c] for c in chosen])])
    return draws


def cluster_bootstrap(values: Sequence[float], clusters: Sequence, statistic: Callable[[np.ndarray], float] = np.mean,
                      n_resamples: int = 2000, level: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
    """(estimate, low, high): a percentile interval that resamples whole clusters with replacement.

    Trials within one seed (or seeds within one network) are not independent draws: resampling them
    one by one understates the spread. Each resample draws as many clusters as there are, with
    replacement, and keeps every value of each drawn cluster (:func:`cluster_bootstrap_draws`; ``values``
    may be 2-d, one row per unit, for a statistic of paired values such as a rank correlation).
    """
    _check_level(level)
    draws = cluster_bootstrap_draws(values, clusters, statistic, n_resamples, seed)
    tail = 100 * (1 - level) / 2
    if not np.isfinite(draws).any():
        low = high = math.nan
    else:
        low, high = np.nanpercentile(draws, [tail, 100 - tail])
    return float(statistic(_finite_array(values, "values"))), float(low), float(high)


def bootstrap_p_value(draws, null: float = 0.0) -> float:
    """Two-sided p-value of ``null`` from bootstrap draws: twice the smaller share of draws on either side of
    it, with one added to each count (so never 0), at most 1. It is the smallest ``1 - level`` at which the
    percentile interval of the same draws excludes ``null``; NaN draws are left out (NaN when all are)."""
    draws = np.asarray(draws, dtype=float)
    draws = draws[np.isfinite(draws)]
    if draws.size == 0:
        return math.nan
    below, above = int((draws <= null).sum()), int((draws >= null).sum())
    return float(min(1.0, 2 * (min(below, above) + 1) / (draws.size + 1)))


def percentile_reading(draws, level: float = 0.95) -> dict:
    """The percentile interval at ``level`` and the p-value of 0 (:func:`bootstrap_p_value`) from bootstrap draws,
    as ``{"low", "high", "p_value"}``; empty when no draw is finite (the caller keeps its NaNs)."""
    draws = np.asarray(draws, dtype=float)
    if not np.isfinite(draws).any():
        return {}
    tail = 100 * (1 - level) / 2
    low, high = (float(v) for v in np.nanpercentile(draws, [tail, 100 - tail]))
    return {"low": low, "high": high, "p_value": bootstrap_p_value(draws)}


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (family-wise error), in the order given."""
    p = _finite_array(p_values, "p_values")
    if np.any((p < 0) | (p > 1)):
        raise ValueError(f"p-values must lie in [0, 1]: {p.tolist()}.")
    m = p.size
    order = np.argsort(p, kind="stable")
    adjusted = np.empty(m)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[index]))
        adjusted[index] = running
    return adjusted.tolist()


@dataclass(frozen=True)
class TwoLevelInterval:
    """Percentile interval of a mean paired difference that resamples seeds and redraws the test images."""

    mean: float
    low: float
    high: float
    n: int  # seeds
    images: int  # test images each accuracy was scored on
    level: float


def two_level_interval(a: Sequence[float], b: Sequence[float], images: int, level: float = 0.95,
                       n_resamples: int = 4000, seed: int = 0) -> TwoLevelInterval:
    """Mean of ``a[i] - b[i]`` (accuracies in %, paired by seed, every network scored on the same ``images`` test
    images) with an interval that resamples both levels, seeds and test images, where the records keep no
    per-image outcomes. Each resample draws the seeds with replacement, then redraws every accuracy from its
    binomial with ``n = images``: within one arm with one uniform number shared by all seeds (the seeds are
    scored on the SAME images, so another image draw moves them together: this comonotone draw is the largest
    image-level variance of a seed mean, an upper bound), the two arms independently (their correctness on the
    same images is in practice positively correlated, which would narrow the difference: independence is
    conservative). The seed-only t-interval (:func:`paired_difference`) leaves the image level out."""
    _check_level(level)
    check_int("images", images)
    check_int("n_resamples", n_resamples)
    a, b = _finite_array(a, "a") / 100, _finite_array(b, "b") / 100
    if a.shape != b.shape or a.size < 2:
        raise ValueError(f"a two-level interval needs two or more paired seeds, got {a.size} and {b.size} values.")
    if images < 1 or np.any((a < 0) | (a > 1) | (b < 0) | (b > 1)):
        raise ValueError(f"accuracies must lie in [0, 100] % and images={images} must be positive.")
    rng = np.random.default_rng(seed)
    chosen = rng.integers(0, a.size, size=(n_resamples, a.size))
    u_a, u_b = rng.random((n_resamples, 1)), rng.random((n_resamples, 1))
    redrawn_a = stats.binom.ppf(u_a, images, a[chosen]) / images
    redrawn_b = stats.binom.ppf(u_b, images, b[chosen]) / images
    draws = 100 * (redrawn_a - redrawn_b).mean(axis=1)
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(draws, [tail, 100 - tail])
    return TwoLevelInterval(float(100 * (a - b).mean()), float(low), float(high), int(a.size), int(images), level)


def interval_answer(low: float, high: float, margin: float) -> str:
    """The equivalence answer an interval gives at ``margin``: "equivalent" inside ``(-margin, margin)``, "not
    equivalent" entirely outside ``[-margin, margin]``, "undecided" otherwise (the reading of
    :func:`equivalence_test`, applied to any interval, e.g. the wider of a seed-only and a two-level one)."""
    if -margin < low and high < margin:
        return "equivalent"
    if low > margin or high < -margin:
        return "not equivalent"
    return "undecided"


def interval_reading(low: float, high: float, positive: str, negative: str, none: str) -> str:
    """The reading an interval allows: ``positive`` only when it excludes 0 on the positive side,
    ``negative`` only when it excludes 0 on the negative side, ``none`` (e.g. "no effect shown at this
    power") whenever it covers 0. A sentence built on this never claims an effect its interval does not show."""
    if low > 0:
        return positive
    if high < 0:
        return negative
    return none


__all__ = ["mean_interval", "mean_and_half", "EQUIVALENCE_ANSWERS", "PairedDifference", "paired_difference", "Equivalence", "seeds_for_equivalence",
           "equivalence_test", "cluster_bootstrap", "cluster_bootstrap_draws", "bootstrap_p_value", "percentile_reading", "holm",
           "interval_reading", "TwoLevelInterval", "two_level_interval", "interval_answer"]
