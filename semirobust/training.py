"""Standard, adversarial and subnetwork adversarial training, checkpointed and cached.

* ``mode="standard"``: cross-entropy on clean (optionally augmented) images.
* ``mode="adversarial"``: Madry et al.'s min-max training with PGD-10, eps 8/255, step 2/255,
  random start (supplementary III.A). The PGD examples are generated with the model in eval mode
  (BatchNorm running statistics, docs/conventions.md); the weight update runs in train mode.
* ``mode="fgsm_rs"``, ``"trades"``, ``"atta"``: the cheaper or other adversarial-training methods of
  :mod:`semirobust.at_methods` (FGSM with random start; TRADES's loss with its KL attack of the profile's
  PGD steps; ATTA's 3-step PGD from perturbations carried across epochs, reset every 10), at the same eps.

Each mode is a :class:`~semirobust.names.TrainingMode` and a :class:`~semirobust.training_methods.TrainingMethod`
of the registry :data:`~semirobust.training_methods.METHODS` (its attack, loss and passes per step); :func:`train`
and :func:`get_trained_model` check the mode once (a plain string becomes its member) and run whatever the method
gives them.
* ``fb_layers=k``: subnetwork training. ``split_fa_fb`` freezes f_a (no gradient, BatchNorm in
  eval mode) and only f_b's parameters are given to the optimizer, so every f_a tensor stays
  bit-identical. PGD still back-propagates through f_a to reach the input.

Optimizer and schedule come from the :class:`~semirobust.config.Profile`: SGD with the profile's
momentum and weight decay, MultiStepLR (divide by 10) at ``profile.milestones``. When ``epochs``
differs from ``profile.epochs`` the milestones are scaled by ``epochs / profile.epochs`` (rounded,
milestones outside 1..epochs-1 dropped), so a short run keeps the same shape of schedule.

With ``checkpoint_dir`` every finished epoch is saved atomically (model, optimizer, scheduler,
GradScaler, RNG states, history, the method's state; :mod:`semirobust.checkpoints`, which keeps the previous
epoch's too and moves an unreadable file aside); a rerun resumes after the last finished epoch and, on CPU,
ends with exactly the weights of an uninterrupted run (shuffling and augmentation are seeded
per epoch, the global RNG state is restored). On CUDA, mixed precision (bf16 autocast, or fp16 +
GradScaler where bf16 is unsupported) and channels_last are on by default; ``amp=False`` /
``channels_last=False`` turn them off. On CPU both are off by default.

:func:`training_step` is one optimisation step of :func:`train` (attack, forward, loss, backward,
optimizer step); :class:`TrainingBatches` draws an epoch's batches and :func:`resolve_precision`
picks autocast and memory format, so a benchmark can time exactly the loop ``train`` runs.
"""
from __future__ import annotations

import math
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from semirobust.augmentation import Augmentation, augment
from semirobust.checkpoints import (
    CHECKPOINT_NAME,
    load_checkpoint,
    read_training_file,
    rng_state,
    save_checkpoint,
    set_rng_state,
    snapshot_fn,
    snapshot_paths,
)
from semirobust.config import ARCHS, DATASETS, Profile, check_choice, check_int, get_profile
from semirobust.data import (
    TensorImageDataset,
    base_dataset,
    dataset_tensors,
    load_dataset,
    make_loader,
    train_val_split,
)
from semirobust.fingerprints import canonical_fingerprint
from semirobust.models import build_model, split_fa_fb, trainable_layers
from semirobust.training_methods import (
    AT_METHOD_MODES,
    ATTA_RESET_EVERY,
    ATTA_STEPS,
    MODES,
    TRAIN_ATTACK,
    TrainingMode,
    get_method,
    method_spec,
    train_attack,
)
from semirobust.utils import (
    atomic_torch_save,
    config_hash,
    default_cache_dir,
    resolve_device,
    seed_everything,
    source_fingerprint,
)

#: modules whose code a trained network depends on; their fingerprint is part of every cache key.
TRAINING_MODULES = ("semirobust.models", "semirobust.training", "semirobust.training_methods", "semirobust.checkpoints",
                    "semirobust.augmentation",
                    "semirobust.data", "semirobust.attacks", "semirobust.folding")


def training_code_fingerprint(mode: TrainingMode | str = TrainingMode.STANDARD) -> str:
    """Fingerprint of the code in :data:`TRAINING_MODULES`, and of :mod:`semirobust.at_methods` for the
    modes that use it (see ``utils.source_fingerprint``), or the earlier fingerprint it is listed as
    equivalent to (:data:`semirobust.fingerprints.EQUIVALENT_FINGERPRINTS`)."""
    extra = ("semirobust.at_methods",) if get_method(mode).uses_at_methods else ()
    return canonical_fingerprint(source_fingerprint(*TRAINING_MODULES, *extra))


