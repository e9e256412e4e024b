"""The supplementary's attacks and budgets (Tables S2-S4 shape) on the primary cell's final networks.

Evaluation only, no retraining: the final networks of a finished seed (the regular network, Acc*'s robust one,
(f*_a, f_b) before training, Algorithm 1's validation-selected Acc~ and each control arm's) face FGSM, I-FGSM and
PGD (the paper's step schedule: step 1/255, 10, 20, 36 iterations at 8, 16, 32/255), APGD-CE (AutoAttack's first
attack, the standard 100 iterations) at each of the paper's budgets, and C&W (L2, minimum norm: no budget, run
once), on the scored test images of the cell (the same images for every network). Training stays at the profile's
budget. Each (network, attack, budget) is one record (kind ``budget_eval``), so a rerun reads it; the sizes of
C&W's successful perturbations are records of their own (:func:`run_cw_norms`).
"""
from __future__ import annotations

import dataclasses
import time

import numpy as np

from semirobust.attacks import adversarial_accuracy, attack_tensors, make_attack
from semirobust.config import PAPER_BUDGETS, RunConfig
from semirobust.data import stratified_indices
from semirobust.experiments.table1.evaluation import Evaluation
from semirobust.experiments.table1.finished import final_networks
from semirobust.names import RecordKind
from semirobust.perturbation_norms import successful_perturbations
from semirobust.progress import announce
from semirobust.results import ResultsStore
from semirobust.utils import check_output_dir, default_cache_dir, resolve_device

KIND = RecordKind.BUDGET_EVAL
BUDGET_VERSION = "1"
#: the attacks of the table, in the order it shows them (C&W has no budget: one column)
ATTACK_NAMES = {"fgsm": "FGSM", "ifgsm": "I-FGSM", "pgd": "PGD", "apgd-ce": "APGD-CE", "cw": "C&W (L2)"}
LINF = ("fgsm", "ifgsm", "pgd", "apgd-ce")
#: the networks, in the order the table shows them, with the reader's names
NETWORK_NAMES = {"regular": "regular network", "robust": "Acc* (robust network)", "semirobust": "Acc_sr (f*_a, f_b)",
                 "algorithm1": "Acc~ (Algorithm 1)", "random_fa": "random f_a", "regular_fa": "regular f_a",
                 "standard_fb": "standard f_b", "full_finetune": "full fine-tune"}


def _attack(model, name: str, eps255: int | None, profile):
    if name == "apgd-ce":
        return make_attack("autoattack", model, eps255 / 255, attacks=["apgd-ce"])
    if name == SCORE_ATTACK:  # the profile's scoring attack, on the same images as the standard one
        return make_attack("autoattack", model, eps255 / 255, attacks=["apgd-ce"], apgd_iters=profile.score_apgd_iters)
    if name == "cw":
        return make_attack("cw", model, 0.0)
    return make_attack(name, model, eps255 / 255)


#: the profile's scoring attack (APGD-CE with ``score_apgd_iters``), run beside the standard one at the training
#: budget so that the two are compared on the same images (not a column of the table)
SCORE_ATTACK = "apgd-score"


def grid(profile=None, eps255: int | None = None) -> list[tuple[str, int | None]]:
    """Every (attack, budget) of the table: the L-inf attacks at each paper budget, C&W once; with a ``profile``
    whose scores are a shortened APGD-CE, that attack too at the training budget ``eps255``."""
    cells = [(a, e) for e in PAPER_BUDGETS for a in LINF] + [("cw", None)]
    if profile is not None and profile.score_apgd_iters not in (None, 100) and eps255 is not None:
        cells.append((SCORE_ATTACK, eps255))
    return cells


def table_images(evaluation: Evaluation) -> tuple:
    """The images of the table: the profile's ``budget_images`` stratified images of the scored ones (the same
    for every network; all of them when None)."""
    X, y = evaluation.scored
    n = evaluation.profile.budget_images
    if n is None or n >= len(y):
        return X, y
    idx = np.sort(stratified_indices(y, n, 0))
    return X[idx], y[idx]


def run_budget_seed(config: RunConfig, *, results_dir=None, cache_dir=None, progress: bool = False) -> list[dict]:
    """Every final network of seed ``config.seed`` under every attack and budget of :func:`grid`; returns the
    records (one per network, attack and budget)."""
    if not isinstance(config, RunConfig):
        raise ValueError(f"config must be a semirobust.config.RunConfig, got {type(config).__name__}.")
    store = ResultsStore(check_output_dir(ResultsStore(results_dir).root, "results_dir"))
    check_output_dir(cache_dir if cache_dir is not None else default_cache_dir(), "cache_dir")
    device = resolve_device(config.device)
    evaluation = Evaluation(config, config.resolved_profile, device, progress)
    X, y = table_images(evaluation)
    networks = final_networks(config, results_dir=results_dir, cache_dir=cache_dir)
    records, start_all = [], time.perf_counter()
    for name, (identity, load) in networks.items():
        model = None
        for attack, eps255 in grid(config.resolved_profile, round(config.eps * 255)):
            key = {**identity, "attack": attack, "eps255": eps255, "images": int(len(y)), "seed": config.seed,
                   "dataset": config.dataset, "version": BUDGET_VERSION}
            record = store.read(KIND, key)
            if record is None:
                model = model or load()
                if model is None:
                    break
                start = time.perf_counter()
                acc = adversarial_accuracy(model, (X, y), _attack(model, attack, eps255, config.resolved_profile),
                                           device=device,
                                           batch_size=evaluation.batch_size, progress=progress)
                record = store.write(KIND, key, {"accuracy": acc}, profile=config.resolved_profile.name,
                                     seed=config.seed, device=device, wall_time_s=time.perf_counter() - start,
                                     extra={"network_name": name})
            records.append({**record, "network_name": name})
    announce(f"attacks and budgets, {config.arch} seed {config.seed}: {len(networks)} networks in "
             f"{time.perf_counter() - start_all:.0f} s")
    return records


