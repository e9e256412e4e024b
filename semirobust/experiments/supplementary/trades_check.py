"""Why TRADES trains or collapses on this project's networks, measured rather than asserted.

TRADES's loss is ``CE(clean) + beta * KL(p_clean || p_adv)``, both predictions taken in train mode. With Dropout in
f_b, two train-mode passes of the *same* image already differ (each draws its own dropout mask), so the KL term
also penalises dropout noise; when that noise is as large as the clean-adversarial gap the term is meant to
close, the cheapest way down the loss is an output that no mask changes: a constant one (loss ln C, chance
accuracy: :mod:`semirobust.experiments.supplementary.collapse`). Two numbers tell the cases apart:

* the *dropout-noise KL* (:func:`dropout_noise_kl`): the mean KL between two train-mode passes of the same clean
  images, dropout the only difference between them;
* the *adversarial KL* (:func:`adversarial_kl`): ``KL(p_clean || p_adv)`` in eval mode (no dropout), ``x_adv``
  from TRADES's own attack (:func:`semirobust.at_methods.trades_perturbation`).

:func:`trades_check` measures both on a network; :func:`table_s5_trades_checks` on the Table S5 TRADES arm of each
seed (the validation-selected network where its checkpoint is in the cache, and the arm's starting network
(f*_a, f_b)), one record each (kind :data:`KIND`), so a rerun reads them. Evaluation only, no training.
"""
from __future__ import annotations

import contextlib
import dataclasses
import time

import torch
import torch.nn.functional as F
from torch import nn

from semirobust.at_methods import trades_perturbation
from semirobust.config import RunConfig, check_eps, check_int
from semirobust.experiments.table1.arms import TABLE_S5_ARMS
from semirobust.experiments.table1.evaluation import Evaluation
from semirobust.experiments.table1.finished import final_networks
from semirobust.models import fa_fb_module_names
from semirobust.names import RecordKind, TrainingMode
from semirobust.results import ResultsStore
from semirobust.utils import eval_mode, model_device, resolve_device

KIND = RecordKind.TRADES_CHECK
VERSION = "1"
#: test images per network (the per-epoch evaluation images' first ones)
DEFAULT_IMAGES = 256
#: the modules whose train mode draws a random mask
DROPOUT_TYPES = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.FeatureAlphaDropout)


@contextlib.contextmanager
def dropout_only_train(model: nn.Module, fb_layers: int | None = None):
    """Only the Dropout modules of f_b (the last ``fb_layers`` trainable layers and what follows; None: the whole
    network) in train mode, every other module in eval mode; each module's own mode restored afterwards.

    Why only Dropout: in train mode BatchNorm would normalise with the batch's statistics and *update its running
    statistics*, so measuring would change the network; BatchNorm is deterministic given the batch, so it adds no
    difference between two passes of the same images (in VGG16 every BatchNorm comes before the Dropouts). Dropout
    is the one random layer, and only f_b's: a frozen f_a stays in eval mode while f_b trains
    (:func:`semirobust.models.split_fa_fb`)."""
    names = set(fa_fb_module_names(model, fb_layers)[1]) if fb_layers is not None else None
    modes = [(module, module.training) for module in model.modules()]
    try:
        for module in model.modules():
            module.training = False
        for name, module in model.named_modules():
            if isinstance(module, DROPOUT_TYPES) and (names is None or name in names):
                module.training = True
        yield model
    finally:
        for module, training in modes:
            module.training = training


def _kl_per_image(logits_p: torch.Tensor, logits_q: torch.Tensor) -> torch.Tensor:
    """``KL(p || q)`` per image (nats) from the two logits."""
    return F.kl_div(F.log_softmax(logits_q, dim=1), F.log_softmax(logits_p, dim=1), log_target=True,
                    reduction="none").sum(dim=1)


def _batches(x: torch.Tensor, batch_size: int):
    for start in range(0, len(x), batch_size):
        yield x[start:start + batch_size]


def _check_images(x) -> torch.Tensor:
    if not torch.is_tensor(x) or x.dim() != 4 or len(x) == 0:
        raise ValueError(f"x must be a non-empty batch of images (N, C, H, W), got {getattr(x, 'shape', type(x))}.")
    return x


def dropout_noise_kl(model: nn.Module, x: torch.Tensor, fb_layers: int | None = None, seed: int = 0,
                     batch_size: int = 256) -> float:
    """The mean over the images ``x`` (in [0, 1]) of ``KL(p_1 || p_2)``, ``p_1`` and ``p_2`` two forward passes of
    the same images with f_b's Dropout in train mode (:func:`dropout_only_train`: no BatchNorm statistic moves);
    0 for a network without dropout. The masks come from ``seed`` on a forked RNG (torch's own is left as it was)."""
    x = _check_images(x)
    device = model_device(model)
    total = 0.0
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []), \
            dropout_only_train(model, fb_layers), torch.no_grad():
        torch.manual_seed(seed)
        for batch in _batches(x, batch_size):
            batch = batch.to(device)
            total += float(_kl_per_image(model(batch), model(batch)).sum())
    return total / len(x)


