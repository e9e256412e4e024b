"""Layer outputs via hooks, and rho per consecutive layer pair (indexing, values, memory bound)."""
import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from semirobust import rho as act
from semirobust.mi import class_conditional_mi
from semirobust.models import build_model, trainable_layers


def tiny_model():
    """conv (2x4x4 = 32 values) -> linear 8 -> linear 8 (a copy of its input) -> linear 3."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 2, 3), nn.ReLU(inplace=True), nn.Flatten(),
        nn.Linear(32, 8), nn.ReLU(),
        nn.Linear(8, 8), nn.Tanh(),
        nn.Linear(8, 3),
    )
    with torch.no_grad():
        model[5].weight.copy_(torch.eye(8))
        model[5].bias.zero_()
    return model


def tiny_data(n=120, classes=3, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 6, 6, generator=gen), torch.arange(n) % classes


def test_collects_flattened_outputs_in_order():
    model, (x, y) = tiny_model(), tiny_data(50)
    outs, labels = act.collect_activations(model, (x, y), batch_size=16)
    names = [n for n, _ in trainable_layers(model)]
    assert list(outs) == names and torch.equal(labels, y)
    with torch.no_grad():
        conv = model[0](x)
        first = model[3](conv.relu().flatten(1))
    assert outs["0"].shape == (50, 32)
    torch.testing.assert_close(outs["0"], conv.flatten(1))  # recorded before the in-place ReLU
    torch.testing.assert_close(outs["3"], first)
    torch.testing.assert_close(outs["5"], first.relu())  # identity layer copies its input
    assert outs["7"].shape == (50, 3)


def test_dataset_input_float16_and_subset_of_layers():
    model, (x, y) = tiny_model(), tiny_data(40)
    dataset = torch.utils.data.TensorDataset(x, y)
    outs, labels = act.collect_activations(model, dataset, ["3", "5"], batch_size=7, dtype=torch.float16)
    assert list(outs) == ["3", "5"] and outs["3"].dtype == torch.float16
    ref, _ = act.collect_activations(model, (x, y), ["3"])
    torch.testing.assert_close(outs["3"].float(), ref["3"], atol=2e-3, rtol=2e-3)
    assert torch.equal(labels, y)


def test_attack_is_applied_and_model_state_restored():
    model, (x, y) = tiny_model(), tiny_data(30)
    model.train()
    zeros, _ = act.collect_activations(model, (torch.zeros_like(x), y), ["7"])
    seen = []

    def attack(xb, yb):
        seen.append(model.training)
        return torch.zeros_like(xb)

    attacked, _ = act.collect_activations(model, (x, y), ["7"], attack=attack, batch_size=8)
    torch.testing.assert_close(attacked["7"], zeros["7"])
    assert seen == [False] * 4 and model.training
    assert not any(m._forward_hooks for m in model.modules())


def test_memory_bound_and_bad_input():
    model, (x, y) = tiny_model(), tiny_data(20)
    with pytest.raises(ValueError, match="max_bytes"):
        act.collect_activations(model, (x, y), max_bytes=1000)
    with pytest.raises(ValueError, match="unknown layers"):
        act.collect_activations(model, (x, y), ["nope"])
    with pytest.raises(ValueError, match="data must be a Dataset"):
        act.collect_activations(model, x)
    with pytest.raises(ValueError, match="not consecutive"):
        act.layer_rhos(model, x, y, ["0", "5"])
    with pytest.raises(ValueError, match="f_b size"):
        act.layer_rhos(model, x, y, 4)
    with pytest.raises(ValueError, match="at least two"):
        act.layer_rhos(model, x, y, ["3"])


def test_layer_rhos_indexing_and_values():
    model, (x, y) = tiny_model(), tiny_data(150)
    rhos = act.layer_rhos(model, x, y)
    assert list(rhos.columns)[:len(act.RHO_COLUMNS)] == act.RHO_COLUMNS and "cka_above_null" in rhos
    assert (rhos["rho_preset"] == "authors").all() and rhos["rho_settings"].iloc[0]["n_ensemble"] == 1
    assert rhos["pair_index"].tolist() == [2, 1, 0]
    assert rhos["label"].tolist() == ["rho_n-2", "rho_n-1", "rho_n"]
    assert rhos[["layer_prev", "layer"]].values.tolist() == [["0", "3"], ["3", "5"], ["5", "7"]]
    assert rhos["layer_index"].tolist() == [2, 3, 4] and (rhos["n_samples"] == 150).all()
    outs, labels = act.collect_activations(model, (x, y))
    for row in rhos.itertuples():
        assert row.rho == pytest.approx(class_conditional_mi(outs[row.layer_prev], outs[row.layer], labels,
                                                             preset="authors"), rel=1e-12)
        assert row.rho_ceiling >= row.rho_null_mean and 1 / 21 <= row.rho_p_value <= 1
    # layer "5" is ReLU of layer "3" (identity weights): far more dependence than a constant output
    with torch.no_grad():
        model[7].weight.zero_()
        model[7].bias.fill_(1.0)
    flat = act.layer_rhos(model, x, y, ["5", "7"])
    assert flat["rho"].iloc[0] < 0.05 < rhos["rho"].iloc[1]
    assert not flat["rho_above_null"].iloc[0] and not flat["cka_above_null"].iloc[0]


def test_layer_rhos_groups_within_memory_budget_give_same_values():
    model, (x, y) = tiny_model(), tiny_data(90)
    one_group = act.layer_rhos(model, x, y, 3)
    pair_bytes = 90 * (32 + 8) * 4
    small = act.layer_rhos(model, x, y, 3, max_bytes=pair_bytes)
    pd.testing.assert_frame_equal(one_group, small)
    with pytest.raises(ValueError, match="two consecutive layers"):
        act.layer_rhos(model, x, y, 3, max_bytes=pair_bytes - 1)


def test_layer_rhos_attack_applied_once():
    model, (x, y) = tiny_model(), tiny_data(60)
    calls = []

    def attack(xb, yb):
        calls.append(xb.shape[0])
        return (xb + 0.1 * torch.randn_like(xb)).clamp(0, 1)

    act.layer_rhos(model, x, y, 2, attack=attack, batch_size=25, max_bytes=60 * 8 * 4 * 2)
    assert sum(calls) == 60  # one pass over x although the layers came in several groups


def test_alexnet_fb_layers_and_table1_pick():
    model = build_model("alexnet", "digits", width=0.05)
    gen = torch.Generator().manual_seed(1)
    x, y = torch.rand(40, 3, 32, 32, generator=gen), torch.arange(40) % 2
    rhos = act.layer_rhos(model, x, y, 4, n_ensemble=3)
    names = [n for n, _ in trainable_layers(model)]
    assert rhos["layer"].tolist() == names[-4:] and rhos["layer_prev"].iloc[0] == names[-5]
    assert rhos["label"].tolist() == ["rho_n-3", "rho_n-2", "rho_n-1", "rho_n"]
    picked = act.table1_rhos(rhos)
    assert list(picked) == ["rho_n", "rho_n-3", "rho_n-7", "rho_n-11", "rho_n-15"]
    assert picked["rho_n"] == rhos["rho"].iloc[-1] and picked["rho_n-3"] == rhos["rho"].iloc[0]
    assert all(math.isnan(picked[k]) for k in ("rho_n-7", "rho_n-11", "rho_n-15"))
    assert np.isfinite(rhos["rho"]).all() and (rhos["rho"] > 0).all()


def test_block_output_pairs_follow_the_data_flow_of_a_residual_network():
    from semirobust.models import build_model

    torch.manual_seed(0)
    model = build_model("resnet50", "digits", width=0.0625).eval()
    chain = act.block_output_layers(model, 16)
    assert chain == ["net.layer3.3", "net.layer3.4", "net.layer3.5", "net.layer4.0", "net.layer4.1", "net.layer4.2",
                     "net.fc"]
    x, y = torch.rand(80, 3, 32, 32), torch.arange(80) % 2
    frame = act.layer_rhos(model, x, y, 16, pairs="blocks", measures=("edge",), permutations=2)
    assert frame["layer_prev"].tolist() == chain[:-1] and frame["layer"].tolist() == chain[1:]
    assert frame["pair_index"].tolist() == [5, 4, 3, 2, 1, 0] and frame["rho"].notna().all()
    with pytest.raises(ValueError, match="residual network"):
        act.block_output_layers(build_model("vgg16", "digits", width=0.0625), 12)
    with pytest.raises(ValueError, match="Unknown pairs"):
        act.layer_rhos(model, x, y, 16, pairs="edges")
    with pytest.raises(ValueError, match="f_b size"):
        act.layer_rhos(model, x, y, ["net.layer4.1", "net.layer4.2"], pairs="blocks")