def _table_setup(config: RunConfig, results_dir, progress: bool) -> tuple:
    """The checked config's results store, device, evaluation and the table's images (the C&W studies')."""
    if not isinstance(config, RunConfig):
        raise ValueError(f"config must be a semirobust.config.RunConfig, got {type(config).__name__}.")
    store = ResultsStore(check_output_dir(ResultsStore(results_dir).root, "results_dir"))
    device = resolve_device(config.device)
    evaluation = Evaluation(config, config.resolved_profile, device, progress)
    return store, device, evaluation, table_images(evaluation)


#: the records of C&W's successful perturbations (:func:`run_cw_norms`), one per network
CW_NORMS_KIND = RecordKind.BUDGET_CW_NORMS


def run_cw_norms(config: RunConfig, *, results_dir=None, cache_dir=None, progress: bool = False) -> list[dict]:
    """C&W (the table's, at the library's defaults) on every final network of seed ``config.seed``, on the table's
    images, and the size of its successful perturbations
    (:func:`semirobust.perturbation_norms.successful_perturbations`: success rate, median and mean L2): one record
    per network (kind :data:`CW_NORMS_KIND`), read when it exists. Its accuracy alone cannot tell a weak attack
    at these settings from a robust network; the norms can."""
    store, device, evaluation, (X, y) = _table_setup(config, results_dir, progress)
    records = []
    for name, (identity, load) in final_networks(config, results_dir=results_dir, cache_dir=cache_dir).items():
        key = {**identity, "attack": "cw", "images": int(len(y)), "seed": config.seed, "dataset": config.dataset,
               "version": BUDGET_VERSION}
        record = store.read(CW_NORMS_KIND, key)
        if record is None:
            model = load()
            if model is None:
                continue
            start = time.perf_counter()
            X_adv = attack_tensors(model, X, y, _attack(model, "cw", None, config.resolved_profile), device=device,
                                   batch_size=evaluation.batch_size, progress=progress)
            found = {**successful_perturbations(model, X, y, X_adv, batch_size=evaluation.batch_size),
                     "pixels": int(X[0].numel())}
            record = store.write(CW_NORMS_KIND, key, found, profile=config.resolved_profile.name, seed=config.seed,
                                 device=device, wall_time_s=time.perf_counter() - start, extra={"network_name": name})
        records.append({**record, "network_name": name})
    return records


#: the records of C&W at stronger settings than the table's (:func:`run_cw_strength`), one per network and setting
CW_STRENGTH_KIND = RecordKind.BUDGET_CW_STRENGTH
#: C&W's (c, steps): the table's (torchattacks' defaults) first, then a larger c, more steps, and both
CW_SETTINGS = ((1.0, 50), (10.0, 50), (1.0, 200), (10.0, 200))
#: the networks C&W's strength is read on: the regular one (the attack must break it), Acc*'s and Algorithm 1's
CW_STRENGTH_NETWORKS = ("regular", "robust", "algorithm1")


def run_cw_strength(config: RunConfig, *, results_dir=None, cache_dir=None, progress: bool = False) -> list[dict]:
    """C&W at each of :data:`CW_SETTINGS` on the networks of :data:`CW_STRENGTH_NETWORKS` of seed ``config.seed``,
    on the table's images: the accuracy it leaves at each setting (one record per network and setting, kind
    :data:`CW_STRENGTH_KIND`, read when it exists). If a larger c or more steps takes a network's accuracy far
    below the table's C&W, the table's C&W reads the attack's weakness, not the network's robustness."""
    store, device, evaluation, (X, y) = _table_setup(config, results_dir, progress)
    networks = final_networks(config, results_dir=results_dir, cache_dir=cache_dir)
    records = []
    for name in [n for n in CW_STRENGTH_NETWORKS if n in networks]:
        identity, load = networks[name]
        model = None
        for c, steps in CW_SETTINGS:
            key = {**identity, "attack": "cw", "c": c, "steps": steps, "images": int(len(y)), "seed": config.seed,
                   "dataset": config.dataset, "version": BUDGET_VERSION}
            record = store.read(CW_STRENGTH_KIND, key)
            if record is None:
                model = model if model is not None else load()
                if model is None:
                    break
                start = time.perf_counter()
                acc = adversarial_accuracy(model, (X, y), make_attack("cw", model, 0.0, c=c, steps=steps),
                                           device=device, batch_size=evaluation.batch_size, progress=progress)
                record = store.write(CW_STRENGTH_KIND, key, {"accuracy": acc}, profile=config.resolved_profile.name,
                                     seed=config.seed, device=device, wall_time_s=time.perf_counter() - start,
                                     extra={"network_name": name})
            records.append({**record, "network_name": name})
    return records


def budget_configs(config: RunConfig) -> list[RunConfig]:
    """One config per seed of the profile's ``budget_table_seeds``."""
    return [dataclasses.replace(config, seed=config.seed + s) for s in config.resolved_profile.budget_table_seeds]


__all__ = ["KIND", "BUDGET_VERSION", "CW_NORMS_KIND", "ATTACK_NAMES", "LINF", "NETWORK_NAMES", "SCORE_ATTACK", "grid",
           "table_images", "run_budget_seed", "run_cw_norms", "CW_STRENGTH_KIND", "CW_SETTINGS",
           "CW_STRENGTH_NETWORKS", "run_cw_strength", "budget_configs"]
