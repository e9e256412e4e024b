"""Lemma 2 / Theorem 3's exactly linear network, and the semirobustness gamma of a layer's read-out.

f^(1..a) are the (reduced, standardized) outputs of the first ``a`` trainable layers of a trained
network; every later layer is an exact linear combination ``f^(j) = sum_{i<j} Lambda_ij^T f^(i)``
(:class:`LinearlyConnectedNetwork`), the last one a scalar read-out of a binary label y in {-1, +1}.
Semirobustness ``gamma_j = E inf_delta y * G_j(F^(j)(X + delta))`` is estimated with a PGD minimiser
(:func:`estimate_infima`): random start, ``steps`` signed-gradient steps of size ``2.5 eps / steps``,
``restarts`` restarts plus the clean point, the smallest value per sample kept. PGD finds *an*
adversarial delta, so every estimate is an upper bound of the true infimum.
:func:`semirobust.experiments.theory.theorem3.semirobustness_check` puts these pieces together.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from semirobust.config import check_eps, check_int
from semirobust.experiments.theory.algorithm_s1 import (
    CONSTRUCTIONS,
    LayerFeatures,
    fit_linear_combination,
    record_features,
)
from semirobust.utils import model_device

__all__ = ["binary_labels", "LinearlyConnectedNetwork", "build_linear_network", "standardized_base", "fit_readouts",
           "check_pgd", "estimate_infima", "readout_scale", "gamma_readings", "layer_objectives"]


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
    check_int("a", a)
    check_int("n", n, low=2)
    if a >= n:
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


def check_pgd(eps, steps, restarts) -> None:
    """The PGD minimiser's settings: eps in [0, 1] (0: the clean value), steps and restarts >= 0."""
    check_eps(eps, allow_zero=True)
    check_int("steps", steps, low=0)
    check_int("restarts", restarts, low=0)


def estimate_infima(objective_fn, X: torch.Tensor, y, eps: float, *, steps: int = 20, restarts: int = 1,
                    step_size: float | None = None, seed: int = 0, max_batch: int = 2048) -> np.ndarray:
    """Per-sample estimates of ``inf_{||delta||_inf <= eps, X+delta in [0,1]} y * objective_k(X + delta)``.

    ``objective_fn(x) -> (batch, K)`` evaluates K scalar functions; each (k, sample) pair gets its
    own delta. PGD minimiser: the clean point, then ``restarts`` runs from a uniform random start
    with ``steps`` steps of ``-step_size * sign(grad)`` (default step ``2.5 eps / steps``),
    projected on the eps-ball and the pixel range; the smallest value seen is kept. Returns a
    (K, samples) array; each entry upper-bounds the true infimum.
    """
    check_pgd(eps, steps, restarts)
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
