"""Algorithm 1: the whole procedure on a tiny configuration, resume after an interruption, the
summary rules of the supplementary, and bad input rejected before any compute (library and notebook)."""
from __future__ import annotations

import dataclasses
import re
import time

import numpy as np
import pandas as pd
import pytest
import torch
from tiny import TINY, make_tiny_profile

from semirobust import config
from semirobust.config import RunConfig
from semirobust.experiments.table1 import algorithm1, configs, scoring
from semirobust.experiments.table1 import evaluation as harness
from semirobust.experiments.table1.cell import SeedCell
from semirobust.results import ResultsStore
from semirobust.utils import REPO_ROOT


def _config(**overrides):
    base = dict(arch="alexnet", dataset="digits", attack="fgsm", fb_layers=2, trials=2, epochs=2, k=100.0,
                profile=make_tiny_profile(), seed=0, device="cpu")
    return RunConfig(**{**base, **overrides})


@pytest.fixture(scope="module")
def interrupted_then_resumed(tmp_path_factory):
    """Run trials=2 with trial 1 crashing, then again: returns what each phase did."""
    root = tmp_path_factory.mktemp("algorithm1")
    results, cache = root / "results", root / "cache"
    real_trial = algorithm1._run_trial
    calls = []
    with pytest.MonkeyPatch.context() as mp:

        def crashing(trial, *args, **kwargs):
            if trial == 1:
                raise KeyboardInterrupt("simulated interruption during trial 1")
            calls.append(("first run", trial))
            return real_trial(trial, *args, **kwargs)

        mp.setattr(algorithm1, "_run_trial", crashing)
        with pytest.raises(KeyboardInterrupt):
            algorithm1.run_algorithm1(_config(), results_dir=results, cache_dir=cache, progress=False)
        after_crash = ResultsStore(results).records(configs.TRIAL_KIND)
        summaries_after_crash = ResultsStore(results).records(configs.SUMMARY_KIND)

        def counting(trial, *args, **kwargs):
            calls.append(("second run", trial))
            return real_trial(trial, *args, **kwargs)

        mp.setattr(algorithm1, "_run_trial", counting)
        record = algorithm1.run_algorithm1(_config(), results_dir=results, cache_dir=cache, progress=False)
        trials = ResultsStore(results).records(configs.TRIAL_KIND)
        references = ResultsStore(results).records(configs.REFERENCE_KIND)

        def no_training(*args, **kwargs):
            raise AssertionError("a finished run must be read from the store, not recomputed")

        mp.setattr(algorithm1, "get_trained_model", no_training)
        again = algorithm1.run_algorithm1(_config(), results_dir=results, cache_dir=cache, progress=False)
    return dict(calls=calls, after_crash=after_crash, summaries_after_crash=summaries_after_crash,
                record=record, trials=trials, references=references, again=again, cache=cache, results=results)


def test_interrupted_run_resumes_at_the_next_trial(interrupted_then_resumed):
    run = interrupted_then_resumed
    assert [r["config"]["trial"] for r in run["after_crash"]] == [0]
    assert run["summaries_after_crash"] == []  # no summary from an unfinished run
    assert run["calls"] == [("first run", 0), ("second run", 1)]  # trial 0 was loaded, not recomputed
    trial0 = [r for r in run["trials"] if r["config"]["trial"] == 0][0]
    assert trial0["created_at"] == run["after_crash"][0]["created_at"]
    assert sorted(r["seed"] for r in run["trials"]) == [0, 1]  # trial t trains with seed + t
    assert not list((run["cache"] / "algorithm1").glob("*/*"))  # trial checkpoints removed once recorded


