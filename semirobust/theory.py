"""End-to-end runs behind the two theory notebooks: compute, record, summarize, plot.

* :func:`run_theorem3` -- Algorithm S1 / Table S1 (``semirobust.linear_connectivity.table_s1``) and
  Lemma 2 / Theorem 3 on exactly linear networks (``semirobustness_check``) for an adversarially
  trained network; record kind ``"theorem3"``.
* :func:`run_weight_bound` -- Section 2.2 along subnetwork adversarial fine-tuning of f_b from
  (f*_a, f_b): one point per epoch (``semirobust.weight_bound``); record kind ``"weight_bound"``.

Both take the network from :func:`semirobust.training.get_trained_model` (cached, shared with the
other notebooks), validate every argument before any compute, and write one record to the
results store. The ``*_statements`` functions turn the numbers into the sentences the notebooks
print, so the prose reports what was computed.
"""
from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

import pandas as pd

from semirobust.config import (ARCHS, ATTACKS, DATASETS, LAYER_COUNTS, PAPER_FB_LAYERS, PROFILES, Profile, check_choice,
                               check_fb_layers, get_profile)
from semirobust.linear_connectivity import (CONSTRUCTIONS, REDUCTIONS, S1_ATTACKS, binary_labels, default_fa_sizes,
                                            semirobustness_check, stratified_split, table_s1, with_reported_table_s1)

THEOREM3_VERSION = "1"
#: PGD settings approximating the infimum in gamma_j, per profile: evaluation images, steps, restarts.
GAMMA_SETTINGS = {"smoke": {"images": 50, "steps": 20, "restarts": 1},
                  "cpu": {"images": 200, "steps": 20, "restarts": 1},
                  "paper": {"images": 500, "steps": 50, "restarts": 2}}
#: relative tolerance for calling Theorem 3's expression an equality.
EQUALITY_RTOL = 0.05


def _check_int(name, value, low=1, allow_none=True):
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name}={value!r} must be an integer >= {low}{' or None' if allow_none else ''}.")


def _check_eps(eps):
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0 < eps <= 1:
        raise ValueError(f"eps={eps!r} must be a number in (0, 1] (pixel scale, e.g. 8/255).")


def _resolve_profile(profile, device) -> Profile:
    check_choice("profile", profile, PROFILES + ("auto",))
    return get_profile(profile, device)


def _check_device(device):
    from semirobust.utils import resolve_device

    try:
        return resolve_device(device)
    except RuntimeError as exc:  # torch.device("gpu") and other unparsable names
        raise ValueError(f"device={device!r} is not a device; use 'auto', 'cpu' or 'cuda[:i]'.") from exc


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


def cached_attack_tensors(model, model_hash: str, X, y, attack: str, eps: float, cache_dir, progress: bool = True):
    """``attack_tensors(model, X, y, attack, eps)``, stored under ``<cache_dir>/attacked/`` and reused.

    The key is the model's training-configuration hash, the attack with all its parameters
    (``Attack.describe()``) and a digest of the exact images and labels, so a changed model,
    attack setting or image set is attacked afresh. AutoAttack on a CPU takes minutes; this keeps
    reruns of the notebook (same model, same images) fast.
    """
    import hashlib

    import torch

    from semirobust.attacks import attack_tensors, make_attack
    from semirobust.utils import atomic_torch_save, config_hash

    digest = hashlib.sha256(X.numpy().tobytes() + y.numpy().tobytes()).hexdigest()[:16]
    key = {"model": model_hash, "attack": make_attack(attack, model, eps).describe(), "data": digest,
           "version": THEOREM3_VERSION}
    path = Path(cache_dir) / "attacked" / f"{config_hash(key)}.pt"
    if path.exists():
        return torch.load(path, map_location="cpu", weights_only=True)
    X_adv = attack_tensors(model, X, y, attack, eps=eps, progress=progress)
    atomic_torch_save(X_adv, path)
    return X_adv


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


# ---------------------------------------------------------------- Section 2.2