@dataclass
class TrainResult:
    """What :func:`train` returns; ``history`` has one dict per finished epoch."""

    model: nn.Module
    history: list[dict] = field(default_factory=list)
    epochs_run: int = 0
    stopped_early: bool = False
    from_cache: bool = False
    #: the training method's state at the end (ATTA's carried perturbations; None for the other methods), for
    #: ``train(method_state=...)`` of the next run
    method_state: dict | None = None


# ---------------------------------------------------------------- data


class TrainingBatches:
    """The shuffled batches of every epoch of a run, as :func:`train` draws them.

    An epoch's order depends only on ``seed`` and the epoch, so a resumed run sees the same
    batches. In-memory tensor data sets are indexed directly (stacked once, here); any other
    data set goes through a DataLoader.
    """

    def __init__(self, dataset: Dataset, batch_size: int, seed: int):
        self.dataset, self.batch_size, self.seed = dataset, batch_size, seed
        self.tensors = dataset_tensors(dataset) if isinstance(base_dataset(dataset), TensorImageDataset) else None

    def epoch_seed(self, epoch: int) -> int:
        """The seed of epoch ``epoch`` (0-based): its shuffling, and (+1) its augmentation."""
        return (self.seed * 1_000_003 + epoch * 7_919) % (2**63 - 1)

    def epoch(self, epoch: int):
        """The batches ``(x, y)`` of epoch ``epoch`` (0-based), on the CPU."""
        for _, x, y in self.indexed_epoch(epoch):
            yield x, y

    def indexed_epoch(self, epoch: int):
        """The batches of epoch ``epoch`` as ``(indices, x, y)``, ``indices`` the images' positions in the
        data set (ATTA keeps one perturbation per image)."""
        seed = self.epoch_seed(epoch)
        if self.tensors is not None:
            X, y = self.tensors
            order = torch.randperm(X.shape[0], generator=torch.Generator().manual_seed(seed))
            for i in range(0, X.shape[0], self.batch_size):
                idx = order[i:i + self.batch_size]
                yield idx, X[idx], y[idx]
        else:
            yield from make_loader(_Indexed(self.dataset), self.batch_size, shuffle=True, seed=seed)


