"""The paper's five evaluation attacks behind one interface, and batched accuracy helpers.

``make_attack(name, model, eps, **overrides)`` returns an :class:`Attack`, a callable
``(x, y) -> x_adv`` on images in [0, 1] (normalization is inside the model, docs/conventions.md). The
attacks themselves come from well-kept libraries, not from this module:

=============  ==========================================  ====================================
name           implementation                               default parameters
=============  ==========================================  ====================================
``fgsm``       ``torchattacks.FGSM``                        eps
``ifgsm``      ``torchattacks.BIM`` (Kurakin et al.)        eps, paper schedule (alpha, steps)
``pgd``        ``torchattacks.PGD`` (Madry et al.)          eps, paper schedule, random start
``cw``         ``torchattacks.CW`` (Carlini-Wagner, L2)     c=1, kappa=0, steps=50, lr=0.01
``autoattack`` ``pyautoattack.AutoAttack`` (Croce-Hein)     eps, norm Linf, version standard
=============  ==========================================  ====================================

Paper schedule (Section 3.1, after Kurakin et al.): step 1/255 and
``floor(min(4 + e, 1.25 e))`` iterations with ``e = eps * 255``, i.e. 10, 20 and 36 at
eps = 8, 16, 32 /255. Every parameter can be overridden (``make_attack("pgd", m, 8/255, steps=50)``).

C&W and eps: C&W is an L2 *minimum-norm* attack; it has no eps. ``make_attack("cw", model, eps)``
runs ``torchattacks.CW`` with its own parameters (``c``, ``kappa``, ``steps``, ``lr``) and does not
use ``eps``, so C&W numbers do not change with eps (as in any study that runs C&W at several eps).
To enforce a budget pass ``l2_eps=r``: adversarial images farther than ``r`` (L2, pixel scale) from
the clean image are replaced by the clean image, i.e. count as failed attacks.

AutoAttack: ``backend="pyautoattack"`` (default, the maintained fork of Croce & Hein's reference
code) or ``backend="torchattacks"`` (``torchattacks.AutoAttack``); both run the standard version
(APGD-CE, APGD-T, FAB-T, Square) unless ``version`` is overridden. ``attacks=["apgd-ce"]`` runs a
subset of the standard version's attacks with its settings (pyautoattack backend; a cheap
stopping attack: ``make_attack("autoattack", m, eps, attacks=["apgd-ce"])``); ``apgd_iters`` shortens that
APGD-CE from the standard 100 iterations (the per-epoch stopping attack of a profile that asks for it).

While attacking, the model is in eval mode (BatchNorm uses running statistics) and its parameters
do not require gradients (only the input gradient is needed); both are restored afterwards. Both
AutoAttack implementations reseed torch's global RNG with their ``seed``; they run inside
``torch.random.fork_rng`` so the caller's random stream is left as it was.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn
from tqdm.auto import tqdm

from semirobust.config import ATTACKS, check_choice, check_eps, check_int
from semirobust.data import iterate_batches
from semirobust.folding import folded_view
from semirobust.utils import check_images, eval_mode, frozen, model_device, resolve_device

#: attacks bounded in L-inf (x_adv - x stays within eps in every pixel).
LINF_ATTACKS = ("fgsm", "ifgsm", "pgd", "autoattack")

#: the parameters each attack accepts as overrides, with their defaults (None: from eps).
_DEFAULTS = {
    "fgsm": {},
    "ifgsm": {"alpha": None, "steps": None},
    "pgd": {"alpha": None, "steps": None, "random_start": True},
    "cw": {"c": 1.0, "kappa": 0.0, "steps": 50, "lr": 0.01, "l2_eps": None},
    "autoattack": {"backend": "pyautoattack", "version": "standard", "norm": "Linf", "seed": 0, "n_classes": None,
                   "attacks": None, "apgd_iters": None},
}
#: the attacks of the standard AutoAttack, in the order it runs them (a subset keeps this order).
AUTOATTACK_STANDARD = ("apgd-ce", "apgd-t", "fab-t", "square")
#: the attacks ``attacks=[...]`` picks from, in the order they run: the standard ones and APGD on the DLR loss
#: (AutoAttack's untargeted second loss, same step rule and iterations as APGD-CE: the scoring attack
#: APGD-CE + APGD-DLR, worst case per image)
AUTOATTACK_CHOICES = ("apgd-ce", "apgd-dlr", "apgd-t", "fab-t", "square")
#: the AutoAttack attacks whose iterations ``apgd_iters`` sets (both run AutoAttack's one APGDAttack)
APGD_UNTARGETED = ("apgd-ce", "apgd-dlr")


def paper_schedule(eps: float) -> dict:
    """Step 1/255 and ``floor(min(4 + e, 1.25 e))`` iterations, e = eps*255 (10, 20, 36 at 8, 16, 32 /255)."""
    e = check_eps(eps, allow_zero=True) * 255
    steps = math.floor(round(min(4 + e, 1.25 * e), 6))  # round first: 8/255*255 is not exactly 8
    return {"steps": max(1, steps), "alpha": 1 / 255}


def _resolve_params(name: str, eps: float, overrides: dict) -> dict:
    allowed = _DEFAULTS[name]
    unknown = sorted(set(overrides) - set(allowed))
    if unknown:
        raise ValueError(f"Unknown parameter(s) {unknown} for attack {name!r}; it accepts {sorted(allowed) or 'none'}.")
    params = {**allowed, **overrides}
    if name in ("ifgsm", "pgd"):
        schedule = paper_schedule(eps)
        params["alpha"] = schedule["alpha"] if params["alpha"] is None else float(params["alpha"])
        params["steps"] = schedule["steps"] if params["steps"] is None else params["steps"]
    if "steps" in params:
        check_int("steps", params["steps"])
    if "alpha" in params and not params["alpha"] > 0:
        raise ValueError(f"alpha={params['alpha']!r} must be > 0.")
    if name == "autoattack":
        check_choice("AutoAttack backend", params["backend"], ("pyautoattack", "torchattacks"))
        check_choice("AutoAttack norm", params["norm"], ("Linf", "L2"))
        if params["attacks"] is not None:
            chosen = [params["attacks"]] if isinstance(params["attacks"], str) else list(params["attacks"])
            for a in chosen:
                check_choice("AutoAttack attack", a, AUTOATTACK_CHOICES)
            if not chosen:
                raise ValueError("attacks=[] runs nothing; give at least one of "
                                 f"{', '.join(AUTOATTACK_CHOICES)} or None for the standard ones.")
            if params["backend"] != "pyautoattack" or params["version"] != "standard":
                raise ValueError("attacks=[...] picks from the standard version's settings with the pyautoattack "
                                 "backend; leave backend and version at their defaults.")
            params["attacks"] = [a for a in AUTOATTACK_CHOICES if a in chosen]
        if params["apgd_iters"] is not None:
            check_int("apgd_iters", params["apgd_iters"])
            if params["attacks"] is None or not set(params["attacks"]) <= set(APGD_UNTARGETED):
                raise ValueError("apgd_iters sets the iterations of APGD-CE and APGD-DLR alone; give it with "
                                 "attacks=['apgd-ce'] or ['apgd-ce', 'apgd-dlr'].")
    if name == "cw" and params["l2_eps"] is not None and not params["l2_eps"] >= 0:
        raise ValueError(f"l2_eps={params['l2_eps']!r} must be >= 0 or None.")
    return params


class Attack:
    """A configured attack: ``attack(x, y) -> x_adv`` on the model's device, images in [0, 1]."""

    def __init__(self, name: str, model: nn.Module, eps: float, params: dict):
        self.name, self.model, self.eps, self.params = name, model, eps, params
        self._runner: Callable | None = None
        self._runner_device = None

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"Attack({self.name!r}, eps={self.eps:.6g}{', ' + shown if shown else ''})"

    def describe(self) -> dict:
        """Name, eps and every parameter used (for result records)."""
        return {"name": self.name, "eps": self.eps, **self.params}

    def _build(self, device: torch.device, n_classes: int) -> Callable:
        import torchattacks

        p, m = self.params, folded_view(self.model)  # BatchNorm folded: the same function, fewer passes
        if self.name == "fgsm":
            return torchattacks.FGSM(m, eps=self.eps)
        if self.name == "ifgsm":
            return torchattacks.BIM(m, eps=self.eps, alpha=p["alpha"], steps=p["steps"])
        if self.name == "pgd":
            return torchattacks.PGD(m, eps=self.eps, alpha=p["alpha"], steps=p["steps"], random_start=p["random_start"])
        if self.name == "cw":
            return torchattacks.CW(m, c=p["c"], kappa=p["kappa"], steps=p["steps"], lr=p["lr"])
        classes = p["n_classes"] or n_classes
        if p["backend"] == "torchattacks":
            return torchattacks.AutoAttack(m, norm=p["norm"], eps=self.eps, version=p["version"],
                                           n_classes=classes, seed=p["seed"])
        import pyautoattack

        runner = pyautoattack.AutoAttack(m, eps=self.eps, norm=p["norm"], version=p["version"],
                                         seed=p["seed"], device=device)
        if p["attacks"] is not None:  # a subset of the standard attacks, with the standard settings
            runner.attacks_to_run = list(p["attacks"])
        if p["apgd_iters"] is not None:  # APGD's iterations (the per-epoch stopping attack of a profile: fewer)
            runner.apgd.n_iter = p["apgd_iters"]
        runner.verbose = False
        return lambda x, y: runner.run_standard_evaluation(x, y, batch_size=x.shape[0])[0]

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        device = model_device(self.model)
        x = x.to(device, non_blocking=True).float()
        check_images(x, "images")  # eps is in pixel units: images outside [0, 1] would change what it means
        y = y.to(device, non_blocking=True).long()
        with eval_mode(self.model), frozen(self.model), torch.enable_grad():
            if self._runner is None or self._runner_device != device:
                n_classes = 0
                if self.name == "autoattack" and self.params["n_classes"] is None:
                    with torch.no_grad():
                        n_classes = int(self.model(x[:1]).shape[1])
                self._runner, self._runner_device = self._build(device, n_classes), device
            if self.name == "autoattack":  # both AutoAttacks reseed torch's global RNG: keep ours apart
                with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                    x_adv = self._runner(x, y).detach()
            else:
                x_adv = self._runner(x, y).detach()
        if self.name == "cw" and self.params["l2_eps"] is not None:
            too_far = (x_adv - x).flatten(1).norm(dim=1) > self.params["l2_eps"]
            x_adv[too_far] = x[too_far]
        return x_adv


