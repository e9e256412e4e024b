"""The paper's three networks with a true f_a / f_b split.

Networks are built from torchvision's classes (``AlexNet``, ``VGG`` + ``make_layers``,
``ResNet`` + ``Bottleneck``). 32x32 inputs get CIFAR-adapted stems and classifiers, 224x224 the
standard architectures. ``width`` scales channels but keeps the number and order of trainable
layers (AlexNet 8, VGG16 16, ResNet50 54), so small-scale runs keep the paper's layer indexing.
The first module normalizes, so every attack works in pixel space ([0, 1]).
"""
from __future__ import annotations

import copy
import types
from collections import OrderedDict
from dataclasses import dataclass, field

import torch
from torch import nn
from torchvision.models import VGG, AlexNet, ResNet
from torchvision.models.resnet import Bottleneck
from torchvision.models.vgg import cfgs as vgg_cfgs
from torchvision.models.vgg import make_layers

from semirobust.config import ARCH_SPECS, check_choice, check_int
from semirobust.data import dataset_info

TRAINABLE_TYPES = (nn.Conv2d, nn.Linear)


class Normalize(nn.Module):
    """Per-channel ``(x - mean) / std`` as the first module of every network."""

    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def _scaled(channels: int, width: float) -> int:
    return max(1, int(round(channels * width)))


def _init_conv(layer: nn.Conv2d) -> nn.Conv2d:
    """Kaiming-normal (fan_out, ReLU) as torchvision initialises VGG's and ResNet's convolutions."""
    nn.init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="relu")
    nn.init.zeros_(layer.bias)
    return layer


def make_alexnet(num_classes: int, width: float, small_input: bool) -> AlexNet:
    """AlexNet (no normalization) with ``width`` times the channels; 32x32 inputs get small kernels and BatchNorm."""
    # Every Conv2d/Linear of torchvision's full-size AlexNet is replaced below, so it is built on
    # the meta device (no memory, no init): this keeps a small-width build fast.
    with torch.device("meta"):
        net = AlexNet(num_classes=num_classes)
    convs = [i for i, m in enumerate(net.features) if isinstance(m, nn.Conv2d)]
    channels = [_scaled(c, width) for c in (64, 192, 384, 256, 256)]
    in_ch = 3
    for idx, out_ch in zip(convs, channels):
        old = net.features[idx]
        if small_input:  # 32x32: small kernels, stride 1 (CIFAR adaptation)
            kernel, stride, pad = 3, 1, 1
        else:
            kernel, stride, pad = old.kernel_size, old.stride, old.padding
        conv = _init_conv(nn.Conv2d(in_ch, out_ch, kernel, stride, pad))
        # 32x32: BatchNorm after each convolution. Without it a width-0.25 AlexNet (no BN, three
        # max-pools, dropout 0.5) stayed near chance for several epochs on digits (33-44% test after
        # 6 epochs at lr 0.05 / 0.01); BatchNorm is not a trainable layer here, the count stays 8.
        net.features[idx] = nn.Sequential(conv, nn.BatchNorm2d(out_ch)) if small_input else conv
        in_ch = out_ch
    pool = (2, 2) if small_input else (6, 6)
    net.avgpool = nn.AdaptiveAvgPool2d(pool)
    hidden = _scaled(4096, width)
    linear_idx = [i for i, m in enumerate(net.classifier) if isinstance(m, nn.Linear)]
    dims = [in_ch * pool[0] * pool[1], hidden, hidden, num_classes]
    for j, idx in enumerate(linear_idx):
        net.classifier[idx] = nn.Linear(dims[j], dims[j + 1])
    return net


