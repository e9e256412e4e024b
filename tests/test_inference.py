"""The verdict statistics against hand calculations with scipy's t distribution."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from semirobust.inference import (
    bootstrap_p_value,
    cluster_bootstrap,
    cluster_bootstrap_draws,
    equivalence_test,
    holm,
    interval_answer,
    interval_reading,
    paired_difference,
    seeds_for_equivalence,
    two_level_interval,
)


def _hand_tost(d, margin, alpha=0.05):
    d = np.asarray(d, dtype=float)
    n, mean, sd = d.size, d.mean(), d.std(ddof=1)
    se = sd / math.sqrt(n)
    q = stats.t.ppf(1 - alpha, n - 1)
    return mean, mean - q * se, mean + q * se, stats.t.sf((mean + margin) / se, n - 1), \
        stats.t.cdf((mean - margin) / se, n - 1)


def test_paired_difference_is_the_t_interval_of_the_differences():
    a, b = [82.0, 85.5, 80.1, 84.0, 83.2], [81.0, 86.0, 79.0, 82.5, 83.0]
    d = np.subtract(a, b)
    half = stats.t.ppf(0.975, 4) * d.std(ddof=1) / math.sqrt(5)
    result = paired_difference(a, b)
    assert result.mean == pytest.approx(d.mean())
    assert (result.low, result.high) == (pytest.approx(d.mean() - half), pytest.approx(d.mean() + half))
    assert result.n == 5 and result.covers_zero
    with pytest.raises(ValueError, match="at least 2 seeds"):
        paired_difference([1.0], [2.0])
    with pytest.raises(ValueError, match="same seeds"):
        paired_difference([1.0, 2.0], [1.0, 2.0, 3.0])


@pytest.mark.parametrize("differences, answer", [
    ([0.5, -0.3, 0.8, 0.1, -0.2], "equivalent"),  # small and tight: inside +-2 at the 90% level
    ([5.1, 4.8, 5.5, 5.0, 5.3], "not equivalent"),  # tight around 5: entirely beyond the margin
    ([3.0, -3.0, 2.0, -1.0, 0.5], "undecided"),  # centred near 0 but too spread to tell
])
def test_equivalence_reaches_each_answer_as_the_hand_calculation_does(differences, answer):
    mean, low, high, p_lower, p_upper = _hand_tost(differences, margin=2.0)
    result = equivalence_test(differences, margin=2.0)
    assert result.answer == answer
    assert (result.mean, result.low, result.high) == (pytest.approx(mean), pytest.approx(low), pytest.approx(high))
    assert (result.p_lower, result.p_upper) == (pytest.approx(p_lower), pytest.approx(p_upper))
    hand = ("equivalent" if max(p_lower, p_upper) < 0.05 else
            "not equivalent" if low > 2.0 or high < -2.0 else "undecided")
    assert hand == answer
    if answer == "undecided":
        sd = np.std(differences, ddof=1)
        n = result.seeds_to_decide
        assert n is not None and n > len(differences)
        fits = lambda k: abs(mean) + stats.t.ppf(0.95, k - 1) * sd / math.sqrt(k) < 2.0  # noqa: E731
        assert fits(n) and not fits(n - 1)
    else:
        assert result.seeds_to_decide is None


def test_equivalence_checks_its_input():
    with pytest.raises(ValueError, match="margin"):
        equivalence_test([0.1, 0.2], margin=0)
    with pytest.raises(ValueError, match="at least 2 seeds"):
        equivalence_test([0.1], margin=2)
    with pytest.raises(ValueError, match="NaN"):
        equivalence_test([0.1, float("nan")], margin=2)
    assert seeds_for_equivalence(sd=1.0, margin=2.0, mean=2.5) is None  # the estimate itself is outside


def test_cluster_bootstrap_is_wider_than_a_pooled_one_when_clusters_share_an_effect():
    rng = np.random.default_rng(1)
    cluster_means = rng.normal(0.0, 1.0, size=6)  # e.g. six seeds, each its own network
    values = np.concatenate([m + rng.normal(0.0, 0.1, size=20) for m in cluster_means])
    clusters = np.repeat(np.arange(6), 20)
    estimate, low, high = cluster_bootstrap(values, clusters, n_resamples=1000)
    _, pooled_low, pooled_high = cluster_bootstrap(values, np.arange(values.size), n_resamples=1000)
    assert estimate == pytest.approx(values.mean())
    assert (high - low) > 3 * (pooled_high - pooled_low)  # the pooled interval is overconfident
    with pytest.raises(ValueError, match="at least 2 clusters"):
        cluster_bootstrap(values, np.zeros(values.size))


def test_cluster_bootstrap_of_a_rank_correlation_is_wider_than_a_pooled_one():
    """Paired values (one row per trial): clusters share a level of x and of y, within a cluster x and y are
    unrelated. Resampling trials one by one gives a narrow interval around a correlation made by six clusters;
    resampling the clusters shows how little six clusters say."""
    rng = np.random.default_rng(2)
    rows, clusters = [], []
    for c in range(6):
        shift = rng.normal(0, 2, size=2)
        rows.extend(shift + rng.normal(0, 0.2, size=(20, 2)))
        clusters.extend([c] * 20)
    rows = np.asarray(rows)

    def spearman(xy):
        return stats.spearmanr(xy[:, 0], xy[:, 1]).statistic

    estimate, low, high = cluster_bootstrap(rows, clusters, spearman, n_resamples=500)
    _, pooled_low, pooled_high = cluster_bootstrap(rows, np.arange(len(rows)), spearman, n_resamples=500)
    assert estimate == pytest.approx(spearman(rows))
    assert (high - low) > 2 * (pooled_high - pooled_low)
    draws = cluster_bootstrap_draws(rows, clusters, spearman, n_resamples=500)
    assert draws.shape == (500,) and np.nanpercentile(draws, 2.5) == pytest.approx(low)
    with pytest.raises(ValueError, match="cluster labels"):
        cluster_bootstrap_draws(rows, clusters[:-1])


def test_bootstrap_p_value_by_hand():
    assert bootstrap_p_value([1.0, 2.0, 3.0, -1.0]) == pytest.approx(2 * (1 + 1) / 5)
    assert bootstrap_p_value(np.ones(99)) == pytest.approx(2 / 100)  # never 0
    assert bootstrap_p_value([-1.0, 1.0, np.nan]) == 1.0
    assert math.isnan(bootstrap_p_value([np.nan]))


def test_holm_against_a_hand_calculation():
    # sorted 0.005, 0.01, 0.03, 0.04 -> 4*0.005=0.02, 3*0.01=0.03, 2*0.03=0.06, max(0.06, 1*0.04)=0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        holm([1.5])


def test_an_interval_that_covers_zero_never_reads_as_an_effect():
    rng = np.random.default_rng(0)
    for _ in range(200):
        low, high = np.sort(rng.normal(0, 1, size=2))
        reading = interval_reading(low, high, "supports", "contradicts", "undecided at this power")
        if low <= 0 <= high:
            assert reading == "undecided at this power"
        else:
            assert reading == ("supports" if low > 0 else "contradicts")


def test_mean_interval_is_the_t_interval_and_mean_and_half_reads_one_seed_as_no_interval():
    from semirobust.inference import mean_and_half, mean_interval

    values = [70.0, 72.0, 74.5, None]  # None: a seed without the value, left out
    mean, half = mean_interval(values)
    assert mean == pytest.approx(72.1666666667)
    assert half == pytest.approx(stats.t.ppf(0.975, 2) * np.std([70.0, 72.0, 74.5], ddof=1) / np.sqrt(3))
    assert mean_and_half(values) == (mean, half)
    assert mean_and_half([71.0, None]) == (71.0, None)
    nan_mean, no_half = mean_and_half([None])
    assert np.isnan(nan_mean) and no_half is None
    with pytest.raises(ValueError, match="at least 2 seeds"):
        mean_interval([71.0])


def _paired_seeds(n_seeds, seed=3):
    rng = np.random.default_rng(seed)
    b = 60 + rng.normal(0, 0.8, n_seeds)
    return b - 2.0 + rng.normal(0, 1.0, n_seeds), b


def test_two_level_interval_is_wider_than_the_seed_interval_when_images_are_few():
    a, b = _paired_seeds(5)
    seeds_only = paired_difference(a, b)
    few = two_level_interval(a, b, images=500)
    assert few.mean == pytest.approx(seeds_only.mean)
    assert few.high - few.low > 2 * (seeds_only.high - seeds_only.low)
    assert few.low < seeds_only.low and few.high > seeds_only.high
    # one accuracy's binomial sd at 60% on 500 images is 2.19 points; two independent arms: 3.10 points
    assert (few.high - few.low) / 2 == pytest.approx(1.96 * 3.10, rel=0.15)


def test_two_level_interval_comes_close_to_the_seed_interval_when_images_are_many():
    a, b = _paired_seeds(30)
    seeds_only = paired_difference(a, b)
    many = two_level_interval(a, b, images=10_000_000)
    assert (many.high - many.low) / (seeds_only.high - seeds_only.low) == pytest.approx(1.0, abs=0.12)
    assert many.low == pytest.approx(seeds_only.low, abs=0.15) and many.high == pytest.approx(seeds_only.high, abs=0.15)


def test_two_level_interval_is_reproducible_and_refuses_bad_input():
    a, b = _paired_seeds(5)
    assert two_level_interval(a, b, 1000, seed=4) == two_level_interval(a, b, 1000, seed=4)
    with pytest.raises(ValueError, match="two or more"):
        two_level_interval([50.0], [40.0], 1000)
    with pytest.raises(ValueError, match=r"\[0, 100\]"):
        two_level_interval([150.0, 20.0], [40.0, 30.0], 1000)


@pytest.mark.parametrize("low, high, answer", [(-1.0, 1.5, "equivalent"), (-2.5, 1.0, "undecided"),
                                               (2.1, 4.0, "not equivalent"), (-5.0, -2.01, "not equivalent")])
def test_interval_answer_reads_any_interval_against_the_margin(low, high, answer):
    assert interval_answer(low, high, 2.0) == answer


def test_percentile_reading_is_the_percentile_interval_and_the_bootstrap_p_value():
    from semirobust.inference import bootstrap_p_value, percentile_reading

    draws = np.array([-0.2, 0.1, 0.3, 0.5, np.nan, 0.7])
    reading = percentile_reading(draws, 0.9)
    assert (reading["low"], reading["high"]) == tuple(np.nanpercentile(draws, [5, 95]))
    assert reading["p_value"] == bootstrap_p_value(draws)
    assert percentile_reading(np.array([np.nan, np.nan])) == {}