def make_attack(name: str, model: nn.Module, eps: float, **overrides) -> Attack:
    """Build attack ``name`` ("fgsm", "ifgsm", "pgd", "cw", "autoattack") against ``model``.

    ``eps`` is the L-inf budget in pixel units (8/255, ...); see the module docstring for the
    defaults, the paper schedule and what C&W does with eps. ``overrides`` replace any default.
    Raises ValueError for an unknown name, a negative eps or an unknown parameter.
    """
    check_choice("attack", name, ATTACKS)
    eps = check_eps(eps, allow_zero=True)
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
    return Attack(name, model, eps, _resolve_params(name, eps, overrides))


# ---------------------------------------------------------------- evaluation helpers




def _as_attack(model: nn.Module, attack, eps, overrides) -> Attack:
    if isinstance(attack, str):
        if eps is None:
            raise ValueError(f"eps is required when the attack is given by name ({attack!r}).")
        return make_attack(attack, model, eps, **overrides)
    if not callable(attack):
        raise ValueError(f"attack must be an attack name or a callable (x, y) -> x_adv, got {type(attack).__name__}.")
    if overrides:
        raise ValueError(f"overrides {sorted(overrides)} only apply when the attack is given by name.")
    return attack


def _run(model, data, device, batch_size, progress, desc, attack=None, keep=False):
    """Shared batched loop: accuracy in percent, plus the adversarial images when ``keep``."""
    n, batches = iterate_batches(data, batch_size)
    device = resolve_device(device) if device is not None else model_device(model)
    model.to(device)
    correct, seen, kept = 0, 0, []
    with eval_mode(model):
        with tqdm(total=n, desc=desc, unit="img", disable=not progress, leave=False) as bar:
            for x, y in batches:
                x, y = x.to(device, non_blocking=True), torch.as_tensor(y).to(device, non_blocking=True)
                if attack is not None:
                    x = attack(x, y)
                    if keep:
                        kept.append(x.detach().cpu())
                with torch.no_grad():
                    correct += (model(x).argmax(dim=1) == y).sum().item()
                seen += y.shape[0]
                bar.update(y.shape[0])
    if seen == 0:
        raise ValueError("data is empty.")
    accuracy = 100.0 * correct / seen
    return (accuracy, torch.cat(kept)) if keep else accuracy