def test_summary_record_holds_the_table1_quantities(interrupted_then_resumed):
    record = interrupted_then_resumed["record"]
    m = record["metrics"]
    assert record["kind"] == "table1" and record["profile"] == "smoke" and record["config"]["trials"] == 2
    assert record["git_commit"] and record["versions"]["torch"]
    for key in ("acc_regular_clean", "acc_regular_attacked", "acc_star_clean", "acc_star", "acc_sr", "acc_tilde"):
        assert 0.0 <= m[key] <= 100.0, key
    assert m["acc_tilde"] == max(t["acc"] for t in m["trials"])
    assert m["diff"] == pytest.approx(m["acc_tilde"] - m["acc_star"])
    assert len(m["rho"]) == 2 and all(r >= 0 for r in m["rho"])  # one rho per layer of f_b
    # k = 100: every trial converges after its first epoch (early stop) and rho is the lowest over trials.
    seed0 = m["per_seed"][0]
    assert seed0["converged_trials"] == 2 and m["epochs"] == 1.0
    assert len(m["rho_pairs"]) == 2 and all("rho_null_mean" in p and "rho_above_null_seeds" in p for p in m["rho_pairs"])
    assert all(t["epochs_run"] == 1 and t["stopped_early"] for t in m["trials"])
    assert m["rho"] == [min(t["rho"][j] for t in m["trials"]) for j in range(2)]
    assert [len(t["curve"]) for t in m["trials"]] == [1, 1]
    assert record["extra"]["eval_images"] == TINY["eval_subset"] and record["extra"]["rho_images"] == TINY["rho_samples"]
    assert interrupted_then_resumed["again"] == record
    # the final networks (Acc*, Acc~ by the paper's rule, Acc~ validation-selected) faced the full standard
    # AutoAttack once each, on the profile's final_autoattack_images, counted in the cell's gradient evaluations
    assert record["extra"]["final_autoattack_images"] == TINY["final_autoattack_images"]
    finals = ResultsStore(interrupted_then_resumed["results"]).records(configs.AUTOATTACK_KIND)
    same = seed0["same_selected_network"]  # then one network serves both rules and is attacked once
    assert len(finals) == (2 if same else 3) and all(f["extra"]["attack"]["attacks"] is None for f in finals)
    assert {f["config"].get("selection") for f in finals} == ({None, "test"} if same else {None, "test", "val"})
    for key in ("acc_star_autoattack", "acc_tilde_autoattack", "acc_tilde_unbiased_autoattack"):
        assert 0.0 <= m[key] <= 100.0, key
    assert m["acc_star_autoattack"] == next(f for f in finals if "network" in f["config"])["metrics"]["accuracy"]
    aa_evals = sum(f["metrics"]["grad_evals"] for f in finals)
    assert aa_evals > 0  # AutoAttack runs its 100 APGD-CE iterations on every image the network classifies right
    assert seed0["grad_evals"] >= aa_evals + sum(t["grad_evals"] for t in m["trials"])
    # Acc and Acc* were measured once (in the interrupted run) and reused.
    [reference] = interrupted_then_resumed["references"]
    assert reference["created_at"] < interrupted_then_resumed["trials"][0]["created_at"]
    # the reference record names the regular network's attacked accuracy acc_regular; the cell acc_regular_attacked
    shared = {k: (k if k in m else f"{k}_attacked") for k in reference["metrics"] if k in m or f"{k}_attacked" in m}
    assert {"acc_star", "acc_regular"} <= set(shared)
    assert {k: m[c] for k, c in shared.items()} == {k: reference["metrics"][k] for k in shared}


def test_summary_rules_follow_the_supplementary():
    trials = [{"acc": 30.0, "epochs_run": 3, "rho": [5.0, 1.0]},
              {"acc": 39.5, "epochs_run": 1, "rho": [4.0, 2.0]},
              {"acc": 39.0, "epochs_run": 2, "rho": [6.0, 0.5]}]
    s = algorithm1.summarize_trials(trials, acc_star=40.0, k=1.0)
    assert (s["acc_tilde"], s["diff"], s["best_trial"]) == (39.5, -0.5, 1)
    assert s["converged_trials"] == 2 and s["epochs"] == 1.5
    assert s["rho"] == [4.0, 0.5] and s["rho_rule"].startswith("lowest")  # lowest among converged trials only
    assert s["rho_best_trial"] == [4.0, 2.0]
    none = algorithm1.summarize_trials(trials, acc_star=50.0, k=1.0)
    assert none["converged_trials"] == 0 and none["epochs"] is None
    assert none["rho"] == [6.0, 2.0] and none["rho_rule"].startswith("largest")  # largest over all trials
    with pytest.raises(ValueError):
        algorithm1.summarize_trials([], 40.0, 1.0)


def test_trial_identity_does_not_depend_on_the_number_of_trials():
    two, five = configs.summary_config(_config(trials=2)), configs.summary_config(_config(trials=5))
    assert two != five
    assert configs.trial_config(two, 0, "a", "b") == configs.trial_config(five, 0, "a", "b")
    assert configs.trial_config(two, 0, "a", "b") != configs.trial_config(two, 0, "a", "c")


