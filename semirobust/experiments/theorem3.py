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
import math
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from semirobust.config import ARCHS, DATASETS, LAYER_COUNTS, check_choice, get_profile
from semirobust.experiments._common import (THEOREM3_VERSION, _check_device, _check_eps, _check_int,
                                            _resolve_profile, cached_attack_tensors)
from semirobust.experiments.algorithm_s1 import (CONSTRUCTIONS, REDUCTIONS, S1_ATTACKS, LayerFeatures, _model_device,
                                                 default_fa_sizes, fit_linear_combination, record_features,
                                                 stratified_split, table_s1, with_reported_table_s1)
from semirobust.models import trainable_layers

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


def _gamma(inf: np.ndarray) -> np.ndarray:
    """gamma per objective: the mean over samples of the per-sample infimum estimates."""
    return inf.mean(axis=1)


def semirobustness_check(model: nn.Module, X_fit: torch.Tensor, y_fit, X_eval: torch.Tensor, y_eval, *,
                         fa_sizes: Sequence[int], eps: float, construction: str = "fitted", reduction: str = "gap",
                         steps: int = 10, restarts: int = 1, alpha="cv", seed: int = 0) -> dict:
    """Layer semirobustness, Lemma 2 and Theorem 3 on exactly linear networks built on ``model``.

    n is the model's number of trainable layers. Read-outs and linear layers are fitted on
    ``(X_fit, y_fit)``; every gamma is estimated on ``(X_eval, y_eval)`` (labels in {-1, +1}) with
    :func:`estimate_infima` at ``eps``. Returns a dict with

    * ``gamma_layers`` (and ``gamma_layers_clean``, delta = 0): gamma_j = E inf y G_j(F^(j)(X + delta))
      for the trained network's layers j = 1..n-1, G_j the least-squares read-out of y from f^(j);
    * ``lemma2``: Lemma 2's setting, only the last layer linear (a = n-1, f^(n) the read-out of y
      from f^(1..n-1)): ``gamma_n`` = E inf y f^(n) and the terms E inf y Lambda_in^T f^(i) (the
      proof's G_i = Lambda_in^T). The infimum of a sum is at least the sum of the infima, so
      gamma_n >= sum of terms, with equality iff one delta minimises every term at once;
    * ``theorem3``: one entry per a in ``fa_sizes``: a :class:`LinearlyConnectedNetwork` with
      layers a+1..n linear (``construction``), gamma of each of its f_b layers, gamma_b = E inf y
      f^(n), and Theorem 3's value gamma_a (n-1-a)(n-a)/2 with gamma_a = gamma_layers[a - 1]
      (read-out of layer a) and, as the proof does via Theorem 1, gamma_a = sum_{i<=a} gamma_i.
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
    device = _model_device(model)
    was_training = model.training
    flags = [(p, p.requires_grad) for p in model.parameters()]
    model.eval()
    for p, _ in flags:
        p.requires_grad_(False)  # only input gradients are needed
    X_eval = X_eval.to(device)
    pgd = {"eps": eps, "steps": steps, "restarts": restarts}

    def measure(objective_fn, offset):
        inf = estimate_infima(objective_fn, X_eval, y_eval, seed=seed + offset, **pgd)
        with torch.no_grad():
            clean = (objective_fn(X_eval).cpu().numpy() * y_eval[:, None]).mean(axis=0)
        return _gamma(inf), clean

    try:
        extractor = LayerFeatures(model, n - 1, reduction=reduction, seed=seed)
        base, fit_feats = standardized_base(extractor, X_fit, n - 1)
        readouts = [torch.as_tensor(g, dtype=torch.float32, device=device) for g in fit_readouts(fit_feats, y_fit, alpha)]
        gamma_layers, clean_layers = measure(
            lambda x: torch.stack([f @ g for f, g in zip(base.base(x), readouts)], dim=1), 0)

        lemma_net = build_linear_network(extractor, X_fit, y_fit, n - 1, n, construction=construction, alpha=alpha)
        lam_in = [lemma_net.lambda_in(i)[:, 0].to(device) for i in range(1, n)]

        def lemma_objectives(x):
            layers = lemma_net(x)
            return torch.stack([layers[-1][:, 0]] + [layers[i] @ lam for i, lam in enumerate(lam_in)], dim=1)

        lemma_gamma, lemma_clean = measure(lemma_objectives, 1)
        terms = lemma_gamma[1:]
        result = {
            "n_layers": n, "construction": construction, "reduction": reduction, "eps": eps, "steps": steps,
            "restarts": restarts, "n_fit": int(len(y_fit)), "n_eval": int(len(y_eval)),
            "gamma_layers": gamma_layers.tolist(), "gamma_layers_clean": clean_layers.tolist(),
            "lemma2": {"gamma_n": float(lemma_gamma[0]), "gamma_n_clean": float(lemma_clean[0]),
                       "terms": terms.tolist(), "sum_terms": float(terms.sum()),
                       "terms_clean": lemma_clean[1:].tolist(),
                       "gap": float(lemma_gamma[0] - terms.sum()), "holds_ge": bool(lemma_gamma[0] >= terms.sum())},
            "theorem3": [],
        }
        for a in sorted(set(fa_sizes), reverse=True):
            if a == n - 1:
                fb_gamma, fb_clean = lemma_gamma[:1], lemma_clean[:1]
            else:
                net = build_linear_network(extractor, X_fit, y_fit, a, n, construction=construction, alpha=alpha,
                                           seed=seed)
                with torch.no_grad():
                    fit_layers = [t.double().cpu().numpy() for t in net(X_fit.to(device))]
                fb_readouts = [torch.as_tensor(g, dtype=torch.float32, device=device)
                               for g in fit_readouts(fit_layers[a:n - 1], y_fit, alpha)]

                def fb_objectives(x, net=net, fb_readouts=fb_readouts, a=a):
                    layers = net(x)
                    cols = [layers[j] @ g for j, g in zip(range(a, n - 1), fb_readouts)]  # G_j f^(j), a < j < n
                    return torch.stack(cols + [layers[-1][:, 0]], dim=1)  # ..., f^(n)

                fb_gamma, fb_clean = measure(fb_objectives, 2 + a)
            factor = (n - 1 - a) * (n - a) / 2
            gamma_a, gamma_a_sum, gamma_b = float(gamma_layers[a - 1]), float(gamma_layers[:a].sum()), float(fb_gamma[-1])
            result["theorem3"].append({
                "fa_layers": a, "fb_layers": n - a, "gamma_fb_layers": fb_gamma.tolist(),
                "gamma_fb_layers_clean": fb_clean.tolist(), "gamma_b": gamma_b, "gamma_a": gamma_a,
                "gamma_a_sum": gamma_a_sum, "factor": factor, "predicted": gamma_a * factor,
                "predicted_sum": gamma_a_sum * factor,
            })
        return result
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)
        model.train(was_training)


#: PGD settings approximating the infimum in gamma_j, per profile: evaluation images, steps, restarts.
GAMMA_SETTINGS = {"smoke": {"images": 50, "steps": 20, "restarts": 1},
                  "cpu": {"images": 200, "steps": 20, "restarts": 1},
                  "paper": {"images": 500, "steps": 50, "restarts": 2}}
#: relative tolerance for calling Theorem 3's expression an equality.
EQUALITY_RTOL = 0.05




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
    fit_fraction: float
    construction: str
    gamma_images: int
    gamma_steps: int
    gamma_restarts: int
    seed: int

    def as_config(self) -> dict:
        return {**dataclasses.asdict(self), "version": THEOREM3_VERSION}


def theorem3_settings(arch="vgg16", dataset="digits", *, profile="smoke", eps=8 / 255, attacks=S1_ATTACKS,
                      fa_sizes=None, reduction="gap", n_images=None, autoattack_images=None, fit_fraction=0.5,
                      construction="fitted", gamma_images=None, gamma_steps=None, gamma_restarts=None, seed=0,
                      device="auto") -> Theorem3Settings:
    """Check every argument of :func:`run_theorem3` and fill the defaults (raises ValueError)."""
    check_choice("model", arch, ARCHS)
    check_choice("dataset", dataset, DATASETS)
    prof = _resolve_profile(profile, device)
    _check_eps(eps)
    attacks = tuple(attacks) if isinstance(attacks, (list, tuple)) else (attacks,)
    for name in attacks:
        check_choice("Table S1 attack", name, S1_ATTACKS)
    if not attacks:
        raise ValueError(f"attacks is empty; choose from {S1_ATTACKS}.")
    n = LAYER_COUNTS[arch]
    fa_sizes = tuple(default_fa_sizes(n) if fa_sizes is None else fa_sizes)
    if not fa_sizes or any(isinstance(a, bool) or not isinstance(a, int) or not 1 <= a < n for a in fa_sizes):
        raise ValueError(f"fa_sizes={list(fa_sizes)!r}: every f*_a size must be an integer in 1..{n - 1} ({arch} has {n} trainable layers).")
    check_choice("feature reduction", reduction, REDUCTIONS)
    check_choice("construction", construction, CONSTRUCTIONS)
    for name, value, low in (("n_images", n_images, 20), ("autoattack_images", autoattack_images, 20),
                             ("gamma_images", gamma_images, 4), ("gamma_steps", gamma_steps, 1)):
        _check_int(name, value, low=low)
    _check_int("gamma_restarts", gamma_restarts, low=0)
    _check_int("seed", seed, low=0, allow_none=False)
    if not isinstance(fit_fraction, (int, float)) or not 0 < fit_fraction < 1:
        raise ValueError(f"fit_fraction={fit_fraction!r} must be in (0, 1).")
    _check_device(device)
    gamma = GAMMA_SETTINGS.get(prof.name, GAMMA_SETTINGS["paper"])
    n_images = n_images if n_images is not None else prof.test_subset
    return Theorem3Settings(
        arch=arch, dataset=dataset, profile=prof.name, eps=float(eps), attacks=attacks, fa_sizes=fa_sizes,
        reduction=reduction, n_images=n_images,
        autoattack_images=autoattack_images if autoattack_images is not None else prof.eval_subset,
        fit_fraction=float(fit_fraction), construction=construction,
        gamma_images=gamma_images if gamma_images is not None else gamma["images"],
        gamma_steps=gamma_steps if gamma_steps is not None else gamma["steps"],
        gamma_restarts=gamma_restarts if gamma_restarts is not None else gamma["restarts"], seed=seed)


def run_theorem3(settings: Theorem3Settings, *, device="auto", data_root=None, cache_dir=None, results_dir=None,
                 progress: bool = True) -> dict:
    """Table S1 and the Lemma 2 / Theorem 3 check for ``settings``; writes and returns the record."""
    import torch

    from semirobust.data import dataset_info, dataset_tensors, load_dataset
    from semirobust.results import ResultsStore
    from semirobust.training import get_trained_model
    from semirobust.utils import default_cache_dir, seed_everything

    if not isinstance(settings, Theorem3Settings):
        raise ValueError("settings must come from theorem3_settings(...).")
    s = settings
    dev = _check_device(device)
    t0 = time.perf_counter()
    profile = get_profile(s.profile, dev)
    model, info = get_trained_model(s.arch, s.dataset, mode="adversarial", profile=profile, seed=s.seed,
                                    data_root=data_root, device=dev, cache_dir=cache_dir, progress=progress)
    seed_everything(s.seed)
    test = load_dataset(s.dataset, "test", root=data_root, subset=s.n_images, seed=s.seed)
    X, y = dataset_tensors(test)
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()

    def attack_fn(name, Xn, yn):
        return cached_attack_tensors(model, info["config_hash"], Xn, yn, name, s.eps, root, progress=progress)

    rows = table_s1(model, X, y, eps=s.eps, attacks=s.attacks, fa_sizes=list(s.fa_sizes), reduction=s.reduction,
                    autoattack_images=s.autoattack_images, fit_fraction=s.fit_fraction, seed=s.seed,
                    attack_fn=attack_fn, progress=progress)
    yb = binary_labels(y.numpy(), dataset_info(s.dataset).num_classes)
    fit, held = stratified_split(y.numpy(), s.fit_fraction, s.seed)
    held = held[:s.gamma_images]
    fit_t, held_t = torch.as_tensor(fit), torch.as_tensor(held)
    check = semirobustness_check(model, X[fit_t], yb[fit], X[held_t], yb[held], fa_sizes=list(s.fa_sizes), eps=s.eps,
                                 construction=s.construction, reduction=s.reduction, steps=s.gamma_steps,
                                 restarts=s.gamma_restarts, seed=s.seed)
    metrics = {"table_s1": rows, "semirobustness": check, "checks": theorem3_checks(check)}
    wall = time.perf_counter() - t0
    return ResultsStore(results_dir).write(
        "theorem3", s.as_config(), metrics, profile=s.profile, seed=s.seed, device=dev, wall_time_s=wall,
        extra={"robust_model": info["config_hash"], "robust_model_from_cache": info["from_cache"]})



def theorem3_checks(check: dict) -> dict:
    """Lemma 2 (gamma_n >= sum of terms) and Theorem 3 (gamma_b vs gamma_a (n-1-a)(n-a)/2) verdicts."""
    lemma = check["lemma2"]
    out = {"lemma2_holds_ge": lemma["holds_ge"],
           "lemma2_holds_eq": bool(math.isclose(lemma["gamma_n"], lemma["sum_terms"], rel_tol=EQUALITY_RTOL)),
           "theorem3": []}
    for entry in check["theorem3"]:
        item = {"fa_layers": entry["fa_layers"]}
        for key, predicted in (("", entry["predicted"]), ("_sum", entry["predicted_sum"])):
            item[f"holds_eq{key}"] = bool(math.isclose(entry["gamma_b"], predicted, rel_tol=EQUALITY_RTOL))
            item[f"holds_ge{key}"] = bool(entry["gamma_b"] >= predicted)
        out["theorem3"].append(item)
    return out


def table_s1_frame(record: dict) -> pd.DataFrame:
    """Our Table S1 rows with the supplementary's ResNet-18 / CIFAR-10 values beside them."""
    frame = with_reported_table_s1(record["metrics"]["table_s1"])
    columns = ["attack", "fa_layers", "fb_layers", "acc_star", "acc_tilde", "diff", "acc_rand", "acc_tilde_fit",
               "acc_tilde_batchwise", "agreement", "n_fit", "n_eval", "n_features", "ridge_alpha",
               "reported_fa_layers", "reported_acc_star", "reported_acc_tilde", "reported_diff", "reported_acc_rand"]
    return frame[columns]


