"""The cost question (semirobust.experiments.supplementary.pays, pays_report, table_s5_report), the layer-pass cost model against a counter,
the new training modes, Table S5's arms and the attack-and-budget table (semirobust.experiments.supplementary.budgets)."""
from __future__ import annotations

import math

import pandas as pd
import pytest
import torch
from tiny import make_tiny_profile
from torch import nn

from semirobust.at_methods import TRADES_BETA
from semirobust.attacks import make_attack
from semirobust.config import RunConfig
from semirobust.cost import LayerPassCounter, layer_flops, mode_layer_passes, step_layer_passes, training_cost
from semirobust.data import TensorImageDataset
from semirobust.experiments.report.style import legibility_problems
from semirobust.experiments.supplementary import (
    budgets,
    budgets_report,
    collapse,
    pays,
    pays_report,
    table_s5_report,
    trades_check,
)
from semirobust.models import build_model, split_fa_fb
from semirobust.training import method_spec, train, training_step


def _tiny_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(),
                         nn.Flatten(), nn.Linear(4 * 8 * 8, 16), nn.ReLU(), nn.Linear(16, 3))


# --------------------------------------------------------------- the cost model against a counter

@pytest.mark.parametrize("fb_layers", [None, 2, 1])
def test_layer_pass_counter_matches_the_cost_model_for_a_full_and_a_frozen_step(fb_layers):
    """One PGD-2 training step of a tiny network: forwards, input- and weight-gradient passes per layer, counted
    by hooks, equal the model's exactly, for the whole network and with f_a frozen (no weight gradient in f_a, and
    the training backward stops at f_b's input)."""
    model = _tiny_net()
    x, y = torch.rand(5, 3, 8, 8), torch.randint(0, 3, (5,))
    split = split_fa_fb(model, fb_layers) if fb_layers else None
    optimizer = torch.optim.SGD(split.fb_parameters() if split else model.parameters(), lr=0.1)
    counter = LayerPassCounter(model)
    training_step(model, x, y, optimizer, attack=make_attack("pgd", model, 8 / 255, steps=2, alpha=2 / 255))
    counter.close()
    if split:
        split.undo()
    assert counter.passes(5) == step_layer_passes(4, fb_layers, 2)
    if fb_layers:
        assert counter.weight_grad[: 4 - fb_layers] == [0] * (4 - fb_layers)  # f_a: no weight gradient at all


def test_trades_and_fgsm_rs_steps_match_their_layer_passes():
    """TRADES's step (a clean prediction, K KL-attack steps, two branches in the update) and FGSM-RS's (one attack
    step), as train runs them, against :func:`mode_layer_passes`."""
    data = TensorImageDataset(torch.rand(6, 3, 8, 8), torch.randint(0, 3, (6,)))
    profile = make_tiny_profile(batch_size=6, train_attack_steps=2)
    for mode in ("trades", "fgsm_rs", "atta"):
        model = _tiny_net()
        counter = LayerPassCounter(model)
        train(model, data, profile=profile, mode=mode, epochs=1, device="cpu", progress=False, train_eps=8 / 255)
        counter.close()
        assert counter.passes(6) == mode_layer_passes(mode, 4, None, 2), mode


def test_training_cost_weights_passes_by_flops_and_leaves_frozen_gradients_out():
    model = build_model("vgg16", "digits", width=0.125)
    flops = layer_flops(model)
    assert len(flops) == 16 and all(f > 0 for f in flops)
    full = training_cost(model, "adversarial", None, 1, 5)
    frozen = training_cost(model, "adversarial", 12, 1, 5)
    fb = sum(flops[-12:]) / sum(flops)
    # per image: 5 attack steps (2F each) + the forward F + weight and input gradients, in units of 3F
    assert full == pytest.approx((10 + 1 + 2 - flops[0] / sum(flops)) / 3)
    assert frozen == pytest.approx((10 + 1 + 2 * fb - flops[-12] / sum(flops)) / 3)
    assert training_cost(model, "standard", None, 10, 5) == pytest.approx(10 * (3 - flops[0] / sum(flops)) / 3)
    assert frozen < full


# --------------------------------------------------------------- the training modes

