"""EDGE estimator: closed-form Gaussian checks, invariances, reference agreement, input checks.

Documented tolerances (semirobust.mi.GAUSSIAN_TOLERANCE_BITS and INDEPENDENT_BOUND_BITS):
- one jointly Gaussian coordinate pair with correlation r <= 0.95 and N >= 1000 samples:
  |EDGE - (-0.5 log2(1 - r^2))| <= 0.35 bits;
- independent inputs of 1 or 2 dimensions per side: EDGE <= 0.05 bits.
"""
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.neighbors import NearestNeighbors

from semirobust import mi
from semirobust.mi import closed_form, gaussian_pair, true_mi

sys.path.insert(0, str(Path(__file__).parent))
from edge_reference import reference_bucket_mi  # noqa: E402

GAUSS_TOL = mi.GAUSSIAN_TOLERANCE_BITS
INDEPENDENT_BOUND = mi.INDEPENDENT_BOUND_BITS
CORRELATIONS = (0.0, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95)


def test_gaussian_pair_has_its_closed_form():
    x, y = gaussian_pair(20_000, 0.6, dim=3, seed=0)
    assert x.dtype == y.dtype == np.float64 and x.shape == y.shape == (20_000, 3)
    assert np.allclose([np.corrcoef(x[:, j], y[:, j])[0, 1] for j in range(3)], 0.6, atol=0.02)
    assert true_mi(0.6, 3) == pytest.approx(-1.5 * math.log2(1 - 0.36)) and true_mi(0.0) == 0.0
    x32, y32 = gaussian_pair(10, 0.5, seed=1, dtype=np.float32)
    assert x32.dtype == y32.dtype == np.float32
    with pytest.raises(ValueError, match="correlation"):
        true_mi(1.0)


def reference_members(zx, zy, eps_x, eps_y, shift_x, shift_y, upper):
    """The loop reference applied to each ensemble member (rows of the L x d' bandwidths)."""
    return np.array([reference_bucket_mi(zx, zy, eps_x[j], eps_y[j], shift_x[j], shift_y[j], upper)
                     for j in range(eps_x.shape[0])])


@pytest.mark.parametrize("n", [1000, 4000])
def test_gaussian_closed_form_within_tolerance(n):
    for seed, r in enumerate(CORRELATIONS):
        x, y = gaussian_pair(n, r, seed=seed)
        assert abs(mi.edge_mi(x, y, seed=seed) - true_mi(r)) <= GAUSS_TOL, (n, r)


@pytest.mark.parametrize("dim", [1, 2, 12])
def test_ranks_increasing_correlation(dim):
    estimates = [mi.edge_mi(*gaussian_pair(2000, r, dim, seed=1)) for r in (0.0, 0.5, 0.8, 0.95)]
    assert all(b > a for a, b in zip(estimates, estimates[1:])), estimates


@pytest.mark.parametrize("dim", [1, 2])
def test_independent_inputs_near_zero(dim):
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((2000, dim)), rng.uniform(size=(2000, dim))
    assert 0.0 <= mi.edge_mi(x, y) <= INDEPENDENT_BOUND


def test_same_seed_same_value_other_seed_other_draws():
    x, y = gaussian_pair(1500, 0.7, dim=10, seed=2)
    assert mi.edge_mi(x, y, seed=3) == mi.edge_mi(x, y, seed=3)
    a, b = mi.edge_setup(x, y, seed=3), mi.edge_setup(x, y, seed=4)
    assert not torch.equal(a.zx, b.zx)


@pytest.mark.parametrize("dim", [2, 10])
def test_invariant_to_joint_permutation(dim):
    x, y = gaussian_pair(1500, 0.8, dim, seed=3)
    perm = np.random.default_rng(0).permutation(len(x))
    assert mi.edge_mi(x[perm], y[perm]) == pytest.approx(mi.edge_mi(x, y), abs=1e-6)


@pytest.mark.parametrize("dim", [2, 10])
def test_invariant_to_rescaling_a_side(dim):
    x, y = gaussian_pair(1500, 0.8, dim, seed=4)
    base = mi.edge_mi(x, y)
    assert mi.edge_mi(x * 8.0, y) == base  # a power of two rescales every float exactly
    assert mi.edge_mi(x, y * 0.37 + 5.0) == pytest.approx(base, abs=1e-6)
    scales = np.random.default_rng(1).uniform(0.5, 20.0, size=dim)
    assert mi.edge_mi(x * scales, y) == pytest.approx(base, abs=1e-6)