def test_parameters_parse_and_build_validated_configs():
    assert config.parse_eps("8/255") == pytest.approx(8 / 255)
    assert config.parse_eps(0.5) == 0.5
    with pytest.raises(ValueError, match="fraction"):
        config.parse_eps("eight")
    built = configs.build_configs("alexnet, vgg16", "digits", fb_sizes=None, attack="pgd", eps="8/255")
    assert [(c.arch, c.fb_layers) for c in built] == [("alexnet", 4), ("vgg16", 12)]
    assert [c.fb_layers for c in configs.build_configs("resnet50", "digits", "4,8")] == [4, 8]
    with pytest.raises(ValueError, match="fb_sizes"):
        configs.build_configs("resnet50", "digits", "4,x")
    with pytest.raises(ValueError, match="models is empty"):
        configs.build_configs("", "digits")


@pytest.mark.parametrize("overrides, message", [
    (dict(arch="lenet"), "Unknown model 'lenet'"),
    (dict(dataset="mnist"), "Unknown dataset 'mnist'"),
    (dict(attack="deepfool"), "Unknown attack 'deepfool'"),
    (dict(fb_layers=9), r"fb_layers=9 .*1\.\.8"),
    (dict(eps=0.0), r"eps=0.0 must be a number in \(0, 1\]"),
    (dict(trials=0), "trials=0 must be an integer >= 1"),
    (dict(epochs=0), "epochs=0 must be an integer >= 1"),
])
def test_bad_input_is_rejected_before_any_compute(overrides, message, monkeypatch, tmp_path):
    def no_training(*args, **kwargs):
        raise AssertionError("training started before validation")

    monkeypatch.setattr(algorithm1, "get_trained_model", no_training)
    with pytest.raises(ValueError, match=message):
        algorithm1.run_algorithm1(_config(**overrides), results_dir=tmp_path)


@pytest.mark.parametrize("notebook, parameters, message", [
    ("table1", {"model": "lenet"}, "Unknown model 'lenet'"),
    ("table1", {"fb_layers": 20}, r"fb_layers=20 .*1\.\.16"),
    ("table1", {"eps": 0}, "must be a number in"),
    ("figure1", {"datasets": "digits,mnist"}, "Unknown dataset 'mnist'"),
    ("figure2", {"fb_sizes": "4,99"}, r"fb_layers=99 .*1\.\.54"),
])
def test_notebooks_reject_bad_input_in_the_first_cell(notebook, parameters, message, tmp_path):
    papermill = pytest.importorskip("papermill")
    start = time.perf_counter()
    with pytest.raises(papermill.PapermillExecutionError) as err:
        papermill.execute_notebook(str(REPO_ROOT / "notebooks" / f"{notebook}.ipynb"), str(tmp_path / "out.ipynb"),
                                   parameters={**parameters, "results_dir": str(tmp_path)}, cwd=str(tmp_path),
                                   kernel_name="python3", progress_bar=False)
    assert err.value.ename == "ValueError" and re.search(message, err.value.evalue)
    assert time.perf_counter() - start < 60
    assert not (tmp_path / "table1").exists()  # nothing was computed or recorded


def test_profiles_stop_on_apgd_ce_and_full_autoattack_is_a_profile_choice():
    import torch

    from semirobust.data import dataset_tensors, load_dataset
    from semirobust.models import build_model

    torch.manual_seed(0)
    model = build_model("alexnet", "digits", width=0.125).eval()
    smoke = harness.evaluation_attack(model, "autoattack", 8 / 255, "smoke")
    assert smoke.describe()["attacks"] == ["apgd-ce"] and smoke.describe()["version"] == "standard"
    # every named profile stops on APGD-CE; the full AutoAttack runs once per final network instead
    assert harness.evaluation_attack(model, "autoattack", 8 / 255, "paper", per_epoch=True).describe()["attacks"] == [
        "apgd-ce"]
    assert harness.evaluation_attack(model, "autoattack", 8 / 255, "paper").describe()["attacks"] == [
        "apgd-ce", "apgd-dlr"]
    as_authors = dataclasses.replace(config.get_profile("paper"), full_autoattack=True)  # their procedure
    full = harness.evaluation_attack(model, "autoattack", 8 / 255, as_authors)
    assert full.describe()["attacks"] is None and full.describe()["version"] == "standard"
    offline = config.get_profile("offline")
    assert harness.evaluation_attack(model, "autoattack", 8 / 255, offline, per_epoch=True).describe()[
        "attacks"] == ["apgd-ce"]
    # the scores: APGD-CE then APGD-DLR on what it left, at the standard 100 iterations
    scoring = harness.evaluation_attack(model, "autoattack", 8 / 255, offline).describe()
    assert scoring["attacks"] == ["apgd-ce", "apgd-dlr"] and scoring["apgd_iters"] is None
    assert harness.evaluation_attack(model, "fgsm", 8 / 255, "smoke").name == "fgsm"
    X, y = dataset_tensors(load_dataset("digits", "test", subset=20))
    X_adv = smoke(X, y)
    assert X_adv.shape == X.shape and (X_adv - X).abs().max() <= 8 / 255 + 1e-6
    assert X_adv.min() >= 0 and X_adv.max() <= 1