def test_method_spec_names_each_mode():
    assert method_spec("standard") is None
    assert method_spec("adversarial", 8 / 255, 10)["alpha"] == pytest.approx(2 / 255)
    assert method_spec("fgsm_rs", 8 / 255)["alpha"] == pytest.approx(1.25 * 8 / 255)
    assert method_spec("atta", 8 / 255)["steps"] == 3 and method_spec("atta", 8 / 255)["reset_every"] == 10
    assert method_spec("trades", 8 / 255, 5)["beta"] == TRADES_BETA == 1.0  # issue 37: beta 1 (networks with dropout)
    with pytest.raises(ValueError, match="training mode"):
        method_spec("free")


def test_atta_training_resumes_with_its_carried_perturbations(tmp_path):
    """An ATTA run interrupted after epoch 1 and resumed ends with exactly the weights of an uninterrupted run:
    the carried perturbations are part of the checkpoint."""
    data = TensorImageDataset(torch.rand(12, 3, 8, 8), torch.randint(0, 3, (12,)))
    profile = make_tiny_profile(batch_size=4, milestones=())
    whole = _tiny_net()
    train(whole, data, profile=profile, mode="atta", epochs=3, device="cpu", progress=False, seed=1)
    first = _tiny_net()
    train(first, data, profile=profile, mode="atta", epochs=3, device="cpu", progress=False, seed=1,
          checkpoint_dir=tmp_path, stop_fn=lambda history: len(history) == 1)
    resumed = _tiny_net()
    checkpoint = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    checkpoint["stopped_early"] = False
    torch.save(checkpoint, tmp_path / "checkpoint.pt")
    assert checkpoint["atta"]["seen"].all() and float(checkpoint["atta"]["delta"].abs().max()) <= 8 / 255 + 1e-6
    train(resumed, data, profile=profile, mode="atta", epochs=3, device="cpu", progress=False, seed=1,
          checkpoint_dir=tmp_path)
    for a, b in zip(whole.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)


def test_channels_last_is_the_cpu_layout_of_vgg16_and_alexnet_only():
    for arch, expected in (("vgg16", True), ("alexnet", True), ("resnet50", False)):
        weight = next(p for p in build_model(arch, "digits", width=0.0625).parameters() if p.dim() == 4)
        assert weight.is_contiguous(memory_format=torch.channels_last) and not weight.is_contiguous() \
            if expected else weight.is_contiguous(), arch
    a, b = build_model("vgg16", "digits", width=0.125), build_model("vgg16", "digits", width=0.125, channels_last=False)
    b.load_state_dict(a.state_dict())
    x = torch.rand(4, 3, 32, 32)
    assert torch.allclose(a.eval()(x), b.eval()(x), atol=1e-5)  # the layout changes no value


# --------------------------------------------------------------- the frontier's reading

def _seed(full, **curves):
    """A seed's curves: full PGD's accuracies at costs 1, 2, ...; other methods as (cost, acc) pairs."""
    out = {"full_pgd": [{"epoch": i, "cost": float(i), "wall": 2.0 * i, "acc": a} for i, a in enumerate(full)]}
    for name, points in curves.items():
        out[name] = [{"epoch": i, "cost": c, "wall": 2.0 * c, "acc": a} for i, (c, a) in enumerate(points)]
    return {"curves": out, "target": full[-1] - pays.TARGET_MARGIN}


def test_first_reach_and_a_frontier_monotone_in_cost():
    curve = [{"cost": 3.0, "wall": 1, "acc": 50.0}, {"cost": 1.0, "wall": 1, "acc": 60.0},
             {"cost": 2.0, "wall": 1, "acc": 40.0}, {"cost": 4.0, "wall": 1, "acc": 70.0}]
    assert pays.first_reach(curve, 55.0) == 1.0 and pays.first_reach(curve, 65.0) == 4.0
    assert pays.first_reach(curve, 80.0) is None
    front = pays.frontier(curve)
    assert [p["cost"] for p in front] == [1.0, 2.0, 3.0, 4.0]
    accs = [p["acc"] for p in front]
    assert accs == sorted(accs) == [60.0, 60.0, 60.0, 70.0]