def adversarial_kl(model: nn.Module, x: torch.Tensor, eps: float, steps: int, seed: int = 0,
                   batch_size: int = 256) -> float:
    """The mean over the images ``x`` of ``KL(p_clean || p_adv)`` in eval mode, ``x_adv`` from TRADES's attack
    (:func:`~semirobust.at_methods.trades_perturbation`, ``steps`` steps at ``eps``, its start drawn from
    ``seed``); at ``eps`` 0 the attack is the identity and the KL is 0."""
    x = _check_images(x)
    eps = check_eps(eps, allow_zero=True)
    check_int("steps", steps)
    device = model_device(model)
    generator = torch.Generator(device=device).manual_seed(seed)
    total = 0.0
    for batch in _batches(x, batch_size):
        batch = batch.to(device)
        x_adv = batch if eps == 0 else trades_perturbation(model, batch, eps, steps=steps, generator=generator)
        with eval_mode(model), torch.no_grad():
            total += float(_kl_per_image(model(batch), model(x_adv)).sum())
    return total / len(x)


def trades_check(model: nn.Module, x: torch.Tensor, eps: float, steps: int, fb_layers: int | None = None,
                 seed: int = 0, batch_size: int = 256) -> dict:
    """Both numbers on ``model`` and the images ``x``: ``dropout_kl`` (:func:`dropout_noise_kl`), ``adversarial_kl``
    (:func:`adversarial_kl`), their ratio ``noise_to_adversarial`` (None when the adversarial KL is 0) and ``n``
    the images. The network's weights, buffers and modes are as they were afterwards."""
    noise = dropout_noise_kl(model, x, fb_layers, seed, batch_size)
    adversarial = adversarial_kl(model, x, eps, steps, seed, batch_size)
    return {"dropout_kl": noise, "adversarial_kl": adversarial,
            "noise_to_adversarial": noise / adversarial if adversarial > 0 else None, "n": int(len(x)),
            "eps": float(eps), "steps": int(steps), "fb_layers": fb_layers}


# ---------------------------------------------------------------- the Table S5 arm of each seed


def seed_trades_check(config: RunConfig, *, results_dir=None, cache_dir=None, images: int = DEFAULT_IMAGES) -> dict:
    """:func:`trades_check` of one finished seed's TRADES arm (``config.seed``), read or measured: ``start`` on the
    arm's starting network (f*_a, f_b), ``trained`` on its validation-selected network (None when the arm has not
    run or its checkpoint is gone from the cache), each a dict of :func:`trades_check`'s numbers."""
    check_int("images", images)
    store = ResultsStore(results_dir)
    profile = config.resolved_profile
    arm = TABLE_S5_ARMS[TrainingMode.TRADES]
    networks = final_networks(config, results_dir=results_dir, cache_dir=cache_dir, arms=[arm])
    device = resolve_device(config.device)
    X = None
    out = {"seed": config.seed}
    for which, name in (("start", "semirobust"), ("trained", arm)):
        if name not in networks:
            out[which] = None
            continue
        identity, load = networks[name]
        key = {**identity, "check": which, "images": int(images), "eps": float(config.eps),
               "steps": profile.train_attack_steps, "fb_layers": config.fb_layers, "dataset": config.dataset,
               "seed": config.seed, "version": VERSION}
        record = store.read(KIND, key)
        if record is None:
            model = load()
            if model is None:
                out[which] = None
                continue
            if X is None:
                X = Evaluation(config, profile, device, False).eval[0][:images]
            start = time.perf_counter()
            metrics = trades_check(model.to(device), X, config.eps, profile.train_attack_steps, config.fb_layers,
                                   seed=config.seed)
            record = store.write(KIND, key, metrics, profile=profile.name, seed=config.seed, device=device,
                                 wall_time_s=time.perf_counter() - start, extra={"network_name": name})
        out[which] = record["metrics"]
    return out


def table_s5_trades_checks(config: RunConfig, *, results_dir=None, cache_dir=None,
                           images: int = DEFAULT_IMAGES) -> list[dict]:
    """:func:`seed_trades_check` for every seed of the profile's ``table_s5_seeds`` (the seeds Table S5 runs);
    the seeds' TRADES arms must have run (:func:`~semirobust.experiments.supplementary.table_s5.run_table_s5_seed`)
    for their trained networks to be measured. Empty when TRADES is not among the profile's Table S5 methods."""
    if TrainingMode.TRADES not in config.resolved_profile.table_s5_methods:
        return []
    seeds = [dataclasses.replace(config, seed=config.seed + s) for s in config.resolved_profile.table_s5_seeds]
    return [seed_trades_check(c, results_dir=results_dir, cache_dir=cache_dir, images=images) for c in seeds]


__all__ = ["KIND", "VERSION", "DEFAULT_IMAGES", "DROPOUT_TYPES", "dropout_only_train", "dropout_noise_kl",
           "adversarial_kl", "trades_check", "seed_trades_check", "table_s5_trades_checks"]
