"""Theorem 2's assumption A2 against the label range, Algorithm S1's adaptive headline, and Section 2.2's
undefined ratios, distance trend and permutation-aligned distance (issue 25)."""
import copy
from collections import OrderedDict

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from semirobust.experiments.theory import theorem2, theorem3, theorem3_report, weight_bound_report  # noqa: E402
from semirobust.experiments.theory.algorithm_s1 import LayerFeatures  # noqa: E402
from semirobust.experiments.theory.weight_alignment import align_fb, aligned_distance, is_chain  # noqa: E402
from semirobust.experiments.theory.weight_bound import part_vector  # noqa: E402
from semirobust.models import Normalize  # noqa: E402
from semirobust.results import ResultsStore  # noqa: E402


def _images(n=60, seed=1, classes=2):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, 8, 8, generator=g), torch.arange(n) % classes


# ---------------------------------------------------------------- Theorem 2, A2

def test_a2_summed_margin_against_a_hand_calculation():
    # VGG16 with f_b = 12 (a = 4): A2 makes E[y G_16] - E[y G_4] >= 12, while two expectations in [-1, 1] differ by <= 2
    vgg = theorem2.a2_summed_margin(16, 4)
    assert (vgg["fb_layers"], vgg["summed_margin_min"], vgg["left_side_max"]) == (12, 12.0, 2.0) and vgg["impossible"]
    # two layers: n - a = 2 is reachable only at the extremes (E[y G_n] = 1, E[y G_a] = -1, every U_j = 0) ...
    two = theorem2.a2_summed_margin(16, 14)
    assert two["summed_margin_min"] == 2.0 and not two["impossible"]
    # ... but U_j bounds the mean of a density ratio under its own joint law, 1 + chi^2 >= 1, so 2 (n - a) = 4 > 2
    assert two["summed_margin_min_u1"] == 4.0 and two["impossible_u1"]
    one = theorem2.a2_summed_margin(18, 17)
    assert not one["impossible"] and not one["impossible_u1"]  # 1 and 2 are both <= 2
    paper = theorem2.paper_a2_bounds()
    # the paper's splits: AlexNet 4, VGG16 12, ResNet50 4/8/12/16, ResNet-18 1/5/9 -> all but f_b = 1 impossible
    assert len(paper) == 9 and int(paper.impossible.sum()) == 8 and int(paper.impossible_u1.sum()) == 8
    assert set(paper[~paper.impossible].fb_layers) == {1}
    with pytest.raises(ValueError, match="smaller than"):
        theorem2.a2_summed_margin(8, 8)


def _clean_readings(objective_fn, X_fit, X, y):
    """E[y G_j] of read-outs normalised to [-1, 1], computed by hand from the objectives on clean images."""
    with torch.no_grad():
        scale = objective_fn(X_fit).abs().amax(dim=0).double().numpy()
        values = objective_fn(X).double().numpy() * y[:, None]
    return np.clip(values / scale, -1, 1).mean(axis=0)


def test_a2_margins_on_an_exactly_linear_network_match_a_hand_calculation():
    torch.manual_seed(0)
    model = nn.Sequential(OrderedDict(normalize=Normalize((0.5,) * 3, (0.25,) * 3), net=nn.Sequential(
        nn.Flatten(), nn.Linear(192, 6), nn.Linear(6, 5), nn.Linear(5, 2)))).eval()  # every layer linear in x
    X, y = _images(n=60)
    yb = theorem3.binary_labels(y.numpy(), 2)
    out = theorem3.semirobustness_check(model, X[:30], yb[:30], X[30:], yb[30:], fa_sizes=[1], eps=4 / 255, steps=2,
                                        alpha=1.0)
    extractor = LayerFeatures(model, 2)
    layers = _clean_readings(theorem3.layer_objectives(extractor, X[:30], yb[:30], 2, alpha=1.0), X[:30], X[30:], yb[30:])
    margins = theorem2.a2_margins(out)
    trained = margins[margins.network == "trained network"]
    assert list(trained.j) == [2]
    assert trained.margin.iloc[0] == pytest.approx(layers[1] - layers[0], abs=1e-5)  # the left side of A2
    assert trained.met.iloc[0] == bool(layers[1] - layers[0] >= 1)  # against its right side, 1 + U_j >= 1
    # the exactly linear f_b of a = 1: layer 1, then linear layers 2 and 3 (the read-out of y)
    linear = margins[margins.network == "linear f_b, a = 1"]
    assert list(linear.j) == [2, 3]
    entry = out["theorem3"][0]
    chain = [out["gamma_layers_clean"][0], *entry["gamma_fb_layers_clean"]]
    np.testing.assert_allclose(linear.margin, np.diff(chain), atol=1e-12)
    assert all(-2 <= m <= 2 for m in margins.margin)  # two expectations in [-1, 1]
    assert not margins.met.any()  # a single pair would need E[y G_j] - E[y G_j-1] >= 1: not on this network


