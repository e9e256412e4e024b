"""The design's readings (semirobust.experiments.table1.arms_report) on synthetic Table 1 records, and the arms built as
named (semirobust.experiments.table1.arms) on tiny networks."""
from __future__ import annotations

import pytest
import torch
from tiny import make_tiny_profile

from semirobust.experiments.report.style import legibility_problems
from semirobust.experiments.table1 import arms_report as controls
from semirobust.experiments.table1.arms import ARMS, CONTROLS, cell_arms, initial_network, start_network
from semirobust.models import build_model, fa_fb_module_names


def _record(diffs, controls_minus=None, acc_star=60.0, k=1.0, images=1000):
    """A table1 record whose seed s has Acc~ - Acc* = diffs[s] and control arm a at Acc~ - controls_minus[a][s]."""
    controls_minus = controls_minus or {}
    per_seed = []
    for s, d in enumerate(diffs):
        seed = {"acc_star": acc_star, "acc_tilde_unbiased": acc_star + d, "acc_sr": 10.0, "acc_tilde": acc_star + d + 1,
                "acc_regular_attacked": 20.0, "acc_regular_clean": 88.0, "acc_star_clean": 80.0}
        for arm, minus in controls_minus.items():
            seed[f"acc_tilde_{arm}"] = acc_star + d - minus[s]
        per_seed.append(seed)
    return {"kind": "table1", "config": {"arch": "vgg16", "dataset": "fashion-mnist", "fb_layers": 12, "k": k,
                                         "eps": 8 / 255, "attack": "autoattack"},
            "metrics": {"per_seed": per_seed, "seeds": list(range(len(diffs)))},
            "extra": {"scored_images": images, "eval_images": 200, "eval_attack": {"name": "autoattack"}}}


@pytest.mark.parametrize("diffs, answer", [([0.2, -0.3, 0.1, 0.0, -0.1], "equivalent"),
                                           ([-6.1, -5.8, -6.4, -6.0, -5.9], "not equivalent"),
                                           ([-3.0, 2.5, -1.0, 3.5, -4.0], "undecided")])
def test_recovery_answers_with_the_equivalence_test(diffs, answer):
    record = _record(diffs, images=10_000_000)  # images so many that the image level adds nothing
    result = controls.recovery(record)
    assert result["answer"] == answer == result["seed_answer"] and result["n"] == 5
    assert result["low"] < result["mean"] < result["high"]
    assert result["two_level_low"] < result["mean"] < result["two_level_high"]
    sentence = controls.recovery_sentence(record)
    assert answer in sentence and "supports" not in sentence
    if answer == "undecided":
        assert "seeds" in sentence  # says what power would decide it


def test_the_answer_reads_the_wider_interval_when_test_images_are_few():
    diffs = [0.2, -0.3, 0.1, 0.0, -0.1]  # equivalent over the seeds alone
    result = controls.recovery(_record(diffs, images=1000))
    assert result["seed_answer"] == "equivalent" and result["answer"] == "undecided"
    assert result["two_level_low"] < result["low"] and result["two_level_high"] > result["high"]
    assert result["tost_low"] < -2.0 < result["tost_high"]  # the wider 90% interval reaches past the margin
    sentence = controls.recovery_sentence(_record(diffs, images=1000))
    assert "test images" in sentence and "the seeds alone, two one-sided tests, would answer: equivalent" in sentence
    assert "conservative" in controls.image_level_note(_record(diffs))


def test_one_seed_has_no_interval_and_no_test():
    result = controls.recovery(_record([0.5]))
    assert result["answer"] == "undecided" and result["low"] is None
    assert "no interval" in controls.recovery_sentence(_record([0.5]))
    assert controls.glue_values(_record([0.5]))["diff_paired_low"] == "no interval"


def test_control_differences_are_paired_and_read_from_their_interval():
    record = _record([0.0] * 5, {"random_fa": [20.0, 22.0, 19.0, 21.0, 20.5],  # f*_a clearly helps
                                  "standard_fb": [-0.5, 0.6, 0.1, -0.2, 0.3]})  # no difference
    frame = controls.control_differences(record).set_index("arm")
    assert frame.loc["random_fa", "mean"] == pytest.approx(20.5) and frame.loc["random_fa", "low"] > 0
    assert frame.loc["random_fa", "reading"].startswith("the robust f*_a helps")
    assert frame.loc["standard_fb", "low"] < 0 < frame.loc["standard_fb", "high"]
    assert frame.loc["standard_fb", "reading"] == "no difference shown at this power"
    for arm in ("random_fa", "standard_fb"):  # 1,000 images: the interval over seeds and images is the wider
        assert frame.loc[arm, "two_level_low"] < frame.loc[arm, "low"] < frame.loc[arm, "high"] < frame.loc[arm, "two_level_high"]
    assert all("supports" not in s for s in controls.controls_sentences(record))


