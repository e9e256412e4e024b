"""Training methods as objects, in one registry: what each attacks with, its loss and its cost per step.

:data:`METHODS` maps each training mode (a :class:`~semirobust.names.TrainingMode`: the string records, cache keys
and ``training.train`` use) to a :class:`TrainingMethod`, the way ``torchattacks`` holds attacks:

* ``standard``: cross-entropy on clean images, no attack;
* ``adversarial``: Madry et al.'s PGD (:func:`train_attack`: PGD-``steps`` with random start, eps 8/255 and
  step eps/4 at 10 steps, supplementary III.A);
* ``fgsm_rs``: FGSM with random start, one step of 1.25 eps, in train mode (Wong et al. 2020; no cyclic learning rate);
* ``trades``: TRADES's KL attack of ``steps`` steps and its loss, beta 1 (Zhang et al. 2019; see ``TRADES_BETA``);
* ``atta``: :data:`ATTA_STEPS` PGD steps from perturbations carried across epochs, reset every
  :data:`ATTA_RESET_EVERY` epochs (Zheng et al. 2020, as the supplementary runs it).

A method gives its ``spec`` (the attack as records name it), ``start``s a :class:`MethodRun` for one training
run (the attack of each batch, the loss of the update, and any state a resumed run must restore) and its
``passes`` per step for the cost model (``semirobust.cost``). :func:`get_method` checks a mode once, at the
boundary, with an error naming the known methods (a plain string becomes its :class:`TrainingMode`); the library
trusts the method object and the member from there on.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.data import Dataset

from semirobust.at_methods import TRADES_BETA, AttaPerturbations, fgsm_rs, pgd_from, trades_loss, trades_perturbation
from semirobust.attacks import make_attack
from semirobust.augmentation import Augmentation
from semirobust.names import TrainingMode, parse_choice

#: ATTA as the supplementary runs it: 3 PGD steps per attack, perturbations reset every 10 epochs
ATTA_STEPS, ATTA_RESET_EVERY = 3, 10
#: the attack of adversarial training (supplementary III.A), for full networks and f_b alike, at 8/255;
#: other budgets keep step eps/4 (:func:`train_attack`).
TRAIN_ATTACK = {"name": "pgd", "eps": 8 / 255, "alpha": 2 / 255, "steps": 10, "random_start": True}


def train_attack(eps: float | None = None, steps: int = 10) -> dict:
    """PGD with random start, ``steps`` steps of 2.5 eps / steps at ``eps`` (None: 8/255, the
    supplementary's; 10 steps give its step eps/4)."""
    if (eps is None or abs(eps - TRAIN_ATTACK["eps"]) < 1e-12) and steps == TRAIN_ATTACK["steps"]:
        return dict(TRAIN_ATTACK)
    eps = TRAIN_ATTACK["eps"] if eps is None else float(eps)
    return {**TRAIN_ATTACK, "eps": eps, "alpha": 2.5 * eps / steps, "steps": int(steps)}


def _eps(eps: float | None) -> float:
    return TRAIN_ATTACK["eps"] if eps is None else float(eps)


class MethodRun:
    """One training run's use of a method: ``attack(x, y)`` (None: clean images) and ``loss_fn(model, clean,
    logits, y)`` of the update (None: cross-entropy on ``logits``), the same for every batch."""

    def __init__(self, attack: Callable | None = None, loss_fn: Callable | None = None):
        self.attack, self.loss_fn = attack, loss_fn

    def batch_attack(self, indices: torch.Tensor, epoch: int, augmentation: Augmentation | None = None
                     ) -> Callable | None:
        """The attack of the batch of images ``indices`` (positions in the training set) in ``epoch`` (0-based),
        augmented by ``augmentation`` (None: not augmented)."""
        return self.attack

    def state_dict(self) -> dict | None:
        """What a resumed run must restore (None: nothing)."""
        return None

    def load_state_dict(self, state: dict | None) -> None:
        """Restore :meth:`state_dict` (nothing to restore here)."""

    def continue_from(self, state: dict | None) -> None:
        """Start from the state another run ended with (the seed's previous trial; nothing carried here)."""


class AttaRun(MethodRun):
    """ATTA's run: PGD from each image's carried perturbation, stored back for the next epoch."""

    def __init__(self, model: nn.Module, spec: dict, train_set: Dataset):
        super().__init__()
        self.model, self.spec = model, spec
        first_x, _ = train_set[0]
        self.store = AttaPerturbations(len(train_set), tuple(first_x.shape), spec["eps"],
                                       reset_every=spec["reset_every"])

    def batch_attack(self, indices: torch.Tensor, epoch: int, augmentation: Augmentation | None = None) -> Callable:
        model, store, spec = self.model, self.store, self.spec

        def attack(x, y):
            x_adv = pgd_from(model, x, y, store.start(indices, x, epoch, augmentation), spec["eps"], spec["steps"],
                             alpha=spec["alpha"])
            store.store(indices, x, x_adv, augmentation)
            return x_adv
        return attack

    def state_dict(self) -> dict:
        """The carried perturbations (a resumed run, or the seed's next trial, goes on from them)."""
        return self.store.state_dict()

    def load_state_dict(self, state: dict | None) -> None:
        self.store.load_state_dict(state)

    def continue_from(self, state: dict | None) -> None:
        if state is not None:
            self.store.continue_from(state)


@dataclass(frozen=True)
class TrainingMethod:
    """A training method: its mode name, its attack's gradient steps per training step (None: the profile's
    ``train_attack_steps``), the update's forward branches and forward-only passes, and whether its code lives
    in :mod:`semirobust.at_methods` (that module is then part of its networks' cache key). This base class is
    standard training: no attack, cross-entropy."""

    name: TrainingMode
    attack_steps: int | None = 0
    branches: int = 1
    clean_forwards: int = 0
    uses_at_methods: bool = False

    def spec(self, eps: float | None = None, steps: int = 10) -> dict | None:
        """The method's attack as records and cache keys name it (None: no attack)."""
        return None

    def start(self, model: nn.Module, spec: dict | None, train_set: Dataset) -> MethodRun:
        """The method's :class:`MethodRun` for training ``model`` on ``train_set`` with attack ``spec``."""
        return MethodRun()

    def passes(self, train_attack_steps: int) -> tuple[int, int, int]:
        """Per training step and image: the attack's gradient steps, the update's branches, its forward-only
        passes (``semirobust.cost.step_layer_passes``)."""
        steps = train_attack_steps if self.attack_steps is None else self.attack_steps
        return steps, self.branches, self.clean_forwards


class PGDMethod(TrainingMethod):
    """Madry et al.'s adversarial training with :func:`train_attack`'s PGD."""

    def spec(self, eps=None, steps=10):
        return train_attack(eps, steps)

    def start(self, model, spec, train_set):
        return MethodRun(make_attack("pgd", model, spec["eps"], alpha=spec["alpha"], steps=spec["steps"],
                                     random_start=spec["random_start"]))


class FGSMRSMethod(TrainingMethod):
    """FGSM with random start: one step of 1.25 eps from a uniform start."""

    def spec(self, eps=None, steps=10):
        eps = _eps(eps)
        return {"name": "fgsm_rs", "eps": eps, "alpha": 1.25 * eps, "steps": 1, "random_start": True}

    def start(self, model, spec, train_set):
        # the reference attacks the network in train mode (BatchNorm on the batch); train() would otherwise leave the
        # first batch of each epoch in the eval mode of the evaluation before it
        return MethodRun(lambda x, y: fgsm_rs(model.train(), x, y, spec["eps"], alpha=spec["alpha"]))


class TRADESMethod(TrainingMethod):
    """TRADES: the KL attack of ``steps`` steps of 2.5 eps / steps, and cross-entropy on the clean batch plus
    beta times the KL to the attacked one."""

    def spec(self, eps=None, steps=10):
        eps = _eps(eps)
        return {"name": "trades", "eps": eps, "alpha": 2.5 * eps / steps, "steps": int(steps), "beta": TRADES_BETA}

    def start(self, model, spec, train_set):
        beta = spec["beta"]
        return MethodRun(lambda x, y: trades_perturbation(model, x, spec["eps"], steps=spec["steps"],
                                                          alpha=spec["alpha"]),
                         lambda net, clean, logits, y: trades_loss(net(clean), logits, y, beta))


class ATTAMethod(TrainingMethod):
    """ATTA: :data:`ATTA_STEPS` PGD steps of 2.5 eps / 3 from the carried perturbations."""

    def spec(self, eps=None, steps=10):
        return {"name": "atta", "eps": _eps(eps), "alpha": 2.5 * _eps(eps) / ATTA_STEPS, "steps": ATTA_STEPS,
                "reset_every": ATTA_RESET_EVERY}

    def start(self, model, spec, train_set):
        return AttaRun(model, spec, train_set)


#: every training method by its mode name
METHODS: dict[TrainingMode, TrainingMethod] = {method.name: method for method in (
    TrainingMethod(TrainingMode.STANDARD),
    PGDMethod(TrainingMode.ADVERSARIAL, attack_steps=None),
    FGSMRSMethod(TrainingMode.FGSM_RS, attack_steps=1, uses_at_methods=True),
    TRADESMethod(TrainingMode.TRADES, attack_steps=None, branches=2, clean_forwards=1, uses_at_methods=True),
    ATTAMethod(TrainingMode.ATTA, attack_steps=ATTA_STEPS, uses_at_methods=True),
)}
#: the training modes, in :class:`TrainingMode`'s order (older name, kept for callers)
MODES = tuple(METHODS)
#: the modes whose attack or loss comes from semirobust.at_methods (their cache keys include that module)
AT_METHOD_MODES = tuple(name for name, method in METHODS.items() if method.uses_at_methods)


def get_method(mode: TrainingMode | str) -> TrainingMethod:
    """The :class:`TrainingMethod` of ``mode`` (a :class:`TrainingMode` or its string); an unknown mode is an error
    naming the known ones. ``get_method(mode).name`` is the mode as a member."""
    return METHODS[parse_choice("training mode", mode, TrainingMode)]


def method_spec(mode: TrainingMode | str, eps: float | None = None, steps: int = 10) -> dict | None:
    """What training ``mode`` attacks with, as records and cache keys name it (None: standard training)."""
    return get_method(mode).spec(eps, steps)


__all__ = ["TrainingMode", "ATTA_STEPS", "ATTA_RESET_EVERY", "TRAIN_ATTACK", "train_attack", "MethodRun", "AttaRun",
           "TrainingMethod",
           "PGDMethod", "FGSMRSMethod", "TRADESMethod", "ATTAMethod", "METHODS", "MODES", "AT_METHOD_MODES",
           "get_method", "method_spec"]
