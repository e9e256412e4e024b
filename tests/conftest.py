"""Shared pytest set-up, kept minimal.

* Torch threads: one intra-op thread unless ``OMP_NUM_THREADS`` says otherwise. The tests run
  tiny networks, where extra threads mostly add overhead, and every test's time budget was
  measured with one thread; on a busy 2-core machine two threads made tests/test_models.py
  2-3x slower (28 s vs 52-92 s).
* ``semirobust_cache`` / ``semirobust_results``: opt-in fixtures that point the environment
  variables ``SEMIROBUST_CACHE`` / ``SEMIROBUST_RESULTS`` at temporary folders shared by the
  whole test session (so a checkpoint trained by one test can be reused by the next), and
  restore them after each test. Tests that ask for neither still never write into the checkout's stores:
  an autouse fixture points both variables at the same session folders when they are unset.
  A test that needs an empty results folder of its own should use ``tmp_path`` with
  ``monkeypatch.setenv`` instead.
* ``tiny_profile``: the smoke profile cut to the smallest run that still exercises every step of
  Algorithm 1 in seconds; a test that needs other sizes varies it with ``dataclasses.replace``.
* ``small_model``: ``small_model(arch="vgg16", dataset="digits", width=0.125, seed=0)`` builds a
  package network after ``seed_everything(seed)``, so the same call gives the same weights.
* ``tiny_convnet``: ``tiny_convnet(seed=0, classes=3)``, a hand-written 4-layer network (conv, conv,
  BatchNorm, linear, linear) behind a ``Normalize``, for 3x8x8 images: the package's structure at a
  size where exact computations (Hessians, many attack steps) are cheap.
* The ``slow`` marker (pyproject.toml) is on every test that trains a package network, executes
  notebooks, builds the book or resolves a fresh install: ``pytest -m "not slow"`` is the fast loop.
"""
from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from tiny import make_tiny_profile
from torch import nn

from semirobust.config import Profile
from semirobust.models import Normalize, build_model
from semirobust.utils import seed_everything

if "OMP_NUM_THREADS" not in os.environ:
    torch.set_num_threads(1)

#: the suite's longest file (the smoke book build and nbval, ~11 minutes alone)
LONGEST_FILE = "test_book_smoke.py"


def pytest_collection_modifyitems(config, items):
    """Collect the longest file first. Under ``make test`` (``-n 2 --dist loadfile``) xdist hands out files in
    collection order, so the first file starts at once on one worker while the other takes the rest; collected in
    alphabetical order it started last, after one worker had run about half the suite (CI 24 minutes instead of
    the longest file's 11 beside the rest). The sort is stable: every other test keeps its order."""
    items.sort(key=lambda item: Path(str(item.fspath)).name != LONGEST_FILE)


@pytest.fixture(scope="session")
def _session_cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("semirobust_cache")


@pytest.fixture(scope="session")
def _session_results_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("semirobust_results")


@pytest.fixture(autouse=True)
def _never_the_checkouts_stores(_session_cache_dir, _session_results_dir, monkeypatch):
    """No test writes into the checkout's ``results/`` or ``.cache/semirobust/`` (a book build may be using
    them): where a test sets neither variable, both point at the session's temporary folders."""
    for name, folder in (("SEMIROBUST_CACHE", _session_cache_dir), ("SEMIROBUST_RESULTS", _session_results_dir)):
        if name not in os.environ:
            monkeypatch.setenv(name, str(folder))


@pytest.fixture
def semirobust_cache(_session_cache_dir, monkeypatch) -> Path:
    """``SEMIROBUST_CACHE`` set to a session-wide temporary folder for this test."""
    monkeypatch.setenv("SEMIROBUST_CACHE", str(_session_cache_dir))
    return _session_cache_dir


@pytest.fixture
def semirobust_results(_session_results_dir, monkeypatch) -> Path:
    """``SEMIROBUST_RESULTS`` set to a session-wide temporary folder for this test."""
    monkeypatch.setenv("SEMIROBUST_RESULTS", str(_session_results_dir))
    return _session_results_dir

@pytest.fixture(scope="session")
def tiny_profile() -> Profile:
    """The smoke profile with ``tiny.TINY``'s sizes (a frozen Profile: vary it with ``dataclasses.replace``)."""
    return make_tiny_profile()


@pytest.fixture(scope="session")
def small_model():
    """Factory of seeded package networks: ``small_model(arch="vgg16", dataset="digits", width=0.125, seed=0)``."""
    def build(arch: str = "vgg16", dataset: str = "digits", width: float = 0.125, seed: int = 0, **kwargs) -> nn.Module:
        seed_everything(seed)
        return build_model(arch, dataset, width=width, **kwargs)
    return build


@pytest.fixture(scope="session")
def tiny_convnet():
    """Factory of a 4-trainable-layer network behind a normalization, in eval mode: ``tiny_convnet(seed=0, classes=3)``."""
    def build(seed: int = 0, classes: int = 3) -> nn.Module:
        torch.manual_seed(seed)
        net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 5, 3, padding=1), nn.BatchNorm2d(5),
                            nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(5, 6), nn.ReLU(),
                            nn.Linear(6, classes))
        model = nn.Sequential(OrderedDict(normalize=Normalize((0.5, 0.5, 0.5), (0.25, 0.25, 0.25)), net=net))
        with torch.no_grad():  # running statistics that are not the identity, so eval mode matters
            net[3].running_mean.uniform_(-0.1, 0.1)
            net[3].running_var.uniform_(0.5, 1.5)
        return model.eval()
    return build


# The fixture notebooks are inputs of the sweep tests (one raises on purpose, one sleeps), not
# notebooks of the project: pytest must not collect them.
collect_ignore_glob = ["fixtures/*.ipynb"]
