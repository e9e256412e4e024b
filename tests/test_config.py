"""Run configuration, scale profiles and the small helpers in ``semirobust.utils``."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import random
import re
import warnings

import numpy as np
import pytest
import torch

from semirobust import config, utils
from semirobust.config import ARCHS, ATTACKS, DATASETS, PAPER_FB_LAYERS, RunConfig, get_profile

# The paper's numbers of trainable (Conv2d/Linear) layers (Section 3.2).
PAPER_LAYER_COUNTS = {"alexnet": 8, "vgg16": 16, "resnet50": 54}


# --- RunConfig ------------------------------------------------------------------------------

@pytest.mark.parametrize("arch", ARCHS)
def test_fb_layers_default_to_the_papers_split(arch):
    cfg = RunConfig(arch=arch)
    assert cfg.fb_layers == PAPER_FB_LAYERS[arch]


def test_paper_fb_layers_are_the_papers():
    assert PAPER_FB_LAYERS == {"alexnet": 4, "vgg16": 12, "resnet50": 16}


@pytest.mark.parametrize("arch", ARCHS)
def test_fb_layers_at_both_ends_are_valid(arch):
    assert RunConfig(arch=arch, fb_layers=1).fb_layers == 1
    total = PAPER_LAYER_COUNTS[arch]
    assert RunConfig(arch=arch, fb_layers=total).fb_layers == total


def test_defaults_validate_and_resolve_from_the_profile():
    cfg = RunConfig()
    profile = cfg.resolved_profile
    assert cfg.attack in ATTACKS and cfg.dataset in DATASETS
    assert cfg.resolved_trials == profile.trials
    assert cfg.resolved_epochs == profile.sub_epochs
    explicit = RunConfig(trials=7, epochs=3)
    assert (explicit.resolved_trials, explicit.resolved_epochs) == (7, 3)


@pytest.mark.parametrize(
    "field, value, valid",
    [("arch", "resnet18", ARCHS), ("dataset", "mnist", DATASETS),
     ("attack", "deepfool", ATTACKS), ("profile", "huge", ("smoke", "offline", "paper", "auto"))],
)
def test_unknown_choices_name_the_valid_ones(field, value, valid):
    with pytest.raises(ValueError) as info:
        RunConfig(**{field: value})
    message = str(info.value)
    assert repr(value) in message
    assert all(choice in message for choice in valid)


@pytest.mark.parametrize("eps", [0, 0.0, -8 / 255, float("nan"), "8/255", True])
def test_eps_must_be_positive(eps):
    with pytest.raises(ValueError, match="eps"):
        RunConfig(eps=eps)


@pytest.mark.parametrize("eps", [8, 1.5, float("inf")])
def test_eps_above_pixel_range_is_refused(eps):
    with pytest.raises(ValueError, match="pixel"):
        RunConfig(eps=eps, profile="smoke")


def test_eps_of_one_is_the_largest_allowed():
    assert RunConfig(eps=1.0, profile="smoke").eps == 1.0


@pytest.mark.parametrize("arch", ARCHS)
def test_fb_layers_outside_the_network_are_refused(arch):
    total = PAPER_LAYER_COUNTS[arch]
    for bad in (0, total + 1, -1, 2.0, True):
        with pytest.raises(ValueError, match=rf"1\.\.{total}"):
            RunConfig(arch=arch, fb_layers=bad)


@pytest.mark.parametrize("field", ["trials", "epochs"])
@pytest.mark.parametrize("value", [0, -3, 1.5, True])
def test_trials_and_epochs_must_be_at_least_one(field, value):
    with pytest.raises(ValueError, match=field):
        RunConfig(**{field: value})


def test_negative_k_and_seed_are_refused():
    with pytest.raises(ValueError, match="k="):
        RunConfig(k=-1)
    with pytest.raises(ValueError, match="seed"):
        RunConfig(seed=-1)


def test_cuda_device_without_cuda_is_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="CUDA"):
        RunConfig(device="cuda")
    with pytest.raises(ValueError, match="device"):
        RunConfig(device="tpu")


# --- profiles -------------------------------------------------------------------------------

@pytest.mark.parametrize("name", config.PROFILES)
def test_named_profiles(name):
    profile = get_profile(name)
    assert profile.name == name
    assert 0 < profile.width <= 1 and profile.epochs >= 1 and profile.trials >= 1
    assert profile.as_dict()["name"] == name


def test_profiles_grow_from_smoke_to_paper():
    smoke, cpu, paper = (get_profile(n) for n in ("smoke", "offline", "paper"))
    fashion, digits = cpu.for_run("vgg16", "fashion-mnist"), cpu.for_run("vgg16", "digits")
    assert smoke.train_subset < 1437 and digits.train_subset is None and paper.train_subset is None  # all of digits
    assert 1437 < fashion.train_subset < 60000  # a subset of Fashion-MNIST's training split
    assert smoke.width <= fashion.width < paper.width == 1.0 and smoke.width < digits.width
    assert smoke.epochs < cpu.epochs < paper.epochs


def test_offline_profile_powers_the_primary_cell():
    """The design's power and fairness (every arm on the same >= 1,000 test images, the paper's budget 8/255 on
    Fashion-MNIST; the paper's trial budget of up to 10 epochs for every arm, stopped on validation images only;
    scores by APGD-CE + APGD-DLR at the standard 100 iterations; the full AutoAttack on >= 200 images of every
    seed; at least three seeds, the number the cold build's time allows at that budget), and what a trained
    network's cache key depends on."""
    primary = get_profile("offline").for_run("vgg16", "fashion-mnist")
    assert len(primary.seeds) >= 3 and primary.test_scored >= 1000 and primary.eps255 == 8
    assert primary.sub_epochs == 10 and primary.val_subset >= 1000
    assert primary.score_attacks == ("apgd-ce", "apgd-dlr") and primary.score_apgd_iters in (None, 100)
    assert primary.final_autoattack_images >= 200 and primary.final_autoattack_seeds is None
    assert {"algorithm1", "random_fa", "regular_fa", "standard_fb", "full_finetune"} <= set(primary.arms)
    assert set(primary.pays_seeds) <= set(primary.seeds) and len(primary.pays_seeds) >= 3
    changed = dataclasses.replace(primary, s1_apgd_steps=7, pays_seeds=(0,), test_scored=500)
    assert changed.training_dict() == primary.training_dict()  # evaluation settings never retrain a network
    assert changed.algorithm1_dict() != primary.algorithm1_dict()  # but the scored images are Algorithm 1's
    assert dataclasses.replace(primary, pays_seeds=(0,)).algorithm1_dict() == primary.algorithm1_dict()


