"""Shared pytest set-up, kept minimal.

* Torch threads: one intra-op thread unless ``OMP_NUM_THREADS`` says otherwise. The tests run
  tiny networks, where extra threads mostly add overhead, and every test's time budget was
  measured with one thread; on a busy 2-core machine two threads made tests/test_models.py
  2-3x slower (28 s vs 52-92 s).
* ``semirobust_cache`` / ``semirobust_results``: opt-in fixtures that point the environment
  variables ``SEMIROBUST_CACHE`` / ``SEMIROBUST_RESULTS`` at temporary folders shared by the
  whole test session (so a checkpoint trained by one test can be reused by the next), and
  restore them after each test. Tests that do not ask for them see the environment unchanged.
  A test that needs an empty results folder of its own should use ``tmp_path`` with
  ``monkeypatch.setenv`` instead.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

if "OMP_NUM_THREADS" not in os.environ:
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def _session_cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("semirobust_cache")


@pytest.fixture(scope="session")
def _session_results_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("semirobust_results")


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

# The fixture notebooks are inputs of the sweep tests (one raises on purpose, one sleeps), not
# notebooks of the project: pytest must not collect them.
collect_ignore_glob = ["fixtures/*.ipynb"]
