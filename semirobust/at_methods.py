"""The adversarial-training methods a user would weigh against Algorithm 1's PGD, as plain tensor functions.

* FGSM with random start ("Fast is better than free", Wong et al., ICLR 2020): a uniform start in the
  eps-ball, one signed gradient step of ``1.25 eps``, projected back to the ball and to [0, 1].
* TRADES (Zhang et al., ICML 2019): cross-entropy on clean inputs plus ``beta`` times the KL divergence
  between the clean and the adversarial predictions; its inner attack maximises that KL with PGD.
* ATTA (Zheng et al., CVPR 2020): each training image keeps its perturbation from one epoch to the next
  (the attack starts where it ended), reset to a fresh random start every ``reset_every`` epochs.

Images are in [0, 1] and the model normalizes (docs/conventions.md); attacks run with the model in eval
mode (FGSM-RS: in the mode the model is in, train mode while training, as its reference) and leave no weight
gradient behind.
"""
from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import nn

from semirobust.augmentation import PADDING, Augmentation
from semirobust.config import check_eps, check_int
from semirobust.utils import eval_mode, frozen

#: TRADES's trade-off. The supplementary names TRADES, not its beta. Zhang et al. use beta = 6 for their CIFAR-10
#: network, which has no dropout, and beta = 1 for their MNIST network, which has; this project's f_b has Dropout(0.5)
#: on narrow layers, where two train-mode passes of the same image differ by a KL of ~0.9 from dropout alone (more
#: than the clean-adversarial gap in eval mode, ~0.5), so at beta = 6 the cheapest way down the loss is a constant
#: output (measured: loss ln 10, 24% accuracy). beta = 1, the reference's setting for networks with dropout.
TRADES_BETA = 1.0


def project(x_adv: torch.Tensor, x: torch.Tensor, eps: float) -> torch.Tensor:
    """``x_adv`` clipped to the L-inf ball of radius ``eps`` around ``x`` and to the pixel range [0, 1]."""
    return torch.min(torch.max(x_adv, x - eps), x + eps).clamp(0.0, 1.0)


def _input_gradient(model: nn.Module, loss_fn, x_adv: torch.Tensor, train_mode: bool = False) -> torch.Tensor:
    """The input gradient of ``loss_fn(model(x_adv))``, weights frozen; in eval mode unless ``train_mode`` (the
    model's own mode then: FGSM-RS's reference attacks the network as it trains, BatchNorm on batch statistics)."""
    x_adv = x_adv.detach().requires_grad_(True)
    mode = contextlib.nullcontext() if train_mode else eval_mode(model)
    with mode, frozen(model), torch.enable_grad():
        loss = loss_fn(model(x_adv))
        (grad,) = torch.autograd.grad(loss, x_adv)
    return grad


def fgsm_rs(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, alpha: float | None = None,
            generator: torch.Generator | None = None) -> torch.Tensor:
    """FGSM with a uniform random start in ``[-eps, eps]`` and one signed step of ``alpha`` (None: 1.25 eps), the
    gradient taken in the model's current mode (train mode while training, as Wong et al.'s code does)."""
    eps = check_eps(eps)
    alpha = 1.25 * eps if alpha is None else check_eps(alpha, "alpha")
    start = (torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype) * 2 - 1) * eps
    x_start = (x + start).clamp(0.0, 1.0)
    grad = _input_gradient(model, lambda logits: F.cross_entropy(logits, y), x_start, train_mode=True)
    return project(x_start + alpha * grad.sign(), x, eps).detach()


