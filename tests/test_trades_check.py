"""TRADES on a network with dropout (semirobust.experiments.supplementary.trades_check): a tiny network with
Dropout(0.5) trains under TRADES at beta 1; the dropout-noise KL is positive with dropout and 0 without; the
adversarial KL is 0 at eps 0; the measurement leaves the network as it was; the page's TRADES sentence and
numbers from synthetic records."""
from __future__ import annotations

import copy
import math

import pytest
import torch
from tiny import make_tiny_profile
from torch import nn

from semirobust.at_methods import TRADES_BETA
from semirobust.config import RunConfig
from semirobust.data import TensorImageDataset
from semirobust.experiments.supplementary import table_s5_report
from semirobust.experiments.supplementary.trades_check import (
    adversarial_kl,
    dropout_noise_kl,
    dropout_only_train,
    trades_check,
)
from semirobust.models import Normalize
from semirobust.training import train

CLASSES = 10


def dropout_net(seed: int = 0, p: float = 0.5) -> nn.Module:
    """conv, BatchNorm, pool, conv, pool, Linear, Dropout(p), Linear: 4 trainable layers, 10 classes, 3x32x32."""
    torch.manual_seed(seed)
    return nn.Sequential(Normalize((0.5, 0.5, 0.5), (0.25, 0.25, 0.25)),
                         nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(4),
                         nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(8 * 4 * 4, 32), nn.ReLU(), nn.Dropout(p), nn.Linear(32, CLASSES))


