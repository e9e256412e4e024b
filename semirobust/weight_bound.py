"""Section 2.2: the performance difference of F* = (f*_a, f*_b) and F~ = (f*_a, f~_b) and its two bounds.

w* are the weights of the fully robust network, w~ those of a semirobust one with the same f*_a
(``w~_a = w*_a``), so ``w~ - w* = (0, w~_b - w*_b)``. Definition 2's performance difference is
``d = L(F*) - L(F~)``; Section 2.2 bounds the *excess loss* of the semirobust network,

    excess = L(F~) - L(F*) = -d   (mean cross-entropy over fixed evaluation images)

(i) through a second-order Taylor expansion at w*, assuming the gradient there is zero:
``d ~ 1/2 (w~ - w*)^T H (w~ - w*) <= 1/2 lambda_max ||w~_b - w*_b||^2``. Because the f_a part of
``w~ - w*`` is zero, the quadratic form only involves the f_b block of the Hessian, ``H_bb``; we
use ``lambda_max(H_bb)``, which is at most lambda_max of the full Hessian (Cauchy interlacing), so
the bound is the tighter valid version of the paper's. H is the Hessian of the loss at w* on a
fixed evaluation set, with the model in eval mode (BatchNorm running statistics): a deterministic
function of the f_b weights. The gradient term ``g^T (w~ - w*)`` that the paper drops is reported,
so the assumption ``grad = 0`` is checked rather than assumed.

(ii) through the output difference (Cauchy-Schwarz, Lee et al. 2021 and peeling):
``E ||F*(x) - F~(x)||_2 <= C_x C_sigma ||w~_b - w*_b||_F prod_{j in f_a} ||W*_(j)||_F`` with
C_x = max ||x||_2 over the evaluation inputs as the first layer sees them (after the model's
normalization), C_sigma = 1 (ReLU is 1-Lipschitz with sigma(0) = 0) and W*_(j) the weight tensors
of the trainable layers of f*_a (Frobenius norm, i.e. of the reshaped matrix). The paper takes
the loss to be linear in the output, so the same bound is read as a bound on the excess loss;
both the output difference and the excess loss are reported against it.

Losses use the same fixed evaluation images for every network. On attacked data each network is
evaluated on examples crafted against itself (its robust loss), and the Hessian at w* uses the
examples crafted against F* (Danskin: the gradient of the robust loss is the gradient at the
worst-case example).
"""
from __future__ import annotations

import copy
import math
import time
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from semirobust.hessian import HessianOperator, flatten, top_eigenvalue
from semirobust.models import fa_fb_module_names, trainable_layers

#: bump when the computation changes so that cached trajectories are recomputed.
WEIGHT_BOUND_VERSION = "1"


def _modules(model: nn.Module, names: Sequence[str]) -> list[nn.Module]:
    lookup = dict(model.named_modules())
    return [lookup[n] for n in names]


def part_parameters(model: nn.Module, fb_layers: int, part: str = "fb") -> list[torch.Tensor]:
    """The parameters of f_a (``part="fa"``) or f_b (``"fb"``) in registration order (weights,
    biases, BatchNorm affine parameters), as :func:`semirobust.models.split_fa_fb` splits them."""
    if part not in ("fa", "fb"):
        raise ValueError(f"part={part!r} must be 'fa' or 'fb'.")
    fa_names, fb_names = fa_fb_module_names(model, fb_layers)
    return [p for m in _modules(model, fa_names if part == "fa" else fb_names) for p in m.parameters(recurse=False)]


def part_vector(model: nn.Module, fb_layers: int, part: str = "fb") -> torch.Tensor:
    """The f_a or f_b parameters as one flat float64 CPU vector."""
    return flatten([p.detach().double().cpu() for p in part_parameters(model, fb_layers, part)])


