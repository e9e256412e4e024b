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

:func:`run_weight_bound` follows F~ along subnetwork fine-tuning of f_b and writes the ``weight_bound``
record; its tables, sentences and plots are in :mod:`semirobust.experiments.theory.weight_bound_report`.
"""
from __future__ import annotations

import copy
import dataclasses
import math
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from semirobust.attacks import attack_tensors
from semirobust.config import (
    ARCHS,
    ATTACKS,
    DATASETS,
    LAYER_COUNTS,
    PAPER_FB_LAYERS,
    Profile,
    check_choice,
    check_eps,
    check_fb_layers,
    check_int,
)
from semirobust.data import dataset_tensors, load_dataset
from semirobust.experiments.theory.common import check_device, resolve_profile, start_run
from semirobust.experiments.theory.weight_alignment import aligned_distance
from semirobust.hessian import METHODS, HessianOperator, flatten, top_eigenvalue, unflatten
from semirobust.models import combine_fa_fb, fa_fb_module_names, trainable_layers
from semirobust.names import RecordKind, TrainingMode
from semirobust.results import ResultsStore
from semirobust.training import get_trained_model, train
from semirobust.utils import check_output_dir, config_hash, default_cache_dir, eval_mode, model_device

__all__ = ["TAYLOR_DIRECTIONS", "TAYLOR_RADII", "WEIGHT_BOUND_VERSION", "WeightBound", "WeightBoundSettings",
           "bound_checks", "fa_weight_norms", "fb_input_norm", "input_norm_bound", "make_batches", "mean_loss",
           "missing_frobenius_factors", "output_difference", "part_parameters", "part_vector", "run_weight_bound",
           "weight_bound_settings"]

#: bump when the computation changes so that cached trajectories are recomputed.
WEIGHT_BOUND_VERSION = "3"  # 3: the permutation-aligned distance delta_fb_norm_aligned


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
        return max(float(_first_layer_inputs(model, x.to(model_device(model))).flatten(1).norm(dim=1).max())
                   for x, _ in batches)


def mean_loss(model: nn.Module, batches) -> float:
    """Mean cross-entropy over all samples of ``batches``, model in eval mode (mode restored)."""
    device = model_device(model)
    total, count = 0.0, 0
    with eval_mode(model), torch.no_grad():
        for x, y in batches:
            total += F.cross_entropy(model(x.to(device)), y.to(device), reduction="sum").item()
            count += y.shape[0]
    return total / count


def output_difference(model_a: nn.Module, model_b: nn.Module, batches) -> float:
    """E ||F_a(x) - F_b(x)||_2 over ``batches`` (logits, eval mode)."""
    device = model_device(model_a)
    total, count = 0.0, 0
    with eval_mode(model_a), eval_mode(model_b), torch.no_grad():
        for x, _ in batches:
            x = x.to(device)
            total += (model_a(x) - model_b(x)).norm(dim=1).sum().item()
            count += x.shape[0]
    return total / count


def fb_input_norm(model: nn.Module, fb_layers: int, batches) -> float:
    """E ||sigma(f_a(x))||_2: the mean L2 norm of the input of f_b's first trainable layer (eq. (14))."""
    first = trainable_layers(model)[len(trainable_layers(model)) - fb_layers][1]
    norms = []
    handle = first.register_forward_pre_hook(lambda _m, inputs: norms.append(inputs[0].flatten(1).norm(dim=1)))
    try:
        with eval_mode(model), torch.no_grad():
            for x, _ in batches:
                model(x.to(model_device(model)))
    finally:
        handle.remove()
    return float(torch.cat(norms).mean())


