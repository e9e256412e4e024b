"""How large an attack's successful perturbations are (L2, pixel scale), for a minimum-norm attack such as C&W.

C&W (:func:`semirobust.attacks.make_attack` with ``"cw"``) has no budget: it looks for the smallest L2 change that
flips the prediction, within its steps and its constant ``c``. An accuracy that stays high under it may mean a weak
attack at these settings or a robust network; the norms of the perturbations that did succeed tell them apart
(small norms and few successes point at the settings, large norms at the network). A success is an image the model
classifies correctly when clean and wrongly once attacked; the others (already wrong, or not flipped) have no
successful perturbation. Kept apart from :mod:`semirobust.attacks`, whose source is part of every cached network's
fingerprint.
"""
from __future__ import annotations

import torch
from torch import nn

from semirobust.utils import eval_mode, model_device


def _predictions(model: nn.Module, X: torch.Tensor, batch_size: int) -> torch.Tensor:
    device = model_device(model)
    out = []
    with eval_mode(model), torch.no_grad():
        for start in range(0, len(X), batch_size):
            out.append(model(X[start:start + batch_size].to(device)).argmax(dim=1).cpu())
    return torch.cat(out)


def successes(model: nn.Module, X: torch.Tensor, y: torch.Tensor, X_adv: torch.Tensor,
              batch_size: int = 256) -> torch.Tensor:
    """A boolean per image: correct on the clean image ``X`` and wrong on its attacked version ``X_adv``."""
    if X.shape != X_adv.shape or len(X) != len(y):
        raise ValueError(f"X {tuple(X.shape)}, X_adv {tuple(X_adv.shape)} and y ({len(y)}) must hold the same images.")
    y = torch.as_tensor(y).cpu()
    return (_predictions(model, X, batch_size) == y) & (_predictions(model, X_adv, batch_size) != y)


def l2_norms(X: torch.Tensor, X_adv: torch.Tensor) -> torch.Tensor:
    """The L2 norm of each image's perturbation ``X_adv - X`` (pixel scale, images in [0, 1])."""
    return (X_adv.float().cpu() - X.float().cpu()).flatten(1).norm(dim=1)


def successful_perturbations(model: nn.Module, X: torch.Tensor, y: torch.Tensor, X_adv: torch.Tensor,
                             batch_size: int = 256) -> dict:
    """The attack's successes on ``(X, y)`` and the size of their perturbations: ``images``, ``clean_correct``,
    ``successes`` (clean-correct images it flipped), ``success_rate`` (percent of the clean-correct ones),
    ``median_l2`` and ``mean_l2`` of the successful perturbations (None when there is none)."""
    flipped = successes(model, X, y, X_adv, batch_size)
    correct = int((_predictions(model, X, batch_size) == torch.as_tensor(y).cpu()).sum())
    norms = l2_norms(X, X_adv)[flipped]
    found = int(flipped.sum())
    return {"images": int(len(y)), "clean_correct": correct, "successes": found,
            "success_rate": 100.0 * found / correct if correct else None,
            "median_l2": float(norms.quantile(0.5)) if found else None, "mean_l2": float(norms.mean()) if found else None}


def median_successful_l2(model: nn.Module, X: torch.Tensor, y: torch.Tensor, X_adv: torch.Tensor,
                         batch_size: int = 256) -> float | None:
    """The median L2 norm of the successful perturbations (:func:`successful_perturbations`); None when the
    attack flipped no image."""
    return successful_perturbations(model, X, y, X_adv, batch_size)["median_l2"]


__all__ = ["successes", "l2_norms", "successful_perturbations", "median_successful_l2"]
