"""Theorem 3 / Lemma 2 on an exactly linear network, and the run behind the theorem3 notebook.

**Exactly linear network** (Lemma 2, Theorem 3). f^(1..a) are the (reduced, standardized) outputs of
the first ``a`` trainable layers of a trained network; every later layer is an exact linear
combination ``f^(j) = sum_{i<j} Lambda_ij^T f^(i)`` (:class:`LinearlyConnectedNetwork`), the last
one a scalar read-out of a binary label y in {-1, +1}. Semirobustness
``gamma_j = E inf_delta y * G_j(F^(j)(X + delta))`` is estimated with a PGD minimiser
(:func:`estimate_infima`): random start, ``steps`` signed-gradient steps of size
``2.5 eps / steps``, ``restarts`` restarts plus the clean point, the smallest value per sample
kept. PGD finds *an* adversarial delta, so every estimate is an upper bound of the true infimum.

:func:`run_theorem3` runs Algorithm S1 / Table S1 (:mod:`semirobust.experiments.algorithm_s1`) and
Lemma 2 / Theorem 3 on exactly linear networks (:func:`semirobustness_check`) for an adversarially
trained network; record kind ``"theorem3"``. It takes the network from
:func:`semirobust.training.get_trained_model`, validates every argument before any compute and
writes one record to the results store.
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from semirobust.config import (
    ARCHS,
    DATASETS,
    LAYER_COUNTS,
    PAPER_FB_LAYERS,
    check_choice,
    check_eps,
    check_int,
)
from semirobust.experiments._common import (
    THEOREM3_VERSION,
    _check_device,
    _resolve_profile,
    cached_attack_tensors,
    start_run,
)
from semirobust.experiments.algorithm_s1 import (
    CONSTRUCTIONS,
    REDUCTIONS,
    S1_ATTACKS,
    LayerFeatures,
    default_fa_sizes,
    fit_linear_combination,
    record_features,
    table_s1,
    with_reported_table_s1,
)
from semirobust.models import trainable_layers
from semirobust.utils import eval_mode, model_device

# ---------------------------------------------------------------- exactly linear network


def binary_labels(labels, num_classes: int) -> np.ndarray:
    """y = -1 for the first half of the classes (e.g. digits 0-4), +1 for the rest."""
    labels = np.asarray(labels)
    return np.where(labels < num_classes // 2, -1.0, 1.0)


class LinearlyConnectedNetwork(nn.Module):
    """f^(1..a): standardized features of a trained network's first ``a`` layers; f^(a+1..n):
    exact linear combinations ``f^(j) = sum_{i<j} Lambda_ij^T f^(i)``; f^(n) is a scalar.

    ``forward(x)`` returns all n layer outputs; ``tail(base)`` does the linear part from given
    f^(1..a) features. ``lambdas[j - a - 1]`` is the (sum_{i<j} L_i, L_j) matrix of layer j, the
    Lambda_ij stacked over i.
    """

    def __init__(self, extractor: LayerFeatures, a: int, mean: Sequence[np.ndarray], scale: Sequence[np.ndarray],
                 lambdas: Sequence[np.ndarray]):
        super().__init__()
        if extractor.n_layers < a:
            raise ValueError(f"the feature extractor covers {extractor.n_layers} layers, fewer than a={a}.")
        self.extractor, self.a = extractor, a
        self.mean = [torch.as_tensor(m, dtype=torch.float32) for m in mean]
        self.scale = [torch.as_tensor(s, dtype=torch.float32) for s in scale]
        self.lambdas = [torch.as_tensor(lam, dtype=torch.float32) for lam in lambdas]
        self.sizes = [len(m) for m in mean] + [lam.shape[1] for lam in self.lambdas]
        self.n = a + len(self.lambdas)

    def base(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats, _ = self.extractor(x, need_output=False, upto=self.a)
        return [(f - m.to(f)) / s.to(f) for f, m, s in zip(feats, self.mean, self.scale)]

    def tail(self, base: list[torch.Tensor]) -> list[torch.Tensor]:
        layers = list(base)
        for lam in self.lambdas:
            layers.append(torch.cat(layers, dim=1) @ lam.to(layers[0]))
        return layers

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.tail(self.base(x))

    def lambda_in(self, i: int) -> torch.Tensor:
        """Lambda_{i n}: the block of the last layer's matrix acting on f^(i) (1-based i < n)."""
        start = sum(self.sizes[:i - 1])
        return self.lambdas[-1][start:start + self.sizes[i - 1]]


