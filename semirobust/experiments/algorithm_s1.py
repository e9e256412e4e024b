"""Algorithm S1 (linear connectivity of f*_a, supplementary III.B) and Table S1.

**Algorithm S1** (supplementary III.B). For an adversarially trained network (f*_a, f*_b), record
the activations of the trainable layers of f*_a and the network's outputs (logits), and solve for
lambda so that ``sum_i lambda_i^T f^(i)`` predicts the outputs. Acc~ is the accuracy of that linear
predictor, Acc_rand the accuracy with random lambda (negative control), Acc* the network's.

* Activations are the outputs of the Conv2d/Linear modules (as everywhere in this package). A
  convolution's output is reduced before the solve (:data:`REDUCTIONS`): ``"gap"`` (default)
  averages every channel over the spatial positions (one number per channel), ``"random_projection"``
  multiplies the flattened map by a fixed seeded Gaussian matrix to ``projection_dim`` numbers,
  ``"flatten"`` keeps everything (only for small maps). Linear outputs are kept as they are.
* lambda is a ridge least-squares solve on a *fit* split, evaluated on a *held-out* split: the
  features are standardized and scikit-learn's ``RidgeCV`` picks the penalty by efficient
  leave-one-out cross-validation; the standardization is folded back, so lambda acts on the raw
  features (plus an intercept). ``alpha=0`` is plain (minimum-norm) least squares.
* The supplementary's own solver, per-batch pseudo-inverse ``lambda_k = pinv(F_a,k) F_k`` averaged
  over the batches, is :func:`fit_batchwise_pinv` (no intercept, as in the supplementary).
* Attacked inputs are crafted against the full network (f*_a, f*_b); the linear predictor then
  reads the activations of those same inputs (it is not attacked itself).

**Exactly linear network** (Lemma 2, Theorem 3). f^(1..a) are the (reduced, standardized) outputs of
the first ``a`` trainable layers of a trained network; every later layer is an exact linear
combination ``f^(j) = sum_{i<j} Lambda_ij^T f^(i)`` (:class:`LinearlyConnectedNetwork`), the last
one a scalar read-out of a binary label y in {-1, +1}. Semirobustness
``gamma_j = E inf_delta y * G_j(F^(j)(X + delta))`` is estimated with a PGD minimiser
(:func:`estimate_infima`): random start, ``steps`` signed-gradient steps of size
``2.5 eps / steps``, ``restarts`` restarts plus the clean point, the smallest value per sample
kept. PGD finds *an* adversarial delta, so every estimate is an upper bound of the true infimum.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

from semirobust.models import trainable_layers

REDUCTIONS = ("gap", "random_projection", "flatten")
#: ridge penalties RidgeCV chooses from (on standardized features).
DEFAULT_ALPHAS = tuple(float(a) for a in np.logspace(-3, 5, 17))
CONSTRUCTIONS = ("fitted", "random")
#: attacks of Table S1 ("none" = clean inputs).
S1_ATTACKS = ("none", "fgsm", "pgd", "autoattack")
#: the supplementary's Table S1, copied into the package (source: data_files/README.md).
REPORTED_TABLE_S1 = Path(__file__).resolve().parent.parent / "data_files" / "reported_table_s1.csv"


# ---------------------------------------------------------------- layer features


class _Stop(Exception):
    """Raised by a hook to stop the forward pass once the last wanted layer has run."""


class LayerFeatures:
    """Differentiable ``x -> (features of the first n_layers trainable layers, network output)``.

    Features are reduced per layer as described in the module docstring. With ``need_output=False``
    the forward pass stops after the last wanted layer (the output is then None), which saves
    the cost of the rest of the network.
    """

    def __init__(self, model: nn.Module, n_layers: int | None = None, reduction: str = "gap",
                 projection_dim: int = 64, seed: int = 0):
        layers = trainable_layers(model)
        if not layers:
            raise ValueError("model has no Conv2d/Linear layers.")
        n_layers = len(layers) - 1 if n_layers is None else n_layers
        if isinstance(n_layers, bool) or not isinstance(n_layers, int) or not 1 <= n_layers <= len(layers):
            raise ValueError(f"n_layers={n_layers!r} is outside 1..{len(layers)} (the model's trainable layers).")
        if reduction not in REDUCTIONS:
            raise ValueError(f"Unknown reduction {reduction!r}; choose one of {REDUCTIONS}.")
        if isinstance(projection_dim, bool) or not isinstance(projection_dim, int) or projection_dim < 1:
            raise ValueError(f"projection_dim={projection_dim!r} must be a positive integer.")
        self.model, self.n_layers, self.reduction = model, n_layers, reduction
        self.projection_dim, self.seed = projection_dim, seed
        self.layer_names = [name for name, _ in layers[:n_layers]]
        self._modules = [m for _, m in layers[:n_layers]]
        self._projections: dict[int, torch.Tensor] = {}

    def _projection(self, index: int, dim: int, like: torch.Tensor) -> torch.Tensor:
        if index not in self._projections:
            gen = torch.Generator().manual_seed(self.seed * 100_003 + index)
            matrix = torch.randn(dim, self.projection_dim, generator=gen) / self.projection_dim ** 0.5
            self._projections[index] = matrix
        return self._projections[index].to(device=like.device, dtype=like.dtype)

    def reduce(self, index: int, out: torch.Tensor) -> torch.Tensor:
        """Reduce one layer's output to a (batch, features) matrix."""
        if out.dim() == 2:
            return out
        if self.reduction == "gap":
            return out.mean(dim=tuple(range(2, out.dim())))
        flat = out.flatten(1)
        if self.reduction == "flatten" or flat.shape[1] <= self.projection_dim:
            return flat
        return flat @ self._projection(index, flat.shape[1], flat)

    def __call__(self, x: torch.Tensor, need_output: bool = True, upto: int | None = None):
        """Features of layers 1..``upto`` (default all ``n_layers``) and the output (None when not needed)."""
        upto = self.n_layers if upto is None else upto
        if not 1 <= upto <= self.n_layers:
            raise ValueError(f"upto={upto!r} is outside 1..{self.n_layers}.")
        captured: list[torch.Tensor] = []

        def hook(index):
            def fn(_module, _inputs, out):
                captured.append(self.reduce(index, out))
                if index == upto - 1 and not need_output:
                    raise _Stop
            return fn

        handles = [m.register_forward_hook(hook(i)) for i, m in enumerate(self._modules[:upto])]
        output = None
        try:
            output = self.model(x)
        except _Stop:
            pass
        finally:
            for handle in handles:
                handle.remove()
        return captured, output


