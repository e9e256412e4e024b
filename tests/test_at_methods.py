"""FGSM-RS, TRADES and ATTA against hand computations on tiny models."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from semirobust.at_methods import AttaPerturbations, fgsm_rs, project, trades_loss, trades_perturbation
from semirobust.augmentation import Augmentation, augment


def _linear_model(weight: torch.Tensor) -> nn.Module:
    model = nn.Linear(weight.shape[1], weight.shape[0], bias=False)
    with torch.no_grad():
        model.weight.copy_(weight)
    return model


def test_fgsm_rs_matches_a_hand_computation_on_a_linear_model():
    # two classes, logits = W x; the CE gradient w.r.t. x is W^T (softmax - onehot), its sign known per pixel
    weight = torch.tensor([[1.0, -2.0, 0.5, 0.0], [-1.0, 2.0, -0.5, 3.0]])
    model = _linear_model(weight)
    x = torch.tensor([[0.5, 0.01, 0.99, 0.5]])
    y = torch.tensor([0])
    eps = 8 / 255
    generator = torch.Generator().manual_seed(3)
    x_adv = fgsm_rs(model, x, y, eps, generator=generator)
    # the same start by hand, then the step, the ball and [0, 1]
    start = (torch.rand(x.shape, generator=torch.Generator().manual_seed(3)) * 2 - 1) * eps
    assert float(start.abs().max()) <= eps  # the start lies inside the ball
    x0 = (x + start).clamp(0, 1)
    p = torch.softmax(x0 @ weight.T, dim=1)
    grad = (p - F.one_hot(y, 2).float()) @ weight
    stepped = x0 + 1.25 * eps * grad.sign()
    expected = torch.min(torch.max(stepped, x - eps), x + eps).clamp(0, 1)
    assert torch.allclose(x_adv, expected, atol=1e-7)
    assert float((x_adv - x).abs().max()) <= eps + 1e-7 and float(x_adv.min()) >= 0 and float(x_adv.max()) <= 1
    assert x_adv[0, 1] >= 0 and x_adv[0, 2] <= 1  # the pixels near 0 and 1 were clipped to the range
    assert all(p.grad is None for p in model.parameters())  # no weight gradient left behind


def test_project_clips_to_the_ball_and_the_pixel_range():
    x = torch.tensor([0.0, 0.5, 1.0])
    assert torch.allclose(project(torch.tensor([-1.0, 0.9, 2.0]), x, 0.1), torch.tensor([0.0, 0.6, 1.0]))


def test_trades_loss_against_a_hand_computation():
    clean = torch.tensor([[2.0, 0.0, -1.0]])
    adv = torch.tensor([[0.5, 1.0, -1.0]])
    y = torch.tensor([0])
    p = [math.exp(v) for v in (2.0, 0.0, -1.0)]
    p = [v / sum(p) for v in p]
    q = [math.exp(v) for v in (0.5, 1.0, -1.0)]
    q = [v / sum(q) for v in q]
    ce = -math.log(p[0])
    kl = sum(pi * math.log(pi / qi) for pi, qi in zip(p, q))
    assert float(trades_loss(clean, adv, y, beta=6.0)) == pytest.approx(ce + 6.0 * kl, rel=1e-6)
    assert float(trades_loss(clean, clean, y, beta=6.0)) == pytest.approx(ce, rel=1e-6)  # KL(p||p) = 0
    with pytest.raises(ValueError, match="beta"):
        trades_loss(clean, adv, y, beta=-1)


def test_trades_perturbation_stays_in_the_ball_and_raises_the_kl():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 3))
    x = torch.rand(8, 3, 2, 2)
    eps = 8 / 255
    x_adv = trades_perturbation(model, x, eps, steps=5, generator=torch.Generator().manual_seed(0))
    assert float((x_adv - x).abs().max()) <= eps + 1e-7 and 0 <= float(x_adv.min()) and float(x_adv.max()) <= 1
    with torch.no_grad():
        p = F.softmax(model(x), 1)
        kl = lambda z: float(F.kl_div(F.log_softmax(model(z), 1), p, reduction="sum"))  # noqa: E731
        assert kl(x_adv) > kl(project(x + 0.001 * torch.randn(x.shape), x, eps))


def test_atta_carries_perturbations_inside_the_ball_and_resets_on_schedule():
    eps = 8 / 255
    store = AttaPerturbations(6, (1, 2, 2), eps, reset_every=3, generator=torch.Generator().manual_seed(0))
    x = torch.rand(6, 1, 2, 2) * 0.8 + 0.1
    idx = torch.arange(6)
    assert [store.resets(e) for e in range(7)] == [True, False, False, True, False, False, True]
    first = store.start(idx, x, epoch=0)  # fresh random start
    assert float((first - x).abs().max()) <= eps + 1e-7
    pushed = x + 5 * eps  # an attack that went beyond the ball: stored projected
    store.store(idx, x, pushed)
    for epoch in (1, 2):  # carried: the start is where the last attack ended, inside the ball
        start = store.start(idx, x, epoch)
        assert torch.allclose(start, project(pushed, x, eps), atol=1e-7)
        store.store(idx, x, start)
    reset = store.start(idx, x, epoch=3)  # reset on schedule: a fresh random start, not the carried one
    assert not torch.allclose(reset, project(pushed, x, eps))
    assert float((reset - x).abs().max()) <= eps + 1e-7
    other = store.start(torch.tensor([0]), x[:1] + 0.05, epoch=4)  # an augmented image: projected to its ball
    assert float((other - (x[:1] + 0.05)).abs().max()) <= eps + 1e-7


def test_augment_draws_as_before_bit_for_bit():
    """The augmentation as an explicit transform (for ATTA) draws and crops exactly as the function it replaced:
    checksums of the old ``semirobust.training.augment`` on these images and seeds."""
    import hashlib

    x = torch.rand(64, 3, 32, 32, generator=torch.Generator().manual_seed(5))
    sums = [hashlib.sha256(augment(x, torch.Generator().manual_seed(s)).numpy().tobytes()).hexdigest()[:16]
            for s in range(3)]
    assert sums == ["608054e510fd3094", "3ffd256006d11edb", "30e2b9fafc85d788"]


def test_uncrop_undoes_crop_on_the_window():
    padded = torch.rand(5, 2, 14, 14)
    aug = Augmentation.draw(5, torch.Generator().manual_seed(1), padding=3)
    window = aug.crop(padded)
    target = torch.zeros_like(padded)
    aug.uncrop_into(target, window)
    assert torch.equal(aug.crop(target), window)  # every pixel of the window went back where it came from
    assert int((target != 0).sum()) == window.numel()


def test_atta_perturbation_follows_its_pixel_under_augmentation():
    """ATTA under augmentation (issue 37): a perturbation stored under one crop and flip starts the next epoch, under
    another crop and flip, on the same pixels of the original image (the reference's inverse transform); stored
    in the augmented image's coordinates instead, it would land shifted and mirrored."""
    eps, n, p = 0.1, 4, 4
    store = AttaPerturbations(n, (1, 8, 8), eps, reset_every=10, generator=torch.Generator().manual_seed(0), padding=p)
    field = (torch.rand(n, 1, 8 + 2 * p, 8 + 2 * p) * 2 - 1) * eps  # one perturbation per original (padded) pixel
    x = torch.full((n, 1, 8, 8), 0.5)
    idx = torch.arange(n)
    centre = Augmentation(torch.full((n,), p), torch.full((n,), p), torch.zeros(n, dtype=torch.bool), p)
    store.start(idx, x, 0, centre)
    store.store(idx, x, x + centre.crop(field), centre)  # the epoch's attack ended at the field's centre window
    other = Augmentation(torch.tensor([0, 2, 5, 8]), torch.tensor([8, 1, 4, 0]), torch.tensor([True, False, True, True]), p)
    start = store.start(idx, x, 1, other) - x
    expected = other.crop(torch.where(_centre_mask(n, 8, p), field, torch.zeros_like(field)))
    assert torch.allclose(start, expected, atol=1e-7)
    assert not torch.allclose(start, centre.crop(field), atol=1e-3)  # not the last epoch's window as it was


def _centre_mask(n, size, p):
    mask = torch.zeros(n, 1, size + 2 * p, size + 2 * p, dtype=torch.bool)
    mask[:, :, p:p + size, p:p + size] = True
    return mask


def test_atta_store_without_augmentation_is_the_image_itself():
    eps = 0.1
    store = AttaPerturbations(3, (1, 4, 4), eps, generator=torch.Generator().manual_seed(0))
    x = torch.full((3, 1, 4, 4), 0.5)
    delta = (torch.rand(3, 1, 4, 4) * 2 - 1) * eps
    store.start(torch.arange(3), x, 0)
    store.store(torch.arange(3), x, x + delta)
    assert torch.allclose(store.start(torch.arange(3), x, 1) - x, delta, atol=1e-7)


def test_atta_store_is_carried_into_the_next_trial_on_the_seeds_schedule():
    """The seed's next trial starts from the perturbations the previous one ended with (issue 37), and the reset
    schedule counts the seed's epochs: with reset_every = 3, a trial of 2 epochs then one of 2 resets at the
    second trial's second epoch (the seed's fourth), not at its first."""
    eps = 0.1
    x = torch.full((2, 1, 2, 2), 0.5)
    idx = torch.arange(2)
    first = AttaPerturbations(2, (1, 2, 2), eps, reset_every=3, generator=torch.Generator().manual_seed(0))
    for epoch in range(2):
        start = first.start(idx, x, epoch)
        first.store(idx, x, start + 0.01)
    ended = first.carried(idx).clone()
    second = AttaPerturbations(2, (1, 2, 2), eps, reset_every=3, generator=torch.Generator().manual_seed(1))
    second.continue_from(first.state_dict())
    assert torch.allclose(second.start(idx, x, 0) - x, ended, atol=1e-7)  # carried, not a fresh random start
    second.store(idx, x, x + ended)
    assert second.resets(second.offset + 1) and not torch.allclose(second.start(idx, x, 1) - x, ended, atol=1e-3)


def test_fgsm_rs_attacks_a_batchnorm_network_in_the_mode_it_trains_in():
    """FGSM-RS's reference takes its step on the network as it trains (BatchNorm on the batch's statistics): on a
    network in train mode the attack equals the step computed by hand in train mode, and differs from the step of
    the same network in eval mode, whose running statistics are far from the batch's (issue 37)."""
    import copy

    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 3))
    with torch.no_grad():
        net[2].running_mean.fill_(5.0)
        net[2].running_var.fill_(0.01)
    x, y, eps = torch.rand(16, 1, 2, 2), torch.randint(0, 3, (16,)), 8 / 255

    def by_hand(model):
        start = (torch.rand(x.shape, generator=torch.Generator().manual_seed(1)) * 2 - 1) * eps
        x0 = (x + start).clamp(0, 1).requires_grad_(True)
        (grad,) = torch.autograd.grad(F.cross_entropy(model(x0), y), x0)
        return project(x0.detach() + 1.25 * eps * grad.sign(), x, eps)

    training = fgsm_rs(copy.deepcopy(net).train(), x, y, eps, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(training, by_hand(copy.deepcopy(net).train()), atol=1e-7)
    evaluating = fgsm_rs(copy.deepcopy(net).eval(), x, y, eps, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(evaluating, by_hand(copy.deepcopy(net).eval()), atol=1e-7)
    assert not torch.allclose(training, evaluating)


def test_trades_loss_gradient_stays_finite_on_a_confident_network():
    """A clean probability that underflows to 0 (logit gap of 400) gave the KL's gradient through the clean branch
    0/0 = NaN with softmax as the target, and turned every Table S5 TRADES trial's weights to NaN (issue 37); the
    same loss with log-probabilities as the target is finite and equal in value."""
    clean = torch.tensor([[200.0, 0.0, -200.0], [0.3, -0.2, 0.1]], requires_grad=True)
    adv = torch.tensor([[1.0, 0.5, 0.0], [0.0, 0.1, 0.2]], requires_grad=True)
    y = torch.tensor([0, 2])
    loss = trades_loss(clean, adv, y, beta=1.0)
    loss.backward()
    assert torch.isfinite(clean.grad).all() and torch.isfinite(adv.grad).all()
    softmax_target = F.cross_entropy(clean, y) + F.kl_div(F.log_softmax(adv, 1), F.softmax(clean, 1), reduction="batchmean")
    assert float(loss) == pytest.approx(float(softmax_target), rel=1e-6)