def make_vgg16(num_classes: int, width: float, small_input: bool) -> VGG:
    """VGG16 with BatchNorm (no normalization) and ``width`` times the channels."""
    cfg = [v if v == "M" else _scaled(v, width) for v in vgg_cfgs["D"]]
    features = make_layers(cfg, batch_norm=True)
    # VGG.__init__ also builds a full-size 25088x4096 classifier that is replaced below; building
    # it on the meta device skips allocating and initialising ~120M throwaway weights. The real
    # ``features`` passed in stay on the CPU and still get torchvision's initialisation.
    with torch.device("meta"):
        net = VGG(features, num_classes=num_classes, init_weights=True)
    last = _scaled(512, width)
    pool = (1, 1) if small_input else (7, 7)
    hidden = _scaled(512 if small_input else 4096, width)
    net.avgpool = nn.AdaptiveAvgPool2d(pool)
    # PyTorch's default Linear init: torchvision's N(0, 0.01) suits 4096-wide layers but starves a
    # width-scaled classifier of signal (a width-0.125 VGG16 did not learn at all with it).
    net.classifier = nn.Sequential(
        nn.Linear(last * pool[0] * pool[1], hidden), nn.ReLU(True), nn.Dropout(0.5),
        nn.Linear(hidden, hidden), nn.ReLU(True), nn.Dropout(0.5),
        nn.Linear(hidden, num_classes),
    )
    return net


class WidthResNet(ResNet):
    """torchvision's ResNet with every stage's channel count multiplied by ``width``."""

    def __init__(self, block, layers, num_classes: int, width: float, small_input: bool):
        object.__setattr__(self, "_width", width)
        object.__setattr__(self, "_stem_done", False)
        super().__init__(block, layers, num_classes=num_classes)
        stem = _scaled(64, width)
        if small_input:  # CIFAR stem: 3x3 stride-1 convolution, no max-pool
            self.conv1 = nn.Conv2d(3, stem, kernel_size=3, stride=1, padding=1, bias=False)
            self.maxpool = nn.Identity()
        else:
            self.conv1 = nn.Conv2d(3, stem, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(stem)
        nn.init.kaiming_normal_(self.conv1.weight, mode="fan_out", nonlinearity="relu")
        self.fc = nn.Linear(self.inplanes, num_classes)

    def _make_layer(self, block, planes, blocks, stride=1, dilate=False):
        if not self._stem_done:  # the first stage reads the (scaled) stem's channels
            self.inplanes = _scaled(64, self._width)
            object.__setattr__(self, "_stem_done", True)
        return super()._make_layer(block, _scaled(planes, self._width), blocks, stride, dilate)


def make_resnet50(num_classes: int, width: float, small_input: bool) -> ResNet:
    """ResNet50 (no normalization) with ``width`` times the channels of every stage."""
    return WidthResNet(Bottleneck, [3, 4, 6, 3], num_classes, width, small_input)


def build_model(arch: str, dataset: str, width: float = 1.0, num_classes: int | None = None,
                channels_last: bool | None = None) -> nn.Sequential:
    """Build ``arch`` for ``dataset``: ``Sequential(normalize, net)`` taking images in [0, 1].

    ``channels_last`` (None: the architecture's ``cpu_channels_last``) stores the 4-d weights channels-last,
    so every convolution (training, attacks, rho) runs in that layout on the CPU, where it was measured faster
    for VGG16 and AlexNet; values and state dicts are the same in either layout.
    """
    check_choice("model", arch, tuple(ARCH_SPECS))
    spec, info = ARCH_SPECS[arch], dataset_info(dataset)
    if not isinstance(width, (int, float)) or not 0 < width <= 4:
        raise ValueError(f"width={width!r} must be in (0, 4].")
    classes = num_classes if num_classes is not None else info.num_classes
    net = globals()[spec.builder](classes, float(width), small_input=info.image_size <= 64)
    model = nn.Sequential(OrderedDict(normalize=Normalize(info.mean, info.std), net=net))
    model.arch, model.dataset_name, model.width = arch, dataset, float(width)
    count = len(trainable_layers(model))
    assert count == spec.layers, f"{arch} has {count} trainable layers, expected {spec.layers}"
    if spec.cpu_channels_last if channels_last is None else channels_last:
        model.to(memory_format=torch.channels_last)
    return model


def trainable_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The Conv2d and Linear modules of ``model`` in registration order, with their names."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, TRAINABLE_TYPES)]


def _leaf_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(name, m) for name, m in model.named_modules() if not list(m.children())]


