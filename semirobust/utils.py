"""Small shared helpers: atomic writes, stable config hashes, seeding and devices.

Atomic writes (write to a temporary file in the same folder, then ``os.replace``) make sure an
interrupted run never leaves a half-written checkpoint, record or notebook behind.
"""
from __future__ import annotations

import ast
import contextlib
import hashlib
import importlib.util
import io
import json
import os
import random
import tempfile
from pathlib import Path

import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parent.parent
_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file + rename in the same folder)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; records are meant to be shared
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_torch_save(obj, path: str | os.PathLike) -> Path:
    """``torch.save`` to ``path`` atomically, so a crash mid-save keeps the previous file."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return atomic_write_bytes(path, buffer.getvalue())


def canonical_json(obj) -> str:
    """JSON with sorted keys and no whitespace: the same config always gives the same text."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def config_hash(config: dict, length: int = 16) -> str:
    """Stable short sha256 of a configuration dictionary (key order does not matter)."""
    return hashlib.sha256(canonical_json(config).encode("utf-8")).hexdigest()[:length]


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) for reproducible runs."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """Turn ``"auto"``/None into cuda when available, else cpu; refuse cuda when absent."""
    if isinstance(device, torch.device):
        return device
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was asked for but CUDA is not available on this machine; use 'cpu' or 'auto'.")
    return dev


def default_cache_dir() -> Path:
    """Where trained checkpoints are cached (env ``SEMIROBUST_CACHE`` or ``<repo>/.cache/semirobust``)."""
    return Path(os.environ.get("SEMIROBUST_CACHE", REPO_ROOT / ".cache" / "semirobust"))


def default_results_dir() -> Path:
    """Where run records live (env ``SEMIROBUST_RESULTS`` or ``<repo>/results``)."""
    return Path(os.environ.get("SEMIROBUST_RESULTS", REPO_ROOT / "results"))


def default_data_root() -> Path:
    """Where data sets are looked for (env ``SEMIROBUST_DATA`` or ``<repo>/data``)."""
    return Path(os.environ.get("SEMIROBUST_DATA", REPO_ROOT / "data"))


def check_output_dir(path: str | os.PathLike, parameter: str) -> Path:
    """Make sure ``path`` is a folder this process can write to, before any compute: it is created when
    missing, and a probe file is written there and removed once. Returns it as a Path; a ValueError naming
    ``parameter`` (e.g. "results_dir") and the path otherwise, so that a bad output location fails in
    seconds rather than after the run whose results it was meant to keep."""
    path = Path(path)
    where = f"{parameter}={str(path)!r}"
    if path.exists() and not path.is_dir():
        raise ValueError(f"{where} is a file, not a folder; give a folder (it is created when missing).")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(f"{where} cannot be created ({err.strerror or err}); give a folder you can write to.") from None
    try:
        fd, probe = tempfile.mkstemp(dir=path, prefix=".write-probe.", suffix=".tmp")
    except OSError as err:
        raise ValueError(f"{where} is not writable ({err.strerror or err}); give a folder you can write to.") from None
    os.close(fd)
    os.unlink(probe)
    return path


def check_images(x, name: str = "x") -> None:
    """Images on the pixel scale every attack and network of the library takes: values in [0, 1] (NaN refused).

    An attack's eps is in pixel units, so images in [0, 255] or [0, 5] would make a budget of 8/255 a
    different, much smaller perturbation relative to the image, with no other sign of it."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch tensor of images, got {type(x).__name__}.")
    if x.numel() == 0:
        return
    low, high = float(x.min()), float(x.max())
    if not (0 <= low <= high <= 1):  # NaN fails every comparison
        raise ValueError(f"{name} holds values in [{low:g}, {high:g}]; images must be in [0, 1] (pixel scale: divide "
                         "0..255 images by 255; normalization is inside the model) and eps is in the same units.")


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of a model's first parameter or buffer (cpu for a model with neither)."""
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")


@contextlib.contextmanager
def eval_mode(model: torch.nn.Module):
    """Put ``model`` in eval mode for the block and restore every submodule's own mode afterwards.

    Restoring module by module (not ``model.train(was_training)``) keeps a frozen f_a's BatchNorm in
    eval mode inside a network that is training.
    """
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for module, training in modes:
            module.training = training


@contextlib.contextmanager
def frozen(model: torch.nn.Module):
    """Parameters of ``model`` do not require gradients in the block; each one's own flag is restored afterwards.

    For attacks, which need only the input gradient: no weight gradient is computed or left behind.
    """
    flags = [(param, param.requires_grad) for param in model.parameters()]
    try:
        for param, _ in flags:
            param.requires_grad_(False)
        yield model
    finally:
        for param, flag in flags:
            param.requires_grad_(flag)


def _is_all_assignment(node) -> bool:
    return isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)


def source_fingerprint(*modules: str) -> str:
    """Short hash of the code of the named modules (e.g. ``"semirobust.models"``), for cache keys.

    Each file is hashed as its syntax tree (``ast.dump``), so comments and formatting do not count
    but any change to code (or docstrings) does: a cache keyed on this can never serve a network
    trained by older code. A module's ``__all__`` (what it exports) is left out. This replaces
    hand-bumped version strings.
    """
    digest = hashlib.sha256()
    for name in sorted(set(modules)):
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            raise ValueError(f"source_fingerprint: module {name!r} not found.")
        tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
        tree.body = [node for node in tree.body if not _is_all_assignment(node)]  # exports do not change results
        digest.update(name.encode())
        digest.update(ast.dump(tree).encode())
    return digest.hexdigest()[:16]


__all__ = ["REPO_ROOT", "atomic_write_bytes", "atomic_write_text", "atomic_torch_save", "canonical_json",
           "config_hash", "seed_everything", "resolve_device", "default_cache_dir", "default_results_dir",
           "default_data_root", "check_output_dir", "check_images", "model_device", "eval_mode", "frozen", "source_fingerprint"]


def cpu_name() -> str:
    """The processor's model name (``/proc/cpuinfo``), else what ``platform`` says: stamped on benchmark results."""
    import platform

    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()