def trades_loss(logits_clean: torch.Tensor, logits_adv: torch.Tensor, y: torch.Tensor,
                beta: float = TRADES_BETA) -> torch.Tensor:
    """``CE(clean, y) + beta * KL(p_clean || p_adv)``, the KL averaged over the batch.

    The clean distribution enters as log-probabilities (``log_target``): the same KL, but where a clean
    probability underflows to 0 (a confident network), the KL's gradient through the clean branch stays finite;
    with ``softmax`` as the target it is 0/0 there, and one such image turned the f_b trials' weights to NaN within
    an epoch or two (measured: all three seeds at E = 10)."""
    if isinstance(beta, bool) or not isinstance(beta, (int, float)) or beta < 0:
        raise ValueError(f"beta={beta!r} must be a non-negative number.")
    kl = F.kl_div(F.log_softmax(logits_adv, dim=1), F.log_softmax(logits_clean, dim=1), reduction="batchmean",
                  log_target=True)
    return F.cross_entropy(logits_clean, y) + beta * kl


def trades_perturbation(model: nn.Module, x: torch.Tensor, eps: float, steps: int = 10, alpha: float | None = None,
                        generator: torch.Generator | None = None) -> torch.Tensor:
    """TRADES's inner maximisation: PGD on ``KL(p_clean || p_adv)`` from a small Gaussian start (0.001 sd)."""
    eps = check_eps(eps)
    check_int("steps", steps)
    alpha = 2.5 * eps / steps if alpha is None else check_eps(alpha, "alpha")
    with torch.no_grad(), eval_mode(model):
        p_clean = F.softmax(model(x), dim=1)
    noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    x_adv = project(x + 0.001 * noise, x, eps)
    for _ in range(steps):
        grad = _input_gradient(
            model, lambda logits: F.kl_div(F.log_softmax(logits, dim=1), p_clean, reduction="sum"), x_adv)
        x_adv = project(x_adv + alpha * grad.sign(), x, eps).detach()
    return x_adv


def pgd_from(model: nn.Module, x: torch.Tensor, y: torch.Tensor, x_start: torch.Tensor, eps: float, steps: int,
             alpha: float | None = None) -> torch.Tensor:
    """PGD on the cross-entropy from a given start ``x_start`` (ATTA's carried perturbation): ``steps`` signed
    steps of ``alpha`` (None: 2.5 eps / steps), each projected to the ``eps``-ball around ``x`` and to [0, 1]."""
    eps = check_eps(eps)
    check_int("steps", steps)
    alpha = 2.5 * eps / steps if alpha is None else check_eps(alpha, "alpha")
    x_adv = project(x_start, x, eps)
    for _ in range(steps):
        grad = _input_gradient(model, lambda logits: F.cross_entropy(logits, y), x_adv)
        x_adv = project(x_adv + alpha * grad.sign(), x, eps).detach()
    return x_adv


