"""The cost of Algorithm 1 in gradient evaluations: one counting model for the run's records, the sweep's
estimate, the efficiency page and the benchmark.

One gradient evaluation is one image's forward and backward pass (what
:class:`semirobust.attacks.GradEvalCounter` counts; forward-only passes are not counted). The layer-pass
model behind the counts, per image, with F the forward cost of the whole network and F_b that of f_b:

* an attack of S gradient steps: S evaluations, each a forward pass and an input-gradient backward
  pass (about 2F; the standard AutoAttack: :func:`semirobust.attacks.autoattack_grad_evals`);
* a training step with a PGD-K attack: K + 1 evaluations (K attack steps and the update), standard
  training (K = 0) 1; the update costs F + 2F = 3F, or F + 2F_b when f_a is frozen (the weight-gradient
  backward stops at f_b's input), so a step costs ``2K + 3`` F in full and ``2K + 1 + 2 F_b/F`` frozen
  (:func:`step_forwards`).

Algorithm 1 trains a regular and an adversarial network (``profile.epochs`` each, shared by every f_b
size) and then at most T trials of E epochs of f_b (:func:`algorithm1_epochs`); the training attack is
the profile's own PGD-``train_attack_steps`` (PGD-10 at the paper profile, PGD-5 offline), the
authors' is PGD-10 (supplementary III.A).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from semirobust.attacks import autoattack_grad_evals, paper_schedule
from semirobust.config import DATASET_SPECS, Profile, check_choice, check_int, get_profile
from semirobust.models import trainable_layers
from semirobust.training_methods import get_method

#: PGD steps of the authors' adversarial training (supplementary III.A).
PAPER_TRAIN_ATTACK_STEPS = 10
#: the authors' trials and epochs per trial of one Table 1 cell (their scripts' upper bound).
AUTHORS_TRIALS = 10
AUTHORS_EPOCHS = 10
#: gradient steps per image of the evaluation attacks that do not follow the paper's iteration schedule:
#: FGSM one; C&W the 50 steps semirobust.attacks uses; AutoAttack (standard) an upper bound of
#: APGD-CE 100 + APGD-T 9x100 + FAB-T 9x100 + Square 5000 forward queries (~1/3 step each).
FIXED_ATTACK_STEPS = {"fgsm": 1, "cw": 50, "autoattack": 100 + 900 + 900 + 5000 // 3}


def training_grad_evals(attack_steps: int) -> int:
    """Gradient evaluations of one training step per image: ``attack_steps`` of PGD and the update
    (0 steps: standard training, the update alone)."""
    return attack_steps + 1


def step_forwards(attack_steps: int, fb_fraction: float = 1.0) -> float:
    """FLOPs of one training step per image in units of one forward pass F: ``attack_steps`` x 2F of
    PGD, the forward pass F and the weight-gradient backward 2F through f_b (``fb_fraction`` = F_b / F;
    1 for the full network: 3F for a standard step, 2K + 3 for PGD-K)."""
    return 2.0 * attack_steps + 1.0 + 2.0 * fb_fraction


# ---------------------------------------------------------------- per-layer passes, weighted by FLOPs


def layer_flops(model: nn.Module, input_shape: tuple[int, ...] = (3, 32, 32)) -> list[float]:
    """Multiply-accumulates of one image's forward pass through each trainable layer (Conv2d, Linear), in
    network order: the weights of the layer-pass model below."""
    flops, handles = {}, []

    def hook(module, inputs, output):
        if isinstance(module, nn.Conv2d):
            per_output = module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
        else:
            per_output = module.in_features
        flops[id(module)] = float(output[0].numel() * per_output)

    layers = [m for _, m in trainable_layers(model)]
    for layer in layers:
        handles.append(layer.register_forward_hook(hook))
    training = model.training
    try:
        model.eval()
        with torch.no_grad():
            device = next(model.parameters()).device
            model(torch.zeros((1, *input_shape), device=device))
    finally:
        for handle in handles:
            handle.remove()
        model.train(training)
    return [flops[id(layer)] for layer in layers]


@dataclass(frozen=True)
class LayerPasses:
    """Passes of one image through each trainable layer in one training step: forwards, backwards that compute
    the layer's input gradient, and backwards that compute its weight gradient (lists in network order)."""

    forward: list[float]
    input_grad: list[float]
    weight_grad: list[float]

    def cost(self, flops: list[float]) -> float:
        """The step's cost in forward passes of the whole network (F): every pass weighted by its layer's FLOPs
        (a backward pass costs one forward pass for the input gradient and one for the weight gradient)."""
        total = sum(flops)
        return sum(f * (a + b + c) for f, a, b, c in zip(flops, self.forward, self.input_grad, self.weight_grad)) / total


