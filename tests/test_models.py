"""Networks, trainable-layer indexing and the frozen-f_a / trainable-f_b split."""
from __future__ import annotations

import pytest
import torch
from torch import nn
from torchvision.models import VGG, AlexNet, ResNet

from semirobust.data import dataset_info
from semirobust.models import Normalize, build_model, combine_fa_fb, split_fa_fb, trainable_layers

ARCH_CLASSES = {"alexnet": AlexNet, "vgg16": VGG, "resnet50": ResNet}
# The paper's numbers of trainable layers and its f_b sizes for Table 1 (Section 3.2).
PAPER_LAYER_COUNTS = {"alexnet": 8, "vgg16": 16, "resnet50": 54}
PAPER_FB = {"alexnet": 4, "vgg16": 12, "resnet50": 16}
SMALL = 0.125  # width for the tests that train or compare models


def _leaves(model):
    return [(name, m) for name, m in model.named_modules() if not list(m.children())]


def _fa_names(model, fb_layers):
    """docs/conventions.md's rule: f_a is every module registered before the first of the last fb trainable layers."""
    first_fb = trainable_layers(model)[-fb_layers][0]
    names = [name for name, _ in _leaves(model)]
    return names[: names.index(first_fb)]


def _fa_keys(model, fb_layers):
    prefixes = tuple(name + "." for name in _fa_names(model, fb_layers))
    return [k for k in model.state_dict() if k.startswith(prefixes)]


def _small_model(arch, seed=0, **kwargs):
    torch.manual_seed(seed)
    return build_model(arch, "cifar10", width=SMALL, **kwargs)


def _batch(n=8, classes=10, size=32):
    gen = torch.Generator().manual_seed(1)
    return torch.rand(n, 3, size, size, generator=gen), torch.randint(0, classes, (n,), generator=gen)


# --- building -------------------------------------------------------------------------------

@pytest.mark.parametrize("arch", PAPER_LAYER_COUNTS)
@pytest.mark.parametrize("dataset", ["cifar10", "imagenette"])
@pytest.mark.parametrize("width", [1.0, 0.25])
def test_layer_counts_match_the_paper(arch, dataset, width):
    size = dataset_info(dataset).image_size
    # Width-1 networks at 224x224 have up to 138M weights; the meta device builds the same
    # modules without memory and runs the forward pass as shape inference only.
    device = "meta" if (width == 1.0 and size == 224) else "cpu"
    with torch.device(device):
        model = build_model(arch, dataset, width=width)
        model.eval()
        with torch.no_grad():
            out = model(torch.zeros(1, 3, size, size))
    assert len(trainable_layers(model)) == PAPER_LAYER_COUNTS[arch]
    assert out.shape == (1, dataset_info(dataset).num_classes)
    assert isinstance(model.net, ARCH_CLASSES[arch]) and isinstance(model[0], Normalize)


@pytest.mark.parametrize("arch", PAPER_LAYER_COUNTS)
def test_reduced_width_forward_at_224(arch):
    torch.manual_seed(0)
    model = build_model(arch, "imagenette", width=0.25).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 3, 224, 224))
    assert out.shape == (2, 10) and torch.isfinite(out).all()


@pytest.mark.parametrize("arch", PAPER_LAYER_COUNTS)
def test_forward_at_32_and_num_classes(arch):
    model = build_model(arch, "cifar100", width=0.25).eval()
    x, _ = _batch(2)
    with torch.no_grad():
        assert model(x).shape == (2, 100)
        assert build_model(arch, "digits", width=0.25, num_classes=3).eval()(x).shape == (2, 3)


@pytest.mark.parametrize("arch", PAPER_LAYER_COUNTS)
def test_every_tensor_is_real_and_initialised(arch):
    for dataset in ("cifar10", "imagenette"):
        model = build_model(arch, dataset, width=0.25)
        for name, tensor in model.state_dict().items():
            assert tensor.device.type == "cpu" and torch.isfinite(tensor.float()).all(), name
        for name, layer in trainable_layers(model):
            assert layer.weight.std() > 0, name


@pytest.mark.parametrize("arch", PAPER_LAYER_COUNTS)
def test_width_shrinks_channels(arch):
    with torch.device("meta"):
        full, quarter = build_model(arch, "cifar10", 1.0), build_model(arch, "cifar10", 0.25)
    first_full, first_quarter = trainable_layers(full)[0][1], trainable_layers(quarter)[0][1]
    assert first_quarter.out_channels == round(first_full.out_channels * 0.25)
    assert sum(p.numel() for p in quarter.parameters()) < sum(p.numel() for p in full.parameters()) / 8


@pytest.mark.parametrize("dataset", ["cifar10", "digits", "imagenette"])
def test_first_module_normalizes_with_the_datasets_statistics(dataset):
    info = dataset_info(dataset)
    normalize = build_model("alexnet", dataset, width=0.125)[0]
    mean = torch.tensor(info.mean).view(1, 3, 1, 1)
    std = torch.tensor(info.std).view(1, 3, 1, 1)
    x = torch.rand(2, 3, 8, 8)
    assert torch.allclose(normalize(x), (x - mean) / std)
    assert torch.allclose(normalize(mean.expand(1, 3, 4, 4)), torch.zeros(1, 3, 4, 4), atol=1e-6)
    assert torch.allclose(normalize((mean + std).expand(1, 3, 4, 4)), torch.ones(1, 3, 4, 4), atol=1e-6)