def _model_device(model: nn.Module) -> torch.device:
    return next(iter(model.parameters())).device


def record_features(extractor: LayerFeatures, X: torch.Tensor, batch_size: int = 256):
    """Reduced features (list of CPU float64 arrays, one per layer) and outputs of ``X``, in eval mode."""
    model = extractor.model
    device, was_training = _model_device(model), model.training
    model.eval()
    feats, outs = [[] for _ in range(extractor.n_layers)], []
    try:
        with torch.no_grad():
            for i in range(0, X.shape[0], batch_size):
                layer_feats, out = extractor(X[i:i + batch_size].to(device))
                for store, f in zip(feats, layer_feats):
                    store.append(f.double().cpu())
                outs.append(out.double().cpu())
    finally:
        model.train(was_training)
    return [torch.cat(f).numpy() for f in feats], torch.cat(outs).numpy()


# ---------------------------------------------------------------- solving for lambda


@dataclass
class LinearCombination:
    """``sum_i lambda_i^T f^(i) + intercept``: ``coef`` stacks the lambda_i layer by layer."""

    coef: np.ndarray  # (sum of feature sizes, outputs)
    intercept: np.ndarray  # (outputs,)
    sizes: tuple[int, ...]
    method: str
    alpha: float | None = None

    def predict(self, features: Sequence[np.ndarray]) -> np.ndarray:
        Z = _stack(features, self.sizes)
        return Z @ self.coef + self.intercept

    def lambdas(self) -> list[np.ndarray]:
        """lambda_i per layer, shaped (size of f^(i), outputs)."""
        bounds = np.cumsum((0,) + self.sizes)
        return [self.coef[s:e] for s, e in zip(bounds[:-1], bounds[1:])]