def step_layer_passes(n_layers: int, fb_layers: int | None, attack_steps: int, branches: int = 1,
                      clean_forwards: int = 0) -> LayerPasses:
    """The layer passes of one training step per image (what :class:`LayerPassCounter` counts).

    An attack of ``attack_steps`` gradient steps runs a forward and an input-gradient backward through every
    layer per step (the weights are frozen while attacking). The update runs ``branches`` forward passes
    (TRADES: 2, the clean and the attacked batch) and one backward each that stops where no gradient is needed:
    weight gradients for the trained layers (the last ``fb_layers``, or all with ``fb_layers`` None) and input
    gradients for every trained layer but the first (its input, the image or f_a's frozen output, needs none).
    ``clean_forwards``: forward-only passes (TRADES's clean prediction before its attack)."""
    check_int("n_layers", n_layers)
    trained = n_layers if fb_layers is None else check_int("fb_layers", fb_layers, high=n_layers)
    first = n_layers - trained
    forward = [float(attack_steps + branches + clean_forwards)] * n_layers
    input_grad = [float(attack_steps + (branches if i > first else 0)) for i in range(n_layers)]
    weight_grad = [float(branches if i >= first else 0) for i in range(n_layers)]
    return LayerPasses(forward, input_grad, weight_grad)


def mode_layer_passes(mode: str, n_layers: int, fb_layers: int | None, train_attack_steps: int) -> LayerPasses:
    """:func:`step_layer_passes` of one step of training ``mode``, whose method says its passes
    (:meth:`semirobust.training_methods.TrainingMethod.passes`)."""
    steps, branches, clean = get_method(mode).passes(train_attack_steps)
    return step_layer_passes(n_layers, fb_layers, steps, branches, clean)


def training_cost(model: nn.Module, mode: str, fb_layers: int | None, images: int, train_attack_steps: int,
                  input_shape: tuple[int, ...] = (3, 32, 32)) -> float:
    """Cost of training ``images`` image-steps of ``mode`` in full-network gradient evaluations (one image's
    forward and full backward, 3F): the layer passes of :func:`mode_layer_passes` weighted by
    :func:`layer_flops`, so a frozen f_a's missing weight and input gradients are not counted."""
    passes = mode_layer_passes(mode, len(trainable_layers(model)), fb_layers, train_attack_steps)
    return images * passes.cost(layer_flops(model, input_shape)) / 3.0