def _fake_theorem3_record(gamma_a=0.25):
    check = {"n_layers": 16, "gamma_layers_clean": [0.1 * i for i in range(1, 16)],
             "theorem3": [{"fa_layers": 15, "trivial": True, "gamma_a": 0.0, "gamma_fb_layers_clean": [0.2]},
                          {"fa_layers": 4, "trivial": False, "gamma_a": gamma_a,
                           "gamma_fb_layers_clean": [0.3] * 12}]}
    rows = []
    for attack, transfer, adaptive in (("none", 95.0, 95.0), ("pgd", 88.0, 1.7)):
        for a, agreement in ((15, 100.0), (4, 75.0)):
            rows.append({"attack": attack, "fa_layers": a, "fb_layers": 16 - a, "acc_star": 88.1,
                         "acc_tilde_transfer": transfer if a == 4 else 88.0, "acc_tilde_adaptive": adaptive if a == 4 else 84.2,
                         "agreement": agreement})
    return {"config": {"arch": "vgg16", "dataset": "digits", "eps": 16 / 255, "fa_sizes": [15, 4]},
            "profile": "offline", "metrics": {"semirobustness": check, "table_s1": rows}}


def test_theorem2_bound_reads_table1_rho_or_says_in_words_that_none_is_stored(tmp_path):
    record = _fake_theorem3_record()
    store = ResultsStore(tmp_path)
    assert theorem2.table1_rho(store, record) is None
    values = theorem2.theorem2_glue_values(record, None)
    assert values["theorem2_bound_sum_rho_bits"].startswith("not computed: no Table 1 record")
    assert "not computed here" in values["theorem2_statement"]
    # the book's listed cell of the same network and data set at the split a = 4 (f_b = 12: Figure 1's VGG16 on
    # digits at the offline profile), written at its identity; records outside the list never enter
    from semirobust.experiments.table1 import population
    from semirobust.experiments.table1.configs import table1_config

    cell = next(c for c in population.book_configs("offline", "fashion-mnist")
                if (c.arch, c.dataset, c.fb_layers) == ("vgg16", "digits", 12))
    common = dict(profile="offline", seed=0, device="cpu", wall_time_s=1.0)
    store.write("table1", {**table1_config(cell), "trials": 3}, {"rho": [7.0] * 12}, **common)  # same name, other T
    store.write("table1", {"arch": "vgg16", "dataset": "digits", "attack": "autoattack", "eps": 16 / 255,
                           "fb_layers": 12, "profile": "offline"}, {"rho": [7.0] * 12}, **common)
    assert theorem2.table1_rho(store, record) is None
    store.write("table1", table1_config(cell), {"rho": [2.0] * 10 + [None, 4.5]}, **common)
    store.write("table1", {**table1_config(cell), "fb_layers": 4}, {"rho": [9.0] * 3}, **common)
    assert theorem2.table1_rho(store, {**record, "profile": "tiny"}) is None  # no listed cells for a custom profile
    rho = theorem2.table1_rho(store, record)
    assert rho["fb_layers"] == 12 and rho["rho"] == [2.0] * 10 + [4.5] and rho["attack"] == "autoattack"
    bound = theorem2.theorem2_bound(0.25, rho["rho"])
    assert bound["sum_rho_bits"] == pytest.approx(24.5) and bound["bound"] == pytest.approx(24.75) and bound["exceeds"]
    values = theorem2.theorem2_glue_values(record, rho)
    assert values["theorem2_bound_sum_rho_bits"] == "24.5 bits"
    assert "24.8" in values["theorem2_statement"] and "unattainable" in values["theorem2_statement"]
    assert values["a2_summed_margin_impossible"] == 8 and values["a2_summed_margin_splits"] == 9
    # trained pairs j = 2..15 each rise by 0.1, the linear f_b of a = 4 by -0.1 then 0: none reaches 1
    assert values["a2_margin_pairs"] == 14 + 12 and values["a2_margin_pairs_met"] == 0
    for value in values.values():
        assert not (isinstance(value, float) and np.isnan(value))
    lines = theorem2.theorem2_statements(record, rho)
    assert "8 of the 9" in lines[0] and "0 of 26" in lines[1]


# ---------------------------------------------------------------- Algorithm S1's adaptive headline

def test_s1_headline_sets_adaptive_against_transfer_and_labels_the_trivial_split():
    record = _fake_theorem3_record()
    frame = theorem3_report.s1_adaptive_frame(record)
    assert list(frame.fa_layers) == [15, 4] and list(frame.trivial) == [True, False]  # clean rows left out
    sentence = theorem3_report.s1_adaptive_sentence(record)
    assert "falls to 1.7% (a = 4) against transfer accuracies of 88.0%" in sentence
    assert "a = 15 = n-1 is trivial" in sentence and "agreement 100.0%" in sentence
    assert "up to 86.3 points" in sentence
    fig = theorem3_report.plot_s1_adaptive(record)
    assert fig.axes and all(ax.get_xlabel() for ax in fig.axes)
    plt.close(fig)


