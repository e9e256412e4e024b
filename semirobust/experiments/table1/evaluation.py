"""Algorithm 1's evaluation harness: the test, validation and rho images of a run, the evaluation attack
after every trial epoch, and the full standard AutoAttack once per final network.

After each epoch AutoAttack runs only its first attack, APGD-CE with the standard settings
(:func:`evaluation_attack`; the full AutoAttack takes minutes per evaluation on a CPU and is most of
the authors' cost on a GPU), unless the profile asks for ``full_autoattack``; the full standard
AutoAttack then runs once per final network (:func:`final_autoattack`). The per-epoch accuracy images and the
rho images are nested stratified subsets of the test split (:func:`nested_subsets`), so the images attacked
for a trial's last accuracy are reused for its rho; each selected network is scored once on the scored images
(``profile.test_scored`` stratified test images, the same for every seed and arm).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Subset

from semirobust.attacks import Attack, adversarial_accuracy, attack_tensors, clean_accuracy, make_attack
from semirobust.config import RunConfig, get_profile
from semirobust.data import dataset_tensors, load_dataset, stratified_indices, train_val_split
from semirobust.models import trainable_layers
from semirobust.rho import layer_rhos

#: the AutoAttack attacks run after every trial epoch where the profile has no ``full_autoattack``.
STOPPING_AUTOATTACK = ("apgd-ce",)


def pair_records(frame) -> list[dict]:
    """The calibrated layer pairs of ``rho.layer_rhos`` as JSON-ready dicts (one per pair, network order)."""
    records = []
    for row in frame.to_dict("records"):
        records.append({k: (bool(v) if isinstance(v, (bool,)) or type(v).__name__ == "bool_" else
                            v if isinstance(v, (str, dict)) or v is None else float(v) if k != "n_samples" and
                            not isinstance(v, (int,)) else int(v)) for k, v in row.items()})
    return records


def evaluation_attack(model, attack: str, eps: float, profile, per_epoch: bool = False) -> Attack:
    """The evaluation attack against ``model``: ``make_attack(attack, model, eps)``, except AutoAttack at a
    profile without ``full_autoattack`` (smoke, offline), which runs :data:`STOPPING_AUTOATTACK` only
    (APGD-CE with the standard settings: Algorithm 1 evaluates after every epoch of every trial, and the
    full AutoAttack takes minutes per evaluation on a CPU; it runs once per final network instead).
    ``per_epoch``: the attack after every trial epoch (stopping and selection), APGD-CE shortened to the
    profile's ``stopping_apgd_iters`` where it sets them; scores run the profile's ``score_attacks`` (APGD-CE, and
    APGD-DLR on the images it leaves robust where the profile asks for it) at ``score_apgd_iters`` (None: the
    standard 100 iterations)."""
    profile = get_profile(profile)
    if attack == "autoattack" and not profile.full_autoattack:
        iters = profile.stopping_apgd_iters if per_epoch else profile.score_apgd_iters
        attacks = STOPPING_AUTOATTACK if per_epoch else profile.score_attacks
        return make_attack(attack, model, eps, attacks=list(attacks), apgd_iters=iters)
    return make_attack(attack, model, eps)


def nested_subsets(targets, sizes: tuple[int | None, int | None], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two stratified index sets of the given sizes (None: all), the smaller one inside the larger.

    Used for the accuracy images and the rho images of the test split: the images attacked for a
    trial's last accuracy are then reused for its rho instead of being attacked a second time.
    """
    targets = np.asarray(targets)
    everything = np.arange(len(targets))

    def pick(pool, size):
        return pool if size is None or size >= len(pool) else pool[stratified_indices(targets[pool], size, seed)]

    order = sorted(range(2), key=lambda i: math.inf if sizes[i] is None else sizes[i])
    chosen = [None, None]
    chosen[order[1]] = pick(everything, sizes[order[1]])
    chosen[order[0]] = pick(chosen[order[1]], sizes[order[0]])
    return chosen[0], chosen[1]