class LayerPassCounter:
    """Counts, per trainable layer, the images sent forward through it, the images whose input gradient and
    whose weight gradient it computed (the measured side of :func:`step_layer_passes`)."""

    def __init__(self, model: nn.Module):
        self.layers = [m for _, m in trainable_layers(model)]
        self.forward = [0] * len(self.layers)
        self.input_grad = [0] * len(self.layers)
        self.weight_grad = [0] * len(self.layers)
        self._handles = [layer.register_forward_hook(self._hook(i)) for i, layer in enumerate(self.layers)]

    def _hook(self, i: int):
        def on_forward(module, inputs, output):
            n = output.shape[0]
            self.forward[i] += n
            if not output.requires_grad:
                return
            needs_input, needs_weight = inputs[0].requires_grad, module.weight.requires_grad

            def on_backward(grad):
                self.input_grad[i] += n if needs_input else 0
                self.weight_grad[i] += n if needs_weight else 0
            output.register_hook(on_backward)
        return on_forward

    def passes(self, images: int) -> LayerPasses:
        """The counts per image (divided by ``images``)."""
        return LayerPasses(*([c / images for c in counts] for counts in (self.forward, self.input_grad, self.weight_grad)))

    def close(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()


def evaluation_attack_steps(attack: str, eps: float) -> int:
    """Gradient steps per image of an evaluation attack: :data:`FIXED_ATTACK_STEPS`, or the paper's
    iteration schedule at ``eps`` for the iterative attacks (I-FGSM, PGD)."""
    return FIXED_ATTACK_STEPS[attack] if attack in FIXED_ATTACK_STEPS else paper_schedule(eps)["steps"]


def algorithm1_epochs(profile: str | Profile, trials: int | None = None, sub_epochs: int | None = None) -> dict:
    """Epochs of each kind Algorithm 1 runs at ``profile`` (upper bound: no trial stops early): the regular
    and the adversarial full network (``profile.epochs`` each) and ``trials`` x E subnetwork epochs."""
    prof = get_profile(profile)
    trials, sub_epochs = trials or prof.trials, sub_epochs or prof.sub_epochs
    return {"regular": prof.epochs, "adversarial": prof.epochs, "subnetwork": trials * sub_epochs,
            "trials": trials, "sub_epochs": sub_epochs}


def algorithm1_cost(frozen_over_full_time: float, plain_over_full_time: float, *, epochs: int = 120,
                    trials: int = 5, sub_epochs: int = 10) -> dict:
    """End-to-end cost of Algorithm 1 in units of one epoch of full adversarial training.

    ``frozen_over_full_time`` and ``plain_over_full_time`` are step-time ratios (measured). Algorithm
    1 trains the regular network (``epochs`` plain epochs), the fully robust one (``epochs``
    adversarial epochs, it gives f*_a and Acc*) and then at most ``trials x sub_epochs`` subnetwork
    epochs. "Subnetwork route" is what it would cost if a robust f*_a came for free except for the
    regular network (the paper provides no such shortcut).
    """
    regular = epochs * plain_over_full_time
    subnetwork = trials * sub_epochs * frozen_over_full_time
    full_at = float(epochs)
    return {"full_adversarial_training": full_at, "regular_training": regular, "subnetwork_trials": subnetwork,
            "algorithm1_total": regular + full_at + subnetwork,
            "algorithm1_over_full_at": (regular + full_at + subnetwork) / full_at,
            "subnetwork_route_over_full_at": (regular + subnetwork) / full_at,
            "epochs": epochs, "trials": trials, "sub_epochs": sub_epochs}


def authors_grad_evals(n_train: int, n_test: int, acc_star: float, trials: int = AUTHORS_TRIALS,
                       epochs: int = AUTHORS_EPOCHS) -> float:
    """Gradient evaluations of one Table 1 cell as the authors' scripts run it (upper bound in epochs):
    ``trials`` x ``epochs`` epochs of PGD-10 subnetwork training (11 per image: 10 attack steps and
    the update) and, after every epoch, the standard AutoAttack on the whole test set."""
    per_epoch = training_grad_evals(PAPER_TRAIN_ATTACK_STEPS) * n_train + autoattack_grad_evals(n_test, acc_star / 100)
    return trials * epochs * per_epoch


def _at_most(n: int, limit: int | None) -> int:
    """``n`` images, or ``limit`` of them when the profile sets a limit."""
    return min(n, limit or n)


def grad_evals_at_scale(profile="paper", dataset: str = "cifar10", robust: float = 0.45,
                        trials: int | None = None, apgd_steps: int = 100) -> dict:
    """Gradient evaluations of one Table 1 cell as ``profile`` runs it on ``dataset``'s full sizes, against the
    authors' procedure, both ending with the full standard AutoAttack on the whole test set (upper bounds:
    every epoch runs, APGD-CE attacks every image; ``robust``: Acc* as a fraction, e.g. 0.45 on CIFAR-10).

    Ours: ``trials`` x E epochs of PGD training of f_b (the profile's ``train_attack_steps``), APGD-CE on the
    per-epoch validation and test images after every epoch, the rho images not among those attacked once per
    trial, Acc*, Acc* on validation, the regular network and Acc_sr once, and the full AutoAttack on the final
    images of 3 networks. The authors': 10 trials of 10 epochs of PGD-10 training on the whole training split
    and the full AutoAttack on the whole test set after every epoch (:func:`authors_grad_evals`). Returns every
    part and the ratio.
    """
    check_choice("data set", dataset, sorted(DATASET_SPECS))
    prof = get_profile(profile).for_dataset(dataset)
    if not 0 <= robust <= 1:
        raise ValueError(f"robust={robust!r} is Acc* as a fraction: it must be in [0, 1].")
    spec = DATASET_SPECS[dataset]
    n_full, n_test = _at_most(spec.train_size, prof.train_subset), spec.test_size
    n_val = round(prof.val_fraction * n_full)
    n_train, trials = n_full - n_val, trials or prof.trials
    n_eval = _at_most(n_test, prof.eval_subset)
    n_val_eval = _at_most(n_val, prof.val_subset if prof.val_subset is not None else prof.eval_subset)
    per_epoch = n_val_eval + n_eval
    n_rho = _at_most(n_test, prof.rho_samples)
    n_final = n_test if prof.final_autoattack_images is None else min(n_eval, prof.final_autoattack_images)
    epochs = trials * prof.sub_epochs
    parts = {"training": epochs * training_grad_evals(prof.train_attack_steps) * n_train,
             "stopping": epochs * apgd_steps * per_epoch,
             "rho": trials * apgd_steps * max(0, n_rho - n_eval),
             "reference": apgd_steps * (3 * n_eval + n_val_eval),
             "final": 3 * autoattack_grad_evals(n_final, robust)}
    ours = sum(parts.values())
    authors = authors_grad_evals(n_full, n_test, 100 * robust)
    return {**parts, "ours": ours, "authors": authors, "ratio": authors / ours, "trials": trials,
            "epochs": prof.sub_epochs, "per_epoch_images": per_epoch, "final_images": n_final, "profile": prof.name,
            "dataset": dataset}


def sweep_grad_evals(profile: str | Profile, dataset: str, *, trials: int, epochs: int, attack_steps: int) -> dict:
    """The sweep's rough count of one Algorithm 1 run (no validation split, no early stop, the evaluation
    attack's ``attack_steps`` per image): ``full_networks``, the regular and the adversarial training
    (shared by every run of the same model, data set, profile and seed), and ``run``: ``trials`` x
    ``epochs`` epochs of f_b training, the evaluation attack on the accuracy images twice (Acc*, Acc_sr)
    and after every epoch, and on the rho images once per trial."""
    check_choice("dataset", dataset, tuple(DATASET_SPECS))
    prof, spec = get_profile(profile).for_dataset(dataset), DATASET_SPECS[dataset]
    n_train = _at_most(spec.train_size, prof.train_subset)
    n_eval, n_rho = _at_most(spec.test_size, prof.eval_subset), _at_most(spec.test_size, prof.rho_samples)
    adversarial = training_grad_evals(prof.train_attack_steps)
    return {"full_networks": prof.epochs * n_train * (training_grad_evals(0) + adversarial),
            "run": (trials * epochs * n_train * adversarial + (2 + trials * epochs) * n_eval * attack_steps
                    + trials * n_rho * attack_steps)}


__all__ = ["layer_flops", "LayerPasses", "step_layer_passes", "mode_layer_passes", "training_cost",
           "LayerPassCounter", "PAPER_TRAIN_ATTACK_STEPS", "AUTHORS_TRIALS", "AUTHORS_EPOCHS", "FIXED_ATTACK_STEPS", "training_grad_evals",
           "step_forwards", "evaluation_attack_steps", "algorithm1_epochs", "algorithm1_cost", "authors_grad_evals",
           "grad_evals_at_scale", "sweep_grad_evals"]
