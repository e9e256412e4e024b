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
* lambda is fitted on *training* images and scored on held-out *test* images: a ridge
  least-squares solve (features standardized, scikit-learn's ``RidgeCV`` picks the penalty by
  leave-one-out cross-validation, standardization folded back so lambda acts on the raw features,
  plus an intercept); ``alpha=0`` is plain (minimum-norm) least squares.
* The supplementary's own solver, per-batch pseudo-inverse ``lambda_k = pinv(F_a,k) F_k`` averaged
  over the batches (:func:`fit_batchwise_pinv`, no intercept), fitted and scored on the *same* test
  images as the authors' code does, is kept as the labelled comparison ``acc_tilde_in_sample``.
* ``acc_tilde_transfer``: the linear predictor on inputs crafted against the full network
  (f*_a, f*_b), as in the supplementary: the predictor itself is not attacked.
  ``acc_tilde_adaptive``: the linear predictor attacked directly (:class:`LinearReadout`, the
  read-out of the frozen f*_a as an ``nn.Module``): FGSM for the FGSM row, and for the PGD and
  AutoAttack rows the per-image worst case of PGD and APGD-CE (AutoAttack's first component; the
  rest of AutoAttack is not run on the predictor). ``adaptive_weaker`` marks a row where the
  adaptive attack left the predictor *more* accurate than the transfer inputs did: the attack
  through the read-out then found weaker points than the full network's, and the row's robust
  accuracy is at most the lower of the two.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torchattacks
from sklearn.linear_model import Ridge, RidgeCV
from sklearn.model_selection import train_test_split
from torch import nn

from semirobust.attacks import attack_tensors
from semirobust.config import check_eps, check_int
from semirobust.models import trainable_layers
from semirobust.utils import eval_mode, model_device

__all__ = ["LayerFeatures", "LinearCombination", "LinearReadout", "REDUCTIONS", "CONSTRUCTIONS", "S1_ATTACKS",
           "accuracy", "adaptive_accuracy", "algorithm_s1", "apgd_ce", "check_sizes", "default_fa_sizes",
           "fit_batchwise_pinv", "fit_linear_combination", "random_linear_combination", "record_features",
           "stratified_split", "table_s1"]

REDUCTIONS = ("gap", "random_projection", "flatten")
#: ridge penalties RidgeCV chooses from (on standardized features).
DEFAULT_ALPHAS = tuple(float(a) for a in np.logspace(-3, 5, 17))
CONSTRUCTIONS = ("fitted", "random")
#: attacks of Table S1 ("none" = clean inputs).
S1_ATTACKS = ("none", "fgsm", "pgd", "autoattack")


def check_sizes(name: str, sizes, high: int, what: str, why: str = "") -> list[int]:
    """Layer counts (f_a or f_b sizes): a non-empty list of integers in 1..``high``; the error names the list."""
    sizes = list(sizes)
    for i, size in enumerate(sizes):
        check_int(f"{name}[{i}]", size)
    if not sizes or max(sizes) > high:
        raise ValueError(f"{name}={sizes!r}: every {what} must be an integer in 1..{high}{why}.")
    return sizes


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
        check_int("n_layers", n_layers)
        if n_layers > len(layers):
            raise ValueError(f"n_layers={n_layers!r} is outside 1..{len(layers)} (the model's trainable layers).")
        if reduction not in REDUCTIONS:
            raise ValueError(f"Unknown reduction {reduction!r}; choose one of {REDUCTIONS}.")
        check_int("projection_dim", projection_dim)
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


def record_features(extractor: LayerFeatures, X: torch.Tensor, batch_size: int = 256):
    """Reduced features (list of CPU float64 arrays, one per layer) and outputs of ``X``, in eval mode."""
    model = extractor.model
    device = model_device(model)
    feats, outs = [[] for _ in range(extractor.n_layers)], []
    with eval_mode(model), torch.no_grad():
        for i in range(0, X.shape[0], batch_size):
            layer_feats, out = extractor(X[i:i + batch_size].to(device))
            for store, f in zip(feats, layer_feats):
                store.append(f.double().cpu())
            outs.append(out.double().cpu())
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
    check_int("batch_size", batch_size)
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
    if not isinstance(fit_fraction, (int, float)) or not 0 < fit_fraction < 1:
        raise ValueError(f"fit_fraction={fit_fraction!r} must be in (0, 1).")
    labels = np.asarray(labels)
    index = np.arange(len(labels))
    counts = np.unique(labels, return_counts=True)[1]
    stratify = labels if counts.min() >= 2 else None
    fit, held = train_test_split(index, train_size=fit_fraction, stratify=stratify, random_state=seed)
    return np.sort(fit), np.sort(held)