def build_linear_network(extractor: LayerFeatures, X_fit: torch.Tensor, y_fit, a: int, n: int, *,
                         construction: str = "fitted", alpha="cv", seed: int = 0) -> LinearlyConnectedNetwork:
    """An n-layer network whose layers a+1..n are exact linear combinations of earlier layers.

    ``construction="fitted"``: each f^(j), a < j < n, is the least-squares linear combination of
    f^(1..j-1) that best reproduces the trained network's own (reduced, standardized) layer j on
    the fit images, i.e. the trained f_b linearized layer by layer; ``"random"``: Lambda_ij are
    seeded Gaussian with variance 1 / (sum_{i<j} L_i), every linear layer as wide as f^(a). In both, f^(n) is the least-squares
    read-out of y in {-1, +1} from all of f^(1..n-1) (no intercept: the features are centered).
    """
    if construction not in CONSTRUCTIONS:
        raise ValueError(f"Unknown construction {construction!r}; choose one of {CONSTRUCTIONS}.")
    if not (isinstance(a, int) and isinstance(n, int) and 1 <= a < n):
        raise ValueError(f"need integers 1 <= a < n, got a={a!r}, n={n!r}.")
    if extractor.n_layers < (n - 1 if construction == "fitted" else a):
        raise ValueError(f"the feature extractor covers {extractor.n_layers} layers; the {construction!r} "
                         f"construction needs {n - 1 if construction == 'fitted' else a}.")
    depth = n - 1 if construction == "fitted" else a
    base, standardized = standardized_base(extractor, X_fit, depth)
    layers = standardized[:a]
    rng = np.random.default_rng(seed)
    lambdas = []
    for j in range(a + 1, n):
        if construction == "fitted":
            lam = fit_linear_combination(layers, standardized[j - 1], alpha=alpha, fit_intercept=False).coef
        else:
            width = standardized[a - 1].shape[1]
            fan_in = sum(f.shape[1] for f in layers)
            lam = rng.standard_normal((fan_in, width)) / np.sqrt(fan_in)
        lambdas.append(lam)
        layers.append(np.concatenate(layers, axis=1) @ lam)
    readout = fit_linear_combination(layers, np.asarray(y_fit, dtype=np.float64), alpha=alpha, fit_intercept=False)
    lambdas.append(readout.coef)
    return LinearlyConnectedNetwork(extractor, a, base.mean[:a], base.scale[:a], lambdas)


def standardized_base(extractor: LayerFeatures, X_fit: torch.Tensor, a: int):
    """f^(1..a) standardized with the fit images' mean and std: the network (no linear layers yet)
    and the standardized fit features (float64 arrays)."""
    feats, _ = record_features(extractor, X_fit)
    feats = feats[:a]
    mean = [f.mean(axis=0) for f in feats]
    scale = [np.where(f.std(axis=0) > 0, f.std(axis=0), 1.0) for f in feats]
    net = LinearlyConnectedNetwork(extractor, a, mean, scale, [])
    return net, [(f - m) / s for f, m, s in zip(feats, mean, scale)]


def fit_readouts(layers: Sequence[np.ndarray], y, alpha="cv") -> list[np.ndarray]:
    """G_j per layer: the least-squares read-out of y in {-1, +1} from f^(j) alone (no intercept)."""
    return [fit_linear_combination([f], y, alpha=alpha, fit_intercept=False).coef[:, 0] for f in layers]


def _check_pgd(eps, steps, restarts) -> None:
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0 <= eps <= 1:
        raise ValueError(f"eps={eps!r} must be a number in [0, 1] (pixel scale, e.g. 8/255).")
    for name, value in (("steps", steps), ("restarts", restarts)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name}={value!r} must be a non-negative integer.")