@dataclasses.dataclass
class WeightBoundSettings:
    """Validated arguments of :func:`run_weight_bound` (defaults filled from the profile)."""

    arch: str
    dataset: str
    profile: str
    attack: str
    eps: float
    fb_layers: int
    epochs: int
    n_eval: int | None
    method: str
    tol: float
    seed: int

    def as_config(self) -> dict:
        from semirobust.weight_bound import WEIGHT_BOUND_VERSION

        return {**dataclasses.asdict(self), "version": WEIGHT_BOUND_VERSION}


def weight_bound_settings(arch="vgg16", dataset="digits", *, profile="smoke", attack="pgd", eps=8 / 255,
                          fb_layers=None, epochs=None, n_eval=None, method="lanczos", tol=1e-3, seed=0,
                          device="auto") -> WeightBoundSettings:
    """Check every argument of :func:`run_weight_bound` and fill the defaults (raises ValueError)."""
    from semirobust.hessian import METHODS

    check_choice("model", arch, ARCHS)
    check_choice("dataset", dataset, DATASETS)
    prof = _resolve_profile(profile, device)
    check_choice("attack", attack, ATTACKS)
    _check_eps(eps)
    fb_layers = PAPER_FB_LAYERS[arch] if fb_layers is None else fb_layers
    check_fb_layers(arch, fb_layers)
    if fb_layers == LAYER_COUNTS[arch]:
        raise ValueError(f"fb_layers={fb_layers} leaves f_a empty; Section 2.2 needs a non-empty f*_a.")
    _check_int("epochs", epochs)
    _check_int("n_eval", n_eval, low=2)
    check_choice("eigenvalue method", method, METHODS)
    if not isinstance(tol, (int, float)) or not 0 < tol < 1:
        raise ValueError(f"tol={tol!r} must be in (0, 1).")
    _check_int("seed", seed, low=0, allow_none=False)
    _check_device(device)
    return WeightBoundSettings(arch=arch, dataset=dataset, profile=prof.name, attack=attack, eps=float(eps),
                               fb_layers=fb_layers, epochs=epochs if epochs is not None else prof.sub_epochs,
                               n_eval=n_eval if n_eval is not None else prof.eval_subset, method=method,
                               tol=float(tol), seed=seed)


def run_weight_bound(settings: WeightBoundSettings, *, device="auto", data_root=None, cache_dir=None,
                     results_dir=None, progress: bool = True) -> dict:
    """Section 2.2 along subnetwork fine-tuning of f_b; writes and returns the ``weight_bound`` record.

    Starting point (epoch 0): (f*_a, f_b) with f_b from the regularly trained network. Then
    ``train(mode="adversarial", fb_layers=...)`` (PGD-10, f*_a frozen) evaluates every epoch via
    ``eval_fn``. The fine-tuning run is checkpointed under the cache folder, so a rerun with the
    same settings reuses the finished epochs (and their evaluations) instead of retraining.
    """
    from semirobust.attacks import attack_tensors
    from semirobust.data import dataset_tensors, load_dataset
    from semirobust.models import combine_fa_fb
    from semirobust.results import ResultsStore
    from semirobust.training import get_trained_model, train
    from semirobust.utils import config_hash, default_cache_dir
    from semirobust.weight_bound import WeightBound, bound_checks, make_batches

    if not isinstance(settings, WeightBoundSettings):
        raise ValueError("settings must come from weight_bound_settings(...).")
    s = settings
    dev = _check_device(device)
    t0 = time.perf_counter()
    profile = get_profile(s.profile, dev)
    common = dict(profile=profile, seed=s.seed, data_root=data_root, device=dev, cache_dir=cache_dir, progress=progress)
    regular, regular_info = get_trained_model(s.arch, s.dataset, mode="standard", **common)
    robust, robust_info = get_trained_model(s.arch, s.dataset, mode="adversarial", **common)
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
    result = train(start, train_set, profile=profile, mode="adversarial", fb_layers=s.fb_layers, epochs=s.epochs,
                   device=dev, seed=s.seed, checkpoint_dir=root / "weight_bound" / config_hash(key),
                   eval_fn=point, progress=progress)
    rows += [dict(h) for h in result.history]
    metrics = {"trajectory": rows, "reference": bound.summary(), "checks": bound_checks(rows, ("clean", "adv"))}
    wall = time.perf_counter() - t0
    return ResultsStore(results_dir).write(
        "weight_bound", s.as_config(), metrics, profile=s.profile, seed=s.seed, device=dev, wall_time_s=wall,
        extra={"regular_model": regular_info["config_hash"], "robust_model": robust_info["config_hash"]})