def make_batches(X: torch.Tensor, y: torch.Tensor, batch_size: int = 256) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """A fixed list of (inputs, targets) batches (the evaluation set of losses and Hessians)."""
    check_int("batch_size", batch_size)
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
                "fb_input_norm": fb_input_norm(self.star, fb_layers, batches),
            }

    def summary(self) -> dict:
        """lambda_max (with its method, tolerance, HVP count and residual), the loss and gradient
        norm at w*, and the constants of the alternative bound, per condition."""
        out = {"n_fb_parameters": int(self.w_star_b.numel()), "fa_weight_norms": self.fa_norms,
               "prod_fa_weight_norms": self.prod_fa_norms, "c_sigma": self.c_sigma}
        for name, ref in self.reference.items():
            out[name] = {**ref["eigen"].as_dict(), "eig_seconds": ref["eig_seconds"], "loss_star": ref["loss"],
                         "grad_norm_star": float(ref["gradient"].norm()), "c_x": ref["c_x"],
                         "fb_input_norm": ref["fb_input_norm"]}
        return out

    def evaluate(self, model_tilde: nn.Module, inputs: dict | None = None) -> dict:
        """Excess loss (and d = -excess), the Taylor terms and both bounds for F~ = ``model_tilde``, and the
        weight distance before and after aligning f~_b's hidden units with f*_b's (``delta_fb_norm_aligned``,
        :mod:`semirobust.experiments.theory.weight_alignment`; None for a residual network).

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
        out = {"delta_fb_norm": math.sqrt(sq), "delta_fa_norm": delta_a,
               "delta_fb_norm_aligned": aligned_distance(model_tilde, self.star, self.fb_layers, part_vector)}
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
                f"eq14_bound_{name}": math.sqrt(sq) * ref["fb_input_norm"],
            })
            excess = out[f"excess_loss_{name}"]
            for ratio, bound_key in (("bound_ratio", "eig_bound"), ("frobenius_ratio", "norm_bound"),
                                     ("eq14_ratio", "eq14_bound")):
                out[f"{ratio}_{name}"] = out[f"{bound_key}_{name}"] / excess if excess > 0 else None
            diff = out[f"output_diff_{name}"]
            out[f"eq14_output_ratio_{name}"] = out[f"eq14_bound_{name}"] / diff if diff > 0 else None
        return out

    def taylor_regime(self, radii: Sequence[float] = (1e-1, 1e-2, 1e-3), direction: str = "top_eigenvector",
                      condition: str = "clean", seed: int = 0) -> list[dict]:
        """F~ = (f*_a, f*_b + r ||w*_b|| v) for each relative radius r: inside the Taylor regime.

        ``direction``: ``"top_eigenvector"`` (v the unit eigenvector of lambda_max(H_bb), where the
        second-order bound is tight) or ``"random"`` (seeded Gaussian unit v). Losses use the
        condition's fixed batches (for ``adv`` the examples crafted against F*, i.e. the loss at fixed
        x_adv whose Hessian is H, not the robust loss). Per radius: the evaluation keys of
        :meth:`evaluate` for the condition, ``taylor_ratio`` = (g.dw + 1/2 dw^T H dw) / excess and
        ``bound_ratio_gradfree`` = 1/2 lambda_max ||dw||^2 / (excess - g.dw), the bound against the
        loss gap without the first-order term the paper assumes zero.
        """
        if condition not in self.reference:
            raise ValueError(f"Unknown condition {condition!r}; known: {sorted(self.reference)}.")
        check_choice("direction", direction, ("top_eigenvector", "random"))
        if not radii or any(not isinstance(r, (int, float)) or isinstance(r, bool) or r <= 0 for r in radii):
            raise ValueError(f"radii={radii!r} must be positive numbers.")
        if direction == "top_eigenvector":
            v = self.reference[condition]["eigen"].vector.double()
        else:
            v = torch.randn(self.w_star_b.numel(), generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
        v = v / v.norm()
        scale = float(self.w_star_b.norm())
        rows = []
        for r in radii:
            tilde = copy.deepcopy(self.star)
            params = part_parameters(tilde, self.fb_layers, "fb")
            with torch.no_grad():
                for p, d in zip(params, unflatten(v * r * scale, params)):
                    p += d.to(p)
            got = self.evaluate(tilde)
            keep = {k[:-len(condition) - 1]: val for k, val in got.items() if k.endswith("_" + condition)}
            excess, first = keep["excess_loss"], keep["first_order"]
            keep.update({"radius": float(r), "direction": direction, "condition": condition,
                         "delta_fb_norm": got["delta_fb_norm"],
                         "taylor_ratio": (first + keep["second_order"]) / excess if excess != 0 else None,
                         "bound_ratio_gradfree": keep["eig_bound"] / (excess - first) if excess - first > 0 else None})
            rows.append(keep)
        return rows


#: relative sizes r of the Taylor-regime perturbations f*_b + r ||w*_b|| v, and their directions v.
TAYLOR_RADII = (1e-1, 1e-2, 1e-3)
TAYLOR_DIRECTIONS = ("top_eigenvector", "random")


def missing_frobenius_factors(model: nn.Module, fb_layers: int) -> dict:
    """Factors the Frobenius "peeling" bound leaves out, measured on ``model`` (each an upper-bound factor).

    ``bn_scale_fa``: product over f_a's BatchNorms of max |gamma / sqrt(running_var + eps)|;
    ``conv_operator_fa``: product over f_a's convolutions of ceil(k_h/s_h) ceil(k_w/s_w))^(1/2), the factor by
    which a convolution's operator norm can exceed its kernel's Frobenius norm (each input pixel enters
    that many output positions); ``fb_lipschitz``: product over f_b's layers of ||W||_F times that
    conv factor and its BatchNorm scales, an upper bound of f_b's Lipschitz constant (ReLU 1-Lipschitz;
    pooling and residual additions not counted). The bound as written also assumes no biases.
    """
    layers = trainable_layers(model)
    split = len(layers) - fb_layers
    fa_names, _ = fa_fb_module_names(model, fb_layers)
    fa_set = set(fa_names)

    def conv_factor(m):
        if not isinstance(m, nn.Conv2d):
            return 1.0
        kh, kw = m.kernel_size
        sh, sw = m.stride
        return math.sqrt(math.ceil(kh / sh) * math.ceil(kw / sw))

    def bn_scale(m):
        return float((m.weight.detach().abs() / torch.sqrt(m.running_var + m.eps)).max())

    bns = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    bn_fa = [bn_scale(m) for name, m in bns if name in fa_set]
    bn_fb = [bn_scale(m) for name, m in bns if name not in fa_set]
    conv_fa = [conv_factor(m) for _, m in layers[:split]]
    fb_lip = [float(m.weight.detach().norm()) * conv_factor(m) for _, m in layers[split:]]
    return {"bn_scale_fa": float(np.prod(bn_fa)) if bn_fa else 1.0, "n_bn_fa": len(bn_fa),
            "conv_operator_fa": float(np.prod(conv_fa)), "fb_lipschitz": float(np.prod(fb_lip) * np.prod(bn_fb or [1.0])),
            "fa_has_biases": any(m.bias is not None for _, m in layers[:split])}


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


@dataclasses.dataclass
class WeightBoundSettings:
    """Validated arguments of :func:`run_weight_bound` (defaults filled from the profile)."""

    arch: str
    dataset: str
    profile: str | Profile  # a profile's name, or a custom Profile (then all its fields name the record)
    attack: str
    eps: float
    fb_layers: int
    epochs: int
    n_eval: int | None
    method: str
    tol: float
    seed: int

    def as_config(self) -> dict:
        return {**dataclasses.asdict(self), "version": WEIGHT_BOUND_VERSION}


def weight_bound_settings(arch="vgg16", dataset="digits", *, profile="smoke", attack="pgd", eps=None,
                          fb_layers=None, epochs=None, n_eval=None, method="lanczos", tol=1e-3, seed=0,
                          device="auto") -> WeightBoundSettings:
    """Check every argument of :func:`run_weight_bound` and fill the defaults (raises ValueError).

    ``profile`` is a profile's name or a :class:`~semirobust.config.Profile` (e.g. a smaller one built
    with ``dataclasses.replace``)."""
    check_choice("model", arch, ARCHS)
    check_choice("dataset", dataset, DATASETS)
    prof = resolve_profile(profile, device).for_run(arch, dataset)
    check_choice("attack", attack, ATTACKS)
    eps = prof.eps255 / 255 if eps is None else eps
    check_eps(eps)
    fb_layers = PAPER_FB_LAYERS[arch] if fb_layers is None else fb_layers
    check_fb_layers(arch, fb_layers)
    if fb_layers == LAYER_COUNTS[arch]:
        raise ValueError(f"fb_layers={fb_layers} leaves f_a empty; Section 2.2 needs a non-empty f*_a.")
    check_int("epochs", epochs, allow_none=True)
    check_int("n_eval", n_eval, low=2, allow_none=True)
    check_choice("eigenvalue method", method, METHODS)
    if not isinstance(tol, (int, float)) or not 0 < tol < 1:
        raise ValueError(f"tol={tol!r} must be in (0, 1).")
    check_int("seed", seed, low=0)
    check_device(device)
    return WeightBoundSettings(arch=arch, dataset=dataset, profile=profile if isinstance(profile, Profile) else prof.name,
                               attack=attack, eps=float(eps),
                               fb_layers=fb_layers, epochs=epochs if epochs is not None else prof.sub_epochs,
                               n_eval=n_eval if n_eval is not None else (prof.hessian_images or prof.eval_subset), method=method,
                               tol=float(tol), seed=seed)


def run_weight_bound(settings: WeightBoundSettings, *, device="auto", data_root=None, cache_dir=None,
                     results_dir=None, progress: bool = True, rerun: bool = False) -> dict:
    """Section 2.2 along subnetwork fine-tuning of f_b; writes and returns the ``weight_bound`` record.

    Starting point (epoch 0): (f*_a, f_b) with f_b from the regularly trained network. Then
    ``train(mode="adversarial", fb_layers=...)`` (PGD with the profile's ``train_attack_steps``, f*_a
    frozen) evaluates every epoch via
    ``eval_fn``. The fine-tuning run is checkpointed under the cache folder, so a rerun with the
    same settings reuses the finished epochs (and their evaluations) instead of retraining; a record
    of the same settings on the same networks is returned as it is unless ``rerun``.
    """
    s, dev, t0, profile = start_run(settings, WeightBoundSettings, "weight_bound_settings", device)
    check_output_dir(ResultsStore(results_dir).root, "results_dir")
    check_output_dir(cache_dir if cache_dir is not None else default_cache_dir(), "cache_dir")
    common = dict(profile=profile, seed=s.seed, data_root=data_root, device=dev, cache_dir=cache_dir, progress=progress)
    regular, regular_info = get_trained_model(s.arch, s.dataset, mode=TrainingMode.STANDARD, **common)
    robust, robust_info = get_trained_model(s.arch, s.dataset, mode=TrainingMode.ADVERSARIAL, train_eps=s.eps, **common)
    stored = ResultsStore(results_dir).read(RecordKind.WEIGHT_BOUND, s.as_config())
    if not rerun and stored is not None and (stored["extra"].get("regular_model"), stored["extra"].get("robust_model")) \
            == (regular_info["config_hash"], robust_info["config_hash"]):
        return stored  # same settings on the same networks: nothing to recompute
    test = load_dataset(s.dataset, "test", root=data_root, subset=s.n_eval, seed=s.seed)
    X, y = dataset_tensors(test)

    def attacked(model):
        return attack_tensors(model, X, y, s.attack, eps=s.eps, progress=False)

    bound = WeightBound(robust, s.fb_layers, {"clean": make_batches(X, y), "adv": make_batches(attacked(robust), y)},
                        method=s.method, tol=s.tol, seed=s.seed)

    def point(model, epoch):
        return {"epoch": epoch, **bound.evaluate(model, {"adv": make_batches(attacked(model), y)})}

    start = combine_fa_fb(robust, regular, s.fb_layers).to(dev).eval()
    rows = [point(start, 0)]
    key = {**s.as_config(), "regular": regular_info["config_hash"], "robust": robust_info["config_hash"]}
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    train_set = load_dataset(s.dataset, "train", root=data_root, subset=profile.train_subset, seed=s.seed)
    result = train(start, train_set, profile=profile, mode=TrainingMode.ADVERSARIAL, fb_layers=s.fb_layers,
                   epochs=s.epochs, device=dev, seed=s.seed, checkpoint_dir=root / "weight_bound" / config_hash(key),
                   eval_fn=point, progress=progress, train_eps=s.eps)
    rows += [dict(h) for h in result.history]
    taylor = [row for condition in ("clean", "adv") for direction in TAYLOR_DIRECTIONS
              for row in bound.taylor_regime(TAYLOR_RADII, direction=direction, condition=condition, seed=s.seed)]
    metrics = {"trajectory": rows, "reference": bound.summary(), "checks": bound_checks(rows, ("clean", "adv")),
               "taylor_regime": taylor, "missing_factors": missing_frobenius_factors(robust, s.fb_layers)}
    wall = time.perf_counter() - t0
    return ResultsStore(results_dir).write(
        RecordKind.WEIGHT_BOUND, s.as_config(), metrics, profile=profile.name, seed=s.seed, device=dev,
        wall_time_s=wall,
        extra={"regular_model": regular_info["config_hash"], "robust_model": robust_info["config_hash"]})