def test_cost_ratios_summary_and_verdict_read_the_intervals():
    seeds = [_seed([10, 40, 60, 70], algorithm1_given_fa=[(0.5, 5), (1.0, 69)], algorithm1_total=[(3, 5), (4.5, 69)],
                   fast_fgsm_rs=[(0, 5), (0.4, 30), (0.8, 50)], standard_fb=[(0.5, 5), (0.6, 20)],
                   algorithm1_fast_fa=[(1.2, 5), (1.5, 68.5)])
             for _ in range(3)]
    seeds[1]["curves"]["algorithm1_given_fa"][1]["cost"] = 1.2
    s = pays.summarize_method(seeds, "algorithm1_given_fa")
    assert s["cost_ratios"] == pytest.approx([1 / 3, 1.2 / 3, 1 / 3]) and s["reached"] == 3
    assert s["cost_ratio"] == pytest.approx((1 + 1.2 + 1) / 9) and s["cost_ratio_ci"] > 0
    assert pays.summarize_method(seeds, "algorithm1_total")["cost_ratio"] == pytest.approx(1.5)
    assert pays.ratio_text(pays.summarize_method(seeds, "fast_fgsm_rs")) == "not reached"
    summary = {m: pays.summarize_method(seeds, m) for m in pays.METHODS}
    sentence, status = pays.pays_verdict(summary)
    assert sentence.startswith("Semirobust training pays only when a robust f*_a is already at hand")
    assert status == "confirmed" and "FGSM-RS from scratch never reached the target" in sentence
    # Algorithm 1 reaching the target in only some seeds: its per-seed costs and the count, not "not reached"
    seeds[2]["curves"]["algorithm1_given_fa"][1]["acc"] = 10
    partial = pays.summarize_method(seeds, "algorithm1_given_fa")
    assert partial["reached"] == 2 and partial["cost_ratios"][2] is None and partial["missed_seeds"] == [2]
    assert partial["costs"] == [1.0, 1.2, None]  # the cost model's counts to the target, per seed
    assert partial["cost_ratio"] == pytest.approx((1 + 1.2) / 6)
    half = partial["cost_ratio_ci"]
    assert half > 0 and pays.ratio_text(partial) == f"0.37 ± {half:.2f} in the 2 of 3 seeds that reached it"
    assert pays.per_seed_text(partial) == ["0.33", "0.40", "not reached within the budget"]
    assert pays.reached_text(partial) == "2/3"
    summary["algorithm1_given_fa"] = partial
    sentence, status = pays.pays_verdict(summary)
    assert status == "undecided"  # a short budget is not a cost
    assert "cheaper where it reaches the target" in sentence and "in the 2 of 3 seeds that reached it" in sentence
    assert "(per seed: seed 0 0.33, seed 1 0.40, seed 2 not reached within the budget)" in sentence
    records = [{"seed": i, "metrics": seed} for i, seed in enumerate(seeds)]
    values = pays_report.glue_values(records)
    assert values["pays_reached_algorithm1_given_fa"] == "2/3" and values["pays_cost_algorithm1_given_fa"] == 0.37
    assert values["pays_reached_fast_fgsm_rs"] == "0/3" and values["pays_cost_fast_fgsm_rs"] == "not reached"
    # partial success reads as the seeds that reached it, each with its cost, beside their count
    assert values["pays_seed_costs_algorithm1_given_fa"] == "0.33 (seed 0), 0.40 (seed 1) of full PGD"
    assert values["pays_seed_costs_fast_fgsm_rs"] == "none within the budget"
    assert values["pays_seed_costs_algorithm1_total"] == "1.50 (seed 0), 1.50 (seed 1), 1.50 (seed 2) of full PGD"
    table = pays_report.per_seed_table(records).set_index("Method")
    row = table.loc[pays.LABELS["algorithm1_given_fa"]]
    assert list(row[["seed 0", "seed 1", "seed 2", "Reached"]]) == ["0.33", "0.40", "not reached within the budget", "2/3"]
    # never reaching it is told apart from reaching it in some seeds
    for seed in seeds:
        seed["curves"]["algorithm1_given_fa"][1]["acc"] = 10
    summary["algorithm1_given_fa"] = pays.summarize_method(seeds, "algorithm1_given_fa")
    sentence, status = pays.pays_verdict(summary)
    assert status == "not confirmed" and sentence.startswith("Semirobust training never reached the target")
    assert "Algorithm 1 never reached the target within the budget" in sentence