class _Indexed(Dataset):
    """``(index, x, y)`` items of a data set, for the DataLoader path of :class:`TrainingBatches`."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index):
        x, y = self.dataset[index]
        return index, x, y


# ---------------------------------------------------------------- schedule and precision


def scaled_milestones(profile: Profile, epochs: int) -> list[int]:
    """``profile.milestones`` scaled to a run of ``epochs`` epochs (kept within 1..epochs-1)."""
    if epochs == profile.epochs:
        scaled = list(profile.milestones)
    else:
        scaled = [int(math.floor(m * epochs / profile.epochs + 0.5)) for m in profile.milestones]
    return sorted({m for m in scaled if 1 <= m < epochs})


@dataclass(frozen=True)
class Precision:
    """How a training step computes: autocast dtype (None: fp32), fp16 GradScaler, channels_last."""

    amp_dtype: torch.dtype | None = None
    use_scaler: bool = False
    channels_last: bool = False

    def autocast(self, device_type: str) -> torch.autocast:
        """The autocast context of a step on ``device_type`` (disabled in fp32)."""
        return torch.autocast(device_type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None)

    def grad_scaler(self) -> torch.amp.GradScaler:
        """A GradScaler for the run (disabled unless fp16 needs one)."""
        return torch.amp.GradScaler("cuda", enabled=self.use_scaler)


def resolve_precision(device: torch.device, amp: bool | None = None, channels_last: bool | None = None) -> Precision:
    """Resolve the amp / channels_last switches (None: on for CUDA, off for CPU) into a :class:`Precision`.

    amp is bf16 autocast, or fp16 autocast with a GradScaler where bf16 is unsupported.
    """
    on_cuda = device.type == "cuda"
    amp = on_cuda if amp is None else bool(amp)
    channels_last = on_cuda if channels_last is None else bool(channels_last)
    if not amp:
        return Precision(None, False, channels_last)
    if on_cuda and not torch.cuda.is_bf16_supported():
        return Precision(torch.float16, True, channels_last)
    return Precision(torch.bfloat16, False, channels_last)


# ---------------------------------------------------------------- training


def _check_train_args(fb_layers, epochs, lr, profile, model):
    if not isinstance(profile, Profile):
        raise ValueError(f"profile must be a semirobust.config.Profile (use get_profile(name)), got {type(profile).__name__}.")
    check_int("epochs", epochs, allow_none=True)
    if lr is not None and not (isinstance(lr, (int, float)) and lr > 0):
        raise ValueError(f"lr={lr!r} must be a positive number.")
    if fb_layers is not None:
        total = len(trainable_layers(model))
        check_int("fb_layers", fb_layers)
        if fb_layers > total:
            raise ValueError(f"fb_layers={fb_layers!r} is outside 1..{total}: the model has {total} trainable layers.")


def training_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor, optimizer: torch.optim.Optimizer, *,
                  attack: Callable | None = None, precision: Precision | None = None,
                  scaler: torch.amp.GradScaler | None = None, loss_fn: Callable | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimisation step of :func:`train` on the batch ``(x, y)`` (on the model's device).

    channels_last input when ``precision`` asks for it; the training ``attack`` (if any) replaces
    ``x`` under autocast (an :class:`~semirobust.attacks.Attack` runs in eval mode); then the model
    in train mode (a frozen f_a of ``split_fa_fb`` stays in eval mode), cross-entropy under
    autocast (``loss_fn(model, clean, logits, y)`` instead when given: TRADES's loss, from the training
    method's :class:`~semirobust.training_methods.MethodRun`), backward (through ``scaler`` when given) and the optimizer's step. Only the
    parameters given to ``optimizer`` move; ``precision`` None is fp32. Returns the loss and the
    logits (of the attacked batch), detached.
    """
    precision = precision or Precision()
    if precision.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    autocast = precision.autocast(x.device.type)
    clean = x
    if attack is not None:
        with autocast:
            x = attack(x, y)
    model.train()
    with autocast:
        logits = model(x)
        loss = F.cross_entropy(logits, y) if loss_fn is None else loss_fn(model, clean, logits, y)
    optimizer.zero_grad(set_to_none=True)
    if scaler is None:
        loss.backward()
        optimizer.step()
    else:
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    return loss.detach(), logits.detach()