def clean_accuracy(model: nn.Module, data, device=None, batch_size: int = 256, progress: bool = True) -> float:
    """Top-1 accuracy (percent) of ``model`` on ``data`` (Dataset, DataLoader or (X, y))."""
    return _run(model, data, device, batch_size, progress, "clean accuracy")


def adversarial_accuracy(model: nn.Module, data, attack, eps: float | None = None, device=None,
                         batch_size: int = 256, progress: bool = True, **overrides) -> float:
    """Top-1 accuracy (percent) on ``attack(x, y)``; ``attack`` is a name (with ``eps``) or an Attack."""
    attack = _as_attack(model, attack, eps, overrides)
    name = getattr(attack, "name", "adversarial")
    return _run(model, data, device, batch_size, progress, f"{name} accuracy", attack=attack)


def attack_tensors(model: nn.Module, X: torch.Tensor, y: torch.Tensor, attack, eps: float | None = None,
                   device=None, batch_size: int = 256, progress: bool = True, **overrides) -> torch.Tensor:
    """Adversarial versions of ``X`` (a CPU tensor, same order), attacked in batches."""
    attack = _as_attack(model, attack, eps, overrides)
    name = getattr(attack, "name", "attack")
    _, X_adv = _run(model, (X, y), device, batch_size, progress, f"{name} images", attack=attack, keep=True)
    return X_adv


