"""The files training keeps: resumable run checkpoints, cached networks and their per-epoch weights.

A run checkpoint holds everything a resumed run needs (model, optimizer, scheduler, GradScaler, RNG states,
history, the training method's own state); a cached network holds its weights and how they were trained. Files are
written atomically (``utils.atomic_torch_save``), so a crash keeps the previous file, but a file can still be
damaged outside the library (a full disk, a copy cut short). :func:`read_training_file` reads one; a file that
cannot be read (truncated, empty, not a torch file, or lacking the fields it must have) is moved aside to
``<name>.corrupt-<timestamp>`` with a warning naming it, and the caller trains again (or resumes from the
last readable run checkpoint) instead of failing on every later call.
"""
from __future__ import annotations

import pickle
import random
import warnings
import zipfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import numpy as np
import torch

from semirobust.utils import atomic_torch_save

#: the files of a run's checkpoint inside its ``checkpoint_dir``: the last finished epoch's and the one before
CHECKPOINT_NAME, PREVIOUS_CHECKPOINT_NAME = "checkpoint.pt", "checkpoint-previous.pt"
#: what ``torch.load`` raises on a damaged file: truncated (RuntimeError or OSError "Invalid argument" from the zip
#: reader), empty (EOFError), not a torch file (UnpicklingError, or a decoding error on text); a PermissionError is
#: no damage and is raised as it is
UNREADABLE = (RuntimeError, OSError, EOFError, pickle.UnpicklingError, ValueError, UnicodeDecodeError,
              zipfile.BadZipFile)


def move_aside(path: Path, reason: str) -> Path:
    """Rename ``path`` to ``<name>.corrupt-<timestamp>`` beside it and warn, naming both; returns the new path."""
    stamp = datetime.now().strftime("%Y%m%dT%H%M%S%f")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    path.replace(target)
    warnings.warn(f"{path} could not be read ({reason}); moved aside to {target.name}: it will be trained again "
                  "(from the last readable checkpoint, if any).", RuntimeWarning, stacklevel=3)
    return target


def read_training_file(path: Path, keys: tuple[str, ...]) -> dict | None:
    """The dict saved at ``path`` (None when there is no file), or None after moving an unreadable one aside.

    Unreadable: ``torch.load`` fails, or the content is not a dict holding every one of ``keys``."""
    if not path.exists():
        return None
    try:
        content = torch.load(path, map_location="cpu", weights_only=False)
    except PermissionError:
        raise
    except UNREADABLE as err:
        move_aside(path, f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else 'no detail'}")
        return None
    missing = [key for key in keys if key not in content] if isinstance(content, dict) else list(keys)
    if missing:
        move_aside(path, f"not a training file: no {', '.join(missing)}")
        return None
    return content


# ---------------------------------------------------------------- run checkpoints


def rng_state(device: torch.device) -> dict:
    """The global RNG states (torch, numpy, Python, and CUDA on a CUDA device) a resumed run restores."""
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict, device: torch.device) -> None:
    """Restore the RNG states of :func:`rng_state`."""
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


#: what every run checkpoint holds ("atta": the training method's run state, ATTA's carried perturbations; None
#: for the methods that carry nothing)
CHECKPOINT_KEYS = ("fingerprint", "epoch", "model", "optimizer", "scheduler", "scaler", "rng", "history",
                   "stopped_early", "atta")


def load_checkpoint(checkpoint_dir: Path, fingerprint: dict) -> dict | None:
    """The latest readable checkpoint of the run in ``checkpoint_dir`` (None: none); an unreadable one is moved
    aside and the previous epoch's is tried. One of another configuration is an error (the folder belongs to
    another run)."""
    for name in (CHECKPOINT_NAME, PREVIOUS_CHECKPOINT_NAME):
        path = Path(checkpoint_dir) / name
        checkpoint = read_training_file(path, CHECKPOINT_KEYS)
        if checkpoint is None:
            continue
        if checkpoint["fingerprint"] != fingerprint:
            raise ValueError(
                f"{path} holds a run with a different configuration ({checkpoint['fingerprint']}) than this one "
                f"({fingerprint}); use another checkpoint_dir or delete it."
            )
        return checkpoint
    return None


def save_checkpoint(checkpoint_dir: Path, checkpoint: dict) -> None:
    """Save an epoch's ``checkpoint`` (atomically), keeping the one it replaces as the previous epoch's."""
    path = Path(checkpoint_dir) / CHECKPOINT_NAME
    if path.exists():
        path.replace(path.with_name(PREVIOUS_CHECKPOINT_NAME))
    atomic_torch_save(checkpoint, path)


# ---------------------------------------------------------------- cached networks' per-epoch weights


def snapshot_paths(model_path) -> list[Path]:
    """The per-epoch weights kept beside a cached adversarially trained network (``<name>.epochs/``), in
    epoch order: the network's own training curve can be evaluated after the fact."""
    folder = Path(model_path).with_suffix(".epochs")
    return sorted(folder.glob("epoch-*.pt"))


def snapshot_fn(model_path: Path) -> Callable:
    """An ``eval_fn`` for ``training.train`` that keeps every epoch's weights (atomically) beside the cached
    network."""
    folder = Path(model_path).with_suffix(".epochs")

    def save(model, epoch):
        state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        atomic_torch_save(state, folder / f"epoch-{epoch:03d}.pt")
        return {}
    return save


__all__ = ["CHECKPOINT_NAME", "PREVIOUS_CHECKPOINT_NAME", "CHECKPOINT_KEYS", "UNREADABLE", "move_aside", "read_training_file", "rng_state",
           "set_rng_state", "load_checkpoint", "save_checkpoint", "snapshot_paths", "snapshot_fn"]