def train(model: nn.Module, train_set: Dataset, *, profile: Profile, mode: TrainingMode | str = TrainingMode.STANDARD,
          fb_layers: int | None = None, epochs: int | None = None, lr: float | None = None,
          device="auto", seed: int = 0, checkpoint_dir=None, eval_fn: Callable | None = None,
          stop_fn: Callable | None = None, amp: bool | None = None, channels_last: bool | None = None,
          progress: bool = True, train_eps: float | None = None, constant_lr: bool = False,
          method_state: dict | None = None) -> TrainResult:
    """Train ``model`` in place on ``train_set`` (see the module docstring) and return a TrainResult.

    ``eval_fn(model, epoch) -> dict`` runs after each epoch (model in eval mode) and its metrics go
    into the history; ``stop_fn(history) -> bool`` stops training after an epoch when it returns
    True. ``checkpoint_dir`` makes the run resumable. The model ends in eval mode on ``device``.
    ``train_eps``: eps of the PGD training attack (None: 8/255); ``constant_lr``: no lr schedule.
    ``method_state``: the ``method_state`` of an earlier run's result to start from (ATTA: the seed's previous
    trial's carried perturbations); ignored when a checkpoint resumes the run (it holds its own).
    """
    if isinstance(profile, str):
        profile = get_profile(profile, device)
    method = get_method(mode)  # the one check of the mode; from here on the method object is trusted
    mode = method.name
    _check_train_args(fb_layers, epochs, lr, profile, model)
    epochs = profile.epochs if epochs is None else epochs
    lr = profile.lr if lr is None else float(lr)
    device = resolve_device(device)
    precision = resolve_precision(device, amp, channels_last)
    spec = method.spec(train_eps, profile.train_attack_steps)
    fingerprint = {"mode": mode.value, "fb_layers": fb_layers, "epochs": epochs, "lr": lr, "seed": seed,
                   "profile": profile.training_dict(), "n_train": len(train_set),
                   "code": training_code_fingerprint(mode), "train_attack": spec, "constant_lr": constant_lr}

    checkpoint = load_checkpoint(Path(checkpoint_dir), fingerprint) if checkpoint_dir is not None else None

    seed_everything(seed)
    model.to(device)
    built_channels_last = _channels_last(model)
    if precision.channels_last:
        model.to(memory_format=torch.channels_last)
    split = split_fa_fb(model, fb_layers) if fb_layers is not None else None
    params = split.fb_parameters() if split is not None else [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=lr, momentum=profile.momentum, weight_decay=profile.weight_decay)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, [] if constant_lr else scaled_milestones(profile, epochs),
                                                     gamma=0.1)
    scaler = precision.grad_scaler()
    run = method.start(model, spec, train_set)

    history, start, stopped = [], 0, False
    if checkpoint is not None:
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        scheduler.load_state_dict(checkpoint["scheduler"])
        scaler.load_state_dict(checkpoint["scaler"])
        set_rng_state(checkpoint["rng"], device)
        history, start, stopped = checkpoint["history"], checkpoint["epoch"], checkpoint["stopped_early"]
        run.load_state_dict(checkpoint["atta"])
    elif method_state is not None:
        run.continue_from(method_state)

    batches = TrainingBatches(train_set, profile.batch_size, seed)
    try:
        bar = tqdm(range(start, epochs), desc=f"{mode} training" + (f" (f_b={fb_layers})" if split else ""),
                   unit="epoch", disable=not progress or stopped, leave=False)
        for epoch in bar:
            if stopped:
                break
            aug_gen = torch.Generator().manual_seed(batches.epoch_seed(epoch) + 1)
            current_lr = optimizer.param_groups[0]["lr"]
            loss_sum, correct, seen, t0 = 0.0, 0, 0, time.perf_counter()
            for idx, x, y in batches.indexed_epoch(epoch):
                x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
                augmentation = Augmentation.draw(x.shape[0], aug_gen, device=x.device) if profile.augment else None
                if augmentation is not None:
                    x = augmentation.apply(x)
                loss, logits = training_step(model, x, y, optimizer, attack=run.batch_attack(idx, epoch, augmentation),
                                             precision=precision, scaler=scaler, loss_fn=run.loss_fn)
                loss_sum += loss.item() * y.shape[0]
                correct += (logits.argmax(1) == y).sum().item()
                seen += y.shape[0]
            scheduler.step()
            elapsed = time.perf_counter() - t0
            record = {"epoch": epoch + 1, "train_loss": loss_sum / seen, "train_acc": 100.0 * correct / seen,
                      "lr": current_lr, "time_s": elapsed, "images_per_s": seen / elapsed}
            model.eval()
            if eval_fn is not None:
                record.update(eval_fn(model, epoch + 1) or {})
            history.append(record)
            stopped = bool(stop_fn(history)) if stop_fn is not None else False
            stopped = stopped and epoch + 1 < epochs
            if checkpoint_dir is not None:
                save_checkpoint(Path(checkpoint_dir), {
                    "fingerprint": fingerprint, "epoch": epoch + 1, "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                    "scaler": scaler.state_dict(), "rng": rng_state(device), "history": history,
                    "stopped_early": stopped, "atta": run.state_dict()})
            bar.set_postfix(loss=f"{record['train_loss']:.3f}", acc=f"{record['train_acc']:.1f}")
        bar.close()
    finally:
        optimizer.zero_grad(set_to_none=True)  # no stale gradients left on the returned model
        if split is not None:
            split.undo()
        if precision.channels_last and not built_channels_last:
            model.to(memory_format=torch.contiguous_format)
        model.eval()
    return TrainResult(model=model, history=history, epochs_run=len(history), stopped_early=stopped,
                       method_state=run.state_dict())


def _channels_last(model: nn.Module) -> bool:
    """Whether the model's first 4-d weight is stored channels-last (see ``build_model``)."""
    weight = next((p for p in model.parameters() if p.dim() == 4), None)
    return weight is not None and weight.is_contiguous(memory_format=torch.channels_last) and \
        not weight.is_contiguous()


def subnetwork_adversarial_training(model: nn.Module, fb_layers: int, train_set: Dataset, *, profile: Profile,
                                    epochs: int | None = None, **kwargs) -> TrainResult:
    """Adversarially train only f_b (the last ``fb_layers`` trainable layers) with f_a frozen."""
    return train(model, train_set, profile=profile, mode=TrainingMode.ADVERSARIAL, fb_layers=fb_layers, epochs=epochs,
                 **kwargs)


# ---------------------------------------------------------------- cached full-network models


def training_config(arch: str, dataset: str, mode: TrainingMode | str, profile: Profile, seed: int,
                    train_eps: float | None = None) -> dict:
    """Everything a trained model depends on; its hash names the cache entry.

    The device and the amp/channels_last switches are recorded next to the model but are not part
    of the hash, so a model trained on a GPU can be reused on a CPU.
    """
    mode = get_method(mode).name
    attack = method_spec(mode, train_eps, profile.train_attack_steps)
    return {"arch": arch, "dataset": dataset, "mode": mode.value, "profile": profile.training_dict(), "seed": seed,
            "code": training_code_fingerprint(mode), "train_attack": attack}