@pytest.mark.parametrize("dim,hashing", [(1, "floor"), (3, "floor"), (20, "p-stable"), (300, "p-stable")])
def test_vectorized_equals_loop_reference(dim, hashing):
    x, y = gaussian_pair(800, 0.6, dim, seed=6)
    setup = mi.edge_setup(x, y, seed=7)
    assert setup.hashing == hashing
    for gamma in (0.4, 0.05, 0.005):  # wide buckets down to nearly one sample per bucket
        members = setup.members((gamma, gamma))
        fast = mi.bucket_mi(setup.zx, setup.zy, *members, upper=10.0)
        slow = reference_members(setup.zx, setup.zy, *members, 10.0)
        np.testing.assert_allclose(fast, slow, rtol=1e-12, atol=1e-12)
    assert mi.ensemble_mi(setup) == pytest.approx(mi.ensemble_mi(setup, estimator=reference_members), rel=1e-12)


def test_bucket_keys_exact_when_radix_overflows():
    """Tiny bandwidths force the unique-renumbering path; it must still match the loop."""
    x, y = gaussian_pair(300, 0.5, dim=8, seed=8)
    setup = mi.edge_setup(x, y, hashing="floor", n_ensemble=3)
    members = setup.members((1e-4, 1e-4))
    np.testing.assert_allclose(mi.bucket_mi(setup.zx, setup.zy, *members),
                               reference_members(setup.zx, setup.zy, *members, 10.0), rtol=1e-12)


def test_knn_distance_matches_scikit_learn():
    rng = np.random.default_rng(9)
    for z in (rng.standard_normal((300, 3)), rng.integers(0, 20, size=(300, 3)).astype(float)):
        ranks = rng.integers(0, 300, size=40)
        for k in (1, 2, 17, 150, 300):
            got = mi.knn_distance(torch.from_numpy(z), torch.from_numpy(ranks), k).numpy()
            for c in range(3):
                col = np.sort(z[:, c]).reshape(-1, 1)
                dist, _ = NearestNeighbors(n_neighbors=k).fit(col).kneighbors(col[ranks])
                assert got[c] == pytest.approx(dist[:, -1].mean(), abs=1e-12)


def test_published_rules():
    assert mi.projected_dim(1000, 64) == 6 and mi.projected_dim(50_000, 65_536) == 12
    assert mi.projected_dim(10_000, 3) == 3 and mi.projected_dim(15, 100) == 1
    assert mi.knn_k(2000, 1) == math.floor(0.43 * 2000 ** (2 / 3 + 0.085) * math.exp(-1e-4))
    assert mi.knn_k(10, 12) <= 10
    x, y = gaussian_pair(1000, 0.5, dim=40)
    setup = mi.edge_setup(x, y[:, :5])
    assert setup.hashing == "p-stable" and setup.zx.shape == (1000, 6) and setup.zy.shape == (1000, 5)
    assert mi.edge_setup(x[:, :6], y[:, :6]).hashing == "floor"


def test_upper_clip_and_mean_ensemble():
    x = np.random.default_rng(0).standard_normal((1024, 1))
    # identical sides with tiny buckets: every sample alone, log2(N) = 10 bits, clipped at U
    assert mi.edge_mi(x, x, gamma=1e-3, adaptive=False, upper=4.0) == pytest.approx(4.0)
    a = mi.edge_mi(x, x ** 2, ensemble="mean")
    assert 0.5 < a <= mi.DEFAULT_UPPER


def test_chunked_projection_and_torch_input_agree():
    x, y = gaussian_pair(600, 0.7, dim=50, seed=11)
    base = mi.edge_mi(x, y)
    assert mi.edge_mi(x, y, chunk_bytes=50 * 8 * 7) == pytest.approx(base, abs=1e-6)
    assert mi.edge_mi(torch.from_numpy(x), torch.from_numpy(y)) == pytest.approx(base, abs=1e-12)
    low = mi.edge_mi(x.astype(np.float32), torch.from_numpy(y).half())
    assert low == pytest.approx(base, abs=0.2)


def test_feature_moments_streamed():
    rng = np.random.default_rng(12)
    x = rng.standard_normal((1000, 7)) * 3 + 1e4
    mean, std = mi.feature_moments(x, chunk_bytes=7 * 8 * 64)
    np.testing.assert_allclose(mean.numpy(), x.mean(0), rtol=1e-12)
    np.testing.assert_allclose(std.numpy(), x.std(0), rtol=1e-6)


