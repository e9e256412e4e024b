"""Theorem 3 / Lemma 2 checked on exactly linear networks, and the run behind the theorem3 notebook.

:func:`semirobustness_check` measures the semirobustness gamma of every layer of a trained network
and of exactly linear networks built on it (:mod:`semirobust.experiments.theory.linear_network`), and
compares Lemma 2 and Theorem 3's relations with the measurements; :func:`theorem3_checks` turns
them into verdicts.

:func:`run_theorem3` runs Algorithm S1 / Table S1 (:mod:`semirobust.experiments.theory.algorithm_s1`) and
Lemma 2 / Theorem 3 on exactly linear networks (:func:`semirobustness_check`) for an adversarially
trained network; record kind ``"theorem3"``. It takes the network from
:func:`semirobust.training.get_trained_model`, validates every argument before any compute and
writes one record to the results store. Its tables, sentences and plots are in
:mod:`semirobust.experiments.theory.theorem3_report`.
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
    FIGURE2_FB_SIZES,
    LAYER_COUNTS,
    PAPER_FB_LAYERS,
    Profile,
    check_choice,
    check_eps,
    check_int,
)
from semirobust.data import dataset_info, dataset_tensors, load_dataset
from semirobust.experiments.theory.algorithm_s1 import (
    CONSTRUCTIONS,
    REDUCTIONS,
    S1_ATTACKS,
    LayerFeatures,
    check_sizes,
    default_fa_sizes,
    table_s1,
)
from semirobust.experiments.theory.common import (
    THEOREM3_VERSION,
    cached_attack_tensors,
    check_device,
    resolve_profile,
    start_run,
)
from semirobust.experiments.theory.linear_network import (
    LinearlyConnectedNetwork,
    binary_labels,
    build_linear_network,
    check_pgd,
    estimate_infima,
    fit_readouts,
    gamma_readings,
    layer_objectives,
    readout_scale,
    standardized_base,
)
from semirobust.models import trainable_layers
from semirobust.names import RecordKind, TrainingMode
from semirobust.results import ResultsStore
from semirobust.training import get_trained_model
from semirobust.utils import check_output_dir, default_cache_dir, eval_mode, frozen, model_device, seed_everything

# the exactly linear network's pieces stay importable from here, where the tests and notebooks have found them
__all__ = ["binary_labels", "LinearlyConnectedNetwork", "build_linear_network", "standardized_base",
           "fit_readouts", "estimate_infima", "readout_scale", "gamma_readings", "layer_objectives",
           "theorem3_bound", "paper_splits", "paper_theorem3_bounds", "semirobustness_check",
           "Theorem3Settings", "default_theorem3_fa_sizes", "theorem3_settings", "run_theorem3",
           "theorem3_checks"]


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
    fa_sizes = check_sizes("fa_sizes", fa_sizes, n - 1, "f_a size")
    if construction not in CONSTRUCTIONS:
        raise ValueError(f"Unknown construction {construction!r}; choose one of {CONSTRUCTIONS}.")
    check_pgd(eps, steps, restarts)
    eps = float(eps)
    y_fit, y_eval = np.asarray(y_fit, dtype=np.float64), np.asarray(y_eval, dtype=np.float64)
    if set(np.unique(np.concatenate([y_fit, y_eval]))) - {-1.0, 1.0}:
        raise ValueError("binary labels must be -1 or +1 (see binary_labels).")
    device = model_device(model)
    X_eval, X_fit_d = X_eval.to(device), X_fit.to(device)

    def measure(objective_fn, offset):
        inf = estimate_infima(objective_fn, X_eval, y_eval, eps=eps, steps=steps, restarts=restarts,
                              seed=seed + offset)
        with torch.no_grad():
            clean = objective_fn(X_eval).double().cpu().numpy().T * y_eval[None, :]
        return gamma_readings(inf, clean, readout_scale(objective_fn, X_fit_d))

    with eval_mode(model), frozen(model):  # only input gradients are needed
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


# ---------------------------------------------------------------- the run


@dataclasses.dataclass
class Theorem3Settings:
    """Validated arguments of :func:`run_theorem3` (defaults filled from the profile)."""

    arch: str
    dataset: str
    profile: str | Profile  # a profile's name, or a custom Profile (then all its fields name the record)
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
    are stated in a). ``profile`` is a profile's name or a :class:`~semirobust.config.Profile` (e.g. a
    smaller one built with ``dataclasses.replace``)."""
    check_choice("model", arch, ARCHS)
    check_choice("dataset", dataset, DATASETS)
    prof = resolve_profile(profile, device).for_run(arch, dataset)
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
        fb_sizes = check_sizes("fb_sizes", fb_sizes if isinstance(fb_sizes, (list, tuple)) else (fb_sizes,), n - 1,
                               "f_b size", f" ({arch} has {n} trainable layers and f*_a needs at least one)")
        fa_sizes = tuple(sorted({n - k for k in fb_sizes}, reverse=True))
    check_choice("feature reduction", reduction, REDUCTIONS)
    check_choice("construction", construction, CONSTRUCTIONS)
    for name, value, low in (("n_images", n_images, 20), ("autoattack_images", autoattack_images, 20),
                             ("gamma_images", gamma_images, 4), ("gamma_steps", gamma_steps, 1),
                             ("apgd_steps", apgd_steps, 1)):
        check_int(name, value, low=low, allow_none=True)
    check_int("gamma_restarts", gamma_restarts, low=0, allow_none=True)
    check_int("seed", seed, low=0)
    check_device(device)
    n_images = n_images if n_images is not None else (prof.theory_images or prof.test_subset)
    return Theorem3Settings(
        arch=arch, dataset=dataset, profile=profile if isinstance(profile, Profile) else prof.name, eps=float(eps), attacks=attacks, fa_sizes=fa_sizes,
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
    s, dev, t0, profile = start_run(settings, Theorem3Settings, "theorem3_settings", device)
    check_output_dir(ResultsStore(results_dir).root, "results_dir")
    check_output_dir(cache_dir if cache_dir is not None else default_cache_dir(), "cache_dir")
    model, info = get_trained_model(s.arch, s.dataset, mode=TrainingMode.ADVERSARIAL, profile=profile, seed=s.seed,
                                    data_root=data_root, device=dev, cache_dir=cache_dir, progress=progress,
                                    train_eps=s.eps)
    stored = ResultsStore(results_dir).read(RecordKind.THEOREM3, s.as_config())
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
        RecordKind.THEOREM3, s.as_config(), metrics, profile=profile.name, seed=s.seed, device=dev, wall_time_s=wall,
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
