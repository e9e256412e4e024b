"""The dependence study: pairs with known answers, and a summary that counts detections against the null."""
import math

import numpy as np
import pytest

from semirobust.config import get_profile
from semirobust.experiments.rho import dependence_study as study


def test_pairs_have_their_stated_truth():
    x, y, truth = study.make_pair("gaussian", 4000, 3, seed=0)
    r = [np.corrcoef(x[:, j], y[:, j])[0, 1] for j in range(3)]
    assert np.allclose(r, study.GAUSSIAN_R, atol=0.05)
    assert truth == pytest.approx(-1.5 * math.log2(1 - study.GAUSSIAN_R**2))
    x, y, truth = study.make_pair("independent", 100, 8, seed=1)
    assert truth == 0.0 and x.shape == y.shape == (100, 8)
    assert study.make_pair("relu", 50, 16, seed=2)[2] is None
    with pytest.raises(ValueError, match="Unknown pair kind"):
        study.make_pair("copula", 10, 2, seed=0)


def test_cka_study_detects_dependent_pairs_and_not_independent_ones():
    frame = study.run_study("smoke", estimators=(("cka", None),), progress=False)
    summary = study.detection_summary(frame).iloc[0]
    assert summary.dependent_cells == 4 and summary.independent_cells == 2
    assert summary.dependent_detected >= 3 and summary.false_alarms == 0
    assert "cka was above its permutation null" in study.verdict(study.detection_summary(frame))
    with pytest.raises(ValueError, match="Unknown profile"):
        study.run_study("huge")


def test_the_offline_study_reaches_down_to_the_samples_per_class_behind_the_offline_rho():
    per_class = study.rho_samples_per_class("offline", "digits")
    assert per_class == get_profile("offline").rho_samples // 10  # digits has 10 classes
    assert min(get_profile("offline").study_ns) <= per_class
    assert study.rho_samples_per_class("paper") is None  # every test image
    assert study.sizes_text((20, 50, 1000)) == "20, 50 and 1,000" and study.sizes_text((50,)) == "50"