def _stack(features: Sequence[np.ndarray], sizes: tuple[int, ...] | None = None) -> np.ndarray:
    if not isinstance(features, (list, tuple)) or not features:
        raise ValueError("features must be a non-empty list of (samples, size) arrays, one per layer.")
    arrays = [np.asarray(f, dtype=np.float64) for f in features]
    if any(a.ndim != 2 for a in arrays) or len({a.shape[0] for a in arrays}) != 1:
        raise ValueError("every layer's features must be a 2-d (samples, size) array with the same number of samples.")
    if sizes is not None and tuple(a.shape[1] for a in arrays) != tuple(sizes):
        raise ValueError(f"feature sizes {[a.shape[1] for a in arrays]} do not match the fitted sizes {list(sizes)}.")
    return np.concatenate(arrays, axis=1)


def _targets(targets, n: int) -> np.ndarray:
    T = np.asarray(targets, dtype=np.float64)
    T = T[:, None] if T.ndim == 1 else T
    if T.ndim != 2 or T.shape[0] != n:
        raise ValueError(f"targets must have one row per sample ({n}), got shape {np.shape(targets)}.")
    return T


def fit_linear_combination(features: Sequence[np.ndarray], targets, alpha="cv", alphas=DEFAULT_ALPHAS,
                           fit_intercept: bool = True) -> LinearCombination:
    """Least-squares lambda with ``sum_i lambda_i^T f^(i) (+ b) ~ targets``.

    ``alpha="cv"``: ridge on standardized features, penalty chosen by RidgeCV's leave-one-out
    error among ``alphas``; a number: ridge with that penalty; ``0``: ordinary (minimum-norm)
    least squares, which recovers an exact linear map whenever the features determine it.
    """
    from sklearn.linear_model import Ridge, RidgeCV

    Z = _stack(features)
    T = _targets(targets, Z.shape[0])
    sizes = tuple(np.asarray(f).shape[1] for f in features)
    if not (alpha == "cv" or (isinstance(alpha, (int, float)) and not isinstance(alpha, bool) and alpha >= 0)):
        raise ValueError(f"alpha={alpha!r} must be 'cv' or a number >= 0.")
    if alpha == 0:
        design = np.concatenate([Z, np.ones((Z.shape[0], 1))], axis=1) if fit_intercept else Z
        solution = np.linalg.lstsq(design, T, rcond=None)[0]
        coef = solution[:-1] if fit_intercept else solution
        intercept = solution[-1] if fit_intercept else np.zeros(T.shape[1])
        return LinearCombination(coef, intercept, sizes, "least_squares", 0.0)
    mean = Z.mean(axis=0) if fit_intercept else np.zeros(Z.shape[1])
    scale = Z.std(axis=0) if fit_intercept else np.sqrt((Z ** 2).mean(axis=0))
    scale[scale == 0] = 1.0
    Zs = (Z - mean) / scale
    if alpha == "cv":
        solver = RidgeCV(alphas=alphas, fit_intercept=fit_intercept).fit(Zs, T)
        chosen = float(solver.alpha_)
    else:
        solver = Ridge(alpha=float(alpha), fit_intercept=fit_intercept).fit(Zs, T)
        chosen = float(alpha)
    coef_s = np.atleast_2d(solver.coef_).T  # (features, outputs)
    coef = coef_s / scale[:, None]
    intercept = (np.atleast_1d(solver.intercept_) if fit_intercept else np.zeros(T.shape[1])) - mean @ coef
    return LinearCombination(coef, intercept, sizes, "ridge_cv" if alpha == "cv" else "ridge", chosen)