def estimate_infima(objective_fn, X: torch.Tensor, y, eps: float, *, steps: int = 20, restarts: int = 1,
                    step_size: float | None = None, seed: int = 0, max_batch: int = 2048) -> np.ndarray:
    """Per-sample estimates of ``inf_{||delta||_inf <= eps, X+delta in [0,1]} y * objective_k(X + delta)``.

    ``objective_fn(x) -> (batch, K)`` evaluates K scalar functions; each (k, sample) pair gets its
    own delta. PGD minimiser: the clean point, then ``restarts`` runs from a uniform random start
    with ``steps`` steps of ``-step_size * sign(grad)`` (default step ``2.5 eps / steps``),
    projected on the eps-ball and the pixel range; the smallest value seen is kept. Returns a
    (K, samples) array; each entry upper-bounds the true infimum.
    """
    _check_pgd(eps, steps, restarts)
    device = X.device
    yt = torch.as_tensor(np.asarray(y), dtype=torch.float32, device=device)
    with torch.no_grad():
        n_obj = objective_fn(X[:1]).shape[1]
    n = X.shape[0]
    alpha = step_size if step_size is not None else 2.5 * eps / max(steps, 1)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    best = torch.empty(n_obj * n, device=device)
    per_chunk = max(1, max_batch // n)
    for k0 in range(0, n_obj, per_chunk):
        ks = torch.arange(k0, min(n_obj, k0 + per_chunk), device=device)
        xs = X.repeat(len(ks), *([1] * (X.dim() - 1)))
        cols = ks.repeat_interleave(n)
        signs = yt.repeat(len(ks))

        def value(x):
            return objective_fn(x).gather(1, cols[:, None])[:, 0] * signs

        with torch.no_grad():
            chunk_best = value(xs)
        for _ in range(restarts):
            delta = (torch.rand(xs.shape, generator=gen) * 2 - 1).to(device) * eps
            delta = (xs + delta).clamp(0, 1) - xs
            for _ in range(steps):
                delta.requires_grad_(True)
                val = value(xs + delta)
                grad, = torch.autograd.grad(val.sum(), delta)
                with torch.no_grad():
                    chunk_best = torch.minimum(chunk_best, val.detach())
                    delta = (delta - alpha * grad.sign()).clamp(-eps, eps)
                    delta = (xs + delta).clamp(0, 1) - xs
            with torch.no_grad():
                chunk_best = torch.minimum(chunk_best, value(xs + delta))
        best[k0 * n:(k0 + len(ks)) * n] = chunk_best
    return best.reshape(n_obj, n).cpu().numpy()


def readout_scale(objective_fn, X_fit: torch.Tensor) -> np.ndarray:
    """Per objective, the largest |value| on the fit images: dividing by it (and clipping to [-1, 1])
    turns an unnormalised linear read-out into a map into the label range [-1, 1]."""
    with torch.no_grad():
        values = objective_fn(X_fit).abs().amax(dim=0).double().cpu().numpy()
    return np.where(values > 0, values, 1.0)


def gamma_readings(inf: np.ndarray, clean: np.ndarray, scale: np.ndarray) -> dict:
    """Three readings of gamma = E inf y G(.) from per-sample infima ``inf`` of the raw read-outs (K, samples).

    ``raw``: the unnormalised read-out (its scale is arbitrary). ``normalized``: G/scale clipped to
    [-1, 1], a map into the label range; clipping is monotone and odd, so the infimum of the clipped
    value is the clipped infimum. ``sign``: G = sign(read-out), so y G = +1 or -1 and gamma =
    2 Acc - 1 of the binary read-out under the attack. ``*_clean``: the same without attack.
    """
    scale = np.asarray(scale, dtype=np.float64)[:, None]
    out = {}
    for suffix, values in (("", inf), ("_clean", clean)):
        out["raw" + suffix] = values.mean(axis=1)
        out["normalized" + suffix] = np.clip(values / scale, -1.0, 1.0).mean(axis=1)
        out["sign" + suffix] = np.sign(values).mean(axis=1)
    return out


def layer_objectives(extractor: LayerFeatures, X_fit: torch.Tensor, y_fit, n_layers: int, alpha="cv"):
    """x -> (batch, n_layers): G_j f^(j)(x) for j = 1..n_layers, G_j the least-squares read-out of y
    from the standardized layer j alone (fitted on ``X_fit``)."""
    base, fit_feats = standardized_base(extractor, X_fit, n_layers)
    device = model_device(extractor.model)
    readouts = [torch.as_tensor(g, dtype=torch.float32, device=device) for g in fit_readouts(fit_feats, y_fit, alpha)]
    return lambda x: torch.stack([f @ g for f, g in zip(base.base(x), readouts)], dim=1)


def theorem3_bound(n_layers: int, fa_layers: int) -> dict:
    """Theorem 3's factor (n-1-a)(n-a)/2 and the largest gamma_a for which gamma_b = gamma_a * factor can
    hold when G maps into the labels (|y G| <= 1, so |gamma_b| <= 1): gamma_a <= 1 / factor =
    2 / ((n-1-a)(n-a)). At a = n-1 the factor is 0 and the formula (gamma_b = 0) always holds."""
    check_int("n_layers", n_layers, low=2)
    check_int("fa_layers", fa_layers, low=1)
    if fa_layers >= n_layers:
        raise ValueError(f"fa_layers={fa_layers} must be smaller than n_layers={n_layers}.")
    factor = (n_layers - 1 - fa_layers) * (n_layers - fa_layers) / 2
    return {"n_layers": n_layers, "fa_layers": fa_layers, "fb_layers": n_layers - fa_layers, "factor": factor,
            "gamma_a_max_possible": 1.0 / factor if factor > 0 else None, "trivial": factor == 0}


def paper_splits() -> tuple:
    """(network, trainable layers, f_b sizes) the paper uses: Table 1, Figure 2 (ResNet50), Table S1 (ResNet-18)."""
    from semirobust.experiments.table1 import FIGURE2_FB_SIZES

    return (("alexnet (Table 1)", LAYER_COUNTS["alexnet"], (PAPER_FB_LAYERS["alexnet"],)),
            ("vgg16 (Table 1)", LAYER_COUNTS["vgg16"], (PAPER_FB_LAYERS["vgg16"],)),
            ("resnet50 (Table 1, Figure 2)", LAYER_COUNTS["resnet50"],
             tuple(sorted({PAPER_FB_LAYERS["resnet50"], *FIGURE2_FB_SIZES}))),
            ("resnet18 (Table S1)", 18, (1, 5, 9)))


def paper_theorem3_bounds() -> pd.DataFrame:
    """:func:`theorem3_bound` for every (network, a) the paper uses."""
    rows = []
    for network, n, fb_sizes in paper_splits():
        for fb in fb_sizes:
            rows.append({"network": network, **theorem3_bound(n, n - fb)})
    return pd.DataFrame(rows)


def semirobustness_check(model: nn.Module, X_fit: torch.Tensor, y_fit, X_eval: torch.Tensor, y_eval, *,
                         fa_sizes: Sequence[int], eps: float, construction: str = "fitted", reduction: str = "gap",
                         steps: int = 10, restarts: int = 1, alpha="cv", seed: int = 0) -> dict:
    """Layer semirobustness, Lemma 2 and Theorem 3 on exactly linear networks built on ``model``.

    n is the model's number of trainable layers. Read-outs and linear layers are fitted on
    ``(X_fit, y_fit)``; every gamma is estimated on ``(X_eval, y_eval)`` (labels in {-1, +1}) with
    :func:`estimate_infima` at ``eps`` and read three ways (:func:`gamma_readings`: raw,
    normalised to the label range, sign). Returns a dict with

    * ``gamma_layers`` (normalised; ``gamma_layers_raw``, ``gamma_layers_sign``, ``*_clean``):
      gamma_j of the trained network's layers j = 1..n-1, G_j the read-out of y from f^(j);
    * ``lemma2`` (a = n-1, f^(n) the read-out of y from f^(1..n-1)): ``gamma_n`` against
      ``lemma2_sum_gamma_layers`` = sum_i gamma_i, the layers' own constants (what Lemma 2
      asserts: gamma_n >= sum gamma_i), in each reading; and the proof's first step, gamma_n (raw)
      against sum_i E inf y Lambda_in^T f^(i) (``first_step_*``), which holds for any network
      because the infimum of a sum is at least the sum of the infima;
    * ``theorem3``: per a in ``fa_sizes``, a :class:`LinearlyConnectedNetwork` with layers a+1..n
      linear (``construction``): ``gamma_a`` (layer a), ``gamma_b`` (f^(n)), both normalised, the
      sign and raw readings, :func:`theorem3_bound`'s ``factor`` and ``gamma_a_max_possible``.
    """
    n = len(trainable_layers(model))
    fa_sizes = list(fa_sizes)
    if not fa_sizes or any(isinstance(a, bool) or not isinstance(a, int) or not 1 <= a < n for a in fa_sizes):
        raise ValueError(f"fa_sizes={fa_sizes!r}: every f_a size must be in 1..{n - 1}.")
    if construction not in CONSTRUCTIONS:
        raise ValueError(f"Unknown construction {construction!r}; choose one of {CONSTRUCTIONS}.")
    _check_pgd(eps, steps, restarts)
    eps = float(eps)
    y_fit, y_eval = np.asarray(y_fit, dtype=np.float64), np.asarray(y_eval, dtype=np.float64)
    if set(np.unique(np.concatenate([y_fit, y_eval]))) - {-1.0, 1.0}:
        raise ValueError("binary labels must be -1 or +1 (see binary_labels).")
    device = model_device(model)
    flags = [(p, p.requires_grad) for p in model.parameters()]
    X_eval, X_fit_d = X_eval.to(device), X_fit.to(device)

    def measure(objective_fn, offset):
        inf = estimate_infima(objective_fn, X_eval, y_eval, eps=eps, steps=steps, restarts=restarts,
                              seed=seed + offset)
        with torch.no_grad():
            clean = objective_fn(X_eval).double().cpu().numpy().T * y_eval[None, :]
        return gamma_readings(inf, clean, readout_scale(objective_fn, X_fit_d))

    with eval_mode(model):
        try:
            for p, _ in flags:
                p.requires_grad_(False)  # only input gradients are needed
            extractor = LayerFeatures(model, n - 1, reduction=reduction, seed=seed)
            layers = measure(layer_objectives(extractor, X_fit, y_fit, n - 1, alpha), 0)

            lemma_net = build_linear_network(extractor, X_fit, y_fit, n - 1, n, construction=construction, alpha=alpha)
            lam_in = [lemma_net.lambda_in(i)[:, 0].to(device) for i in range(1, n)]

            def lemma_objectives(x):
                out = lemma_net(x)
                return torch.stack([out[-1][:, 0]] + [out[i] @ lam for i, lam in enumerate(lam_in)], dim=1)

            lemma = measure(lemma_objectives, 1)
            result = {
                "n_layers": n, "construction": construction, "reduction": reduction, "eps": eps, "steps": steps,
                "restarts": restarts, "n_fit": int(len(y_fit)), "n_eval": int(len(y_eval)),
                "gamma_layers": layers["normalized"].tolist(), "gamma_layers_clean": layers["normalized_clean"].tolist(),
                "gamma_layers_raw": layers["raw"].tolist(), "gamma_layers_raw_clean": layers["raw_clean"].tolist(),
                "gamma_layers_sign": layers["sign"].tolist(), "gamma_layers_sign_clean": layers["sign_clean"].tolist(),
                "lemma2": {
                    **{f"gamma_n{key}": float(lemma[reading][0]) for reading, key in
                       (("normalized", ""), ("raw", "_raw"), ("sign", "_sign"), ("normalized_clean", "_clean"),
                        ("raw_clean", "_raw_clean"))},
                    "lemma2_sum_gamma_layers": float(layers["normalized"].sum()),
                    "lemma2_sum_gamma_layers_raw": float(layers["raw"].sum()),
                    "lemma2_sum_gamma_layers_sign": float(layers["sign"].sum()),
                    "first_step_terms": lemma["raw"][1:].tolist(),
                    "first_step_terms_clean": lemma["raw_clean"][1:].tolist(),
                    "first_step_sum": float(lemma["raw"][1:].sum()),
                },
                "theorem3": [],
            }
            for a in sorted(set(fa_sizes), reverse=True):
                if a == n - 1:
                    fb = {key: values[:1] for key, values in lemma.items()}
                else:
                    net = build_linear_network(extractor, X_fit, y_fit, a, n, construction=construction, alpha=alpha,
                                               seed=seed)
                    with torch.no_grad():
                        fit_layers = [t.double().cpu().numpy() for t in net(X_fit_d)]
                    fb_readouts = [torch.as_tensor(g, dtype=torch.float32, device=device)
                                   for g in fit_readouts(fit_layers[a:n - 1], y_fit, alpha)]

                    def fb_objectives(x, net=net, fb_readouts=fb_readouts, a=a):
                        out = net(x)
                        cols = [out[j] @ g for j, g in zip(range(a, n - 1), fb_readouts)]  # G_j f^(j), a < j < n
                        return torch.stack(cols + [out[-1][:, 0]], dim=1)  # ..., f^(n)

                    fb = measure(fb_objectives, 2 + a)
                bound = theorem3_bound(n, a)
                entry = {**bound, "gamma_fb_layers": fb["normalized"].tolist(),
                         "gamma_fb_layers_clean": fb["normalized_clean"].tolist()}
                for reading, key in (("normalized", ""), ("sign", "_sign"), ("raw", "_raw")):
                    entry[f"gamma_a{key}"] = float(layers[reading][a - 1])
                    entry[f"gamma_b{key}"] = float(fb[reading][-1])
                    entry[f"predicted{key}"] = entry[f"gamma_a{key}"] * bound["factor"]
                entry["gamma_a_sum"] = float(layers["normalized"][:a].sum())
                result["theorem3"].append(entry)
            return result
        finally:
            for p, flag in flags:
                p.requires_grad_(flag)


# ---------------------------------------------------------------- Theorem 3


@dataclasses.dataclass
class Theorem3Settings:
    """Validated arguments of :func:`run_theorem3` (defaults filled from the profile)."""

    arch: str
    dataset: str
    profile: str
    eps: float
    attacks: tuple
    fa_sizes: tuple
    reduction: str
    n_images: int | None
    autoattack_images: int | None
    construction: str
    gamma_images: int
    gamma_steps: int
    gamma_restarts: int
    apgd_steps: int
    seed: int

    def as_config(self) -> dict:
        return {**dataclasses.asdict(self), "version": THEOREM3_VERSION}


def default_theorem3_fa_sizes(arch: str) -> tuple:
    """Table S1's f_b sizes 1, 5, 9 (a = n-1 is Theorem 3's trivial case) and the paper's Table 1 split."""
    n = LAYER_COUNTS[arch]
    return tuple(sorted(set(default_fa_sizes(n)) | {n - PAPER_FB_LAYERS[arch]}, reverse=True))


def theorem3_settings(arch="vgg16", dataset="digits", *, profile="smoke", eps=None, attacks=None,
                      fb_sizes=None, reduction="gap", n_images=None, autoattack_images=None,
                      construction="fitted", gamma_images=None, gamma_steps=None, gamma_restarts=None,
                      apgd_steps=None, seed=0, device="auto") -> Theorem3Settings:
    """Check every argument of :func:`run_theorem3` and fill the defaults (raises ValueError).

    ``fb_sizes`` counts the split from the back, as everywhere else in the project (f_b = the last k
    trainable layers); the settings hold the paper's a = n - k as ``fa_sizes`` (Theorem 3 and Table S1
    are stated in a)."""
    check_choice("model", arch, ARCHS)
    check_choice("dataset", dataset, DATASETS)
    prof = _resolve_profile(profile, device)
    eps = prof.eps255 / 255 if eps is None else eps
    check_eps(eps)
    if attacks is None:
        attacks = prof.s1_attacks if prof.s1_attacks is not None else S1_ATTACKS
    attacks = tuple(attacks) if isinstance(attacks, (list, tuple)) else (attacks,)
    for name in attacks:
        check_choice("Table S1 attack", name, S1_ATTACKS)
    if not attacks:
        raise ValueError(f"attacks is empty; choose from {S1_ATTACKS}.")
    n = LAYER_COUNTS[arch]
    if fb_sizes is None:
        fa_sizes = tuple(default_theorem3_fa_sizes(arch))
    else:
        fb_sizes = tuple(fb_sizes) if isinstance(fb_sizes, (list, tuple)) else (fb_sizes,)
        if not fb_sizes or any(isinstance(k, bool) or not isinstance(k, int) or not 1 <= k < n for k in fb_sizes):
            raise ValueError(f"fb_sizes={list(fb_sizes)!r}: every f_b size must be an integer in 1..{n - 1} "
                             f"({arch} has {n} trainable layers and f*_a needs at least one).")
        fa_sizes = tuple(sorted({n - k for k in fb_sizes}, reverse=True))
    check_choice("feature reduction", reduction, REDUCTIONS)
    check_choice("construction", construction, CONSTRUCTIONS)
    for name, value, low in (("n_images", n_images, 20), ("autoattack_images", autoattack_images, 20),
                             ("gamma_images", gamma_images, 4), ("gamma_steps", gamma_steps, 1),
                             ("apgd_steps", apgd_steps, 1)):
        check_int(name, value, low=low, allow_none=True)
    check_int("gamma_restarts", gamma_restarts, low=0, allow_none=True)
    check_int("seed", seed, low=0)
    _check_device(device)
    n_images = n_images if n_images is not None else prof.test_subset
    return Theorem3Settings(
        arch=arch, dataset=dataset, profile=prof.name, eps=float(eps), attacks=attacks, fa_sizes=fa_sizes,
        reduction=reduction, n_images=n_images,
        autoattack_images=autoattack_images if autoattack_images is not None else prof.eval_subset,
        construction=construction,
        gamma_images=gamma_images if gamma_images is not None else prof.gamma_images,
        gamma_steps=gamma_steps if gamma_steps is not None else prof.gamma_steps,
        gamma_restarts=gamma_restarts if gamma_restarts is not None else prof.gamma_restarts,
        apgd_steps=apgd_steps if apgd_steps is not None else prof.s1_apgd_steps, seed=seed)


def run_theorem3(settings: Theorem3Settings, *, device="auto", data_root=None, cache_dir=None, results_dir=None,
                 progress: bool = True, rerun: bool = False) -> dict:
    """Table S1 and the Lemma 2 / Theorem 3 check for ``settings``; writes and returns the record.

    Everything is fitted on ``n_images`` training images (lambda of Algorithm S1, read-outs and
    linear layers of the exactly linear networks) and scored on ``n_images`` test images. A record
    of the same settings on the same trained network is returned as it is unless ``rerun``.
    """
    from semirobust.data import dataset_info, dataset_tensors, load_dataset
    from semirobust.results import ResultsStore
    from semirobust.training import get_trained_model
    from semirobust.utils import default_cache_dir, seed_everything

    s, dev, t0, profile = start_run(settings, Theorem3Settings, "theorem3_settings", device)
    model, info = get_trained_model(s.arch, s.dataset, mode="adversarial", profile=profile, seed=s.seed,
                                    data_root=data_root, device=dev, cache_dir=cache_dir, progress=progress,
                                    train_eps=s.eps)
    stored = ResultsStore(results_dir).read("theorem3", s.as_config())
    if not rerun and stored is not None and stored["extra"].get("robust_model") == info["config_hash"]:
        return stored  # same settings on the same network: nothing to recompute
    seed_everything(s.seed)
    X_train, y_train = dataset_tensors(load_dataset(s.dataset, "train", root=data_root, subset=s.n_images, seed=s.seed))
    X, y = dataset_tensors(load_dataset(s.dataset, "test", root=data_root, subset=s.n_images, seed=s.seed))
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()

    def attack_fn(name, Xn, yn):
        return cached_attack_tensors(model, info["config_hash"], Xn, yn, name, s.eps, root, progress=progress)

    rows = table_s1(model, X_train, y_train, X, y, eps=s.eps, attacks=s.attacks, fa_sizes=list(s.fa_sizes),
                    reduction=s.reduction, autoattack_images=s.autoattack_images, seed=s.seed, attack_fn=attack_fn,
                    apgd_steps=s.apgd_steps, progress=progress)
    classes = dataset_info(s.dataset).num_classes
    yb_train, yb = binary_labels(y_train.numpy(), classes), binary_labels(y.numpy(), classes)
    held = slice(0, s.gamma_images)
    check = semirobustness_check(model, X_train, yb_train, X[held], yb[held], fa_sizes=list(s.fa_sizes), eps=s.eps,
                                 construction=s.construction, reduction=s.reduction, steps=s.gamma_steps,
                                 restarts=s.gamma_restarts, seed=s.seed)
    metrics = {"table_s1": rows, "semirobustness": check, "checks": theorem3_checks(check),
               "paper_bounds": paper_theorem3_bounds().to_dict(orient="records")}
    wall = time.perf_counter() - t0
    return ResultsStore(results_dir).write(
        "theorem3", s.as_config(), metrics, profile=s.profile, seed=s.seed, device=dev, wall_time_s=wall,
        extra={"robust_model": info["config_hash"], "robust_model_from_cache": info["from_cache"]})


def theorem3_checks(check: dict) -> dict:
    """Verdicts from a :func:`semirobustness_check` result.

    Lemma 2: ``lemma2_holds*``: gamma_n >= sum_i gamma_i (layers' own read-outs), per reading;
    ``lemma2_sum_possible``: sum_i gamma_i <= 1, without which no G into the labels can satisfy it.
    ``lemma2_premise_met``: every layer's own gamma_i > 0 (Lemma 2 assumes every layer linearly connected;
    with some gamma_i <= 0 the sum is pulled down and "gamma_n >= sum" says nothing about the lemma).
    Theorem 3, per a: ``possible*``: gamma_a <= gamma_a_max_possible (always true at a = n-1);
    ``lower_bound_held*``: gamma_b >= gamma_a (n-1-a)(n-a)/2 with these particular read-outs;
    ``premise_met``: gamma_a > 0 (f*_a linearly connected at all) and a < n-1; without it "possible" and
    "held" hold for a reason unrelated to the theorem (a non-positive right-hand side).
    """
    lemma = check["lemma2"]
    nonpositive = int(sum(g <= 0 for g in check["gamma_layers"]))
    out = {"lemma2_premise_met": nonpositive == 0, "lemma2_layers_nonpositive": nonpositive,
           "lemma2_holds": bool(lemma["gamma_n"] >= lemma["lemma2_sum_gamma_layers"]),
           "lemma2_holds_sign": bool(lemma["gamma_n_sign"] >= lemma["lemma2_sum_gamma_layers_sign"]),
           "lemma2_holds_raw": bool(lemma["gamma_n_raw"] >= lemma["lemma2_sum_gamma_layers_raw"]),
           "lemma2_sum_possible": bool(lemma["lemma2_sum_gamma_layers"] <= 1.0),
           "first_step_gap": float(lemma["gamma_n_raw"] - lemma["first_step_sum"]),
           "theorem3": []}
    for e in check["theorem3"]:
        item = {"fa_layers": e["fa_layers"], "trivial": e["trivial"],
                "premise_met": bool(not e["trivial"] and e["gamma_a"] > 0)}
        for key in ("", "_sign"):
            item[f"possible{key}"] = bool(e["trivial"] or e[f"gamma_a{key}"] <= e["gamma_a_max_possible"])
            item[f"lower_bound_held{key}"] = bool(e[f"gamma_b{key}"] >= e[f"predicted{key}"])
        out["theorem3"].append(item)
    return out


def table_s1_frame(record: dict) -> pd.DataFrame:
    """Our Table S1 rows (transfer, adaptive and in-sample Acc~) with the supplementary's values beside them."""
    frame = with_reported_table_s1(record["metrics"]["table_s1"])
    columns = ["attack", "fa_layers", "fb_layers", "acc_star", "acc_tilde_transfer", "acc_tilde_adaptive",
               "acc_tilde_in_sample", "acc_rand", "agreement", "n_fit", "n_eval", "n_features", "ridge_alpha",
               "reported_fa_layers", "reported_acc_star", "reported_acc_tilde", "reported_acc_rand"]
    return frame[columns]


def theorem3_frame(record: dict) -> pd.DataFrame:
    """One row per f_a size: factor, the largest possible gamma_a, gamma_a and gamma_b (normalised and sign)."""
    check = record["metrics"]["semirobustness"]
    verdicts = {v["fa_layers"]: v for v in record["metrics"]["checks"]["theorem3"]}
    rows = []
    for e in check["theorem3"]:
        v = verdicts[e["fa_layers"]]
        rows.append({"a (f_a layers)": e["fa_layers"], "f_b layers": e["fb_layers"], "factor (n-1-a)(n-a)/2": e["factor"],
                     "gamma_a max possible": e["gamma_a_max_possible"], "gamma_a": e["gamma_a"],
                     "premise gamma_a > 0": v.get("premise_met", e["gamma_a"] > 0),
                     "formula possible": v["possible"], "gamma_b": e["gamma_b"], "gamma_a x factor": e["predicted"],
                     "gamma_b >= gamma_a x factor": v["lower_bound_held"], "gamma_a (sign)": e["gamma_a_sign"],
                     "gamma_b (sign)": e["gamma_b_sign"], "possible (sign)": v["possible_sign"],
                     "gamma_a (raw)": e["gamma_a_raw"], "gamma_b (raw)": e["gamma_b_raw"]})
    return pd.DataFrame(rows)


def _yes(flag: bool) -> str:
    return "yes" if flag else "NO"


def theorem3_statements(record: dict) -> list[str]:
    """Sentences on Lemma 2 and Theorem 3, each saying what was tested and what was not."""
    check, verdict = record["metrics"]["semirobustness"], record["metrics"]["checks"]
    lemma, n = check["lemma2"], check["n_layers"]
    attack = (f"PGD at eps = {check['eps'] * 255:.0f}/255 ({check['steps']} steps, {check['restarts']} restart(s), "
              f"{check['n_eval']} held-out images; PGD gives upper bounds of the infima)")
    lines = [
        f"Lemma 2 (a = n-1 = {n - 1}): gamma_n of the least-squares read-out of y from all earlier layers, normalised "
        f"to [-1, 1], is {lemma['gamma_n']:.3g}; the sum of the layers' own gamma_i (each layer's read-out, normalised) "
        f"is {lemma['lemma2_sum_gamma_layers']:.3g}. gamma_n >= sum gamma_i: {_yes(verdict['lemma2_holds'])} "
        f"(sign read-outs: {lemma['gamma_n_sign']:.3g} vs {lemma['lemma2_sum_gamma_layers_sign']:.3g}, "
        f"{_yes(verdict['lemma2_holds_sign'])}). With G into the labels gamma_n <= 1, so the lemma's constant is "
        f"attainable only if sum gamma_i <= 1: {_yes(verdict['lemma2_sum_possible'])}. "
        + (f"The lemma's premise fails here: {verdict['lemma2_layers_nonpositive']} of {n - 1} layers have "
           f"gamma_i <= 0 (not linearly connected with a positive margin under this attack), so both comparisons "
           f"pass or fail for a reason unrelated to the lemma and test nothing. "
           if not verdict.get("lemma2_premise_met", True) else
           "Every layer has gamma_i > 0, so the lemma's premise holds for these read-outs. ")
        + f"Tested: these read-outs, {attack}; not tested: other maps G, which Definition 1 allows.",
        f"The proof's first step, gamma_n >= sum_i E inf y Lambda_in^T f^(i) (raw: {lemma['gamma_n_raw']:.3g} vs "
        f"{lemma['first_step_sum']:.3g}), holds for every network because an infimum of a sum is at least the sum of "
        f"the infima; it is shown, not tested (a negative gap, here {verdict['first_step_gap']:.2g}, would only mean "
        f"PGD missed an infimum)."]
    for e, v in zip(check["theorem3"], verdict["theorem3"]):
        a = e["fa_layers"]
        if e["trivial"]:
            lines.append(f"Theorem 3, a = {a} = n-1: the factor (n-1-a)(n-a)/2 is 0, so the formula asks only "
                         f"gamma_b >= 0; this case is trivial and tests nothing about linear connectivity "
                         f"(measured gamma_b = {e['gamma_b']:.3g}"
                         + ("; below 0, so the last layer's read-out is not linearly connected at this eps either)."
                            if e["gamma_b"] < 0 else ")."))
            continue
        if not v.get("premise_met", e["gamma_a"] > 0):
            lines.append(f"Theorem 3, a = {a} ({e['fb_layers']} linear f_b layers, factor {e['factor']:g}): measured "
                         f"gamma_a = {e['gamma_a']:.3g} <= 0, so f*_a is not linearly connected with a positive margin "
                         f"and the theorem's premise fails; 'possible' and 'gamma_b >= gamma_a x factor' "
                         f"({e['gamma_b']:.3g} vs {e['predicted']:.3g}) then hold or fail for a reason unrelated to "
                         f"the theorem, and this row tests nothing.")
            continue
        lines.append(
            f"Theorem 3, a = {a} ({e['fb_layers']} linear f_b layers, factor {e['factor']:g}): with G into the labels "
            f"gamma_b <= 1, so gamma_b = gamma_a x {e['factor']:g} is impossible once gamma_a > "
            f"{e['gamma_a_max_possible']:.3g}. Measured gamma_a = {e['gamma_a']:.3g} (normalised read-out of layer {a}; "
            f"sign read-out {e['gamma_a_sign']:.3g}): possible {_yes(v['possible'])} (sign: {_yes(v['possible_sign'])}). "
            f"Measured gamma_b = {e['gamma_b']:.3g} against gamma_a x factor = {e['predicted']:.3g}: "
            f"gamma_b >= it {_yes(v['lower_bound_held'])} (sign: {e['gamma_b_sign']:.3g} vs {e['predicted_sign']:.3g}, "
            f"{_yes(v['lower_bound_held_sign'])}). Tested: these least-squares read-outs on an exactly linear f_b, "
            f"{attack}; not tested: the best G of Definition 1 (a shortfall here does not refute the theorem; "
            f"an impossible gamma_a does, for every G into the labels).")
    return lines


def plot_table_s1(record: dict):
    """Acc*, Acc~ (transfer, adaptive, in-sample) and Acc_rand per attack and f*_a size."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    frame = pd.DataFrame(record["metrics"]["table_s1"])
    attacks = list(dict.fromkeys(frame["attack"]))
    fig, axes = plt.subplots(1, len(attacks), figsize=(3.2 * len(attacks), 3.2), sharey=True, squeeze=False)
    for ax, name in zip(axes[0], attacks):
        part = frame[frame["attack"] == name].sort_values("fa_layers")
        for column, label, style in (("acc_star", "Acc* (network)", "k-"),
                                     ("acc_tilde_transfer", "Acc~ transfer (fit on train, test)", "o-"),
                                     ("acc_tilde_adaptive", "Acc~ adaptive (attack on the predictor)", "v-"),
                                     ("acc_tilde_in_sample", "Acc~ in-sample (authors' pinv)", "s--"),
                                     ("acc_rand", "Acc_rand", "x:")):
            ax.plot(part["fa_layers"], part[column].astype(float), style, label=label)
        ax.set_title("clean" if name == "none" else name)
        ax.set_xlabel("f*_a layers used")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0][0].set_ylabel("accuracy (%)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=7, frameon=False)
    fig.suptitle(f"Algorithm S1: {record['config']['arch']} on {record['config']['dataset']} "
                 f"(profile={record['profile']})", fontsize=9)
    fig.tight_layout(rect=(0, 0.14, 1, 1))
    return fig


def plot_gammas(record: dict):
    """gamma_j of every layer: the trained f_a layers and the linear f_b layers of each construction."""
    import matplotlib.pyplot as plt

    check = record["metrics"]["semirobustness"]
    n = check["n_layers"]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for ax, suffix, title in ((axes[0], "", f"attacked (PGD, eps={check['eps'] * 255:.0f}/255)"), (axes[1], "_clean", "clean")):
        layers = check["gamma_layers" + suffix]
        ax.plot(range(1, n), layers, "k.-", label="trained layers (read-out G_j)")
        for e in check["theorem3"]:
            a = e["fa_layers"]
            ax.plot(range(a + 1, n + 1), e["gamma_fb_layers" + suffix], "o-", ms=3, label=f"linear f_b, a={a}")
        ax.axhline(0, color="grey", lw=0.5)
        ax.set_xlabel("layer j")
        ax.set_title(title, fontsize=9)
    axes[0].set_ylabel("gamma_j = E inf y G_j(F^(j)(X+delta))")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    return fig


__all__ = ["binary_labels", "LinearlyConnectedNetwork", "build_linear_network", "standardized_base",
           "fit_readouts", "estimate_infima", "readout_scale", "gamma_readings", "layer_objectives",
           "theorem3_bound", "paper_splits", "paper_theorem3_bounds", "semirobustness_check",
           "Theorem3Settings", "default_theorem3_fa_sizes", "theorem3_settings", "run_theorem3",
           "theorem3_checks", "table_s1_frame", "theorem3_frame", "theorem3_statements", "plot_table_s1",
           "plot_gammas"]