@pytest.mark.parametrize("sizes", [(100, 200), (200, 100), (None, 50), (60, None)])
def test_accuracy_and_rho_images_are_nested_stratified_subsets(sizes):
    import numpy as np

    targets = np.repeat(np.arange(10), 36)
    eval_idx, rho_idx = harness.nested_subsets(targets, sizes, seed=0)
    expected = [len(targets) if s is None else s for s in sizes]
    assert [len(eval_idx), len(rho_idx)] == expected
    small, large = sorted((eval_idx, rho_idx), key=len)
    assert set(small) <= set(large)
    assert np.bincount(targets[small]).min() == np.bincount(targets[small]).max()  # stratified: equal classes here


def test_rho_reuses_the_attacked_accuracy_images(monkeypatch):
    import torch

    from semirobust.models import build_model

    cfg = _config()
    evaluation = harness.Evaluation(cfg, cfg.resolved_profile, torch.device("cpu"), progress=False)
    torch.manual_seed(0)
    model = build_model("alexnet", "digits", width=0.125).eval()
    seen, attacked = [], []
    monkeypatch.setattr(harness, "layer_rhos",
                        lambda m, X, y, pairs, **kw: seen.append((X, y)) or pd.DataFrame({"rho": [0.0] * pairs}))
    real_attacked = evaluation.attacked
    monkeypatch.setattr(evaluation, "attacked", lambda m, X, y: attacked.append(len(X)) or real_attacked(m, X, y))
    accuracy, eval_adv = evaluation.attacked_accuracy(model)
    evaluation.rhos(model, eval_adv)
    evaluation.rhos(model)
    assert attacked == [TINY["eval_subset"], TINY["rho_samples"] - TINY["eval_subset"], TINY["rho_samples"]]

    def rows(X, y):  # the attacked rho images as a multiset (order differs between the two paths)
        return sorted(zip(y.tolist(), X.flatten(1).sum(1).round(decimals=4).tolist()))

    assert rows(*seen[0]) == rows(*seen[1])  # FGSM is deterministic: reuse gives the same images


# ---------------------------------------------------------------- issue 12: selection, seeds, cost

def test_best_epoch_takes_the_largest_and_the_earliest_on_ties():
    curve = [{"adv_acc": 40.0}, {"adv_acc": 55.0}, {"adv_acc": 55.0}, {"adv_acc": 50.0}]
    assert algorithm1.best_epoch(curve, "adv_acc") == 1
    with pytest.raises(ValueError, match="at least one epoch"):
        algorithm1.best_epoch([], "adv_acc")


def test_unbiased_acc_tilde_is_the_test_accuracy_of_the_validation_best_trial():
    trials = [{"acc": 60.0, "val_acc": 50.0, "test_at_val": 58.0, "epochs_run": 2, "rho": [0.1]},
              {"acc": 57.0, "val_acc": 55.0, "test_at_val": 56.0, "epochs_run": 3, "rho": [0.2]}]
    out = algorithm1.summarize_trials(trials, acc_star=65.0, k=1.0)
    assert out["acc_tilde"] == 60.0 and out["best_trial"] == 0
    assert out["acc_tilde_unbiased"] == 56.0 and out["best_val_trial"] == 1


