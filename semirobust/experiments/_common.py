"""Helpers shared by the theory experiments: argument checks and cached attacked inputs."""
from __future__ import annotations

from pathlib import Path

from semirobust.config import PROFILES, Profile, check_choice, get_profile

THEOREM3_VERSION = "1"


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


def start_run(settings, settings_type: type, factory: str, device):
    """The common start of a theory run: ``settings`` checked to come from ``factory``, the device,
    the start time and the settings' profile for its network. Returns ``(settings, device, t0, profile)``."""
    import time

    if not isinstance(settings, settings_type):
        raise ValueError(f"settings must come from {factory}(...).")
    dev = _check_device(device)
    return settings, dev, time.perf_counter(), get_profile(settings.profile, dev).for_arch(settings.arch)


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


__all__ = ["THEOREM3_VERSION", "_check_int", "_check_eps", "_resolve_profile", "_check_device",
           "start_run", "cached_attack_tensors"]