#: what a cached network's file holds beside its weights
CACHED_INFO = ("config", "config_hash", "history", "wall_time_s", "device", "amp")


def get_trained_model(arch: str, dataset: str, *, mode: TrainingMode | str = TrainingMode.STANDARD, profile,
                      seed: int = 0, data_root=None, device="auto", cache_dir=None, progress: bool = True,
                      amp: bool | None = None, channels_last: bool | None = None, train_eps: float | None = None):
    """The full network ``arch`` trained on ``dataset`` in training ``mode`` (a :class:`TrainingMode` or its
    string: standard, adversarial, ...), cached.

    Returns ``(model, info)``; ``info`` has config, config_hash, history, wall_time_s (of the
    training run), from_cache and path. A second call with the same configuration loads the cached
    weights instead of retraining; an interrupted training resumes from its last epoch. An unreadable cached
    network (truncated, empty, not a torch file) is moved aside with a warning and trained again
    (:func:`semirobust.checkpoints.read_training_file`).
    """
    check_choice("model", arch, ARCHS)
    check_choice("dataset", dataset, DATASETS)
    mode = get_method(mode).name  # the one check of the mode: a TrainingMode from here on
    if isinstance(profile, str):
        profile = get_profile(profile, device)
    if not isinstance(profile, Profile):
        raise ValueError(f"profile must be a profile name or a Profile, got {type(profile).__name__}.")
    profile = profile.for_run(arch, dataset)
    device = resolve_device(device)
    config = training_config(arch, dataset, mode, profile, seed, train_eps)
    digest = config_hash(config)
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = root / "models" / f"{arch}-{dataset}-{mode}-{profile.name}-{digest}.pt"

    seed_everything(seed)
    model = build_model(arch, dataset, width=profile.width)
    saved = read_training_file(path, ("state_dict", *CACHED_INFO))
    if saved is not None:
        model.load_state_dict(saved["state_dict"])
        model.to(device).eval()
        return model, {**{key: saved[key] for key in CACHED_INFO}, "from_cache": True, "path": str(path)}

    train_set, _ = train_val_split(load_dataset(dataset, "train", root=data_root, subset=profile.train_subset,
                                                seed=seed), profile.val_fraction, seed)
    checkpoint_dir = root / "checkpoints" / digest
    t0 = time.perf_counter()
    epochs = profile.standard_epochs if mode == TrainingMode.STANDARD and profile.standard_epochs else None
    # adversarial networks keep their per-epoch weights: the cost-robustness frontier evaluates their curve
    result = train(model, train_set, profile=profile, mode=mode, epochs=epochs, device=device, seed=seed,
                   checkpoint_dir=checkpoint_dir, amp=amp, channels_last=channels_last, progress=progress,
                   train_eps=train_eps, eval_fn=None if mode == TrainingMode.STANDARD else snapshot_fn(path))
    wall = time.perf_counter() - t0
    precision = resolve_precision(device, amp, channels_last)
    info = {"config": config, "config_hash": digest, "history": result.history, "wall_time_s": wall,
            "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
            "amp": {"dtype": str(precision.amp_dtype) if precision.amp_dtype else None,
                    "channels_last": precision.channels_last}}
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    atomic_torch_save({"state_dict": state, **info}, path)
    last = result.history[-1] if result.history else {}
    print(f"[semirobust] trained {arch} {mode} on {dataset} ({profile.name}, seed {seed}): "
          f"{len(result.history)} epochs in {wall:.0f} s, last train acc {last.get('train_acc', float('nan')):.1f}%",
          flush=True)
    shutil.rmtree(checkpoint_dir, ignore_errors=True)
    return model, {**info, "from_cache": False, "path": str(path)}


__all__ = ["TrainingMode", "MODES", "AT_METHOD_MODES", "ATTA_STEPS", "ATTA_RESET_EVERY", "method_spec", "TRAIN_ATTACK",
           "train_attack",
           "TRAINING_MODULES", "training_code_fingerprint", "snapshot_paths",
           "CHECKPOINT_NAME", "CACHED_INFO", "TrainResult", "augment", "TrainingBatches", "scaled_milestones", "Precision",
           "resolve_precision", "training_step", "train",
           "subnetwork_adversarial_training", "training_config", "get_trained_model"]