def test_pays_verdict_is_undecided_when_the_interval_covers_full_pgds_cost():
    seeds = [_seed([10, 40, 60, 70], **{m: [(0, 5), (c, 69)] for m in pays.METHODS if m != "full_pgd"})
             for c in (2.0, 3.5, 2.8)]
    summary = {m: pays.summarize_method(seeds, m) for m in pays.METHODS}
    sentence, status = pays.pays_verdict(summary)
    assert status == "undecided" and "an interval that covers full PGD's cost" in sentence
    assert "supports" not in sentence


# --------------------------------------------------------------- the runs, end to end on a tiny profile

@pytest.fixture(scope="module")
def tiny_studies(tmp_path_factory):
    root = tmp_path_factory.mktemp("studies")
    profile = make_tiny_profile(seeds=(0, 1), pays_seeds=(0, 1), table_s5_seeds=(0,), budget_table_seeds=(0,),
                                test_scored=40, final_autoattack_images=10, trials=1, sub_epochs=1,
                                arms=("algorithm1", "standard_fb"))  # the arms the frontier reads
    config = RunConfig(arch="vgg16", dataset="digits", profile=profile, device="cpu")
    dirs = dict(results_dir=root / "results", cache_dir=root / "cache")
    with pytest.MonkeyPatch.context() as patch:  # table_s5_frame takes the default cache: this module's, not the checkout's
        patch.setenv("SEMIROBUST_CACHE", str(dirs["cache_dir"]))
        records = pays.run_pays(config, **dirs)
        s5 = table_s5_report.table_s5_frame(config, results_dir=dirs["results_dir"])
        grid = [r for c in budgets.budget_configs(config) for r in budgets.run_budget_seed(c, **dirs)]
    return config, dirs, records, s5, grid


@pytest.mark.slow
def test_pays_runs_every_method_and_is_read_back(tiny_studies):
    config, dirs, records, _, _ = tiny_studies
    assert len(records) == 2
    for record in records:
        curves = record["metrics"]["curves"]
        assert set(curves) == set(pays.METHODS)
        for method, curve in curves.items():
            costs = [p["cost"] for p in curve]
            assert costs == sorted(costs), method  # cumulative
        # Algorithm 1 with f*_a given starts after the regular training; everything counted after full PGD too
        start = curves["algorithm1_total"][0]["cost"]
        assert start == pytest.approx(curves["algorithm1_given_fa"][0]["cost"] + curves["full_pgd"][-1]["cost"])
        assert curves["full_pgd"][0]["cost"] == 0 and len(curves["full_pgd"]) == config.resolved_profile.epochs + 1
        assert record["metrics"]["finals"]["fast_fgsm_rs"]["autoattack"] is not None or record["seed"] != 0
    again = pays.run_pays(config, **dirs)
    assert [r["config_hash"] for r in again] == [r["config_hash"] for r in records]  # read, not rerun
    table = pays_report.methods_table(records)
    assert list(table["Method"]) == [pays.LABELS[m] for m in pays.METHODS]
    values = pays_report.glue_values(records)
    assert values["pays_seeds"] == 2 and values["pays_methods"].split(", ") == list(pays.METHODS)
    for method in pays.METHODS:
        assert values[f"pays_cost_{method}"] == "not reached" or isinstance(values[f"pays_cost_{method}"], float)
    fig = pays_report.plot_frontier(records)
    assert not legibility_problems(fig)


@pytest.mark.slow
def test_table_s5_runs_atta_and_trades_arms_beside_pgd(tiny_studies):
    config, dirs, _, s5, _ = tiny_studies
    assert list(s5["Method"]) == ["PGD", "ATTA", "TRADES"]
    assert {"Acc*", "Acc~", "Diff", "Epochs", "Time (s)", "rho_n", "rho_n-11"} <= set(s5.columns)
    reported = table_s5_report.reported_table_s5(12)
    assert list(reported["Method"]) == ["PGD-10 (reported)", "ATTA (reported)", "TRADES (reported)",
                                        "ATTA+TRADES (reported)"]
    assert reported.loc[2, "Diff"] == "-4.0"  # the supplementary's TRADES row at f_b = 12
    assert "In the supplementary" in table_s5_report.table_s5_sentence(s5, reported)
    # the TRADES arm's KLs, measured on its starting and trained networks, then read back
    checks = trades_check.table_s5_trades_checks(config, **dirs, images=8)
    assert [c["seed"] for c in checks] == [config.seed]
    for which in ("start", "trained"):
        assert checks[0][which]["n"] == 8 and checks[0][which]["dropout_kl"] > 0, which  # VGG16's f_b has dropout
        assert checks[0][which]["adversarial_kl"] >= 0
    assert trades_check.table_s5_trades_checks(config, **dirs, images=8) == checks
    values = table_s5_report.trades_glue_values(config, results_dir=dirs["results_dir"], checks=checks)
    assert "dropout-noise KL of" in values["trades_diagnosis"] and values["table_s5_seeds"] == 1