def test_paper_profile_follows_the_supplementary():
    # Supplementary III.A: SGD momentum 0.9, 120 epochs, lr 0.01 / 10 at 40 and 80, wd 5e-4, batch 512.
    paper = get_profile("paper")
    assert (paper.momentum, paper.epochs, paper.lr, paper.milestones, paper.weight_decay, paper.batch_size) == (
        0.9, 120, 0.01, (40, 80), 5e-4, 512)
    assert paper.test_subset is None and paper.rho_samples is None  # rho and the final AutoAttack: the whole test set
    assert paper.final_autoattack_images is None and paper.eval_subset == 1000  # per-epoch stopping: 1,000 images


def test_unknown_profile_lists_the_valid_ones():
    with pytest.raises(ValueError, match="smoke.*offline.*paper.*auto"):
        get_profile("medium")


def test_auto_profile_warns_and_picks_smoke_without_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.warns(UserWarning, match="smoke"):
        assert get_profile("auto").name == "smoke"
    with pytest.warns(UserWarning, match="smoke"):
        assert get_profile("auto", device="cpu").name == "smoke"


def test_auto_profile_picks_paper_on_a_cuda_device():
    with pytest.warns(UserWarning, match="paper"):
        assert get_profile("auto", device="cuda").name == "paper"


def test_named_profile_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        get_profile("smoke")


# --- utils: atomic writes -------------------------------------------------------------------

def test_atomic_write_text_writes_and_leaves_no_temp_file(tmp_path):
    target = tmp_path / "sub" / "record.json"
    utils.atomic_write_text(target, "first")
    utils.atomic_write_text(target, "second")
    assert target.read_text() == "second"
    assert os.listdir(target.parent) == ["record.json"]