def theorem3_frame(record: dict) -> pd.DataFrame:
    """One row per f_a size: gamma_a (two readings), gamma_b, Theorem 3's value and the verdicts."""
    check = record["metrics"]["semirobustness"]
    verdicts = {v["fa_layers"]: v for v in record["metrics"]["checks"]["theorem3"]}
    rows = []
    for e in check["theorem3"]:
        v = verdicts[e["fa_layers"]]
        rows.append({"a (f_a layers)": e["fa_layers"], "f_b layers": e["fb_layers"], "(n-1-a)(n-a)/2": e["factor"],
                     "gamma_a (layer a)": e["gamma_a"], "gamma_a (sum i<=a)": e["gamma_a_sum"],
                     "gamma_b measured": e["gamma_b"], "Thm 3 value": e["predicted"],
                     "Thm 3 value (sum)": e["predicted_sum"], "equal (5%)": v["holds_eq"],
                     "gamma_b >= value": v["holds_ge"], "equal (5%, sum)": v["holds_eq_sum"],
                     "gamma_b >= value (sum)": v["holds_ge_sum"]})
    return pd.DataFrame(rows)


def theorem3_statements(record: dict) -> list[str]:
    """Plain sentences on where Lemma 2's and Theorem 3's relations held, from the record."""
    check, verdict = record["metrics"]["semirobustness"], record["metrics"]["checks"]
    lemma, n = check["lemma2"], check["n_layers"]
    lines = [
        f"Lemma 2 (a = n-1 = {n - 1}, f^(n) the least-squares read-out of y from all earlier layers): "
        f"gamma_n = {lemma['gamma_n']:.4g}, sum of the terms E inf y Lambda_in^T f^(i) = {lemma['sum_terms']:.4g}; "
        f"gamma_n >= sum {'held' if verdict['lemma2_holds_ge'] else 'did NOT hold'}, and the two are "
        f"{'equal' if verdict['lemma2_holds_eq'] else 'NOT equal'} within {EQUALITY_RTOL:.0%} "
        f"(difference {lemma['gap']:.4g}; without attack the terms add up to "
        f"{lemma['gamma_n_clean']:.4g}, exactly gamma_n's clean value, as they must)."]
    for e, v in zip(check["theorem3"], verdict["theorem3"]):
        lines.append(
            f"Theorem 3, a = {e['fa_layers']} (f_b = {e['fb_layers']} linear layers): measured gamma_b = {e['gamma_b']:.4g}; "
            f"gamma_a (n-1-a)(n-a)/2 = {e['gamma_a']:.4g} x {e['factor']:g} = {e['predicted']:.4g} "
            f"({'equal' if v['holds_eq'] else 'not equal'} within {EQUALITY_RTOL:.0%}; gamma_b >= it: "
            f"{'yes' if v['holds_ge'] else 'no'}); with gamma_a = sum_(i<=a) gamma_i = {e['gamma_a_sum']:.4g} the value is "
            f"{e['predicted_sum']:.4g} (equal: {'yes' if v['holds_eq_sum'] else 'no'}; gamma_b >= it: "
            f"{'yes' if v['holds_ge_sum'] else 'no'}).")
    return lines


def plot_table_s1(record: dict):
    """Acc*, Acc~ (held-out), the batch-wise variant and Acc_rand per attack and f*_a size."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    frame = pd.DataFrame(record["metrics"]["table_s1"])
    attacks = list(dict.fromkeys(frame["attack"]))
    fig, axes = plt.subplots(1, len(attacks), figsize=(3.2 * len(attacks), 3.2), sharey=True, squeeze=False)
    for ax, name in zip(axes[0], attacks):
        part = frame[frame["attack"] == name].sort_values("fa_layers")
        for column, label, style in (("acc_star", "Acc* (network)", "k-"), ("acc_tilde", "Acc~ (ridge, held-out)", "o-"),
                                     ("acc_tilde_batchwise", "Acc~ (batch pinv)", "s--"), ("acc_rand", "Acc_rand", "x:")):
            ax.plot(part["fa_layers"], part[column], style, label=label)
        ax.set_title("clean" if name == "none" else name)
        ax.set_xlabel("f*_a layers used")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0][0].set_ylabel("accuracy (%)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=7, frameon=False)
    fig.suptitle(f"Algorithm S1: {record['config']['arch']} on {record['config']['dataset']} "
                 f"(profile={record['profile']})", fontsize=9)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
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