@pytest.mark.slow
def test_budget_table_covers_every_attack_and_budget_of_the_paper(tiny_studies):
    _, _, _, _, grid = tiny_studies
    frame = budgets_report.budget_frame(grid)
    networks = set(frame.network)
    assert {"regular", "robust", "semirobust", "algorithm1", "standard_fb"} <= networks
    assert len(frame) == len(networks) * (4 * 3 + 1)  # 4 L-inf attacks x 3 budgets, C&W once
    tables = budgets_report.budget_tables(frame)
    assert sorted(tables) == [8, 16, 32] and "C&W (L2)" in tables[8] and "C&W (L2)" not in tables[16]
    fig = budgets_report.plot_budgets(frame)
    assert not legibility_problems(fig)
    config, dirs, _, _, _ = tiny_studies
    norms = [r for c in budgets.budget_configs(config) for r in budgets.run_cw_norms(c, **dirs)]
    assert {r["network_name"] for r in norms} == networks
    assert all(r["metrics"]["images"] == grid[0]["config"]["images"] for r in norms)  # the table's images
    assert budgets.run_cw_norms(config, **dirs) == norms  # read back, not rerun
    assert "median L2" in budgets_report.cw_norms_sentence(budgets_report.cw_norms_frame(norms)) or \
        all(r["metrics"]["successes"] == 0 for r in norms)


def test_attack_type_reading_measures_the_spreads():
    rows = []
    for attack, star, tilde in (("fgsm", 70, 68), ("ifgsm", 60, 57), ("pgd", 58, 55), ("apgd-ce", 50, 48)):
        rows += [{"network": "robust", "attack": attack, "eps255": 8, "seed": 0, "accuracy": star},
                 {"network": "algorithm1", "attack": attack, "eps255": 8, "seed": 0, "accuracy": tilde}]
    frame = pd.DataFrame(rows)
    reading = budgets_report.attack_type_reading(frame, 8)
    assert reading["star_spread"] == 20 and reading["diff_spread"] == 1 and reading["strongest"] == "apgd-ce"
    sentence = budgets_report.attack_type_sentence(frame, 8)
    assert "a spread of 20.0 points" in sentence and "moves by only 1.0 points" in sentence
    # one seed: a range without an interval, so never "confirmed" by the book's rule
    sentence, status, read = budgets_report.attack_type_claim(frame, 8, 500)
    assert status == "undecided" and "no interval" in read and "1 seed" in read
    wide = frame.copy()
    wide.loc[(wide.network == "algorithm1") & (wide.attack == "fgsm"), "accuracy"] = 74  # Diff +4 under FGSM
    assert budgets_report.attack_type_claim(wide, 8, 500)[1] == "undecided"
    # the shortened scoring attack against the standard one, on the same images and networks
    scores = pd.DataFrame([{"network": "robust", "attack": budgets.SCORE_ATTACK, "eps255": 8, "seed": 0, "accuracy": 51.0},
                           {"network": "algorithm1", "attack": budgets.SCORE_ATTACK, "eps255": 8, "seed": 0,
                            "accuracy": 47.5}])
    check = budgets_report.score_check(pd.concat([frame, scores]), 8)
    assert check["gaps"] == {"robust": -1.0, "algorithm1": 0.5} and math.isclose(check["mean"], -0.25)
    assert "mean -0.25 points" in budgets_report.score_check_sentence(pd.concat([frame, scores]), 8, 20)
    assert budgets_report.score_check(frame, 8) == {}
    assert budgets.grid() == budgets.grid(make_tiny_profile(), 8)  # standard scores: no extra attack
    assert (budgets.SCORE_ATTACK, 8) in budgets.grid(make_tiny_profile(score_apgd_iters=20), 8)