class LinearReadout(nn.Module):
    """``x -> sum_{i<=a} lambda_i^T f^(i)(x) + b``: Algorithm S1's predictor on the frozen f*_a as a
    differentiable model, so that the library attacks (torchattacks, APGD) can attack it directly.

    The network is a submodule, so attacks find its device and freeze its parameters as usual;
    the forward pass stops after layer ``a`` (f*_b is never run).
    """

    def __init__(self, extractor: LayerFeatures, combination: LinearCombination, fa_layers: int):
        super().__init__()
        if sum(combination.sizes[:fa_layers]) != combination.coef.shape[0] or len(combination.sizes) != fa_layers:
            raise ValueError(f"the combination has {len(combination.sizes)} layers, not fa_layers={fa_layers}.")
        self.network, self.extractor, self.fa_layers = extractor.model, extractor, fa_layers
        device = model_device(extractor.model)
        self.register_buffer("coef", torch.as_tensor(combination.coef, dtype=torch.float32, device=device))
        self.register_buffer("intercept", torch.as_tensor(combination.intercept, dtype=torch.float32, device=device))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats, _ = self.extractor(x, need_output=False, upto=self.fa_layers)
        return torch.cat(feats, dim=1) @ self.coef + self.intercept


def apgd_ce(model: nn.Module, eps: float, steps: int, seed: int = 0):
    """APGD-CE (Croce and Hein 2020; ``torchattacks.APGD``, L-inf, one restart) as ``(x, y) -> x_adv``;
    it reseeds torch's RNG, so it runs inside ``fork_rng`` to leave the caller's stream alone."""
    check_eps(eps)
    check_int("steps", steps)
    attack = torchattacks.APGD(model, norm="Linf", eps=eps, steps=steps, n_restarts=1, seed=seed, loss="ce")

    def run(x, y):
        devices = [x.device] if x.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices), torch.enable_grad():
            return attack(x, y).detach()

    return run


def adaptive_accuracy(readout: LinearReadout, X: torch.Tensor, y: torch.Tensor, attack: str, eps: float, *,
                      apgd_steps: int = 100, seed: int = 0) -> tuple[float, str]:
    """Accuracy (percent) of the linear predictor under an attack on the predictor itself, and its name.

    ``fgsm``: FGSM through the read-out; ``pgd`` and ``autoattack``: per image the worse of PGD (paper
    schedule) and APGD-CE, so an image counts as correct only if both fail.
    """
    with eval_mode(readout):
        def correct(X_adv):
            with torch.no_grad():
                return readout(X_adv.to(model_device(readout))).argmax(1).cpu() == y

        if attack == "fgsm":
            ok, name = correct(attack_tensors(readout, X, y, attack, eps=eps, progress=False)), attack
        elif attack in ("pgd", "autoattack"):
            ok = correct(attack_tensors(readout, X, y, "pgd", eps=eps, progress=False))
            ok &= correct(attack_tensors(readout, X, y, apgd_ce(readout, eps, apgd_steps, seed), progress=False))
            name = f"worst of pgd and apgd-ce ({apgd_steps} steps)"
        else:
            raise ValueError(f"no adaptive attack for {attack!r}; choose fgsm, pgd or autoattack.")
    return 100.0 * float(ok.float().mean()), name


def algorithm_s1(fit_features: Sequence[np.ndarray], fit_outputs: np.ndarray, eval_features: Sequence[np.ndarray],
                 eval_outputs: np.ndarray, eval_labels, fa_sizes: Sequence[int], *, n_layers: int, alpha="cv",
                 batch_size: int = 64, seed: int = 0) -> tuple[list[dict], dict]:
    """Table S1 rows for each f*_a size ``a`` from recorded features (layers 1..) and outputs.

    lambda is fitted on the fit (training) images and scored on the eval (test) images:
    ``acc_tilde_transfer`` (ridge), ``acc_tilde_batchwise`` (the supplementary's pseudo-inverse, also
    fitted on the fit images), ``acc_tilde_in_sample`` (the pseudo-inverse fitted and scored on the
    eval images, as the authors ran it), ``acc_rand`` (random lambda) and ``acc_star`` (the network).
    Returns the rows and the fitted ridge combinations by ``a``.
    """
    labels = np.asarray(eval_labels)
    for a in fa_sizes:
        if isinstance(a, bool) or not isinstance(a, (int, np.integer)) or not 1 <= a <= len(fit_features):
            raise ValueError(f"f*_a size {a!r} is outside 1..{len(fit_features)} (the recorded layers).")
    rows, fitted = [], {}
    for a in fa_sizes:
        fit_feats, eval_feats = list(fit_features[:a]), list(eval_features[:a])
        ridge = fit_linear_combination(fit_feats, fit_outputs, alpha=alpha)
        pinv = fit_batchwise_pinv(fit_feats, fit_outputs, batch_size=batch_size)
        in_sample = fit_batchwise_pinv(eval_feats, eval_outputs, batch_size=batch_size)
        rand = random_linear_combination(ridge.sizes, eval_outputs.shape[1], seed=seed + int(a))
        lin_eval = ridge.predict(eval_feats)
        rows.append({
            "fa_layers": int(a), "fb_layers": int(n_layers - a), "n_features": int(sum(ridge.sizes)),
            "n_fit": int(fit_outputs.shape[0]), "n_eval": int(eval_outputs.shape[0]), "ridge_alpha": ridge.alpha,
            "acc_star": accuracy(eval_outputs, labels), "acc_tilde_transfer": accuracy(lin_eval, labels),
            "acc_tilde_batchwise": accuracy(pinv.predict(eval_feats), labels),
            "acc_tilde_in_sample": accuracy(in_sample.predict(eval_feats), labels),
            "acc_rand": accuracy(rand.predict(eval_feats), labels),
            "agreement": 100.0 * float(np.mean(lin_eval.argmax(1) == eval_outputs.argmax(1))),
        })
        fitted[int(a)] = ridge
    return rows, fitted