@pytest.mark.parametrize("same", [True, False])
def test_final_autoattack_attacks_a_network_both_rules_picked_once(same, tmp_path, monkeypatch):
    from types import SimpleNamespace

    from semirobust.models import build_model, combine_fa_fb
    from semirobust.utils import config_hash

    cfg = _config()
    summary = configs.summary_config(cfg)
    models = ("regular-hash", "robust-hash")
    torch.manual_seed(0)
    regular, robust = (build_model("alexnet", "digits", width=0.125) for _ in range(2))
    trials = [{"acc": 60.0, "best_epoch": 2, "val_acc": 55.0, "val_best_epoch": 2 if same else 1,
               "test_at_val": 60.0 if same else 58.0, "epochs_run": 2, "rho": [0.1]},
              {"acc": 50.0, "best_epoch": 1, "val_acc": 40.0, "val_best_epoch": 1, "test_at_val": 50.0,
               "epochs_run": 2, "rho": [0.2]}]
    selected = algorithm1.summarize_trials(trials, acc_star=65.0, k=1.0)
    assert selected["same_selected_network"] is same
    directory = tmp_path / "cache" / "algorithm1" / config_hash(configs.trial_config(summary, 0, *models))
    directory.parent.mkdir(parents=True)
    for selection in ("test", "val"):
        torch.save(combine_fa_fb(robust, regular, cfg.fb_layers).state_dict(),
                   harness.best_checkpoint(directory, selection))
    attacked = []

    def fake_attack(model, evaluation, n_images):
        attacked.append(model)
        model(torch.rand(2, 3, 32, 32)).sum().backward()  # two gradient evaluations per attacked network
        return {"accuracy": 50.0, "apgd_ce_accuracy": 51.0, "images": n_images}, "AutoAttack (fake)"

    monkeypatch.setattr(scoring, "final_autoattack", fake_attack)
    cell = SeedCell(cfg, cfg.resolved_profile, ResultsStore(tmp_path / "results"),
                    SimpleNamespace(device="cpu"), regular, robust, regular, models, summary, tmp_path / "cache")
    runs = {"algorithm1": {"selected": selected, "hashes": ["trial-0", "trial-1"]}}
    out = scoring.final_autoattack_metrics(cell, runs)
    assert len(attacked) == (2 if same else 3)  # the robust network, then one or two selected networks
    assert out["acc_tilde_autoattack"] == out["acc_tilde_unbiased_autoattack"] == 50.0
    assert out["grad_evals"] == 2 * len(attacked)  # a record serving both rules is counted once


def test_aggregate_seeds_mean_and_t_interval():
    from scipy import stats

    per_seed = [{"acc_star": 50.0, "rho": [1.0, 2.0]}, {"acc_star": 54.0, "rho": [3.0, 4.0]},
                {"acc_star": 58.0, "rho": [5.0, 6.0]}]
    out = algorithm1.aggregate_seeds(per_seed, ("acc_star", "rho"))
    assert out["acc_star"] == pytest.approx(54.0)
    assert out["acc_star_ci"] == pytest.approx(stats.t.ppf(0.975, 2) * 4.0 / np.sqrt(3))
    assert out["rho"] == [3.0, 4.0]
    assert algorithm1.aggregate_seeds(per_seed[:1], ("acc_star",))["acc_star_ci"] is None


def test_grad_eval_counter_matches_a_hand_count():
    from semirobust.attacks import GradEvalCounter, make_attack

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 3))
    counter = GradEvalCounter()
    counter.attach(model)
    x, y = torch.rand(5, 3, 2, 2), torch.tensor([0, 1, 2, 0, 1])
    make_attack("pgd", model, 8 / 255, steps=3, alpha=2 / 255)(x, y)
    assert counter.count == 5 * 3  # 3 PGD steps on 5 images
    torch.nn.functional.cross_entropy(model(x[:4]), y[:4]).backward()
    assert counter.count == 15 + 4  # plus one training step on 4 images
    with torch.no_grad():
        model(x)
    assert counter.count == 19  # forward-only passes are not counted
    counter.detach()
    torch.nn.functional.cross_entropy(model(x), y).backward()
    assert counter.count == 19


def test_final_autoattack_images_are_a_stratified_subset_or_the_whole_test_split():
    cfg = _config()
    evaluation = harness.Evaluation(cfg, cfg.resolved_profile, torch.device("cpu"), progress=False)
    X, y = evaluation.final_images(20)
    assert len(y) == 20 and np.bincount(y.numpy(), minlength=10).max() == 2  # 2 per class of the 40 accuracy images
    eval_rows = {tuple(r) for r in evaluation.eval[0].flatten(1).tolist()}
    assert all(tuple(r) in eval_rows for r in X.flatten(1).tolist())
    X, y = evaluation.final_images(None)  # the paper's final evaluation: every test image of the run
    assert len(y) == TINY["test_subset"] and torch.equal(X, evaluation.clean[0])