def _budget_seeds(diffs_by_seed):
    """A budgets frame: per seed, Acc* = 60 under every L-inf attack and Acc~ = 60 + that seed's Diff per attack."""
    rows = []
    for seed, diffs in enumerate(diffs_by_seed):
        for attack, diff in zip(budgets.LINF, diffs):
            rows += [{"network": "robust", "attack": attack, "eps255": 8, "seed": seed, "accuracy": 60.0},
                     {"network": "algorithm1", "attack": attack, "eps255": 8, "seed": seed, "accuracy": 60.0 + diff}]
    return pd.DataFrame(rows)


def test_attack_type_claim_is_decided_by_an_equivalence_test_over_seeds():
    """Diff per attack (FGSM, I-FGSM, PGD, APGD-CE) against APGD-CE's, per seed, within 2 points by TOST: every
    attack equivalent -> confirmed; one shown beyond the margin -> not confirmed; a spread too wide -> undecided."""
    close = _budget_seeds([(-1.0, -1.2, -0.9, -1.1), (-1.3, -1.0, -1.2, -1.2), (-0.8, -1.1, -1.0, -0.9),
                           (-1.1, -0.9, -1.1, -1.0)])
    test = budgets_report.attack_type_equivalence(close, 8)
    assert test["seeds"] == 4 and sorted(test["tests"]) == ["fgsm", "ifgsm", "pgd"]
    assert test["tests"]["fgsm"].mean == pytest.approx((0.1 - 0.1 + 0.1 - 0.1) / 4, abs=1e-9)
    sentence, status, read = budgets_report.attack_type_claim(close, 8, 300)
    assert status == "confirmed" and "(equivalent)" in read and "Over 4 seeds" in read
    far = _budget_seeds([(4.0, -1.0, -1.0, -1.0), (4.5, -1.1, -1.0, -1.0), (4.2, -0.9, -1.0, -1.0)])
    assert budgets_report.attack_type_claim(far, 8, 300)[1] == "not confirmed"
    noisy = _budget_seeds([(3.0, -1.0, -1.0, -1.0), (-4.0, -1.0, -1.0, -1.0)])
    assert budgets_report.attack_type_claim(noisy, 8, 300)[1] == "undecided"
    # the claim is never confirmed without an interval, however small the one seed's range
    one = _budget_seeds([(-1.0, -1.0, -1.0, -1.0)])
    assert budgets_report.attack_type_equivalence(one, 8) == {"seeds": 1, "margin": 2.0, "reference": "apgd-ce",
                                                              "tests": {}, "status": "undecided"}
    assert budgets_report.attack_type_claim(one, 8, 300)[1] == "undecided"


def test_the_attack_type_claim_is_glued_with_its_interval_and_never_confirmed_without_one():
    """The page's interval: the widest bounds of the attacks' 90% intervals; none with one seed, and none when the
    seeds' differences are identical (a zero-width "interval" inside the margin is a point, not evidence)."""
    close = _budget_seeds([(-1.0, -1.2, -0.9, -1.1), (-1.3, -1.0, -1.2, -1.2), (-0.8, -1.1, -1.0, -0.9),
                           (-1.1, -0.9, -1.1, -1.0)])
    test = budgets_report.attack_type_equivalence(close, 8)
    glued = budgets_report.attack_type_glue(close, 8)
    low = min(t.low for t in test["tests"].values())
    high = max(t.high for t in test["tests"].values())
    assert glued["attack_type_low"] == f"{low:+.2f}" and glued["attack_type_high"] == f"{high:+.2f}"
    assert -2 < low < high < 2 and glued["attack_type_interval"].startswith(f"[{low:+.2f}, {high:+.2f}] points against ±2")
    for frame in (_budget_seeds([(-1.0, -1.0, -1.0, -1.0)]),  # one seed
                  _budget_seeds([(-1.0, -1.0, -1.0, -1.0)] * 3)):  # three seeds that agree exactly
        glued = budgets_report.attack_type_glue(frame, 8)
        assert glued["attack_type_low"] == glued["attack_type_high"] == "–"
        assert glued["attack_type_interval"].startswith("no interval")
        sentence, status, read = budgets_report.attack_type_claim(frame, 8, 300)
        assert status == "undecided" and status != "confirmed"
    assert "differences do not vary" in budgets_report.attack_type_glue(_budget_seeds([(-1.0,) * 4] * 3), 8)["attack_type_interval"]
    assert "not an interval" in budgets_report.attack_type_claim(_budget_seeds([(-1.0,) * 4] * 3), 8, 300)[2]


