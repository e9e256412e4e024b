"""The library's C&W against torchattacks' own CW on the same tiny model and images, and the norms of successful
perturbations (semirobust.perturbation_norms)."""
from __future__ import annotations

import pytest
import torch
import torchattacks
from torch import nn

from semirobust.attacks import make_attack
from semirobust.perturbation_norms import l2_norms, median_successful_l2, successes, successful_perturbations


@pytest.fixture(scope="module")
def tiny():
    """A small conv net trained for a few steps on three classes of 3x8x8 images told apart by their mean colour
    (so most clean images are classified correctly), and 24 test images."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 3))

    def images(n):
        y = torch.arange(n) % 3
        x = 0.3 + 0.2 * nn.functional.one_hot(y, 3).float()[:, :, None, None] + 0.2 * torch.rand(n, 3, 8, 8)
        return x.clamp(0, 1), y

    X, y = images(96)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(100):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(X), y).backward()
        optimizer.step()
    model.eval()
    X_test, y_test = images(24)
    return model, X_test, y_test


def test_library_cw_equals_torchattacks_cw_at_the_same_settings(tiny):
    """make_attack("cw") at its defaults (c = 1, kappa = 0, 50 steps, lr 0.01) and at c = 10 against
    torchattacks.CW built directly with the same settings: the same adversarial images, so the same success rate
    and norms. On this model the defaults flip no image while a larger step flips every one: a C&W accuracy says
    as much about the settings as about the network."""
    model, X, y = tiny
    for settings in ({}, {"c": 10.0}):
        ours = make_attack("cw", model, 0.0, **settings)(X, y)
        theirs = torchattacks.CW(model, **{"c": 1.0, "kappa": 0.0, "steps": 50, "lr": 0.01, **settings})(X, y)
        assert torch.allclose(ours, theirs, atol=1e-6), settings
        a, b = successful_perturbations(model, X, y, ours), successful_perturbations(model, X, y, theirs)
        assert a["clean_correct"] >= 18, "the tiny model must classify most clean images for the check to mean much"
        assert a["successes"] == b["successes"] and a["success_rate"] == b["success_rate"], settings
        assert a["median_l2"] == b["median_l2"] or a["median_l2"] == pytest.approx(b["median_l2"])
    assert successful_perturbations(model, X, y, ours)["successes"] > 0  # c = 10 exercises successes
    weak = successful_perturbations(model, X, y, make_attack("cw", model, 0.0)(X, y))
    strong = successful_perturbations(model, X, y, make_attack("cw", model, 0.0, steps=100, lr=0.1)(X, y))
    assert weak["success_rate"] < strong["success_rate"] and strong["median_l2"] > 0


def test_successes_and_median_l2_by_hand():
    """Four images of a fixed linear model: one flipped by a perturbation of norm 3, one by norm 5, one whose
    attack failed, one already wrong when clean (not a success whatever its perturbation)."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(2, 2, bias=False))
    with torch.no_grad():
        model[1].weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))  # predicts the larger coordinate
    X = torch.tensor([[0.9, 0.1], [0.8, 0.2], [0.7, 0.3], [0.2, 0.8]]).view(4, 1, 1, 2)
    y = torch.tensor([0, 0, 0, 0])
    delta = torch.tensor([[-0.6, 0.8], [-0.0, 0.7], [0.0, 0.0], [0.3, 0.4]]).view(4, 1, 1, 2)
    X_adv = X + delta
    assert successes(model, X, y, X_adv).tolist() == [True, True, False, False]
    assert l2_norms(X, X_adv).tolist() == pytest.approx([1.0, 0.7, 0.0, 0.5])
    found = successful_perturbations(model, X, y, X_adv)
    assert found["clean_correct"] == 3 and found["successes"] == 2
    assert found["success_rate"] == pytest.approx(200 / 3)
    assert found["median_l2"] == pytest.approx(0.85) and median_successful_l2(model, X, y, X_adv) == pytest.approx(0.85)
    assert median_successful_l2(model, X, y, X) is None  # no perturbation, no success
    with pytest.raises(ValueError, match="same images"):
        successes(model, X, y[:2], X_adv)