class Evaluation:
    """The test images of one run and the evaluation attack, shared by all steps."""

    def __init__(self, config: RunConfig, profile, device: torch.device, progress: bool):
        self.config, self.profile, self.device, self.progress = config, profile, device, progress
        self.clean = dataset_tensors(load_dataset(config.dataset, "test", root=config.data_root,
                                                  subset=profile.test_subset, seed=config.seed))
        test = load_dataset(config.dataset, "test", root=config.data_root)
        # the same test images for every seed and arm (seed 0 picks them): the arms and seeds are paired
        eval_idx, rho_idx = nested_subsets(test.targets, (profile.eval_subset, profile.rho_samples), 0)
        self.eval = dataset_tensors(Subset(test, eval_idx.tolist()))
        self.rho = dataset_tensors(Subset(test, rho_idx.tolist()))
        #: the test images every selected network is scored on: ``profile.test_scored`` stratified test images,
        #: one set (seed 0) for every seed and arm; the per-epoch ``eval`` images where the profile sets none
        self.scored = self.eval
        if profile.test_scored is not None:
            targets = np.asarray(test.targets)
            scored_idx = np.arange(len(targets)) if profile.test_scored >= len(targets) else \
                np.sort(stratified_indices(targets, profile.test_scored, 0))
            self.scored = dataset_tensors(Subset(test, scored_idx.tolist()))
        position = {int(i): p for p, i in enumerate(eval_idx)}
        #: rho images that are accuracy images too (their position there) and the others
        self.rho_from_eval = torch.as_tensor([position[int(i)] for i in rho_idx if int(i) in position], dtype=torch.long)
        self.rho_extra = torch.as_tensor([p for p, i in enumerate(rho_idx) if int(i) not in position], dtype=torch.long)
        self.batch_size = max(profile.batch_size, 256)
        _, val = train_val_split(load_dataset(config.dataset, "train", root=config.data_root,
                                              subset=profile.train_subset, seed=config.seed),
                                 profile.val_fraction, config.seed)
        if len(val) == 0:
            raise ValueError(f"profile {profile.name!r} has val_fraction 0: Algorithm 1 stops and selects on a "
                             "validation split; give it a positive val_fraction.")
        self.val = dataset_tensors(val, limit=profile.val_subset if profile.val_subset is not None else
                                   profile.eval_subset)

    def attack(self, model) -> Attack:
        """The scoring attack (Acc*, Acc_sr, each selected network, rho's attacked images)."""
        return evaluation_attack(model, self.config.attack, self.config.eps, self.profile)

    def epoch_attack(self, model) -> Attack:
        """The attack after every trial epoch (stopping and selection)."""
        return evaluation_attack(model, self.config.attack, self.config.eps, self.profile, per_epoch=True)

    def final_images(self, n_images: int | None) -> tuple[torch.Tensor, torch.Tensor]:
        """The images of the final full AutoAttack: a stratified ``n_images`` of the accuracy images, or
        (None) every test image of the run, the paper's final evaluation on the whole test split."""
        if n_images is None:
            return self.clean
        X, y = self.eval
        if n_images < len(y):
            keep = torch.as_tensor(stratified_indices(y.numpy(), n_images, 0), dtype=torch.long)
            X, y = X[keep], y[keep]
        return X, y

    def attacked(self, model, X, y) -> torch.Tensor:
        return attack_tensors(model, X, y, self.attack(model), device=self.device, batch_size=self.batch_size,
                              progress=self.progress)

    def clean_accuracy(self, model) -> float:
        return clean_accuracy(model, self.clean, device=self.device, batch_size=self.batch_size, progress=False)

    def adversarial_accuracy(self, model) -> float:
        """Adversarial accuracy on the per-epoch test images under the per-epoch attack."""
        return adversarial_accuracy(model, self.eval, self.epoch_attack(model), device=self.device,
                                    batch_size=self.batch_size, progress=self.progress)

    def scored_accuracy(self, model) -> float:
        """Adversarial accuracy on the scored images (``self.scored``): the number a selected network reports."""
        return adversarial_accuracy(model, self.scored, self.attack(model), device=self.device,
                                    batch_size=self.batch_size, progress=self.progress)

    def val_accuracy(self, model) -> float:
        """Adversarial accuracy on the validation images (stopping and unbiased selection)."""
        return adversarial_accuracy(model, self.val, self.epoch_attack(model), device=self.device,
                                    batch_size=self.batch_size, progress=False)

    def attacked_accuracy(self, model) -> tuple[float, torch.Tensor]:
        """Adversarial accuracy on the accuracy images, and those attacked images (for reuse by rho)."""
        X_adv = self.attacked(model, *self.eval)
        return clean_accuracy(model, (X_adv, self.eval[1]), device=self.device, batch_size=self.batch_size,
                              progress=False), X_adv

    def rhos(self, model, eval_adv: torch.Tensor | None = None) -> tuple[list[float], list[dict]]:
        """rho_{a+1} .. rho_n of ``model`` on the attacked rho images, in network order (one value per
        layer of f_b; when f_b is the whole network there is no f_a layer and the first pair is dropped).

        ``eval_adv``: the accuracy images already attacked against this same model; the rho
        images among them are reused and only the others are attacked.
        """
        X, y = self.rho
        if eval_adv is None:
            X_adv = self.attacked(model, X, y)
        else:
            X_adv = torch.empty_like(X)
            X_adv[: len(self.rho_from_eval)] = eval_adv[self.rho_from_eval]
            y = torch.cat([self.eval[1][self.rho_from_eval], y[self.rho_extra]])
            if len(self.rho_extra):
                X_adv[len(self.rho_from_eval):] = self.attacked(model, X[self.rho_extra], y[len(self.rho_from_eval):])
        pairs = min(self.config.fb_layers, len(trainable_layers(model)) - 1)
        frame = layer_rhos(model, X_adv, y, pairs, batch_size=self.batch_size)
        return [float(v) for v in frame["rho"]], pair_records(frame)


def best_checkpoint(checkpoint_dir: Path, selection: str) -> Path:
    """Where a trial keeps its best-epoch network: ``selection`` "test" (the paper's box) or "val"."""
    return checkpoint_dir.parent / f"{checkpoint_dir.name}-best{'' if selection == 'test' else '-val'}.pt"


def final_autoattack(model, evaluation: Evaluation, n_images: int | None) -> tuple[dict, str]:
    """Accuracy (percent) of ``model`` under the full standard AutoAttack on the final images
    (:meth:`Evaluation.final_images`), and under APGD-CE alone (AutoAttack's first attack, same settings
    and seed) on the same images: their difference is what the rest of AutoAttack adds. Returns the
    metrics and the description of the full attack."""
    X, y = evaluation.final_images(n_images)
    run = dict(device=evaluation.device, batch_size=evaluation.batch_size, progress=evaluation.progress)
    eps = evaluation.config.eps
    full, first = make_attack("autoattack", model, eps), make_attack("autoattack", model, eps, attacks=["apgd-ce"])
    return ({"accuracy": adversarial_accuracy(model, (X, y), full, **run),
             "apgd_ce_accuracy": adversarial_accuracy(model, (X, y), first, **run), "images": int(len(y))},
            full.describe())


__all__ = ["STOPPING_AUTOATTACK", "Evaluation", "evaluation_attack", "nested_subsets", "pair_records",
           "best_checkpoint", "final_autoattack"]