def test_bad_build_arguments_are_refused():
    with pytest.raises(ValueError, match="alexnet.*vgg16.*resnet50"):
        build_model("resnet18", "cifar10")
    with pytest.raises(ValueError, match="digits"):
        build_model("vgg16", "mnist")
    for width in (0, -0.5, 5):
        with pytest.raises(ValueError, match="width"):
            build_model("vgg16", "cifar10", width=width)


# --- trainable layers -----------------------------------------------------------------------

def test_trainable_layers_are_conv_and_linear_in_registration_order():
    model = nn.Sequential()
    model.add_module("conv", nn.Conv2d(3, 4, 3))
    model.add_module("bn", nn.BatchNorm2d(4))
    model.add_module("block", nn.Sequential(nn.ReLU(), nn.Conv2d(4, 4, 1), nn.Flatten()))
    model.add_module("head", nn.Linear(4, 2))
    model.add_module("early", nn.Linear(2, 2))  # registered last, listed last
    names = [name for name, _ in trainable_layers(model)]
    assert names == ["conv", "block.1", "head", "early"]
    assert [type(m) for _, m in trainable_layers(model)] == [nn.Conv2d, nn.Conv2d, nn.Linear, nn.Linear]


def test_trainable_layers_of_the_three_networks():
    kinds = {arch: [type(m) for _, m in trainable_layers(build_model(arch, "cifar10", SMALL))]
             for arch in PAPER_LAYER_COUNTS}
    assert kinds["alexnet"] == [nn.Conv2d] * 5 + [nn.Linear] * 3
    assert kinds["vgg16"] == [nn.Conv2d] * 13 + [nn.Linear] * 3
    assert kinds["resnet50"] == [nn.Conv2d] * 53 + [nn.Linear]
    resnet = build_model("resnet50", "cifar10", SMALL)
    names = [name for name, _ in trainable_layers(resnet)]
    assert names[0] == "net.conv1" and names[-1] == "net.fc"
    # registration order, not execution order: a block's shortcut comes after its conv3
    block = [n for n in names if n.startswith("net.layer1.0.")]
    assert block == ["net.layer1.0.conv1", "net.layer1.0.conv2", "net.layer1.0.conv3", "net.layer1.0.downsample.0"]


# --- the f_a / f_b split --------------------------------------------------------------------

@pytest.mark.parametrize("arch", PAPER_LAYER_COUNTS)
def test_frozen_fa_does_not_change_under_sgd_with_momentum_and_weight_decay(arch):
    fb = PAPER_FB[arch]
    model = _small_model(arch)
    x, y = _batch()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    # One ordinary step first: every parameter then has a gradient and a momentum buffer.
    model.train()
    nn.functional.cross_entropy(model(x), y).backward()
    optimizer.step()

    split = split_fa_fb(model, fb)
    fa_keys = _fa_keys(model, fb)
    assert set(split.fa_state()) == set(fa_keys)
    assert "normalize.mean" in fa_keys
    fa_params = [p for name, p in model.named_parameters() if name in fa_keys]
    fb_weights = [m.weight for _, m in trainable_layers(model)[-fb:]]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    for _ in range(3):
        optimizer.zero_grad(set_to_none=False)  # zeroing must not revive f_a gradients either
        nn.functional.cross_entropy(model(x), y).backward()
        assert all(p.grad is None and not p.requires_grad for p in fa_params)
        assert all(w.grad is not None and w.grad.abs().sum() > 0 for w in fb_weights)
        optimizer.step()
    after = model.state_dict()
    for key in fa_keys:
        assert torch.equal(before[key], after[key]), f"f_a tensor {key} changed"
    for name, layer in trainable_layers(model)[-fb:]:
        assert not torch.equal(layer.weight, before[name + ".weight"]), f"f_b layer {name} did not train"
    fa_stats = [k for k in fa_keys if k.endswith("running_mean")]
    fb_stats = [k for k in after if k.endswith("running_mean") and k not in fa_keys]
    if arch != "alexnet":  # VGG16-BN and ResNet50 have BatchNorm on both sides of the cut
        assert fa_stats and fb_stats
        assert all(not torch.equal(before[k], after[k]) for k in fb_stats)


@pytest.mark.parametrize("arch, fb", [("alexnet", 2), ("vgg16", 12), ("resnet50", 16)])
def test_fa_batchnorm_and_dropout_stay_in_eval_mode(arch, fb):
    model = _small_model(arch)
    split_fa_fb(model, fb)
    fa = set(_fa_names(model, fb))
    for mode in (True, False, True):
        model.train(mode)
        for name, module in _leaves(model):
            assert module.training == (mode and name not in fa), (name, mode)
    kinds = {type(m) for name, m in _leaves(model) if name in fa}
    assert (nn.BatchNorm2d in kinds) if arch != "alexnet" else (nn.Dropout in kinds)