def fa_fb_module_names(model: nn.Module, fb_layers: int) -> tuple[list[str], list[str]]:
    """Leaf-module names of f_a and f_b: f_b starts at the first of the last ``fb_layers`` trainable layers."""
    layers = trainable_layers(model)
    check_int("fb_layers", fb_layers, high=len(layers), why=f": the model has {len(layers)} trainable layers")
    first_fb = layers[len(layers) - fb_layers][0]
    names = [name for name, _ in _leaf_modules(model)]
    cut = names.index(first_fb)
    return names[:cut], names[cut:]


def _eval_only_train(self: nn.Module, mode: bool = True) -> nn.Module:
    """Replacement ``train`` for frozen f_a modules: they stay in eval mode."""
    return nn.Module.train(self, False)


@dataclass
class Split:
    """A frozen-f_a / trainable-f_b split of a model; ``undo()`` restores the original state."""

    model: nn.Module
    fb_layers: int
    fa_names: list[str]
    fb_names: list[str]
    _saved_requires_grad: dict = field(default_factory=dict, repr=False)

    @property
    def fb_layer_names(self) -> list[str]:
        return [name for name, _ in trainable_layers(self.model)][-self.fb_layers:]

    def _modules(self, names):
        lookup = dict(self.model.named_modules())
        return [lookup[n] for n in names]

    def fa_parameters(self):
        return [p for m in self._modules(self.fa_names) for p in m.parameters(recurse=False)]

    def fb_parameters(self):
        return [p for m in self._modules(self.fb_names) for p in m.parameters(recurse=False)]

    def fa_state(self) -> dict[str, torch.Tensor]:
        """Every f_a tensor (parameters and buffers such as BatchNorm running statistics)."""
        state = self.model.state_dict()
        prefixes = tuple(n + "." for n in self.fa_names)
        return {k: v for k, v in state.items() if k.startswith(prefixes)}

    def undo(self) -> nn.Module:
        """Make f_a trainable again and let its BatchNorm/Dropout follow the model's mode."""
        for module in self._modules(self.fa_names):
            if "train" in module.__dict__:
                del module.__dict__["train"]
            module.training = self.model.training
        for param, flag in self._saved_requires_grad.items():
            param.requires_grad_(flag)
        self._saved_requires_grad.clear()
        return self.model


def split_fa_fb(model: nn.Module, fb_layers: int) -> Split:
    """Freeze f_a in place: no gradients, BatchNorm/Dropout of f_a always in eval mode.

    f_b is the last ``fb_layers`` trainable layers and everything registered after the first of
    them; everything before is f_a. One training step then changes no f_a weight, bias or
    running statistic and computes no weight gradient for f_a.
    """
    fa_names, fb_names = fa_fb_module_names(model, fb_layers)
    split = Split(model, fb_layers, fa_names, fb_names)
    for module in split._modules(fa_names):
        for param in module.parameters(recurse=False):
            split._saved_requires_grad[param] = param.requires_grad
            param.requires_grad_(False)
            param.grad = None  # a stale gradient would let an optimizer (momentum/decay) still move f_a
        module.train = types.MethodType(_eval_only_train, module)
        module.training = False
    return split


def combine_fa_fb(fa_source: nn.Module, fb_source: nn.Module, fb_layers: int) -> nn.Module:
    """A new model with f_a taken from ``fa_source`` and f_b from ``fb_source`` (e.g. (f*_a, f_b))."""
    fa_state, fb_state = fa_source.state_dict(), fb_source.state_dict()
    if fa_state.keys() != fb_state.keys() or any(fa_state[k].shape != fb_state[k].shape for k in fa_state):
        raise ValueError("combine_fa_fb needs two models of the same architecture, dataset and width.")
    combined = copy.deepcopy(fb_source)
    fa_names, _ = fa_fb_module_names(combined, fb_layers)
    prefixes = tuple(n + "." for n in fa_names)
    merged = {k: (fa_state[k] if k.startswith(prefixes) else fb_state[k]) for k in fb_state}
    combined.load_state_dict(merged)
    return combined


__all__ = ["TRAINABLE_TYPES", "Normalize", "WidthResNet", "make_alexnet", "make_vgg16", "make_resnet50", "build_model", "trainable_layers",
           "fa_fb_module_names", "Split", "split_fa_fb", "combine_fa_fb"]
