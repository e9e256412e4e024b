"""The weight distance of Section 2.2 up to the permutation of hidden units that leaves f_b's function unchanged.

Two networks that compute the same function can store it with their hidden units in another order, so
``||w~_b - w*_b||`` can be large between equal functions. :func:`align_fb` reorders the hidden units of
f~_b to match those of f*_b, layer by layer from the first layer of f_b: the units of layer l are
matched by :func:`scipy.optimize.linear_sum_assignment` on the inner products of their parameters
(weights with the inputs already permuted, bias and the BatchNorm that follows), which minimises that
layer's share of the squared distance; the BatchNorm of the layer and the inputs of the next layer are
permuted alike, so the aligned network computes exactly what f~_b computed. f_b's input (the output
of the shared f*_a) and its output (the classes) are never permuted.

Only chains of layers are aligned (AlexNet, VGG16); a residual network's units are tied across its
shortcuts, and :func:`aligned_distance` returns None for it.
"""
from __future__ import annotations

import copy

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck

from semirobust.models import fa_fb_module_names

__all__ = ["is_chain", "align_fb", "aligned_distance"]

_TRAINABLE = (nn.Conv2d, nn.Linear)
_BATCHNORM = nn.modules.batchnorm._BatchNorm


def is_chain(model: nn.Module) -> bool:
    """True when no residual block is present, so hidden units can be permuted layer by layer."""
    return not any(isinstance(m, (BasicBlock, Bottleneck)) for m in model.modules())


def _fb_modules(model: nn.Module, fb_layers: int) -> list[nn.Module]:
    lookup = dict(model.named_modules())
    return [lookup[name] for name in fa_fb_module_names(model, fb_layers)[1]]


def _input_index(layer: nn.Module, perm: torch.Tensor) -> torch.Tensor:
    """Input columns of ``layer`` in the new order: a channel permutation, spread over the spatial positions
    a flattened convolution output gives each channel (channel-major, as ``torch.flatten`` orders it)."""
    fan_in = layer.weight.shape[1]
    if fan_in % len(perm):
        raise ValueError(f"{type(layer).__name__} has {fan_in} inputs, not a multiple of {len(perm)} channels.")
    spatial = fan_in // len(perm)
    return (perm[:, None] * spatial + torch.arange(spatial)[None]).flatten()


def _unit_vectors(layer: nn.Module, norms: list[nn.Module]) -> np.ndarray:
    parts = [layer.weight.detach().flatten(1)]
    if layer.bias is not None:
        parts.append(layer.bias.detach()[:, None])
    for bn in norms:
        parts += [p.detach()[:, None] for p in (bn.weight, bn.bias) if p is not None]
    return torch.cat(parts, dim=1).double().cpu().numpy()


def align_fb(model_tilde: nn.Module, model_star: nn.Module, fb_layers: int) -> nn.Module:
    """A copy of ``model_tilde`` whose f_b hidden units are permuted to match ``model_star``'s (see the module
    docstring); it computes the same function as ``model_tilde``. Raises ValueError for a residual network."""
    if not (is_chain(model_tilde) and is_chain(model_star)):
        raise ValueError("only chains of layers can be aligned; this network has residual blocks.")
    aligned = copy.deepcopy(model_tilde)
    mods, ref = _fb_modules(aligned, fb_layers), _fb_modules(model_star, fb_layers)
    if [type(m) for m in mods] != [type(m) for m in ref]:
        raise ValueError("the two networks' f_b modules differ; they cannot be aligned.")
    layers = [i for i, m in enumerate(mods) if isinstance(m, _TRAINABLE)]
    perm = None
    with torch.no_grad():
        for k, i in enumerate(layers):
            layer = mods[i]
            if perm is not None:
                layer.weight.copy_(layer.weight[:, _input_index(layer, perm)])
            if k == len(layers) - 1:
                break  # f_b's output units are the classes: never permuted
            stop = layers[k + 1]
            norms = [m for m in mods[i + 1:stop] if isinstance(m, _BATCHNORM)]
            ref_norms = [m for m in ref[i + 1:stop] if isinstance(m, _BATCHNORM)]
            cost = _unit_vectors(layer, norms) @ _unit_vectors(ref[i], ref_norms).T
            rows, cols = linear_sum_assignment(cost, maximize=True)
            perm = torch.as_tensor(rows[np.argsort(cols)], dtype=torch.long)  # new unit j = old unit perm[j]
            for tensor in [layer.weight, layer.bias] + [t for bn in norms for t in
                                                        (bn.weight, bn.bias, bn.running_mean, bn.running_var)]:
                if tensor is not None:
                    tensor.copy_(tensor[perm])
    return aligned


def aligned_distance(model_tilde: nn.Module, model_star: nn.Module, fb_layers: int, vector_fn) -> float | None:
    """||w~_b - w*_b|| after :func:`align_fb` (``vector_fn(model, fb_layers)`` flattens f_b's parameters);
    None for a residual network, where the alignment is not defined here."""
    if not (is_chain(model_tilde) and is_chain(model_star)):
        return None
    aligned = align_fb(model_tilde, model_star, fb_layers)
    return float((vector_fn(aligned, fb_layers) - vector_fn(model_star, fb_layers)).norm())
