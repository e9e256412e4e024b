"""Bad inputs a new user tries, one line each: the call (or the command), the error it must raise BEFORE any
compute, and that nothing was written (issue 33).

Each case is ``(id, call, message regex)``; ``call(tmp)`` gets a fresh temporary folder, in which the results
and output folders (``results``, ``out``) and the default stores must hold no file afterwards; Algorithm 1's
seed runner is replaced by one that fails the test, so a case that gets as far as computing fails. Commands run
in a subprocess, as a user runs them (exit status 2). The next bad input is one more row.
"""
from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import semirobust.experiments.table1.algorithm1 as algorithm1
from semirobust import mi
from semirobust.attacks import make_attack
from semirobust.config import RunConfig, get_profile, parse_list
from semirobust.experiments.supplementary import efficiency
from semirobust.models import build_model
from semirobust.results import ResultsStore
from semirobust.training import get_trained_model, train
from semirobust.utils import check_images, check_output_dir

ROOT = Path(__file__).resolve().parent.parent
SMOKE = dict(arch="alexnet", dataset="digits", profile="smoke", device="cpu")


def files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def command(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """``semirobust ARGS`` from this checkout, as a user runs it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "semirobust.pipeline.cli", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=300)


def raise_command_error(result: subprocess.CompletedProcess) -> None:
    """A command's exit status 2 (bad input, nothing run) as a ValueError with its error text."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    raise ValueError(result.stderr)


# --------------------------------------------------------------------------- the cases

def config(**changes):
    def call(tmp):
        RunConfig(**{**SMOKE, **changes})
    return call


def run_algorithm1_at(results, cache):
    """run_algorithm1 on a smoke config with these output folders."""
    def call(tmp):
        results_dir, cache_dir = results(tmp), cache(tmp)
        algorithm1.run_algorithm1(RunConfig(**SMOKE), results_dir=results_dir, cache_dir=cache_dir, progress=False)
    return call


def a_file(tmp):
    (tmp / "results").mkdir(exist_ok=True)
    path = tmp / "not_a_folder"
    path.write_text("a file")
    return path


def unwritable(tmp):
    folder = tmp / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    if os.access(folder, os.W_OK):  # root ignores the mode bits: a path under a file cannot be made either
        return a_file(tmp) / "sub"
    return folder


def attack_with_eps(eps):
    def call(tmp):
        make_attack("pgd", build_model("alexnet", "digits", width=0.125), eps)
    return call


def attack_on_images(scale: float):
    """An 8/255 PGD attack called on images of a scale other than [0, 1]: refused before the attack runs."""
    def call(tmp):
        attack = make_attack("pgd", build_model("alexnet", "digits", width=0.125), 8 / 255)
        attack(torch.rand(2, 3, 32, 32) * scale, torch.zeros(2, dtype=torch.long))
    return call


def grid_dry_run(parameters: str):
    def call(tmp):
        (tmp / "g.yaml").write_text(f"notebook: {ROOT / 'notebooks' / 'table1.ipynb'}\nparameters: {parameters}\n")
        raise_command_error(command("sweep", "g.yaml", "--dry-run", "--out", "out", "--results", "results", cwd=tmp))
    return call


def stores_with_versions(tmp, old: str, new: str):
    """A destination store holding a table1 record of code version ``new`` and a source store with the same
    run computed by version ``old``."""
    cell = {"arch": "vgg16", "dataset": "digits", "seed": 0, "profile_hash": "p1"}
    ResultsStore(tmp / "local").write("table1", {**cell, "version": new}, {"acc": 50.0}, profile="offline", seed=0,
                                      device="cpu", wall_time_s=1.0)
    ResultsStore(tmp / "cluster").write("table1", {**cell, "version": old}, {"acc": 40.0}, profile="offline", seed=0,
                                        device="cpu", wall_time_s=1.0)


def merge_older_version(tmp):
    stores_with_versions(tmp, old="3", new="4")
    raise_command_error(command("merge-results", "cluster", "--into", "local", cwd=tmp))


def edge_labels_nan(tmp):
    x, y = mi.gaussian_pair(400, 0.5, dim=2, seed=0)
    labels = np.repeat([0.0, 1.0], 200)
    labels[3] = np.nan
    mi.class_conditional_mi(x, y, labels)


def efficiency_shape(tmp):
    report = {"cases": [{"shape": "cifar10", "arch": "vgg16", "ratios": [], "measurements": [], "analytic": {}}]}
    efficiency.summary(report, "mnist", "vgg16", 12)


def train_mode(mode):
    def call(tmp):
        train(build_model("alexnet", "digits", width=0.125), None, profile=get_profile("smoke"), mode=mode)
    return call


def cached_network_mode(mode):
    def call(tmp):
        get_trained_model("alexnet", "digits", mode=mode, profile="smoke", cache_dir=tmp / "out")
    return call


def run_arms(arms):
    def call(tmp):
        algorithm1.run_arms(RunConfig(**SMOKE), arms, results_dir=tmp / "results", cache_dir=tmp / "out")
    return call


def smoke_profile(**changes):
    def call(tmp):
        RunConfig(**{**SMOKE, "profile": dataclasses.replace(get_profile("smoke"), **changes)})
    return call


MODES_TEXT = r"valid training modes: standard, adversarial, fgsm_rs, trades, atta\.$"
ARMS_TEXT = r"valid arms: algorithm1, random_fa, regular_fa, standard_fb, full_finetune, fast_fa, atta_fb, trades_fb\.$"

CASES = [
    ("k nan", config(k=float("nan")), r"k=nan must be a finite non-negative number"),
    ("k inf", config(k=float("inf")), r"k=inf must be a finite non-negative number"),
    ("seed 2**70", config(seed=2**70), r"seed=\d+ must be an integer in 0\.\.4294967295"),
    ("seed -1", config(seed=-1), r"seed=-1 must be an integer in 0\.\.4294967295"),
    ("eps 300/255", config(eps=300 / 255), r"larger than the pixel range \[0, 1\]: eps must be at most 1, i\.e\. "
                                           r"255/255\.$"),
    ("eps -1", config(eps=-1), r"eps=-1 must be a number in \(0, 1\]"),
    ("misspelt model vgg61", config(arch="vgg61"), r"Unknown model 'vgg61'; valid models: alexnet, vgg16, resnet50"),
    ("alexnet fb 17", config(fb_layers=17), r"fb_layers=17 must be an integer in 1\.\.8: alexnet has 8"),
    ("duplicate datasets", lambda tmp: parse_list("digits,fashion-mnist,digits", "datasets"),
     r"datasets='digits,fashion-mnist,digits' lists digits more than once"),
    ("results_dir is a file", run_algorithm1_at(a_file, lambda tmp: tmp / "cache"),
     r"results_dir='.*not_a_folder' is a file, not a folder"),
    ("results_dir not writable", run_algorithm1_at(unwritable, lambda tmp: tmp / "cache"),
     r"results_dir='.*(locked|sub)' (is not writable|cannot be created)"),
    ("cache_dir is a file", run_algorithm1_at(lambda tmp: tmp / "results", a_file),
     r"cache_dir='.*not_a_folder' is a file, not a folder"),
    ("images in [0, 5]", lambda tmp: check_images(torch.rand(2, 3, 32, 32) * 5),
     r"x holds values in \[.*\]; images must be in \[0, 1\]"),
    ("attack on images in [0, 5]", attack_on_images(5.0), r"images holds values in \[.*\]; images must be in \[0, 1\]"),
    ("attack on images in [0, 255]", attack_on_images(255.0), r"images holds values in \[.*\]; images must be in \[0, 1\]"),
    ("attack eps in 1/255 units", attack_with_eps(8), r"eps=8 is larger .* did you mean 8/255\?"),
    ("grid alexnet fb 17 (dry run)", grid_dry_run("{model: alexnet, fb_layers: 17, dataset: digits, profile: smoke}"),
     r"the cell model=alexnet, fb_layers=17.* cannot run: fb_layers=17 must be an integer in 1\.\.8: alexnet has 8 trainable layers"),
    ("grid misspelt model", grid_dry_run("{model: vgg61, dataset: digits, profile: smoke}"), r"unknown model 'vgg61'"),
    ("merge-results older version", merge_older_version,
     r"nothing was merged[\s\S]*table1/\w+ against table1/\w+ \(version: '3' here, '4' in the store\)"),
    ("EDGE with NaN labels", edge_labels_nan, r"labels holds 1 NaN or infinite value\(s\) of 400"),
    ("EDGE with values of 1e300", lambda tmp: mi.edge_mi(np.full((300, 2), 1e300) * np.random.default_rng(0).random(
        (300, 2)), np.random.default_rng(1).random((300, 2))), r"X holds values up to 1e\+300 .* too large"),
    ("efficiency unknown shape", efficiency_shape, r"No measured case shape='mnist', arch='vgg16'.*cifar10/vgg16"),
    ("train mode pgd", train_mode("pgd"), r"Unknown training mode 'pgd'; " + MODES_TEXT),
    ("cached network mode PGD", cached_network_mode("PGD"), r"Unknown training mode 'PGD'; " + MODES_TEXT),
    ("profile arm random-fa", smoke_profile(arms=("algorithm1", "random-fa")), r"Unknown arm 'random-fa'; " + ARMS_TEXT),
    ("profile Table S5 method pgd", smoke_profile(table_s5_methods=("adversarial", "pgd")),
     r"Unknown training mode 'pgd'; " + MODES_TEXT),
    ("run_arms arm atta", run_arms("fast_fa,atta"), r"Unknown arm 'atta'; " + ARMS_TEXT),
]


@pytest.mark.parametrize("name, call, message", CASES, ids=[c[0] for c in CASES])
def test_bad_input_fails_before_compute_and_writes_nothing(name, call, message, tmp_path, monkeypatch):
    def no_compute(*args, **kwargs):
        raise AssertionError("the run got as far as computing a seed")

    monkeypatch.setattr(algorithm1, "_run_seed", no_compute)
    monkeypatch.setenv("SEMIROBUST_RESULTS", str(tmp_path / "default_results"))
    monkeypatch.setenv("SEMIROBUST_CACHE", str(tmp_path / "default_cache"))
    with pytest.raises(ValueError, match=message):
        call(tmp_path)
    for folder in (tmp_path / "results", tmp_path / "out", tmp_path / "default_results", tmp_path / "default_cache"):
        assert files_under(folder) == [], folder
    if name == "merge-results older version":
        assert len(files_under(tmp_path / "local")) == 1  # the store's own record, nothing added


def test_merge_results_keeps_both_with_the_flag(tmp_path):
    stores_with_versions(tmp_path, old="3", new="4")
    result = command("merge-results", "cluster", "--into", "local", "--keep-both", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "1 added" in result.stdout and "1 kept beside a run of other code" in result.stdout
    versions = sorted(r["config"]["version"] for r in ResultsStore(tmp_path / "local").records("table1"))
    assert versions == ["3", "4"]


def test_merge_results_refuses_another_profile_hash(tmp_path):
    from semirobust.results import merge_results

    cell = {"arch": "vgg16", "version": "4"}
    ResultsStore(tmp_path / "a").write("table1", {**cell, "profile_hash": "p1"}, {}, profile="offline", seed=0,
                                       device="cpu", wall_time_s=1.0)
    ResultsStore(tmp_path / "b").write("table1", {**cell, "profile_hash": "p2"}, {}, profile="offline", seed=0,
                                       device="cpu", wall_time_s=1.0)
    with pytest.raises(ValueError, match=r"profile_hash: 'p2' here, 'p1' in the store"):
        merge_results(tmp_path / "b", tmp_path / "a")
    assert merge_results(tmp_path / "b", tmp_path / "a", keep_both=True)["added"] == 1


def test_attack_checks_its_images():
    """The range check every attack runs first accepts images in [0, 1] and refuses the rest."""
    check_images(torch.rand(2, 3, 8, 8))
    check_images(torch.zeros(0, 3, 8, 8))
    for bad in (torch.rand(2, 3, 8, 8) * 255, torch.rand(2, 3, 8, 8) - 0.5, torch.full((1, 3, 8, 8), float("nan"))):
        with pytest.raises(ValueError, match=r"images must be in \[0, 1\]"):
            check_images(bad)


def test_check_output_dir_creates_and_probes(tmp_path):
    folder = check_output_dir(tmp_path / "new" / "results", "results_dir")
    assert folder.is_dir() and list(folder.iterdir()) == []  # created; the probe file is gone