class GradEvalCounter:
    """Counts gradient evaluations: images sent backward through the attached models.

    One gradient evaluation is one image's forward and backward pass (an attack step or a training
    step on one image). A forward hook on each attached model registers a hook on its output when
    that output needs a gradient; the hook adds the batch size when the backward pass reaches it.
    Forward-only passes (clean accuracy, Square's queries) are not counted.
    """

    def __init__(self):
        self.count = 0
        self._handles = []

    def _forward_hook(self, module, inputs, output):
        if torch.is_tensor(output) and output.requires_grad:
            n = output.shape[0]

            def on_backward(grad, n=n):
                self.count += n

            output.register_hook(on_backward)

    def attach(self, model: nn.Module) -> nn.Module:
        """Count the backward passes of ``model`` from now on; returns the model."""
        self._handles.append(model.register_forward_hook(self._forward_hook))
        return model

    def detach(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()


def autoattack_grad_evals(n_images: int, robust_fraction: float, iterations: int = 100, targets: int = 9) -> float:
    """Gradient evaluations of the standard AutoAttack (Croce & Hein 2020) on ``n_images``.

    APGD-CE runs ``iterations`` steps on every image; APGD-T and FAB-T (``targets`` target
    classes, ``iterations`` each) only on the ``robust_fraction`` of images still robust; Square
    queries are forward passes only. An estimate: it takes the final robust fraction for both.
    """
    return n_images * (iterations + robust_fraction * 2 * targets * iterations)


__all__ = ["LINF_ATTACKS", "AUTOATTACK_STANDARD", "AUTOATTACK_CHOICES", "APGD_UNTARGETED", "paper_schedule", "Attack", "make_attack", "clean_accuracy",
           "adversarial_accuracy", "attack_tensors", "GradEvalCounter", "autoattack_grad_evals"]