def test_resnet50_paper_split_cuts_inside_a_residual_block():
    model = _small_model("resnet50")
    split = split_fa_fb(model, PAPER_FB["resnet50"])
    first_fb = split.fb_layer_names[0]
    block = first_fb.rsplit(".", 1)[0]
    assert block.startswith("net.layer")
    assert any(n.startswith(block + ".") for n in split.fa_names)  # conv1/bn1 of the block: f_a
    assert any(n.startswith(block + ".") for n in split.fb_names)
    assert split.fb_names[-1] == "net.fc" and split.fa_names[0] == "normalize"
    with torch.no_grad():
        assert model.eval()(_batch(2)[0]).shape == (2, 10)


@pytest.mark.parametrize("arch", PAPER_LAYER_COUNTS)
def test_fa_and_fb_parameters_partition_the_model(arch):
    model = _small_model(arch)
    split = split_fa_fb(model, PAPER_FB[arch])
    fa, fb = {id(p) for p in split.fa_parameters()}, {id(p) for p in split.fb_parameters()}
    assert fa and fb and not fa & fb
    assert fa | fb == {id(p) for p in model.parameters()}
    assert all(p.requires_grad for p in split.fb_parameters())
    assert split.fb_layer_names == [n for n, _ in trainable_layers(model)[-PAPER_FB[arch]:]]


@pytest.mark.parametrize("arch", PAPER_LAYER_COUNTS)
def test_undo_restores_requires_grad_and_train_behaviour(arch):
    model = _small_model(arch)
    first_conv = trainable_layers(model)[0][1]
    if first_conv.bias is not None:
        first_conv.bias.requires_grad_(False)  # a flag set before the split must come back as it was
    flags = {name: p.requires_grad for name, p in model.named_parameters()}
    split = split_fa_fb(model, PAPER_FB[arch])
    model.train()
    assert split.undo() is model
    assert {name: p.requires_grad for name, p in model.named_parameters()} == flags
    assert all(m.training for _, m in _leaves(model))
    model.eval()
    assert not any(m.training for _, m in _leaves(model))
    model.train()
    before = first_conv.weight.detach().clone()
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    x, y = _batch()
    nn.functional.cross_entropy(model(x), y).backward()
    optimizer.step()
    assert not torch.equal(first_conv.weight, before)


@pytest.mark.parametrize("arch", PAPER_LAYER_COUNTS)
@pytest.mark.parametrize("offset", ["zero", "too_many", "negative", "float", "bool"])
def test_fb_layers_outside_the_network_are_refused(arch, offset):
    total = PAPER_LAYER_COUNTS[arch]
    bad = {"zero": 0, "too_many": total + 1, "negative": -1, "float": float(PAPER_FB[arch]), "bool": True}[offset]
    model = _small_model(arch)
    with pytest.raises(ValueError, match=rf"1\.\.{total}"):
        split_fa_fb(model, bad)
    with pytest.raises(ValueError, match=rf"1\.\.{total}"):
        combine_fa_fb(model, model, bad)
    assert all(p.requires_grad for p in model.parameters())  # nothing was frozen


# --- combining f_a and f_b of two models ----------------------------------------------------

@pytest.mark.parametrize("arch", PAPER_LAYER_COUNTS)
def test_combine_takes_fa_from_the_first_and_fb_from_the_second(arch):
    fb = PAPER_FB[arch]
    fa_source, fb_source = _small_model(arch, seed=1), _small_model(arch, seed=2)
    fa_state = {k: v.clone() for k, v in fa_source.state_dict().items()}
    fb_state = {k: v.clone() for k, v in fb_source.state_dict().items()}
    combined = combine_fa_fb(fa_source, fb_source, fb)
    assert combined is not fa_source and combined is not fb_source
    fa_keys = set(_fa_keys(combined, fb))
    differing = [k for k in fa_state if not torch.equal(fa_state[k], fb_state[k])]
    assert any(k in fa_keys for k in differing) and any(k not in fa_keys for k in differing)
    for key, value in combined.state_dict().items():
        source = fa_state if key in fa_keys else fb_state
        assert torch.equal(value, source[key]), key
    with torch.no_grad():
        for p in combined.parameters():
            p.add_(1.0)  # the combination is a copy: its sources stay as they were
    assert all(torch.equal(v, fa_state[k]) for k, v in fa_source.state_dict().items())
    assert all(torch.equal(v, fb_state[k]) for k, v in fb_source.state_dict().items())


def test_combine_refuses_mismatched_models():
    vgg = _small_model("vgg16")
    with pytest.raises(ValueError, match="same architecture"):
        combine_fa_fb(_small_model("alexnet"), vgg, 4)
    with pytest.raises(ValueError, match="same architecture"):
        combine_fa_fb(build_model("vgg16", "cifar10", width=0.25), vgg, 12)
    with pytest.raises(ValueError, match="same architecture"):
        combine_fa_fb(build_model("vgg16", "cifar100", width=SMALL), vgg, 12)