def fit_batchwise_pinv(features: Sequence[np.ndarray], targets, batch_size: int = 64) -> LinearCombination:
    """The supplementary's solver: ``lambda_k = pinv(F_a,k) @ F_k`` per batch, averaged (no intercept)."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} must be a positive integer.")
    Z = _stack(features)
    T = _targets(targets, Z.shape[0])
    sizes = tuple(np.asarray(f).shape[1] for f in features)
    solutions = [np.linalg.pinv(Z[i:i + batch_size]) @ T[i:i + batch_size] for i in range(0, Z.shape[0], batch_size)]
    return LinearCombination(np.mean(solutions, axis=0), np.zeros(T.shape[1]), sizes, "batchwise_pinv")


def random_linear_combination(sizes: Sequence[int], n_outputs: int, seed: int = 0) -> LinearCombination:
    """Standard-normal lambda (no intercept): the negative control Acc_rand."""
    rng = np.random.default_rng(seed)
    sizes = tuple(int(s) for s in sizes)
    return LinearCombination(rng.standard_normal((sum(sizes), n_outputs)), np.zeros(n_outputs), sizes, "random")


def accuracy(scores: np.ndarray, labels) -> float:
    """Top-1 accuracy in percent of ``argmax(scores)``."""
    return 100.0 * float(np.mean(np.argmax(scores, axis=1) == np.asarray(labels)))


def stratified_split(labels, fit_fraction: float = 0.5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices of a fit split and a held-out split, stratified by label."""
    from sklearn.model_selection import train_test_split

    if not isinstance(fit_fraction, (int, float)) or not 0 < fit_fraction < 1:
        raise ValueError(f"fit_fraction={fit_fraction!r} must be in (0, 1).")
    labels = np.asarray(labels)
    index = np.arange(len(labels))
    counts = np.unique(labels, return_counts=True)[1]
    stratify = labels if counts.min() >= 2 else None
    fit, held = train_test_split(index, train_size=fit_fraction, stratify=stratify, random_state=seed)
    return np.sort(fit), np.sort(held)


def algorithm_s1(features: Sequence[np.ndarray], outputs: np.ndarray, labels, fa_sizes: Sequence[int],
                 fit_index, eval_index, *, n_layers: int, alpha="cv", batch_size: int = 64, seed: int = 0) -> list[dict]:
    """Table S1 rows for each f*_a size ``a``: Acc*, Acc~ (held-out and in-sample), the batch-wise
    pseudo-inverse variant and Acc_rand, from recorded features (layers 1..) and outputs."""
    labels = np.asarray(labels)
    for a in fa_sizes:
        if isinstance(a, bool) or not isinstance(a, (int, np.integer)) or not 1 <= a <= len(features):
            raise ValueError(f"f*_a size {a!r} is outside 1..{len(features)} (the recorded layers).")
    rows = []
    for a in fa_sizes:
        fit_feats = [f[fit_index] for f in features[:a]]
        eval_feats = [f[eval_index] for f in features[:a]]
        ridge = fit_linear_combination(fit_feats, outputs[fit_index], alpha=alpha)
        pinv = fit_batchwise_pinv(fit_feats, outputs[fit_index], batch_size=batch_size)
        rand = random_linear_combination(ridge.sizes, outputs.shape[1], seed=seed + int(a))
        net_eval = outputs[eval_index]
        lin_eval = ridge.predict(eval_feats)
        acc_star = accuracy(net_eval, labels[eval_index])
        acc_tilde = accuracy(lin_eval, labels[eval_index])
        rows.append({
            "fa_layers": int(a), "fb_layers": int(n_layers - a), "n_features": int(sum(ridge.sizes)),
            "n_fit": int(len(fit_index)), "n_eval": int(len(eval_index)), "ridge_alpha": ridge.alpha,
            "acc_star": acc_star, "acc_tilde": acc_tilde, "diff": acc_tilde - acc_star,
            "acc_tilde_fit": accuracy(ridge.predict(fit_feats), labels[fit_index]),
            "acc_tilde_batchwise": accuracy(pinv.predict(eval_feats), labels[eval_index]),
            "acc_rand": accuracy(rand.predict(eval_feats), labels[eval_index]),
            "agreement": 100.0 * float(np.mean(lin_eval.argmax(1) == net_eval.argmax(1))),
        })
    return rows