def default_fa_sizes(n_layers: int) -> list[int]:
    """Table S1's f_b sizes 1, 5 and 9 (f*_a = 17, 13, 9 of ResNet-18's 18) for an n-layer network."""
    return [n_layers - fb for fb in (1, 5, 9) if n_layers - fb >= 1]


def table_s1(model: nn.Module, X_fit: torch.Tensor, y_fit: torch.Tensor, X: torch.Tensor, y: torch.Tensor, *,
             eps: float, attacks=S1_ATTACKS, fa_sizes: Sequence[int] | None = None, reduction: str = "gap",
             projection_dim: int = 64, autoattack_images: int | None = 100, alpha="cv", batch_size: int = 64,
             seed: int = 0, attack_fn=None, adaptive: bool = True, apgd_steps: int = 100,
             progress: bool = True) -> list[dict]:
    """Algorithm S1 on clean and attacked versions of the images for several f*_a sizes.

    lambda is fitted on ``(X_fit, y_fit)`` (training images) and scored on ``(X, y)`` (test images),
    each attacked against ``model`` at ``eps`` by ``attack_fn(name, X, y)`` (default
    ``semirobust.attacks.attack_tensors``); AutoAttack uses only the first ``autoattack_images`` of
    each (None: all). With ``adaptive``, each attacked row also gets ``acc_tilde_adaptive``
    (:func:`adaptive_accuracy`: the linear predictor attacked directly on the test images).
    """
    if attack_fn is None:
        def attack_fn(name, Xn, yn):
            return attack_tensors(model, Xn, yn, name, eps=eps, progress=progress)

    n_layers = len(trainable_layers(model))
    fa_sizes = list(default_fa_sizes(n_layers) if fa_sizes is None else fa_sizes)
    unknown = [a for a in attacks if a not in S1_ATTACKS]
    if unknown or not attacks:
        raise ValueError(f"attacks {list(attacks)!r}: choose from {S1_ATTACKS} ('none' = clean inputs).")
    check_sizes("fa_sizes", fa_sizes, n_layers - 1, "f*_a size")
    extractor = LayerFeatures(model, max(fa_sizes), reduction=reduction, projection_dim=projection_dim, seed=seed)
    rows = []
    for name in attacks:
        limit = autoattack_images if name == "autoattack" else None
        Xf, yf, Xe, ye = X_fit[:limit], y_fit[:limit], X[:limit], y[:limit]
        inputs = [(Xa, ya) if name == "none" else (attack_fn(name, Xa, ya), ya) for Xa, ya in ((Xf, yf), (Xe, ye))]
        fit_feats, fit_outs = record_features(extractor, inputs[0][0])
        eval_feats, eval_outs = record_features(extractor, inputs[1][0])
        found, fitted = algorithm_s1(fit_feats, fit_outs, eval_feats, eval_outs, ye.numpy(), fa_sizes,
                                     n_layers=n_layers, alpha=alpha, batch_size=batch_size, seed=seed)
        for row in found:
            if name == "none":
                row["acc_tilde_adaptive"], row["adaptive_attack"] = row["acc_tilde_transfer"], "none (clean)"
            elif adaptive:
                readout = LinearReadout(extractor, fitted[row["fa_layers"]], row["fa_layers"])
                row["acc_tilde_adaptive"], row["adaptive_attack"] = adaptive_accuracy(
                    readout, Xe, ye, name, eps, apgd_steps=apgd_steps, seed=seed)
                row["adaptive_weaker"] = bool(row["acc_tilde_adaptive"] > row["acc_tilde_transfer"])
            else:
                row["acc_tilde_adaptive"], row["adaptive_attack"] = None, "not run"
            rows.append({"attack": name, "eps": 0.0 if name == "none" else float(eps), **row})
    return rows