def test_cw_norms_are_read_per_network():
    def record(network, seed, correct, flipped, median):
        return {"network_name": network, "config": {"seed": seed},
                "metrics": {"images": 50, "clean_correct": correct, "successes": flipped, "median_l2": median,
                            "success_rate": 100 * flipped / correct, "mean_l2": median, "pixels": 3 * 32 * 32}}
    frame = budgets_report.cw_norms_frame([record("regular", 0, 40, 40, 0.1), record("robust", 0, 30, 12, 0.8),
                                           record("robust", 1, 30, 6, 1.0), record("algorithm1", 0, 30, 0, None)])
    assert budgets_report.cw_median_l2(frame) == pytest.approx(0.9)  # the seeds' medians averaged
    assert budgets_report.cw_median_l2(frame, "algorithm1") is None  # nothing flipped: no norm
    sentence = budgets_report.cw_norms_sentence(frame)
    assert "regular network 100% (median L2 0.10)" in sentence and "Acc* (robust network) 30% (median L2 0.90)" in sentence
    assert "; Acc~ (Algorithm 1) 0%." in sentence  # nothing flipped: no norm
    assert f"has an L2 of {8 / 255 * (3 * 32 * 32) ** 0.5:.2f}" in sentence
    assert budgets_report.cw_norms_sentence(budgets_report.cw_norms_frame([])).endswith("not been measured here.")


def test_cw_at_stronger_settings_tells_a_weak_attack_from_a_robust_network():
    """Issue 37: the table's C&W (c = 1, 50 steps) beside stronger settings; a network whose accuracy falls far
    below the table's under a stronger C&W is named as under-read, one whose accuracy holds is read as its own."""
    def records(network, accuracies):
        return [{"network_name": network, "config": {"c": c, "steps": steps}, "metrics": {"accuracy": acc}}
                for (c, steps), acc in zip(budgets.CW_SETTINGS, accuracies)]
    holding = budgets_report.cw_strength_frame(records("regular", (2.0, 1.0, 1.0, 0.0)) +
                                               records("robust", (72.0, 71.0, 70.5, 70.0)))
    assert list(holding.columns) == ["Network", "c = 1, 50 steps", "c = 10, 50 steps", "c = 1, 200 steps",
                                     "c = 10, 200 steps"]
    assert list(holding.Network) == ["regular network", "Acc* (robust network)"]
    assert "no stronger setting takes any network more than 5 points below" in \
        budgets_report.cw_strength_sentence(holding)
    weak = budgets_report.cw_strength_frame(records("robust", (72.0, 40.0, 65.0, 30.0)))
    sentence = budgets_report.cw_strength_sentence(weak)
    assert "under-reads C&W on Acc* (robust network)" in sentence and "72.0%, 40.0%, 65.0%, 30.0%" in sentence
    assert budgets_report.cw_strength_sentence(budgets_report.cw_strength_frame([])).endswith("not been run here.")


# --------------------------------------------------------------- Table S5: an arm that did not train

def _arm(loss, acc, tilde, trials=2):
    curve = [{"epoch": 1, "adv_acc": tilde, "val_acc": tilde, "train_loss": loss + 0.3, "train_acc": acc - 1,
              "lr": 0.01, "time_s": 1.0},
             {"epoch": 2, "adv_acc": tilde, "val_acc": tilde, "train_loss": loss, "train_acc": acc, "lr": 0.01,
              "time_s": 1.0}]
    return {"acc_tilde_unbiased": tilde, "epochs": None, "converged_trials": 0, "wall_time_s": 2.0 * trials,
            "rho": [1.0, 2.0], "trials": [{"trial": t, "epochs_run": 2, "curve": [dict(p) for p in curve]} for t in range(trials)]}


def _s5_seeds(trades_loss, trades_acc):
    """Two seeds' records and arms: PGD and ATTA trained, TRADES with the given last-epoch loss and accuracy."""
    out = []
    for star in (74.0, 75.0):
        record = {"metrics": {"acc_star": star}, "extra": {"train_images": 100}}
        out.append((record, {"adversarial": _arm(0.9, 70.0, star - 2), "atta": _arm(1.0, 66.0, star - 1.5),
                             "trades": _arm(trades_loss, trades_acc, 20.9)}))
    return out