class AttaPerturbations:
    """ATTA's perturbations carried across epochs, one per training image, reset every ``reset_every`` epochs.

    ``start(indices, x, epoch, augmentation)`` gives the attack's starting point for those images: the stored
    perturbation, or a uniform random start in epochs where the schedule resets and for images not seen yet.
    ``store(indices, x, x_adv, augmentation)`` keeps ``x_adv - x`` (inside the ball) for the next epoch.

    Perturbations are kept in the coordinates of the original image, padded by ``padding`` (the augmentation's
    crop, :mod:`semirobust.augmentation`): under augmentation the stored perturbation is cropped and flipped with
    the batch's own transform, and the attack's result goes back through the inverse transform, so each pixel's
    perturbation follows the pixel from epoch to epoch (the ATTA reference's handling). Without augmentation the
    centre of the padded store is the image itself.
    """

    def __init__(self, n_images: int, image_shape: tuple[int, ...], eps: float, reset_every: int = 10,
                 generator: torch.Generator | None = None, padding: int = PADDING):
        check_int("n_images", n_images)
        check_int("reset_every", reset_every)
        check_int("padding", padding, low=0)
        self.eps = check_eps(eps)
        self.reset_every = reset_every
        self.generator = generator
        self.padding = padding
        c, h, w = image_shape
        self.delta = torch.zeros((n_images, c, h + 2 * padding, w + 2 * padding))
        self.seen = torch.zeros(n_images, dtype=torch.bool)
        #: the schedule's epoch of this run's epoch 0 (after :meth:`continue_from`: the epochs of the runs before)
        self.offset = 0
        #: epochs of the schedule started so far, this run's included
        self.epochs_started = 0

    def resets(self, epoch: int) -> bool:
        """Whether ``epoch`` (counted from 0) starts from fresh random perturbations."""
        check_int("epoch", epoch, low=0)
        return epoch % self.reset_every == 0

    def _check(self, augmentation: Augmentation | None) -> None:
        if augmentation is not None and augmentation.padding != self.padding:
            raise ValueError(f"The augmentation pads by {augmentation.padding} pixels but ATTA's store by "
                             f"{self.padding}; build the store with padding={augmentation.padding}.")

    def carried(self, indices: torch.Tensor, augmentation: Augmentation | None = None) -> torch.Tensor:
        """The stored perturbations of ``indices`` as the batch sees them: the augmentation's window of each
        (its centre when there is none)."""
        self._check(augmentation)
        padded = self.delta[torch.as_tensor(indices, dtype=torch.long)]
        if augmentation is not None:
            return augmentation.crop(padded.to(augmentation.top.device))
        p = self.padding
        return padded[:, :, p:padded.shape[2] - p, p:padded.shape[3] - p]

    def start(self, indices: torch.Tensor, x: torch.Tensor, epoch: int,
              augmentation: Augmentation | None = None) -> torch.Tensor:
        indices = torch.as_tensor(indices, dtype=torch.long)
        random = (torch.rand(x.shape, generator=self.generator, dtype=x.dtype) * 2 - 1).to(x.device) * self.eps
        epoch = self.offset + epoch
        self.epochs_started = max(self.epochs_started, epoch + 1)
        if self.resets(epoch):
            self.seen[indices] = False
        carried = self.seen[indices].to(x.device).view(-1, *([1] * (x.dim() - 1)))
        delta = torch.where(carried, self.carried(indices, augmentation).to(x.device, x.dtype), random)
        return project(x + delta, x, self.eps)

    def state_dict(self) -> dict:
        """The carried perturbations and which images have one (a resumed run, or the next trial, goes on from
        them)."""
        return {"delta": self.delta.clone(), "seen": self.seen.clone(), "offset": self.offset,
                "epochs_started": self.epochs_started}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict` (a resumed run: the same run's schedule goes on)."""
        if tuple(state["delta"].shape) != tuple(self.delta.shape):
            raise ValueError(f"ATTA's stored perturbations have shape {tuple(state['delta'].shape)}, this run's "
                             f"{tuple(self.delta.shape)}: they belong to another training set or padding.")
        self.delta.copy_(state["delta"])
        self.seen.copy_(state["seen"])
        self.offset = int(state.get("offset", 0))
        self.epochs_started = int(state.get("epochs_started", 0))

    def continue_from(self, state: dict) -> None:
        """Start this run from the perturbations another run (the seed's previous trial) ended with: its
        schedule goes on after that run's epochs, so a reset falls every ``reset_every`` epochs of the seed."""
        self.load_state_dict(state)
        self.offset = self.epochs_started

    def store(self, indices: torch.Tensor, x: torch.Tensor, x_adv: torch.Tensor,
              augmentation: Augmentation | None = None) -> None:
        self._check(augmentation)
        indices = torch.as_tensor(indices, dtype=torch.long)
        delta = (project(x_adv, x, self.eps) - x).detach()
        if augmentation is None:
            p = self.padding
            self.delta[indices, :, p:self.delta.shape[2] - p, p:self.delta.shape[3] - p] = \
                delta.to(self.delta.device, self.delta.dtype)
        else:
            padded = self.delta[indices].to(augmentation.top.device)
            augmentation.uncrop_into(padded, delta)
            self.delta[indices] = padded.to(self.delta.device)
        self.seen[indices] = True


__all__ = ["TRADES_BETA", "project", "fgsm_rs", "trades_loss", "trades_perturbation", "pgd_from", "AttaPerturbations"]
