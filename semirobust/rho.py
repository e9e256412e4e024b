"""Outputs of a model's trainable layers and the layer connectivity rho of Algorithm 1.

:func:`collect_activations` records, with forward hooks, the output of chosen trainable
layers (``semirobust.models.trainable_layers``: the Conv2d/Linear modules themselves, before
any BatchNorm or activation) for every sample, flattened per sample, batched under
``no_grad`` with the model in eval mode, into preallocated tensors on the CPU or the GPU.
Inputs are clean or attacked: pass the attacked tensor ``x_adv``, or an ``attack`` callable
``(x, y) -> x_adv`` applied per batch. A byte budget is checked before any forward pass.

:func:`layer_rhos` measures rho_j = sum_y pi(y) I(f^(j-1); f^(j) | y) (bits, EDGE, see
``semirobust.mi``) for consecutive trainable layers. Pairs are indexed from the end of the
network: ``pair_index`` x = n - j (0 for the last pair), label ``rho_n``, ``rho_n-1``, ... so
Table 1 picks x in :data:`TABLE1_OFFSETS` and Figures 1/2 plot rho against n - x.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import torch
from torch import nn

from semirobust.config import check_int
from semirobust.data import iterate_batches
from semirobust.mi import MIN_SAMPLES, calibrated_mi
from semirobust.models import trainable_layers
from semirobust.utils import eval_mode, model_device

#: Pairs reported in Table 1: rho_n, rho_{n-3}, rho_{n-7}, rho_{n-11}, rho_{n-15}.
TABLE1_OFFSETS = (0, 3, 7, 11, 15)
#: Default budget for stored activations (bytes).
DEFAULT_MAX_BYTES = 4 * 2**30
#: Dependence measures computed per pair by default, each with its permutation null: EDGE (the paper's
#: rho), KSG on PCA and linear CKA (cross-checks; KSG costs ~0.4 s per calibrated pair of 8192 and 4096
#: dimensions with 200 samples, EDGE ~0.07 s and CKA ~0.01 s).
DEFAULT_MEASURES = ("edge", "ksg", "cka")
#: Calibration fields stored per measure (see ``semirobust.mi.calibrated_mi``).
CALIBRATION_FIELDS = ("null_mean", "null_sd", "ceiling", "p_value", "above_null")
RHO_COLUMNS = ["pair_index", "label", "layer_index", "layer_prev", "layer", "rho", "n_samples",
               *[f"rho_{f}" for f in CALIBRATION_FIELDS]]

Attack = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def rho_label(offset: int) -> str:
    """``rho_n`` for the last pair, ``rho_n-x`` for the pair x places before it."""
    return "rho_n" if offset == 0 else f"rho_n-{offset}"


def _check_layers(model: nn.Module, layers, any_module: bool = False) -> list[str]:
    """Validate layer names against the model's trainable layers (or, with ``any_module``, any of
    its modules, e.g. residual blocks); None means all trainable layers."""
    names = [name for name, _ in trainable_layers(model)]
    if layers is None:
        return names
    if isinstance(layers, str) or not isinstance(layers, (list, tuple)) or not layers \
            or not all(isinstance(n, str) for n in layers):
        raise ValueError("layers must be a non-empty list of trainable-layer names.")
    if any_module:
        names = [name for name, _ in model.named_modules() if name]
    unknown = [n for n in layers if n not in names]
    if unknown:
        raise ValueError(f"unknown layers {unknown}; the trainable layers are {names}.")
    if len(set(layers)) != len(layers):
        raise ValueError(f"layers {list(layers)} contain duplicates.")
    return list(layers)


def _first_input(data) -> torch.Tensor:
    return data[0][:1] if isinstance(data, (tuple, list)) else data[0][0].unsqueeze(0)


class _Recorder:
    """Forward hooks that copy each chosen layer's flattened output into a buffer slice."""

    def __init__(self, model: nn.Module, names: list[str]):
        modules = dict(model.named_modules())
        self.outputs: dict[str, torch.Tensor] = {}
        self.target: dict[str, torch.Tensor] | None = None
        self.rows = slice(0, 0)
        self.handles = [modules[name].register_forward_hook(self._hook(name)) for name in names]

    def _hook(self, name: str):
        def hook(module, inputs, output):
            flat = output.detach().flatten(1)
            if self.target is None:
                self.outputs[name] = flat.clone()
            else:
                self.target[name][self.rows] = flat
        return hook

    def remove(self):
        for handle in self.handles:
            handle.remove()