def test_feature_moments_one_pass_matches_two_passes_on_every_input_kind():
    rng = np.random.default_rng(21)
    x = rng.standard_normal((3000, 40)) * rng.uniform(0.01, 5, 40) + rng.uniform(-50, 50, 40)
    x[:, 3] = 7.5  # constant: variance exactly 0
    x[:, 5] = 1e6 + rng.standard_normal(3000) * 1e-2  # E[x^2] - E[x]^2 would lose every digit here
    for data, rtol in ((x, 1e-10), (x.astype(np.float32), 1e-5), (torch.from_numpy(x).requires_grad_(), 1e-10),
                       (np.asfortranarray(x), 1e-10)):
        mean, std = mi.feature_moments(data, chunk_bytes=40 * 8 * 1000)  # 3 chunks, each split over the threads
        reference = np.asarray(data.detach() if isinstance(data, torch.Tensor) else data, dtype=np.float64)
        np.testing.assert_allclose(mean.numpy(), reference.mean(0), rtol=rtol)
        np.testing.assert_allclose(std.numpy(), reference.std(0), rtol=rtol, atol=1e-12)
    assert std[3] == 0.0


def test_conv_map_sized_input_stays_in_bounds():
    """A 65,536-dimensional flattened conv map runs through chunked projection."""
    rng = np.random.default_rng(13)
    base = rng.standard_normal((200, 16)).astype(np.float32)
    x = np.repeat(base, 4096, axis=1)  # 200 x 65,536
    value = mi.edge_mi(x, base[:, :8], chunk_bytes=2**22)
    assert mi.LOWER_CLIP <= value <= mi.DEFAULT_UPPER


def test_constant_feature_is_allowed():
    x, y = gaussian_pair(500, 0.8, dim=2)
    x[:, 1] = 3.0
    assert mi.edge_mi(x, y) > 0.3


@pytest.mark.parametrize("kwargs,message", [
    ({"X": np.zeros((30, 2)), "Y": np.zeros((31, 2))}, "same number of samples"),
    ({"X": np.zeros((5, 2)), "Y": np.zeros((5, 2))}, "at least"),
    ({"X": np.zeros((30, 2, 2)), "Y": np.zeros((30, 2))}, "N x d"),
    ({"X": [[1.0]] * 30, "Y": np.zeros((30, 2))}, "numpy array or torch tensor"),
    ({"ensemble": "max"}, "ensemble"),
    ({"hashing": "lsh"}, "hashing"),
    ({"X": np.zeros((50, 65)), "hashing": "floor"}, "floor"),
    ({"upper": 0.0}, "upper"),
    ({"gamma": -1.0}, "gamma"),
    ({"n_ensemble": 0}, "n_ensemble"),
    ({"seed": -1}, "seed"),
])
def test_bad_input_raises(kwargs, message):
    x, y = gaussian_pair(50, 0.5)
    args = {"X": x, "Y": y, **kwargs}
    with pytest.raises(ValueError, match=message):
        mi.edge_mi(**args)