def test_failed_atomic_write_keeps_old_content_and_no_temp_file(tmp_path, monkeypatch):
    target = tmp_path / "record.json"
    utils.atomic_write_text(target, "old")

    def broken_replace(src, dst):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="simulated"):
        utils.atomic_write_text(target, "new")
    with pytest.raises(OSError, match="simulated"):
        utils.atomic_torch_save({"w": torch.ones(3)}, target)
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["record.json"]


def test_failed_first_atomic_write_creates_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "replace", lambda src, dst: (_ for _ in ()).throw(OSError("simulated")))
    with pytest.raises(OSError):
        utils.atomic_write_bytes(tmp_path / "new.bin", b"\x00\x01")
    assert os.listdir(tmp_path) == []


def test_atomic_torch_save_round_trips(tmp_path):
    state = {"w": torch.arange(6.0).view(2, 3), "step": 4}
    path = utils.atomic_torch_save(state, tmp_path / "ckpt.pt")
    loaded = torch.load(path)
    assert torch.equal(loaded["w"], state["w"]) and loaded["step"] == 4
    assert os.listdir(tmp_path) == ["ckpt.pt"]


# --- utils: hashing, seeding, devices, folders ----------------------------------------------

def test_config_hash_is_sha256_of_canonical_json_and_ignores_key_order():
    a = {"arch": "vgg16", "eps": 8 / 255, "nested": {"x": 1, "y": [1, 2]}}
    b = {"nested": {"y": [1, 2], "x": 1}, "eps": 8 / 255, "arch": "vgg16"}
    digest = utils.config_hash(a)
    canonical = json.dumps(a, sort_keys=True, separators=(",", ":"))
    assert digest == hashlib.sha256(canonical.encode()).hexdigest()[:16]
    assert digest == utils.config_hash(b)
    assert re.fullmatch(r"[0-9a-f]{16}", digest)
    assert utils.config_hash({**a, "eps": 16 / 255}) != digest
    assert utils.config_hash({**a, "nested": {"x": 1, "y": [2, 1]}}) != digest


def test_config_hash_of_a_run_config_is_stable():
    assert utils.config_hash(RunConfig().as_dict()) == utils.config_hash(RunConfig().as_dict())


def test_seed_everything_repeats_all_generators():
    def draw():
        return random.random(), float(np.random.rand()), torch.rand(3)

    utils.seed_everything(123)
    first = draw()
    utils.seed_everything(123)
    second = draw()
    utils.seed_everything(124)
    other = draw()
    assert first[:2] == second[:2] and torch.equal(first[2], second[2])
    assert first[:2] != other[:2] and not torch.equal(first[2], other[2])