def default_fa_sizes(n_layers: int) -> list[int]:
    """Table S1's f_b sizes 1, 5 and 9 (f*_a = 17, 13, 9 of ResNet-18's 18) for an n-layer network."""
    return [n_layers - fb for fb in (1, 5, 9) if n_layers - fb >= 1]


def table_s1(model: nn.Module, X: torch.Tensor, y: torch.Tensor, *, eps: float, attacks=S1_ATTACKS,
             fa_sizes: Sequence[int] | None = None, reduction: str = "gap", projection_dim: int = 64,
             autoattack_images: int | None = 100, fit_fraction: float = 0.5, alpha="cv", batch_size: int = 64,
             seed: int = 0, attack_fn=None, progress: bool = True) -> list[dict]:
    """Algorithm S1 on clean and attacked versions of ``(X, y)`` for several f*_a sizes.

    Each attack's images are crafted against ``model`` at ``eps`` by ``attack_fn(name, X, y)``
    (default: ``semirobust.attacks.attack_tensors``); AutoAttack uses only the first
    ``autoattack_images`` images (None: all). Every attack's images are split (stratified, seeded)
    into a fit and a held-out half.
    """
    from semirobust.attacks import attack_tensors

    if attack_fn is None:
        def attack_fn(name, Xn, yn):
            return attack_tensors(model, Xn, yn, name, eps=eps, progress=progress)

    n_layers = len(trainable_layers(model))
    fa_sizes = list(default_fa_sizes(n_layers) if fa_sizes is None else fa_sizes)
    unknown = [a for a in attacks if a not in S1_ATTACKS]
    if unknown or not attacks:
        raise ValueError(f"attacks {list(attacks)!r}: choose from {S1_ATTACKS} ('none' = clean inputs).")
    if not fa_sizes or any(isinstance(a, bool) or not isinstance(a, int) or not 1 <= a < n_layers for a in fa_sizes):
        raise ValueError(f"fa_sizes={fa_sizes!r}: every f*_a size must be in 1..{n_layers - 1}.")
    extractor = LayerFeatures(model, max(fa_sizes), reduction=reduction, projection_dim=projection_dim, seed=seed)
    rows = []
    for name in attacks:
        n = X.shape[0] if name != "autoattack" or autoattack_images is None else min(autoattack_images, X.shape[0])
        Xn, yn = X[:n], y[:n]
        X_in = Xn if name == "none" else attack_fn(name, Xn, yn)
        feats, outs = record_features(extractor, X_in, batch_size=256)
        fit_idx, eval_idx = stratified_split(yn.numpy(), fit_fraction, seed)
        for row in algorithm_s1(feats, outs, yn.numpy(), fa_sizes, fit_idx, eval_idx, n_layers=n_layers,
                                alpha=alpha, batch_size=batch_size, seed=seed):
            rows.append({"attack": name, "eps": 0.0 if name == "none" else float(eps), **row})
    return rows


def load_reported_table_s1():
    """Table S1 of the supplementary (ResNet-18 on CIFAR-10), from the package's copy."""
    import pandas as pd

    return pd.read_csv(REPORTED_TABLE_S1)


def with_reported_table_s1(rows: list[dict]):
    """Our Table S1 rows with the supplementary's values for the same attack and f_b size beside them.

    The reported columns are named ``reported_*`` and come from ResNet-18 on CIFAR-10 (18 trainable
    layers), matched by the number of layers replaced (f_b size), whatever network produced ours.
    """
    import pandas as pd

    ours = pd.DataFrame(rows)
    reported = load_reported_table_s1().copy()
    reported["fb_layers"] = 18 - reported["fa_layers"]
    reported = reported.rename(columns={"acc_star": "reported_acc_star", "acc_tilde": "reported_acc_tilde",
                                        "diff": "reported_diff", "acc_rand": "reported_acc_rand",
                                        "fa_layers": "reported_fa_layers"})
    keep = ["attack", "fb_layers", "reported_fa_layers", "reported_acc_star", "reported_acc_tilde",
            "reported_diff", "reported_acc_rand"]
    return ours.merge(reported[keep], on=["attack", "fb_layers"], how="left")