def test_non_finite_input_raises():
    x, y = gaussian_pair(50, 0.5)
    x[3, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        mi.edge_mi(x, y)


def test_class_conditional_weighted_sum():
    rng = np.random.default_rng(14)
    labels = np.repeat([0, 1, 2], [600, 300, 100])
    r = np.array([0.9, 0.5, 0.0])[labels]
    x = rng.standard_normal((1000, 1))
    y = r[:, None] * x + np.sqrt(1 - r[:, None] ** 2) * rng.standard_normal((1000, 1))
    expected = sum(w * mi.edge_mi(x[labels == c], y[labels == c]) for c, w in ((0, 0.6), (1, 0.3), (2, 0.1)))
    assert mi.class_conditional_mi(x, y, labels) == pytest.approx(expected, rel=1e-12)
    assert mi.class_conditional_mi(torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(labels)) == \
        pytest.approx(expected, rel=1e-12)


def test_class_conditional_small_class_rule():
    """One rule in every class-conditional estimator: a class too small to estimate is an error naming it."""
    rng = np.random.default_rng(15)
    labels = np.repeat([0, 1, 7], [200, 200, 5])
    x = rng.standard_normal((405, 1))
    y = x + 0.5 * rng.standard_normal((405, 1))
    for estimate in (mi.class_conditional_mi, mi.ksg_mi, lambda a, b, lab: mi.calibrated_mi(a, b, lab, permutations=2)):
        with pytest.raises(ValueError, match=r"classes \[7\] have fewer than 10 samples .* drop those classes"):
            estimate(x, y, labels)
    keep = labels != 7  # the fix the error names: drop the class; the weights are then those of classes 0 and 1
    kept = mi.class_conditional_mi(x[keep], y[keep], labels[keep])
    halves = [mi.edge_mi(x[labels == c], y[labels == c]) for c in (0, 1)]
    assert kept == pytest.approx(0.5 * halves[0] + 0.5 * halves[1], rel=1e-12)
    with pytest.raises(ValueError, match="no class"):
        mi.class_conditional_mi(x, y, labels, min_class_samples=300)
    with pytest.raises(ValueError, match="labels"):
        mi.class_conditional_mi(x, y, labels[:-1])


def test_bucket_ids_exact_with_small_radix_blocks(monkeypatch):
    """A tiny radix limit forces several blocks, renumbering and very wide columns."""
    x, y = gaussian_pair(300, 0.5, dim=5, seed=16)
    setup = mi.edge_setup(x, y, n_ensemble=3)
    for gamma in (0.4, 0.01):
        members = setup.members((gamma, gamma))
        expected = reference_members(setup.zx, setup.zy, *members, 10.0)
        for limit in (50, 4):
            monkeypatch.setattr(mi.edge, "_RADIX_LIMIT", limit)
            np.testing.assert_allclose(mi.bucket_mi(setup.zx, setup.zy, *members), expected, rtol=1e-12)


def test_memory_mapped_input(tmp_path):
    """Inputs larger than memory can live in a numpy memmap; chunks are read from disk."""
    x, y = gaussian_pair(400, 0.7, dim=30, seed=17)
    mapped = np.memmap(tmp_path / "x.f16", dtype=np.float16, mode="w+", shape=x.shape)
    mapped[:] = x
    mapped.flush()
    reopened = np.memmap(tmp_path / "x.f16", dtype=np.float16, mode="r", shape=x.shape)
    expected = mi.edge_mi(x.astype(np.float16), y)
    assert mi.edge_mi(reopened, y, chunk_bytes=30 * 8 * 50) == pytest.approx(expected, abs=1e-6)


# ---------------------------------------------------------------- presets, calibration, KSG, CKA


@pytest.mark.parametrize("preset", ["authors", "noshad"])
def test_presets_against_loop_reference(preset):
    x, y = gaussian_pair(600, 0.6, 40, seed=11)
    s = mi.edge_settings(preset)
    setup = mi.edge_setup(x, y, n_ensemble=s["n_ensemble"], bandwidth_range=s["bandwidth_range"],
                          shift_scale=s["shift_scale"], center=s["center"], seed=3)
    fast = mi.ensemble_mi(setup, adaptive=s["adaptive"])
    assert fast == pytest.approx(mi.ensemble_mi(setup, adaptive=s["adaptive"], estimator=reference_members), rel=1e-12)
    assert mi.edge_mi(x, y, preset=preset, seed=3) == pytest.approx(fast, rel=1e-12)


def test_authors_preset_is_the_published_settings():
    """The authors' EDGE: L_ensemble=1, normalize_epsilon=False, stochastic shifts in [0, 0.1 eps)."""
    s = mi.edge_settings("authors")
    assert (s["n_ensemble"], s["adaptive"], s["shift_scale"], s["upper"], s["center"]) == (1, False, 0.1, 10.0, False)
    setup = mi.edge_setup(*gaussian_pair(200, 0.5, 30, seed=1), n_ensemble=1, shift_scale=0.1, seed=0)
    assert setup.shift_x.max() < 0.1 and setup.shift_y.max() < 0.1 and setup.hashing == "p-stable"
    assert setup.zx.shape[1] == math.floor(math.log2(200 / 10))  # projection to floor(log2(N/10)) dims
    assert mi.edge_settings("authors", n_ensemble=5)["n_ensemble"] == 5  # explicit keywords override


def _relu_pair(n_per_class, dim, seed, classes=2):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n_per_class * classes, dim))
    w = rng.standard_normal((dim, dim // 2)) / np.sqrt(dim)
    y = np.maximum(x @ w, 0) + 0.1 * rng.standard_normal((x.shape[0], dim // 2))
    return x, y, np.repeat(np.arange(classes), n_per_class)


@pytest.mark.parametrize("measure", ["ksg", "cka"])
def test_ksg_and_cka_separate_a_512_dim_dependent_pair_from_its_permutation(measure):
    x, y, labels = _relu_pair(100, 512, seed=0)
    found = mi.calibrated_mi(x, y, labels, measure=measure, permutations=20)
    assert found["above_null"] and found["p_value"] == pytest.approx(1 / 21)
    assert found["mi"] > found["null_mean"] + 5 * found["null_sd"]


@pytest.mark.parametrize("measure", ["edge", "ksg", "cka"])
def test_no_false_alarms_on_independent_pairs(measure):
    alarms = 0
    for seed in range(10):
        rng = np.random.default_rng(100 + seed)
        a, b = rng.standard_normal((60, 64)), rng.standard_normal((60, 32))
        labels = np.repeat([0, 1], 30)
        alarms += mi.calibrated_mi(a, b, labels, measure=measure, permutations=20, seed=seed)["above_null"]
    assert alarms <= 1, f"{measure}: {alarms} of 10 independent pairs read as dependent"


def test_calibrated_edge_matches_the_class_conditional_estimate_and_ceiling():
    x, y, labels = _relu_pair(40, 64, seed=2, classes=3)
    found = mi.calibrated_mi(x, y, labels, permutations=5)
    assert found["mi"] == pytest.approx(mi.class_conditional_mi(x, y, labels, preset="authors"), rel=1e-12)
    assert found["ceiling"] == pytest.approx(math.log2(40))
    assert found["preset"] == "authors" and found["settings"]["n_ensemble"] == 1
    noshad = mi.calibrated_mi(x, y, labels, preset="noshad", permutations=3)
    assert noshad["mi"] == pytest.approx(mi.class_conditional_mi(x, y, labels, preset="noshad"), rel=1e-12)


@pytest.mark.parametrize("r", [0.5, 0.9])
def test_ksg_gaussian_closed_form(r):
    x, y = gaussian_pair(3000, r, 1, seed=4)
    assert mi.ksg_mi(x, y) == pytest.approx(-0.5 * math.log2(1 - r * r), abs=0.08)
    x2, y2 = gaussian_pair(3000, r, 2, seed=5)  # two independent coordinate pairs: twice the MI
    assert mi.ksg_mi(x2, y2) == pytest.approx(-math.log2(1 - r * r), abs=0.15)


def test_linear_cka_closed_form():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 20))
    q, _ = np.linalg.qr(rng.standard_normal((20, 20)))
    assert mi.linear_cka(x, 3 * x @ q + 1) == pytest.approx(1.0, abs=1e-12)
    a, b = rng.standard_normal((2000, 5)), rng.standard_normal((2000, 5))
    # independent: E ||A^T B||^2 / (||A^T A|| ||B^T B||) ~ d / N for isotropic Gaussians
    assert mi.linear_cka(a, b) == pytest.approx(5 / 2000, abs=3 * 5 / 2000)


@pytest.mark.parametrize("call, message", [
    (lambda x, y, lab: mi.calibrated_mi(x[:-1], y, lab), "same number of samples .* same inputs"),
    (lambda x, y, lab: mi.calibrated_mi(np.where(np.arange(x.shape[0])[:, None] == 3, np.nan, x), y, lab), "NaN"),
    (lambda x, y, lab: mi.calibrated_mi(x, np.where(np.arange(y.shape[0])[:, None] == 2, np.inf, y), lab), "infinite"),
    (lambda x, y, lab: mi.calibrated_mi(x, np.where(np.arange(y.shape[0])[:, None] == 0, -np.inf, y), lab,
                                        measure="cka"), "infinite"),
    (lambda x, y, lab: mi.calibrated_mi(x, y, np.r_[lab[:-5], [7] * 5]), "fewer than"),
    (lambda x, y, lab: mi.calibrated_mi(x, y, lab, preset="fast"), "Unknown EDGE preset"),
    (lambda x, y, lab: mi.calibrated_mi(x, y, lab, measure="hsic"), "Unknown measure"),
    (lambda x, y, lab: mi.calibrated_mi(x, y, lab, permutations=0), "permutations"),
    (lambda x, y, lab: mi.edge_mi(x, y, preset="fast"), "Unknown EDGE preset"),
])
def test_calibration_bad_input_names_the_fix(call, message):
    x, y, labels = _relu_pair(30, 16, seed=1)
    with pytest.raises(ValueError, match=message):
        call(x, y, labels)


def test_ksg_on_pca_recovers_the_signal_subspace_mi():
    """The PCA path against a closed form: 4 correlated coordinates (variance 9) hidden among 60 low-variance
    independent ones per side; PCA to 4 components keeps exactly the signal, whose MI is 4 x -1/2 log2(1 - r^2)."""
    rng = np.random.default_rng(0)
    n, r = 3000, 0.6
    z = rng.standard_normal((n, 4))
    zy = r * z + math.sqrt(1 - r * r) * rng.standard_normal((n, 4))
    x = np.hstack([3 * z, 0.1 * rng.standard_normal((n, 60))])
    y = np.hstack([3 * zy, 0.1 * rng.standard_normal((n, 60))])
    assert mi.ksg_mi(x, y, components=4) == pytest.approx(-2 * math.log2(1 - r * r), abs=0.25)


def test_calibrated_edge_detects_a_strong_low_dimensional_dependence():
    """An estimator that never fires would pass the no-false-alarm test: EDGE at the authors' preset must
    put a 2-dim pair with correlation 0.9 (100 samples per class) above its permutation null."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((200, 2))
    y = 0.9 * x + math.sqrt(1 - 0.81) * rng.standard_normal((200, 2))
    labels = np.repeat([0, 1], 100)
    assert all(mi.calibrated_mi(x, y, labels, seed=s)["above_null"] for s in range(3))


# ---------------------------------------------------------------- the notebook's closed-form checks, both presets

def test_closed_form_checks_run_both_presets_on_the_same_data():
    frame = closed_form.by_correlation(1500, (0.0, 0.5, 0.8), dims=(1,), seed=0)
    assert sorted(set(frame.preset)) == ["authors", "noshad"] and len(frame) == 6
    x, y = gaussian_pair(1500, 0.8, 1, seed=2)  # r = 0.8 is the third correlation: seed + 2
    row = frame[(frame.preset == "authors") & (frame.r == 0.8)].iloc[0]
    assert row.edge == mi.edge_mi(x, y, preset="authors", seed=0) and row.true == pytest.approx(true_mi(0.8))
    authors = frame[frame.preset == "authors"]
    assert closed_form.max_abs_error(frame, "authors") == pytest.approx((authors.edge - authors.true).abs().max())
    with pytest.raises(ValueError, match="no row"):
        closed_form.max_abs_error(frame, "authors", dim=4)
    with pytest.raises(ValueError, match="presets"):
        closed_form.by_correlation(100, (0.5,), presets=("kraskov",))


def test_ranking_and_bias_sentences_say_what_the_numbers_show():
    frame = pd.DataFrame({"preset": "authors", "dim": [1, 1, 1, 4, 4, 4], "r": [0.1, 0.5, 0.9] * 2,
                          "true": 0.0, "edge": [0.0, 0.2, 1.1, 9.0, 9.9, 9.8]})
    text = closed_form.ranking_sentence(frame, "authors")
    assert "does not rise" in text and "4 pair(s)" in text and "9.9 to 9.8" in text and "1 pair" not in text
    assert "rises with the correlation at every dimension" in closed_form.ranking_sentence(frame[frame.dim == 1], "authors")
    truth = true_mi(0.8)
    runs = pd.DataFrame({"preset": "noshad", "N": [250, 250, 10_000, 10_000], "seed": [0, 1, 0, 1], "r": 0.8,
                         "edge": [truth + 0.1, truth + 0.1, truth + 0.18, truth + 0.18]})
    text = closed_form.bias_sentence(runs, "noshad")
    assert "N = 250" in text and "N = 10,000" in text and "+0.1 and +0.18" in text and "did not shrink" in text
    runs["edge"] = [truth + 0.3, truth + 0.3, truth + 0.01, truth + 0.01]
    assert "the bias shrank" in closed_form.bias_sentence(runs, "noshad")


def test_correlation_table_puts_the_presets_beside_the_truth():
    frame = pd.DataFrame({"preset": ["authors", "noshad"] * 2, "dim": 1, "r": [0.5, 0.5, 0.8, 0.8],
                          "true": [true_mi(0.5)] * 2 + [true_mi(0.8)] * 2, "edge": [0.3, 0.35, 0.9, 0.95]})
    table = closed_form.correlation_table(frame)
    assert list(table.columns) == ["dim", "r", "true", "edge (authors)", "edge (noshad)"]
    assert table.loc[table.r == 0.8, "edge (noshad)"].iloc[0] == 0.95 and len(table) == 2