def test_the_scoring_attack_is_never_weaker_than_apgd_ce_alone():
    """APGD-CE + APGD-DLR (worst case per image) leaves at most the images APGD-CE alone leaves, on a network where
    the margin loss finds more: a network whose logits are scaled up (CE's gradient vanishes, DLR's is scale-free)."""
    import torch

    from semirobust.attacks import adversarial_accuracy, make_attack
    from semirobust.data import dataset_tensors, load_dataset
    from semirobust.training import get_trained_model

    model, _ = get_trained_model("vgg16", "digits", mode="standard", profile="smoke", seed=0, progress=False)

    class Scaled(torch.nn.Module):  # the same decisions, saturated softmax: CE's input gradient underflows
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, x):
            return 1e4 * self.net(x)

    net = Scaled(model).eval()
    X, y = dataset_tensors(load_dataset("digits", "test", subset=64))
    ce = adversarial_accuracy(net, (X, y), make_attack("autoattack", net, 8 / 255, attacks=["apgd-ce"], apgd_iters=10),
                              progress=False)
    both = adversarial_accuracy(net, (X, y), make_attack("autoattack", net, 8 / 255, attacks=["apgd-ce", "apgd-dlr"],
                                                         apgd_iters=10), progress=False)
    assert both <= ce
    assert both < ce, f"DLR found nothing beyond CE ({both} vs {ce}): the test's network no longer shows the difference"


def test_a_trial_stops_at_the_first_epoch_within_k_on_validation_and_never_on_the_test_images(tmp_path, monkeypatch):
    """Acc* on validation reads 80; the trial's validation accuracy after each epoch reads 70, 79.5, 79.9, ...: with
    k = 1 it stops after epoch 2 of 4. The per-epoch test images read 95 after every epoch (within k from the first
    epoch on): a rule that looked at them would stop after epoch 1."""
    val_reads = iter([80.0, 70.0, 79.5, 79.9, 80.0])
    monkeypatch.setattr(harness.Evaluation, "val_accuracy", lambda self, model: next(val_reads))
    monkeypatch.setattr(harness.Evaluation, "adversarial_accuracy", lambda self, model: 95.0)
    record = algorithm1.run_algorithm1(_config(trials=1, epochs=4, k=1.0), results_dir=tmp_path / "r",
                                       cache_dir=tmp_path / "c", progress=False)
    trial = record["metrics"]["per_seed"][0]["trials"][0]
    assert trial["epochs_run"] == 2 and trial["stopped_early"]
    assert [round(e["val_acc"], 1) for e in trial["curve"]] == [70.0, 79.5]


def test_every_arm_of_a_cell_gets_the_same_trial_budget(tmp_path, monkeypatch):
    """A tiny cell with three arms whose validation accuracy never comes within k of Acc* (scripted): each arm's
    trials run all E epochs, T of them."""
    val_reads = iter([100.0])
    monkeypatch.setattr(harness.Evaluation, "val_accuracy", lambda self, model: next(val_reads, 0.0))
    profile = make_tiny_profile(arms=("algorithm1", "random_fa", "standard_fb"))
    record = algorithm1.run_algorithm1(_config(profile=profile, fb_layers=4, trials=1, epochs=2, k=1.0),
                                       results_dir=tmp_path / "r", cache_dir=tmp_path / "c", progress=False)
    arms = record["metrics"]["per_seed"][0]["arms"]
    assert set(arms) == {"algorithm1", "random_fa", "standard_fb"}
    for name, arm in arms.items():
        assert [t["epochs_run"] for t in arm["trials"]] == [2], name


def test_atta_carries_its_perturbations_from_one_trial_to_the_next(tmp_path, monkeypatch):
    """Issue 37: ATTA's store is kept across the trials of a seed (the second trial starts from the perturbations
    the first ended with), PGD's arms carry nothing, and the carried state is removed once the next trial used it."""
    monkeypatch.setattr(harness.Evaluation, "val_accuracy", lambda self, model: 0.0)
    profile = make_tiny_profile(arms=("algorithm1", "atta_fb"))
    record = algorithm1.run_algorithm1(_config(profile=profile, fb_layers=4, trials=2, epochs=1, k=1.0),
                                       results_dir=tmp_path / "r", cache_dir=tmp_path / "c", progress=False)
    arms = record["metrics"]["per_seed"][0]["arms"]
    assert [t["carried_method_state"] for t in arms["atta_fb"]["trials"]] == [False, True]
    assert [t["carried_method_state"] for t in arms["algorithm1"]["trials"]] == [False, False]
    assert not list((tmp_path / "c").rglob("method_state/*.pt"))