def test_resolve_device(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert utils.resolve_device("auto") == torch.device("cpu")
    assert utils.resolve_device(None) == torch.device("cpu")
    assert utils.resolve_device(torch.device("cpu")) == torch.device("cpu")
    with pytest.raises(ValueError, match="CUDA"):
        utils.resolve_device("cuda")


def test_default_folders_follow_the_environment(semirobust_cache, semirobust_results, monkeypatch, tmp_path):
    assert utils.default_cache_dir() == semirobust_cache
    assert utils.default_results_dir() == semirobust_results
    monkeypatch.setenv("SEMIROBUST_DATA", str(tmp_path))
    assert utils.default_data_root() == tmp_path
    monkeypatch.delenv("SEMIROBUST_CACHE")
    monkeypatch.delenv("SEMIROBUST_RESULTS")
    assert utils.default_cache_dir() == utils.REPO_ROOT / ".cache" / "semirobust"
    assert utils.default_results_dir() == utils.REPO_ROOT / "results"



def test_offline_profile_budget_and_interval_errors():
    from semirobust.config import check_budget
    from semirobust.inference import mean_interval

    assert get_profile("offline").name == "offline" and get_profile("cpu").name == "offline"
    assert check_budget(16 / 255) == 16
    with pytest.raises(ValueError, match="not one of the paper's budgets"):
        check_budget(4 / 255)
    with pytest.raises(ValueError, match="not one of the paper's budgets"):
        RunConfig(profile="offline", eps=10 / 255)
    with pytest.raises(ValueError, match="at least 2 seeds"):
        mean_interval([71.0])
    assert len(get_profile("offline").seeds) >= 3
    assert RunConfig(profile="offline").eps == pytest.approx(get_profile("offline").eps255 / 255)


def test_run_config_is_validated_at_construction_and_frozen():
    import dataclasses

    with pytest.raises(ValueError, match="fb_layers"):
        RunConfig(arch="alexnet", fb_layers=9)  # construction checks
    cfg = RunConfig(arch="alexnet", profile="smoke")
    assert (cfg.fb_layers, cfg.eps, cfg.k) == (4, get_profile("smoke").eps255 / 255, get_profile("smoke").k)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.seed = 3
    assert dataclasses.replace(cfg, seed=3).seed == 3 and cfg.seed == 0
    with pytest.raises(ValueError, match="seed"):
        dataclasses.replace(cfg, seed=-1)  # a replaced config is validated again
    assert not hasattr(cfg, "validate")  # nothing left to ask for: construction validated it


def test_run_config_takes_a_profile_object():
    import dataclasses

    custom = dataclasses.replace(get_profile("smoke"), eps255=16, k=2.0)
    cfg = RunConfig(profile=custom)
    assert cfg.resolved_profile == custom and cfg.eps == 16 / 255 and cfg.k == 2.0
    assert get_profile(custom) is custom


# --- one record per architecture and data set, shared validators -------------------------------

def test_architecture_and_data_set_records_hold_every_fact_once():
    from semirobust import models

    assert config.ARCHS == tuple(config.ARCH_SPECS) and config.DATASETS == tuple(config.DATASET_SPECS)
    for arch, spec in config.ARCH_SPECS.items():
        assert (config.MODEL_NAMES[arch], config.LAYER_COUNTS[arch], PAPER_FB_LAYERS[arch]) == (
            spec.display_name, spec.layers, spec.paper_fb_layers)
        assert spec.layers == PAPER_LAYER_COUNTS[arch] and callable(getattr(models, spec.builder))
    for name, spec in config.DATASET_SPECS.items():
        assert config.DATASET_NAMES[name] == spec.display_name
        assert config.DATASET_SIZES[name] == (spec.train_size, spec.test_size)
    with pytest.raises(TypeError):
        config.PAPER_FB_LAYERS["alexnet"] = 5  # the views are read-only: the facts live in the records


def test_check_int_and_check_eps_are_the_shared_validators():
    assert config.check_int("n", 3) == 3 and config.check_int("n", None, allow_none=True) is None
    for bad in (0, 2.0, True, "3"):
        with pytest.raises(ValueError, match=r"n=.* must be an integer >= 1"):
            config.check_int("n", bad)
    with pytest.raises(ValueError, match=r"fb_layers=9 must be an integer in 1\.\.8: the reason"):
        config.check_int("fb_layers", 9, high=8, why=": the reason")
    assert config.check_eps(8 / 255) == pytest.approx(8 / 255) and config.check_eps(0, allow_zero=True) == 0.0
    with pytest.raises(ValueError, match=r"must be a number in \(0, 1\]"):
        config.check_eps(0)
    for bad, message in ((-1 / 255, ">= 0"), (float("nan"), "number"), (True, "number"), (8, "did you mean 8/255")):
        with pytest.raises(ValueError, match=message):
            config.check_eps(bad, allow_zero=True)


def test_parse_eps_and_parse_list_live_in_config():
    assert config.parse_eps("16/255") == pytest.approx(16 / 255) and config.parse_eps(None) is None
    with pytest.raises(ValueError, match="fraction"):
        config.parse_eps("1/0")
    assert config.parse_list(" alexnet, vgg16 ,", "models") == ["alexnet", "vgg16"]
    assert config.parse_list("4,8", "fb_sizes", int) == [4, 8] and config.parse_list([1, 2], "seeds", int) == [1, 2]
    with pytest.raises(ValueError, match="every entry must be a int"):
        config.parse_list("4,x", "fb_sizes", int)