def test_a_collapsed_arm_is_flagged_and_shows_no_diff(monkeypatch):
    """TRADES at loss 2.30 = ln 10 and training accuracy 19% did not train: its Diff cell is the diagnosis and the
    sentence leaves it out; PGD and ATTA trained and keep their Diff."""
    assert collapse.collapsed(math.log(10) + 0.01, 60.0, 10) and collapse.collapsed(1.2, 19.0, 10)
    assert not collapse.collapsed(0.9, 70.0, 10) and not collapse.collapsed(2.2, 35.0, 10)
    per_seed = _s5_seeds(2.3026, 19.0)
    found = table_s5_report.diagnoses(per_seed, "trades", 10)
    assert all(d["did_not_train"] and d["collapsed_trials"] == 2 for d in found)
    assert not any(d["did_not_train"] for d in table_s5_report.diagnoses(per_seed, "adversarial", 10))
    assert collapse.diagnosis_text(found[0]) == "did not train: loss 2.30 = ln 10, training accuracy 19%"
    monkeypatch.setattr(table_s5_report, "table_s5_runs", lambda config, results_dir=None: per_seed)
    config = RunConfig(arch="vgg16", dataset="digits", profile=make_tiny_profile(table_s5_seeds=(0, 1)), device="cpu")
    frame = table_s5_report.table_s5_frame(config).set_index("Method")
    assert frame.loc["TRADES", "Diff"] == "did not train: loss 2.30 = ln 10, training accuracy 19%"
    assert frame.loc["PGD", "Diff"].startswith("-2.0") and frame.loc["ATTA", "Diff"].startswith("-1.5")
    assert frame.loc["TRADES", "Acc~"] == "20.9 ± 0.0"  # measured, shown; only the Diff gives way
    sentence = table_s5_report.table_s5_sentence(frame.reset_index())
    assert "TRADES did not train: no Diff" in sentence and "-53" not in sentence and "TRADES -" not in sentence
    assert "ATTA came closest to Acc*" in sentence
    text = table_s5_report.trades_diagnosis(config)
    assert text.startswith("The TRADES arm did not train in 2 of 2 seeds (loss 2.30 = ln 10, training accuracy 19%")
    assert "20.9% is a collapsed network's, not a result" in text and "within 0.05 of ln 10" in text
    # one seed collapsed, one trained: the Diff over the trained seed, the other counted
    mixed = [per_seed[0], (per_seed[1][0], {**per_seed[1][1], "trades": _arm(0.8, 60.0, 70.0)})]
    monkeypatch.setattr(table_s5_report, "table_s5_runs", lambda config, results_dir=None: mixed)
    cell = table_s5_report.table_s5_frame(config).set_index("Method").loc["TRADES", "Diff"]
    assert cell == "-5.0 (1 of 2 seeds did not train)"


def test_a_trained_arm_is_not_flagged():
    per_seed = _s5_seeds(1.1, 55.0)
    assert not any(d["did_not_train"] for d in table_s5_report.diagnoses(per_seed, "trades", 10))
    assert table_s5_report.diff_cell([-53.1, -54.1], table_s5_report.diagnoses(per_seed, "trades", 10)) == \
        table_s5_report.interval_text([-53.1, -54.1])
    text = table_s5_report.diagnosis_sentence(per_seed, "trades", 10)
    assert text.startswith("The TRADES arm trained in all 2 seeds") and "did not train" not in text.split("(the")[0]
    # one trained trial is enough: the selection picks it
    arm = _arm(2.3026, 19.0, 20.9)
    arm["trials"][1]["curve"][-1].update(train_loss=0.9, train_acc=70.0)
    diagnosis = collapse.arm_diagnosis(arm, 10)
    assert diagnosis["collapsed_trials"] == 1 and not diagnosis["did_not_train"]


def test_the_collapse_guard_reads_the_loss_relative_to_ln_c():
    """The offline build's TRADES arm ended at loss 2.24 (ln 10 = 2.30) and training accuracy 24%: collapsed; the
    random-f_a arm's 1.87 and 25.7% (a weak network, not a uniform one) is not."""
    assert collapse.collapsed(2.24, 24.0, 10)
    assert not collapse.collapsed(1.87, 25.7, 10)
    assert collapse.diagnosis_text({"num_classes": 10, "loss": 2.24, "acc": 24.0}) == (
        "did not train: loss 2.24, near ln 10 = 2.30, training accuracy 24%")