def pattern_images(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Class c brightens the c-th of ten horizontal bands of the image: a pattern a small conv net learns in a
    few epochs, far from the 8/255 budget."""
    generator = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % CLASSES
    x = 0.3 * torch.rand(n, 3, 32, 32, generator=generator)
    for c in range(CLASSES):
        x[y == c, :, 3 * c:3 * c + 3, :] += 0.6
    return x.clamp(0, 1), y


def test_a_network_with_dropout_trains_under_trades_below_ln_c():
    """Five epochs of TRADES (beta 1, 2 KL-attack steps at 8/255) on 200 images of a learnable pattern: the
    training loss (CE + beta KL) ends below ln 10, the uniform prediction's, and well above chance accuracy."""
    X, y = pattern_images(200)
    profile = make_tiny_profile(batch_size=20, train_attack_steps=2, train_subset=None)
    model = dropout_net()
    result = train(model, TensorImageDataset(X, y), profile=profile, mode="trades", epochs=5, lr=0.05,
                   device="cpu", seed=0, progress=False, train_eps=8 / 255, constant_lr=True)
    assert result.history[-1]["train_loss"] < math.log(CLASSES) - 0.3, [h["train_loss"] for h in result.history]
    assert result.history[-1]["train_acc"] > 100 / CLASSES + 20
    assert TRADES_BETA == 1.0


def test_the_dropout_noise_kl_is_positive_with_dropout_and_zero_without():
    X, _ = pattern_images(40, seed=1)
    with_dropout, without = dropout_net(p=0.5), dropout_net(p=0.0)
    without.load_state_dict(with_dropout.state_dict())
    assert dropout_noise_kl(with_dropout, X) > 1e-3
    assert dropout_noise_kl(without, X) == pytest.approx(0.0, abs=1e-6)
    # f_b of the last trainable layer only: the Dropout lies before it, in f_a, and stays in eval mode
    assert dropout_noise_kl(with_dropout, X, fb_layers=1) == pytest.approx(0.0, abs=1e-6)
    assert dropout_noise_kl(with_dropout, X, fb_layers=2) > 1e-3
    # the masks come from the seed, on a forked RNG
    state = torch.get_rng_state()
    assert dropout_noise_kl(with_dropout, X, seed=3) == dropout_noise_kl(with_dropout, X, seed=3)
    assert torch.equal(torch.get_rng_state(), state)


def test_the_adversarial_kl_is_zero_at_eps_zero_and_positive_under_trades_attack():
    X, _ = pattern_images(20, seed=2)
    model = dropout_net()
    assert adversarial_kl(model, X, 0.0, steps=2) == pytest.approx(0.0, abs=1e-7)  # eval mode: no dropout noise
    assert adversarial_kl(model, X, 8 / 255, steps=2) > 0


def test_the_check_changes_no_weight_buffer_or_mode():
    X, _ = pattern_images(20, seed=3)
    model = dropout_net()
    model.train()
    model[2].eval()  # a module in its own mode (a frozen f_a's BatchNorm) keeps it
    before = copy.deepcopy(model.state_dict())
    modes = [m.training for m in model.modules()]
    found = trades_check(model, X, 8 / 255, steps=2, fb_layers=2)
    assert found["n"] == 20 and found["dropout_kl"] > 0 and found["adversarial_kl"] > 0
    assert found["noise_to_adversarial"] == pytest.approx(found["dropout_kl"] / found["adversarial_kl"])
    assert [m.training for m in model.modules()] == modes
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key  # BatchNorm's running statistics included
    with dropout_only_train(model, fb_layers=2):
        assert [type(m).__name__ for m in model.modules() if m.training] == ["Dropout"]
    with pytest.raises(ValueError, match="batch of images"):
        dropout_noise_kl(model, X[0])


# --------------------------------------------------------------- the page's TRADES sentence and numbers

def _arm(loss, acc, tilde):
    curve = [{"epoch": 1, "adv_acc": tilde, "val_acc": tilde, "train_loss": 2.31, "train_acc": 12.0, "lr": 0.01,
              "time_s": 1.0},
             {"epoch": 2, "adv_acc": tilde, "val_acc": tilde, "train_loss": loss, "train_acc": acc, "lr": 0.01,
              "time_s": 1.0}]
    return {"acc_tilde_unbiased": tilde, "epochs": None, "converged_trials": 0, "wall_time_s": 2.0, "rho": [1.0],
            "best_val_trial": 0, "trials": [{"trial": 0, "epochs_run": 2, "curve": curve}]}


def _per_seed():
    return [({"metrics": {"acc_star": 74.0}, "extra": {"train_images": 100}},
             {"adversarial": _arm(0.9, 70.0, 72.0), "trades": _arm(loss, 24.0, tilde)})
            for loss, tilde in ((2.24, 20.0), (2.25, 22.0), (2.26, 21.0))]


def _check(noise, adversarial):
    return {"dropout_kl": noise, "adversarial_kl": adversarial, "n": 256, "eps": 8 / 255, "steps": 5}


def test_the_trades_sentence_carries_the_measured_kls_and_the_curves(monkeypatch):
    per_seed = _per_seed()
    monkeypatch.setattr(table_s5_report, "table_s5_runs", lambda config, results_dir=None: per_seed)
    config = RunConfig(arch="vgg16", dataset="digits", profile=make_tiny_profile(table_s5_seeds=(0, 1, 2)),
                       device="cpu")
    checks = [{"seed": 0, "start": _check(0.9, 0.5), "trained": _check(0.001, 0.0005)},
              {"seed": 1, "start": _check(0.8, 0.4), "trained": None},
              {"seed": 2, "start": _check(1.0, 0.5), "trained": _check(0.002, 0.001)}]
    text = table_s5_report.trades_diagnosis(config, checks=checks)
    assert text.startswith("The TRADES arm did not train in 3 of 3 seeds")
    assert "seed 0: loss 2.31 → 2.24, accuracy 12% → 24% over 2 epochs" in text
    assert "on the arm's starting network (f*_a, f_b) (3 seeds), a dropout-noise KL of 0.900 ± 0.248" in text
    assert "on the trained, validation-selected TRADES network (2 seeds)" in text
    assert "seed 1: the trained network is not in the cache, measured on the starting network only" in text
    assert "Measured on 256 test images per network" in text and "8/255, 5 steps" in text
    ratio = (0.9 / 0.5 + 0.8 / 0.4 + 1.0 / 0.5) / 3
    assert f"is {ratio:.2f} times the adversarial KL" in text
    assert "most of TRADES's KL term at the start is dropout noise" in text
    # without measurements the sentence says so rather than asserting a number
    assert "not measured" in table_s5_report.trades_check_sentence([{"seed": 0, "start": None, "trained": None}])
    values = table_s5_report.trades_glue_values(config, checks=checks)
    assert values["trades_acc_tilde"] == table_s5_report.acc_tilde_text(per_seed, "trades")
    assert values["trades_acc_tilde"].startswith("21.0 ± ") and values["table_s5_seeds"] == 3
    assert values["trades_diagnosis"] == text
    assert table_s5_report.acc_tilde_text(per_seed[:1], "trades") == "20.0"