# ---------------------------------------------------------------- Section 2.2: undefined ratios, trend, alignment

def _fake_weight_bound_record(distances=(19.1, 22.7, 23.7, 23.8), gaps=(7.65, 0.29, 0.11, 0.09)):
    trajectory = []
    for epoch, (dist, gap) in enumerate(zip(distances, gaps)):
        row = {"epoch": epoch, "delta_fb_norm": dist, "delta_fb_norm_aligned": dist / 2}
        for name in weight_bound_report.CONDITIONS:
            defined = epoch != 1
            row.update({f"excess_loss_{name}": gap if defined else -0.01, f"first_order_{name}": 0.5,
                        f"second_order_{name}": 5.0, f"eig_bound_{name}": 100.0, f"output_diff_{name}": 1.0,
                        f"norm_bound_{name}": 1e5, f"eq14_bound_{name}": 50.0,
                        f"bound_ratio_{name}": 100 / gap if defined else None,
                        f"frobenius_ratio_{name}": 1e5 / gap if defined else None,
                        f"eq14_ratio_{name}": 50 / gap if defined else None, f"eq14_output_ratio_{name}": 50.0})
        trajectory.append(row)
    taylor = []
    for condition in weight_bound_report.CONDITIONS:
        for radius, ratio in ((0.1, 0.21), (0.01, 1.98), (0.001, None)):
            taylor.append({"condition": condition, "direction": "top_eigenvector", "radius": radius,
                           "delta_fb_norm": radius * 50, "excess_loss": 1.0 if ratio else -0.01, "first_order": -0.1,
                           "second_order": 0.3, "eig_bound": 0.3, "taylor_ratio": ratio, "bound_ratio": ratio,
                           "bound_ratio_gradfree": ratio})
    reference = {name: {"lambda_max": 23.8, "n_hvp": 22, "relative_residual": 1e-7, "eig_seconds": 1.0,
                        "loss_star": 0.2, "grad_norm_star": grad, "c_x": 68.0, "method": "lanczos", "tol": 1e-3}
                 for name, grad in (("clean", 1.18), ("adv", 2.36))}
    reference.update(n_fb_parameters=100, fa_weight_norms=[1.0], prod_fa_weight_norms=1.0, c_sigma=1.0)
    checks = {f"{key}_{name}": {"held_everywhere": True, "held_at": 4, "points": 4}
              for key in ("excess_le_eig_bound", "excess_le_norm_bound", "output_diff_le_norm_bound",
                          "second_order_le_eig_bound") for name in weight_bound_report.CONDITIONS}
    return {"config": {"arch": "vgg16", "dataset": "digits", "attack": "pgd", "eps": 16 / 255, "fb_layers": 12,
                       "epochs": 3},
            "profile": "offline", "metrics": {"trajectory": trajectory, "taylor_regime": taylor, "reference": reference,
                                               "checks": checks, "missing_factors": {"bn_scale_fa": 0.4}}}


def test_undefined_ratios_read_as_words_never_nan():
    record = _fake_weight_bound_record()
    for frame in (weight_bound_report.weight_bound_frame(record), weight_bound_report.taylor_frame(record)):
        text = frame.to_string().lower()
        assert "nan" not in text and "none" not in text
        assert weight_bound_report.NO_GAP in frame.to_string()
    values = weight_bound_report.weight_bound_glue_values(record)
    assert values["weight_bound_taylor_bound_ratio"] == weight_bound_report.NO_GAP  # r = 0.001: gap <= 0
    assert values["weight_bound_taylor_radius"] == "0.001"
    assert values["weight_bound_bound_ratio_clean"] == f"{100 / 7.65:.3g}"  # the smallest defined ratio
    for name, value in values.items():
        if isinstance(value, float):
            assert np.isfinite(value), name
        if isinstance(value, str):
            assert "nan" not in value.lower().split() and "None" not in value, (name, value)
    text = " ".join(weight_bound_report.weight_bound_statements(record))
    assert "nan" not in text.lower().split() and "None" not in text
    # the bound's failures are named, and the premise's gradient norm is stated
    assert values["weight_bound_failure_count"] == 2
    assert "r = 0.1 along the top eigenvector (clean, ratio 0.21)" in values["weight_bound_failures"]
    assert "1.18" in values["weight_bound_premise"] and "2.36" in values["weight_bound_premise"]
    # a record with no defined ratio at all still glues words
    empty = _fake_weight_bound_record()
    for row in empty["metrics"]["trajectory"]:
        for key in list(row):
            if "ratio" in key:
                row[key] = None
    assert weight_bound_report.weight_bound_glue_values(empty)["weight_bound_bound_ratio_clean"] == \
        weight_bound_report.NO_GAP


