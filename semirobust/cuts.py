"""Where the f_a / f_b cut falls, and which of rho's layer pairs are not a chain.

f_b is the last ``fb_layers`` trainable layers (Conv2d / Linear) in registration order (docs/conventions.md,
layer indexing), and rho pairs consecutive layers in that order. In a plain chain (AlexNet, VGG16)
both are what the paper draws. In a residual network they are not:

- a cut can fall **mid-block**: f_b then starts at a block's second or third convolution, and f*_a
  ends inside the block it shares with f_b (its shortcut carries f*_a's block input past the cut);
- a cut can fall **on a shortcut**: f_b starts at a downsample convolution;
- a consecutive pair can be a main-branch convolution and the **parallel shortcut convolution** of
  the same block (torchvision registers ``downsample`` after ``conv3``): two layers that do not
  feed each other, whose rho measures the dependence of two siblings, not of a layer on its input.

:func:`describe_cut` names all three for a model and an f_b size; :func:`cut_note` says it in a
sentence for the pages, and :func:`warn_cut` raises a ``UserWarning`` for library users.
"""
from __future__ import annotations

import re
import warnings

from torch import nn

from semirobust.config import MODEL_NAMES, check_int
from semirobust.models import build_model, trainable_layers

__all__ = ["describe_cut", "cut_note", "warn_cut", "arch_cut_note"]

_MID_BLOCK = re.compile(r"\.conv[23]$")
_SHORTCUT = re.compile(r"\.downsample\.\d+$")


def _block(name: str) -> str:
    """The residual block a layer belongs to: ``net.layer4.0.conv3`` and ``net.layer4.0.downsample.0`` -> ``net.layer4.0``."""
    return name.split(".downsample")[0] if _SHORTCUT.search(name) else name.rsplit(".", 1)[0]


def describe_cut(model: nn.Module, fb_layers: int) -> dict:
    """The first layer of f_b, whether the cut is mid-block or on a shortcut, and the rho pairs of
    f_b (rho_{a+1} .. rho_n) that join a main-branch convolution to its parallel shortcut."""
    names = [name for name, _ in trainable_layers(model)]
    check_int("fb_layers", fb_layers, high=len(names) - 1)
    first = names[len(names) - fb_layers]
    chain = names[len(names) - fb_layers - 1:]
    sibling_pairs = [(a, b) for a, b in zip(chain, chain[1:])
                     if _SHORTCUT.search(b) and not _SHORTCUT.search(a) and _block(a) == _block(b)]
    return {"first_fb_layer": first, "last_fa_layer": chain[0], "mid_block": bool(_MID_BLOCK.search(first)),
            "on_shortcut": bool(_SHORTCUT.search(first)), "sibling_pairs": sibling_pairs,
            "pairs": len(chain) - 1}


def cut_note(model: nn.Module, fb_layers: int, arch: str = "") -> str:
    """One or two sentences for a page: where f_b starts and what that means for rho (empty for a clean cut)."""
    cut = describe_cut(model, fb_layers)
    parts = []
    if cut["mid_block"]:
        parts.append(f"f_b = {fb_layers} starts mid-block, at `{cut['first_fb_layer']}`: f*_a ends inside the residual "
                     "block it shares with f_b, and that block's shortcut carries f*_a's input past the cut")
    if cut["on_shortcut"]:
        parts.append(f"f_b = {fb_layers} starts on a shortcut convolution, `{cut['first_fb_layer']}`")
    if cut["sibling_pairs"]:
        shown = ", ".join(f"`{a}` / `{b}`" for a, b in cut["sibling_pairs"])
        parts.append(f"{len(cut['sibling_pairs'])} of its {cut['pairs']} rho pairs join a main-branch convolution to "
                     f"its block's parallel shortcut convolution ({shown}): registration order, as the authors "
                     "count, not the data flow")
    if not parts:
        return ""
    return f"{arch + ': ' if arch else ''}{'; '.join(parts)}."


def warn_cut(model: nn.Module, fb_layers: int, arch: str = "") -> str:
    """:func:`cut_note`, also raised as a ``UserWarning`` when the cut or a pair is not a plain chain."""
    note = cut_note(model, fb_layers, arch)
    if note:
        warnings.warn(note, UserWarning, stacklevel=2)
    return note


def arch_cut_note(arch: str, dataset: str, fb_layers: int) -> str:
    """:func:`cut_note` for an architecture by name (layer names do not depend on the width)."""
    return cut_note(build_model(arch, dataset, width=0.0625), fb_layers, MODEL_NAMES.get(arch, arch))
