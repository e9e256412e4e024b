"""Helpers shared by the theory experiments: argument checks and cached attacked inputs."""
from __future__ import annotations

import hashlib
import time
from pathlib import Path

import torch

from semirobust.attacks import attack_tensors, make_attack
from semirobust.config import PROFILES, Profile, check_choice, get_profile
from semirobust.utils import atomic_torch_save, config_hash, resolve_device

THEOREM3_VERSION = "1"


def resolve_profile(profile, device) -> Profile:
    """The profile a theory run uses: a :class:`Profile` as it is (e.g. ``dataclasses.replace`` of a named
    one), a name or ``"auto"`` through :func:`semirobust.config.get_profile`."""
    if isinstance(profile, Profile):
        return profile
    check_choice("profile", profile, PROFILES + ("auto",))
    return get_profile(profile, device)


def check_device(device):
    """The device ``device`` names (``"auto"``, ``"cpu"``, ``"cuda[:i]"``); a ValueError for anything else."""
    try:
        return resolve_device(device)
    except RuntimeError as exc:  # torch.device("gpu") and other unparsable names
        raise ValueError(f"device={device!r} is not a device; use 'auto', 'cpu' or 'cuda[:i]'.") from exc


def start_run(settings, settings_type: type, factory: str, device):
    """The common start of a theory run: ``settings`` checked to come from ``factory``, the device,
    the start time and the settings' profile for its network. Returns ``(settings, device, t0, profile)``."""
    if not isinstance(settings, settings_type):
        raise ValueError(f"settings must come from {factory}(...).")
    dev = check_device(device)
    return settings, dev, time.perf_counter(), get_profile(settings.profile, dev).for_run(settings.arch, settings.dataset)


def cached_attack_tensors(model, model_hash: str, X, y, attack: str, eps: float, cache_dir, progress: bool = True):
    """``attack_tensors(model, X, y, attack, eps)``, stored under ``<cache_dir>/attacked/`` and reused.

    The key is the model's training-configuration hash, the attack with all its parameters
    (``Attack.describe()``) and a digest of the exact images and labels, so a changed model,
    attack setting or image set is attacked afresh. AutoAttack on a CPU takes minutes; this keeps
    reruns of the notebook (same model, same images) fast.
    """
    digest = hashlib.sha256(X.numpy().tobytes() + y.numpy().tobytes()).hexdigest()[:16]
    key = {"model": model_hash, "attack": make_attack(attack, model, eps).describe(), "data": digest,
           "version": THEOREM3_VERSION}
    path = Path(cache_dir) / "attacked" / f"{config_hash(key)}.pt"
    if path.exists():
        return torch.load(path, map_location="cpu", weights_only=True)
    X_adv = attack_tensors(model, X, y, attack, eps=eps, progress=progress)
    atomic_torch_save(X_adv, path)
    return X_adv


__all__ = ["THEOREM3_VERSION", "resolve_profile", "check_device", "start_run", "cached_attack_tensors"]