def test_glue_values_name_every_arm_and_the_design():
    record = _record([0.0, 1.0, -1.0], {arm: [1.0, 2.0, 3.0] for arm in CONTROLS})
    values = controls.glue_values(record)
    for name in ("n_seeds", "test_images_scored", "diff_paired", "diff_paired_low", "diff_paired_high",
                 "diff_two_level_low", "diff_two_level_high", "equivalence", "equivalence_margin", *(f"acc_tilde_{arm}" for arm in CONTROLS)):
        assert name in values
    assert values["n_seeds"] == 3 and values["test_images_scored"] == 1000 and values["equivalence_margin"] == 2.0
    assert values["acc_tilde_random_fa"] == pytest.approx(58.0)


def test_arms_table_and_figure_are_readable():
    record = _record([0.0, 1.0], {arm: [1.0, 2.0] for arm in CONTROLS})
    table = controls.arms_table(record)
    assert len(table) == 3 + 5 and "±" in table.loc[1, "under attack"]
    fig = controls.plot_arms(record)
    assert legibility_problems(fig) == []
    assert "2 seeds" in controls.plot_arms_caption(record)


# ---------------------------------------------------------------- the arms, built as named


def test_arms_run_in_table1_cells_only():
    profile = make_tiny_profile(arms=("algorithm1", "random_fa", "standard_fb"))
    assert cell_arms(profile, "vgg16", 12) == ("algorithm1", "random_fa", "standard_fb")
    assert cell_arms(profile, "vgg16", 4) == ("algorithm1",)
    with pytest.raises(ValueError, match="arm"):
        cell_arms(make_tiny_profile(arms=("algorithm1", "no_such_arm")), "vgg16", 12)


def _fa_state(model, fb_layers):
    fa_names, _ = fa_fb_module_names(model, fb_layers)
    prefixes = tuple(n + "." for n in fa_names)
    return {k: v.clone() for k, v in model.state_dict().items() if k.startswith(prefixes)}


def test_each_arm_starts_from_its_named_f_a_and_the_regular_f_b():
    torch.manual_seed(1)
    regular, robust = build_model("alexnet", "digits", width=0.125), build_model("alexnet", "digits", width=0.125)
    random = initial_network("alexnet", "digits", 0.125, seed=3)
    again = initial_network("alexnet", "digits", 0.125, seed=3)
    assert all(torch.equal(a, b) for a, b in zip(random.state_dict().values(), again.state_dict().values()))
    fast = build_model("alexnet", "digits", width=0.125)
    sources = {"robust": robust, "regular": regular, "random": random, "fgsm_rs": fast}
    for arm in ARMS.values():
        net = start_network(arm, 4, regular=regular, robust=robust, random=random, fgsm_rs=fast)
        for key, value in _fa_state(net, 4).items():
            assert torch.equal(value, sources[arm.fa].state_dict()[key]), (arm.name, key)
        fb = {k: v for k, v in net.state_dict().items() if k not in _fa_state(net, 4)}
        assert all(torch.equal(v, regular.state_dict()[k]) for k, v in fb.items()), arm.name
    with pytest.raises(ValueError, match="fgsm_rs"):
        start_network(ARMS["fast_fa"], 4, regular=regular, robust=robust)


@pytest.mark.parametrize("arm", ["random_fa", "standard_fb", "full_finetune"])
def test_a_trial_of_each_arm_trains_as_named(arm, monkeypatch):
    """random f_a stays bit-identical through training; the standard arm runs no attack; full fine-tuning
    updates f_a."""
    from semirobust import training, training_methods
    from semirobust.data import TensorImageDataset

    profile = make_tiny_profile(batch_size=8)
    torch.manual_seed(0)
    regular, robust = build_model("alexnet", "digits", width=0.125), build_model("alexnet", "digits", width=0.125)
    random = initial_network("alexnet", "digits", 0.125, seed=0)
    spec = ARMS[arm]
    net = start_network(spec, 4, regular=regular, robust=robust, random=random)
    before = _fa_state(net, 4)
    attacks = []
    real_make_attack = training_methods.make_attack
    monkeypatch.setattr(training_methods, "make_attack", lambda *a, **k: attacks.append(a[0]) or real_make_attack(*a, **k))
    data = TensorImageDataset(torch.rand(16, 3, 32, 32), torch.randint(0, 10, (16,)))
    training.train(net, data, profile=profile, mode=spec.mode, fb_layers=None if spec.train_fa else 4, epochs=1,
                   device="cpu", progress=False, lr=0.5)
    after = _fa_state(net, 4)
    unchanged = all(torch.equal(before[k], after[k]) for k in before)
    if arm == "full_finetune":
        assert not unchanged and attacks == ["pgd"]
    else:
        assert unchanged  # frozen: parameters and BatchNorm statistics of f_a bit-identical
        assert attacks == ([] if arm == "standard_fb" else ["pgd"])