def weight_bound_frame(record: dict) -> pd.DataFrame:
    """The trajectory as a table: one row per epoch."""
    columns = ["epoch", "delta_fb_norm"]
    for name in ("clean", "adv"):
        columns += [f"excess_loss_{name}", f"first_order_{name}", f"second_order_{name}", f"eig_bound_{name}",
                    f"output_diff_{name}", f"norm_bound_{name}"]
    return pd.DataFrame(record["metrics"]["trajectory"])[columns]


def weight_bound_statements(record: dict) -> list[str]:
    """Whether each bound held at every point, and lambda_max's accuracy, as sentences."""
    checks, ref = record["metrics"]["checks"], record["metrics"]["reference"]
    attack = f"{record['config']['attack']} at eps={record['config']['eps'] * 255:.0f}/255"
    lines = []
    for name, label in (("clean", "clean data"), ("adv", f"attacked data ({attack})")):
        r = ref[name]
        lines.append(f"On {label}: lambda_max(H_bb) = {r['lambda_max']:.4g} ({r['method']}, tol {r['tol']:g}, "
                     f"{r['n_hvp']} Hessian-vector products, relative residual {r['relative_residual']:.1e}); "
                     f"||grad|| at w* = {r['grad_norm_star']:.3g} (Section 2.2 assumes 0).")
        for key, text in (("excess_le_eig_bound", "excess loss L(F~) - L(F*) <= 1/2 lambda_max ||w~_b - w*_b||^2"),
                          ("excess_le_norm_bound", "excess loss <= C_x C_sigma ||w~_b - w*_b||_F prod ||W*_(j)||_F"),
                          ("output_diff_le_norm_bound", "E||F*(x) - F~(x)|| <= the same norm bound"),
                          ("second_order_le_eig_bound", "1/2 dw^T H dw <= 1/2 lambda_max ||dw||^2 (Rayleigh)")):
            c = checks[f"{key}_{name}"]
            verdict = "held at every point" if c["held_everywhere"] else f"held at {c['held_at']} of {c['points']} points only"
            lines.append(f"  {text}: {verdict}.")
    return lines


def plot_weight_bound(record: dict):
    """The excess loss (-d) against both bounds and the Taylor terms over the epochs, clean and attacked."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    frame = pd.DataFrame(record["metrics"]["trajectory"])
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharex=True)
    attack = f"{record['config']['attack']}, eps={record['config']['eps'] * 255:.0f}/255"
    for ax, name, title in ((axes[0], "clean", "clean"), (axes[1], "adv", f"attacked ({attack})")):
        ax.plot(frame["epoch"], frame[f"excess_loss_{name}"], "ko-", label="excess loss L(F~) - L(F*) = -d")
        ax.plot(frame["epoch"], frame[f"second_order_{name}"], "s--", label="1/2 dw^T H dw")
        ax.plot(frame["epoch"], frame[f"first_order_{name}"], "^:", label="g^T dw (assumed 0)")
        ax.plot(frame["epoch"], frame[f"eig_bound_{name}"], "v-", label="1/2 lambda_max ||dw_b||^2")
        ax.plot(frame["epoch"], frame[f"norm_bound_{name}"], "d-", label="C ||dw_b||_F prod ||W*_a||_F")
        ax.plot(frame["epoch"], frame[f"output_diff_{name}"], "x:", label="E||F*(x) - F~(x)||")
        ax.set_yscale("symlog", linthresh=1e-2)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("epoch of f_b fine-tuning (0 = (f*_a, f_b))")
    axes[0].set_ylabel("value (symlog scale)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=7, frameon=False)
    fig.suptitle(f"Section 2.2 bounds: {record['config']['arch']} on {record['config']['dataset']}, "
                 f"f_b = {record['config']['fb_layers']} layers (profile={record['profile']})", fontsize=9)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    return fig