def test_distance_gap_trend_spearman_and_exact_permutation_p():
    record = _fake_weight_bound_record(gaps=(7.65, 0.29, 0.11, 0.09))
    trend = weight_bound_report.distance_gap_trend(record, "adv")
    # distance rises, gap falls (epoch 1's gap is -0.01 on both conditions here): ranks 1,2,3,4 vs 4,1,3,2
    assert trend["r"] == pytest.approx(-0.4) and trend["points"] == 4
    # exact: r = 1 - sum d^2 / 10 over the 24 orderings of 4 ranks; |r| >= 0.4 when sum d^2 <= 6 (1 + 3 + 1 + 4
    # orderings) or >= 14 (the mirror images, 9 more): 18 of 24
    assert trend["p"] == pytest.approx(18 / 24)
    sentence = weight_bound_report.trend_sentence(trend)
    assert "went from 19.1 to 23.8" in sentence and "r = -0.40" in sentence and "opposite" in sentence
    flat = weight_bound_report.distance_gap_trend(_fake_weight_bound_record(distances=(1, 1, 1, 1)))
    assert flat["r"] is None and "undefined" in weight_bound_report.trend_sentence(flat)
    values = weight_bound_report.weight_bound_glue_values(record)
    assert values["weight_distance_gap_r"].startswith(("+", "-")) and values["weight_distance_aligned_gap_r"] != "nan"
    assert "lowered the distance by at most 50%" in values["weight_distance_alignment_note"]  # aligned = half
    fig = weight_bound_report.plot_distance_gap(record)
    assert len(fig.axes) == 2 and all(ax.get_xlabel() for ax in fig.axes)
    plt.close(fig)


def _chain(seed):
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 6, 3, padding=1),
                        nn.BatchNorm2d(6), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(24, 7), nn.ReLU(),
                        nn.Linear(7, 3))
    for bn in (net[1], net[4]):
        with torch.no_grad():
            bn.running_mean.uniform_(-0.2, 0.2)
            bn.running_var.uniform_(0.5, 1.5)
            bn.weight.uniform_(0.5, 1.5)
    return nn.Sequential(OrderedDict(normalize=Normalize((0.5,) * 3, (0.25,) * 3), net=net)).eval()


def _permute_hidden_units(model):
    """The same function with the hidden units of conv 2 (and its BatchNorm) and linear 1 shuffled."""
    net = model.net
    gen = torch.Generator().manual_seed(1)
    p_conv, p_lin = torch.randperm(6, generator=gen), torch.randperm(7, generator=gen)
    with torch.no_grad():
        for t in (net[3].weight, net[3].bias, net[4].weight, net[4].bias, net[4].running_mean, net[4].running_var):
            t.copy_(t[p_conv])
        cols = (p_conv[:, None] * 4 + torch.arange(4)[None]).flatten()  # 2x2 positions per channel after the pool
        net[8].weight.copy_(net[8].weight[:, cols])
        net[8].weight.copy_(net[8].weight[p_lin])
        net[8].bias.copy_(net[8].bias[p_lin])
        net[10].weight.copy_(net[10].weight[:, p_lin])
    return model


def test_alignment_recovers_a_permutation_and_keeps_the_function():
    star = _chain(0)
    shuffled = _permute_hidden_units(copy.deepcopy(star))
    X, _ = _images(n=5)
    with torch.no_grad():
        torch.testing.assert_close(shuffled(X), star(X), atol=1e-5, rtol=1e-5)
    fb = 3  # conv 2, linear 1, linear 2: conv 1 (and its BatchNorm) are f_a, shared
    assert float((part_vector(shuffled, fb) - part_vector(star, fb)).norm()) > 0.1
    aligned = align_fb(shuffled, star, fb)
    with torch.no_grad():
        torch.testing.assert_close(aligned(X), shuffled(X), atol=1e-5, rtol=1e-5)  # same function
    assert aligned_distance(shuffled, star, fb, part_vector) == pytest.approx(0.0, abs=1e-6)
    # another network: aligning it keeps its function
    other = _chain(5)
    with torch.no_grad():
        torch.testing.assert_close(align_fb(other, star, fb)(X), other(X), atol=1e-5, rtol=1e-5)
    assert is_chain(star)


def test_alignment_skips_residual_networks(small_model):
    resnet = small_model("resnet50", width=0.0625)
    assert not is_chain(resnet)
    assert aligned_distance(resnet, resnet, 16, part_vector) is None
    with pytest.raises(ValueError, match="residual"):
        align_fb(resnet, resnet, 16)