def layer_output_dims(model: nn.Module, layers, sample: torch.Tensor) -> dict[str, int]:
    """Flattened output size of each named layer (or module), from one forward pass of ``sample`` (1 x ...)."""
    names = _check_layers(model, layers, any_module=True)
    recorder = _Recorder(model, names)
    try:
        with eval_mode(model), torch.no_grad():
            model(sample.to(model_device(model)))
    finally:
        recorder.remove()
    return {name: int(recorder.outputs[name].shape[1]) for name in names}


def collect_activations(model: nn.Module, data, layers=None, *, batch_size: int = 256, store="cpu",
                        dtype: torch.dtype = torch.float32, attack: Attack | None = None,
                        max_bytes: int = DEFAULT_MAX_BYTES) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Outputs of ``layers`` (names; None: all trainable layers) for every sample of ``data``.

    ``data``: a Dataset or a pair ``(x, y)`` of tensors (x in [0, 1]). Returns
    ``({name: N x D tensor on store in dtype}, labels)``. ``attack(x, y) -> x_adv`` is applied
    per batch (model in eval mode) before the recorded pass. Raises ValueError before any
    compute when the outputs would take more than ``max_bytes``.
    """
    names = _check_layers(model, layers, any_module=True)
    check_int("batch_size", batch_size)
    n, batches = iterate_batches(data, batch_size)
    if n == 0:
        raise ValueError("data holds no samples.")
    store = torch.device(store)
    dims = layer_output_dims(model, names, _first_input(data))
    need = n * sum(dims.values()) * torch.empty(0, dtype=dtype).element_size()
    if need > max_bytes:
        raise ValueError(f"the outputs of {len(names)} layers for {n} samples need {need / 2**30:.2f} GiB, "
                         f"above max_bytes={max_bytes / 2**30:.2f} GiB; use fewer samples or layers, "
                         f"dtype=torch.float16, or a larger max_bytes.")
    device = model_device(model)
    outputs = {name: torch.empty((n, dims[name]), dtype=dtype, device=store) for name in names}
    labels = torch.empty(n, dtype=torch.int64)
    recorder = _Recorder(model, names)
    recorder.target = outputs
    start = 0
    try:
        with eval_mode(model):
            for xb, yb in batches:
                xb, yb = xb.to(device), yb.to(device)
                if attack is not None:
                    adv = attack(xb, yb)
                    if adv.shape != xb.shape:
                        raise ValueError(f"attack returned shape {tuple(adv.shape)} for inputs {tuple(xb.shape)}.")
                    xb = adv.detach()
                recorder.rows = slice(start, start + xb.shape[0])
                with torch.no_grad():
                    model(xb)
                labels[start:start + xb.shape[0]] = yb.cpu()
                start += xb.shape[0]
    finally:
        recorder.remove()
    return outputs, labels


def attacked_inputs(model: nn.Module, x: torch.Tensor, y: torch.Tensor, attack: Attack,
                    batch_size: int = 256) -> torch.Tensor:
    """``attack(x, y)`` in batches on the model's device with the model in eval mode (returned on x's device)."""
    device = model_device(model)
    parts = []
    with eval_mode(model):
        for i in range(0, x.shape[0], batch_size):
            xb, yb = x[i:i + batch_size].to(device), y[i:i + batch_size].to(device)
            adv = attack(xb, yb)
            if adv.shape != xb.shape:
                raise ValueError(f"attack returned shape {tuple(adv.shape)} for inputs {tuple(xb.shape)}.")
            parts.append(adv.detach().to(x.device))
    return torch.cat(parts)


#: how rho pairs layers: consecutive trainable layers (the authors' registration order) or block outputs.
PAIRINGS = ("layers", "blocks")


def _is_block(module: nn.Module) -> bool:
    """A residual block: a module with a ``downsample`` attribute (torchvision's Bottleneck and BasicBlock)."""
    return hasattr(module, "downsample") and any(isinstance(m, nn.Conv2d) for m in module.modules())


def block_output_layers(model: nn.Module, fb_layers: int) -> list[str]:
    """The module chain of rho over block outputs for an f_b of ``fb_layers`` trainable layers.

    The output of the last residual block that lies wholly in f_a, then every block that holds a
    layer of f_b, then the trainable layers after the last block (the classifier): each pair is
    then a block and the block that reads its output. Raises for a network without residual blocks.
    """
    names = [name for name, _ in trainable_layers(model)]
    if isinstance(fb_layers, bool) or not isinstance(fb_layers, (int, np.integer)) or not 1 <= fb_layers < len(names):
        raise ValueError(f"fb_layers={fb_layers!r} must be an integer in 1..{len(names) - 1}.")
    blocks = [name for name, module in model.named_modules() if name and _is_block(module)]
    if not blocks:
        raise ValueError("pairs='blocks' needs a residual network (modules with a shortcut); this model is a "
                         "chain: use pairs='layers'.")

    def owner(layer):
        return next((b for b in blocks if layer.startswith(b + ".")), None)

    fb = names[len(names) - fb_layers:]
    touched = list(dict.fromkeys(owner(n) for n in fb if owner(n) is not None))
    if not touched:  # only layers after the last block (the classifier): start at that block's output
        head = [owner(names[-fb_layers - 1]) or names[-fb_layers - 1]]
    else:  # the block before the first one f_b touches, or f_a's last layer when there is none
        first = blocks.index(touched[0])
        head = [blocks[first - 1]] if first > 0 else [names[len(names) - fb_layers - 1]]
    return head + touched + [n for n in fb if owner(n) is None]


def rho_layers(model: nn.Module, layers=None) -> list[str]:
    """The consecutive trainable layers whose pairs give rho.

    ``layers`` is an int k (f_b size: the last trainable layer of f_a and the k layers of f_b,
    k pairs rho_{a+1} .. rho_n as in Algorithm 1), a list of consecutive layer names, or None
    (every trainable layer).
    """
    names = [name for name, _ in trainable_layers(model)]
    if isinstance(layers, (int, np.integer)) and not isinstance(layers, bool):
        if not 1 <= layers < len(names):
            raise ValueError(f"layers={layers!r} (f_b size) must be in 1..{len(names) - 1}: "
                             "f_b needs a preceding f_a layer.")
        return names[len(names) - int(layers) - 1:]
    chosen = _check_layers(model, layers)
    if len(chosen) < 2:
        raise ValueError("rho needs at least two consecutive layers.")
    positions = [names.index(n) for n in chosen]
    if any(b != a + 1 for a, b in zip(positions, positions[1:])):
        raise ValueError(f"layers {chosen} are not consecutive trainable layers in network order.")
    return chosen


def layer_rhos(model: nn.Module, x: torch.Tensor, y: torch.Tensor, layers=None, *, batch_size: int = 256,
               store="cpu", dtype: torch.dtype = torch.float32, attack: Attack | None = None,
               max_bytes: int = DEFAULT_MAX_BYTES, min_class_samples: int = MIN_SAMPLES, preset: str = "authors",
               permutations: int = 20, measures=DEFAULT_MEASURES, seed: int = 0, pairs: str = "layers",
               **edge_kwargs) -> pd.DataFrame:
    """rho for each consecutive pair of the chosen trainable layers, as a DataFrame in network order.

    ``layers``: an int k (the k pairs of an f_b of k layers, rho_{a+1} .. rho_n), a list of
    consecutive trainable-layer names, or None (all pairs). Columns: ``pair_index`` (x = n - j,
    0 for the last pair of the network), ``label`` ("rho_n", "rho_n-3", ...), ``layer_index``
    (j, 1-based among all n trainable layers), ``layer_prev`` and ``layer`` (names of layers
    j-1 and j), ``rho`` (class-conditional EDGE MI in bits, ``preset`` "authors" by default),
    ``n_samples``, and its calibration ``rho_null_mean``, ``rho_null_sd`` (B's rows permuted within
    class ``permutations`` times), ``rho_ceiling`` (class-weighted log2 N_y), ``rho_p_value``,
    ``rho_above_null``; every other measure in ``measures`` ("ksg", "cka") adds the same columns
    under its name (``cka``, ``cka_null_mean``, ...). ``x``/``y``: inputs
    (e.g. the attacked test set) and labels; an ``attack`` is applied once, so every layer sees
    the same x_adv. Layers are collected in groups that fit ``max_bytes`` (one forward pass
    per group). ``edge_kwargs`` (seed, n_ensemble, ...) go to EDGE. ``pairs="blocks"`` (residual
    networks, ``layers`` an f_b size) pairs block outputs instead (:func:`block_output_layers`):
    ``layer_index`` is then the position in that chain.
    """
    measures = tuple(measures)
    if "edge" not in measures or any(m not in ("edge", "ksg", "cka") for m in measures):
        raise ValueError(f"measures={measures!r} must include 'edge' (rho) and may add 'ksg' and 'cka'.")
    if pairs not in PAIRINGS:
        raise ValueError(f"Unknown pairs {pairs!r}; valid: {', '.join(PAIRINGS)}.")
    if pairs == "blocks":
        if isinstance(layers, bool) or not isinstance(layers, (int, np.integer)):
            raise ValueError("pairs='blocks' takes layers as the f_b size (an int).")
        chosen = block_output_layers(model, int(layers))
    else:
        chosen = rho_layers(model, layers)
    if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor) or x.shape[0] != y.shape[0]:
        raise ValueError("x and y must be tensors with the same number of samples.")
    all_names = [name for name, _ in trainable_layers(model)]
    n_layers, n = len(all_names), x.shape[0]
    item = torch.empty(0, dtype=dtype).element_size()
    size = {name: n * dim * item for name, dim in layer_output_dims(model, chosen, x[:1]).items()}
    worst = max(size[a] + size[b] for a, b in zip(chosen, chosen[1:]))
    if worst > max_bytes:
        raise ValueError(f"two consecutive layers need {worst / 2**30:.2f} GiB for {n} samples, above "
                         f"max_bytes={max_bytes / 2**30:.2f} GiB; use fewer samples, dtype=torch.float16 "
                         "or a larger max_bytes.")
    if attack is not None:
        x = attacked_inputs(model, x, y, attack, batch_size)
    rows, prev, pos = [], None, 0
    while pos < len(chosen):
        held = size[prev[0]] if prev else 0
        group = [chosen[pos]]  # as many further layers as fit next to the carried-over one
        while pos + len(group) < len(chosen) and \
                held + sum(size[g] for g in group) + size[chosen[pos + len(group)]] <= max_bytes:
            group.append(chosen[pos + len(group)])
        pos += len(group)
        acts, labels = collect_activations(model, (x, y), group, batch_size=batch_size, store=store, dtype=dtype,
                                           max_bytes=max_bytes - held)
        for name in group:
            if prev is not None:
                if pairs == "blocks":  # x counts block pairs from the end; j is the position in the chain
                    j = chosen.index(name)
                    offset = len(chosen) - 1 - j
                else:
                    j = all_names.index(name) + 1
                    offset = n_layers - j
                row = {"pair_index": offset, "label": rho_label(offset), "layer_index": j,
                       "layer_prev": prev[0], "layer": name, "n_samples": n}
                for measure in measures:
                    found = calibrated_mi(prev[1], acts[name], labels, measure=measure, preset=preset,
                                          permutations=permutations, seed=seed, min_class_samples=min_class_samples,
                                          **(edge_kwargs if measure == "edge" else {}))
                    column = "rho" if measure == "edge" else measure
                    row[column] = found["mi"]
                    row.update({f"{column}_{f}": found[f] for f in CALIBRATION_FIELDS})
                    if measure == "edge":
                        row["rho_preset"], row["rho_settings"] = preset, found["settings"]
                rows.append(row)
            prev = (name, acts[name])
        del acts
    columns = RHO_COLUMNS + [c for m in measures if m != "edge" for c in (m, *[f"{m}_{f}" for f in CALIBRATION_FIELDS])]
    return pd.DataFrame(rows, columns=columns + ["rho_preset", "rho_settings"])


def table1_rhos(rhos: pd.DataFrame, offsets=TABLE1_OFFSETS) -> dict[str, float]:
    """``{label: rho}`` for the pairs Table 1 reports (NaN where f_b has no such pair)."""
    by_offset = dict(zip(rhos["pair_index"], rhos["rho"]))
    return {rho_label(x): float(by_offset.get(x, np.nan)) for x in offsets}


__all__ = ["TABLE1_OFFSETS", "DEFAULT_MAX_BYTES", "DEFAULT_MEASURES", "CALIBRATION_FIELDS", "RHO_COLUMNS",
           "Attack", "rho_label", "layer_output_dims", "collect_activations", "attacked_inputs", "rho_layers",
           "layer_rhos", "table1_rhos", "PAIRINGS", "block_output_layers"]