def fa_weight_norms(model: nn.Module, fb_layers: int) -> list[float]:
    """Frobenius norms ||W*_(j)||_F of the weights of the trainable layers in f_a."""
    layers = trainable_layers(model)
    return [float(m.weight.detach().double().norm()) for _, m in layers[:len(layers) - fb_layers]]


def _first_layer_inputs(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The input as the first trainable layer sees it (after the model's normalization module)."""
    normalize = getattr(model, "normalize", None)
    return normalize(x) if normalize is not None else x


def input_norm_bound(model: nn.Module, batches) -> float:
    """C_x: the largest L2 norm of an evaluation input after the model's normalization."""
    with torch.no_grad():
        return max(float(_first_layer_inputs(model, x.to(_device(model))).flatten(1).norm(dim=1).max())
                   for x, _ in batches)


def _device(model: nn.Module) -> torch.device:
    return next(iter(model.parameters())).device


def mean_loss(model: nn.Module, batches) -> float:
    """Mean cross-entropy over all samples of ``batches``, model in eval mode (mode restored)."""
    device, was_training = _device(model), model.training
    model.eval()
    total, count = 0.0, 0
    try:
        with torch.no_grad():
            for x, y in batches:
                total += F.cross_entropy(model(x.to(device)), y.to(device), reduction="sum").item()
                count += y.shape[0]
    finally:
        model.train(was_training)
    return total / count


def output_difference(model_a: nn.Module, model_b: nn.Module, batches) -> float:
    """E ||F_a(x) - F_b(x)||_2 over ``batches`` (logits, eval mode)."""
    device = _device(model_a)
    modes = (model_a.training, model_b.training)
    model_a.eval()
    model_b.eval()
    total, count = 0.0, 0
    try:
        with torch.no_grad():
            for x, _ in batches:
                x = x.to(device)
                total += (model_a(x) - model_b(x)).norm(dim=1).sum().item()
                count += x.shape[0]
    finally:
        model_a.train(modes[0])
        model_b.train(modes[1])
    return total / count


def make_batches(X: torch.Tensor, y: torch.Tensor, batch_size: int = 256) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """A fixed list of (inputs, targets) batches (the evaluation set of losses and Hessians)."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} must be a positive integer.")
    if X.shape[0] != y.shape[0] or X.shape[0] == 0:
        raise ValueError(f"X has {X.shape[0]} samples and y has {y.shape[0]}; both must match and be non-empty.")
    return [(X[i:i + batch_size], y[i:i + batch_size]) for i in range(0, X.shape[0], batch_size)]


class WeightBound:
    """Everything Section 2.2 fixes at w*: the loss, gradient, Hessian (f_b block) and lambda_max
    per evaluation condition (e.g. ``{"clean": batches, "adv": batches}``), and the constants of
    the alternative bound. :meth:`evaluate` then places any (f*_a, f~_b) against both bounds.
    """

    def __init__(self, model_star: nn.Module, fb_layers: int, conditions: dict, *, method: str = "lanczos",
                 tol: float = 1e-3, maxiter: int | None = None, seed: int = 0):
        if not isinstance(conditions, dict) or not conditions:
            raise ValueError("conditions must be a non-empty dict {name: list of (inputs, targets) batches}.")
        fa_fb_module_names(model_star, fb_layers)  # validates fb_layers
        self.fb_layers = fb_layers
        self.star = copy.deepcopy(model_star).eval()
        for p in self.star.parameters():
            p.requires_grad_(False)
        params = part_parameters(self.star, fb_layers, "fb")
        for p in params:
            p.requires_grad_(True)
        self.w_star_b = part_vector(self.star, fb_layers, "fb")
        self.w_star_a = part_vector(self.star, fb_layers, "fa")
        self.conditions = {name: list(b) for name, b in conditions.items()}
        self.fa_norms = fa_weight_norms(self.star, fb_layers)
        self.prod_fa_norms = float(np.prod(self.fa_norms))
        self.c_sigma = 1.0
        self.reference = {}
        for i, (name, batches) in enumerate(self.conditions.items()):
            op = HessianOperator(self.star, params, batches)
            t0 = time.perf_counter()
            eig = top_eigenvalue(op, method=method, tol=tol, maxiter=maxiter, seed=seed + i)
            self.reference[name] = {
                "operator": op, "loss": op.loss(), "gradient": op.gradient().double().cpu(), "eigen": eig,
                "eig_seconds": time.perf_counter() - t0, "c_x": input_norm_bound(self.star, batches),
            }

    def summary(self) -> dict:
        """lambda_max (with its method, tolerance, HVP count and residual), the loss and gradient
        norm at w*, and the constants of the alternative bound, per condition."""
        out = {"n_fb_parameters": int(self.w_star_b.numel()), "fa_weight_norms": self.fa_norms,
               "prod_fa_weight_norms": self.prod_fa_norms, "c_sigma": self.c_sigma}
        for name, ref in self.reference.items():
            out[name] = {**ref["eigen"].as_dict(), "eig_seconds": ref["eig_seconds"], "loss_star": ref["loss"],
                         "grad_norm_star": float(ref["gradient"].norm()), "c_x": ref["c_x"]}
        return out

    def evaluate(self, model_tilde: nn.Module, inputs: dict | None = None) -> dict:
        """Excess loss (and d = -excess), the Taylor terms and both bounds for F~ = ``model_tilde``.

        ``inputs[name]`` are the batches F~'s loss is measured on (e.g. examples crafted against
        F~); by default the condition's reference batches. Keys are ``<quantity>_<condition>``.
        """
        inputs = inputs or {}
        unknown = set(inputs) - set(self.conditions)
        if unknown:
            raise ValueError(f"inputs for unknown condition(s) {sorted(unknown)}; known: {sorted(self.conditions)}.")
        delta_a = float((part_vector(model_tilde, self.fb_layers, "fa") - self.w_star_a).norm())
        delta = part_vector(model_tilde, self.fb_layers, "fb") - self.w_star_b
        sq = float(delta @ delta)
        out = {"delta_fb_norm": math.sqrt(sq), "delta_fa_norm": delta_a}
        for name, ref in self.reference.items():
            op = ref["operator"]
            loss_tilde = mean_loss(model_tilde, inputs.get(name, self.conditions[name]))
            norm_bound = ref["c_x"] * self.c_sigma * math.sqrt(sq) * self.prod_fa_norms
            out.update({
                f"loss_tilde_{name}": loss_tilde,
                f"excess_loss_{name}": loss_tilde - ref["loss"],
                f"d_{name}": ref["loss"] - loss_tilde,
                f"first_order_{name}": float(ref["gradient"] @ delta),
                f"second_order_{name}": 0.5 * op.quadratic_form(delta.to(op.dtype)),
                f"eig_bound_{name}": 0.5 * ref["eigen"].value * sq,
                f"norm_bound_{name}": norm_bound,
                f"output_diff_{name}": output_difference(self.star, model_tilde, self.conditions[name]),
            })
        return out


def bound_checks(rows: list[dict], conditions: Sequence[str]) -> dict:
    """Whether each bound held at every point: excess loss <= eig bound, excess loss <= norm bound,
    output difference <= norm bound, and quadratic form <= eig bound (a check of lambda_max)."""
    checks = {}
    for name in conditions:
        pairs = {"excess_le_eig_bound": ("excess_loss", "eig_bound"),
                 "excess_le_norm_bound": ("excess_loss", "norm_bound"),
                 "output_diff_le_norm_bound": ("output_diff", "norm_bound"),
                 "second_order_le_eig_bound": ("second_order", "eig_bound")}
        for label, (lhs, rhs) in pairs.items():
            held = [r[f"{lhs}_{name}"] <= r[f"{rhs}_{name}"] for r in rows]
            checks[f"{label}_{name}"] = {"held_everywhere": bool(all(held)), "held_at": int(sum(held)),
                                         "points": len(held)}
    return checks
