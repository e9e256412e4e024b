"""Caches keyed on the code they depend on: a changed network definition is never served from cache."""
from __future__ import annotations

import dataclasses
import json
import os
import pickle
import shutil
import subprocess
import sys
import textwrap

import pytest

from semirobust import fingerprints, training
from semirobust.utils import REPO_ROOT, source_fingerprint

#: trains once with the pickled profile of argv[2] (a semirobust.config.Profile) and caches in argv[1]
TRAIN_ONCE = textwrap.dedent("""
    import json, pickle, sys
    import torch
    torch.set_num_threads(1)
    from semirobust.training import get_trained_model
    with open(sys.argv[2], "rb") as handle:
        profile = pickle.load(handle)
    model, info = get_trained_model("vgg16", "digits", profile=profile, device="cpu", cache_dir=sys.argv[1],
                                    progress=False)
    import semirobust
    print(json.dumps({"from_cache": info["from_cache"], "hash": info["config_hash"], "package": semirobust.__file__}))
""")


def test_fingerprint_ignores_comments_and_follows_code(tmp_path, monkeypatch):
    package = tmp_path / "fpkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    module = package / "mod.py"
    module.write_text("def f(x):\n    return x + 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    first = source_fingerprint("fpkg.mod")
    module.write_text("# a comment\ndef f(x):\n\n    return x + 1  # same code\n")
    assert source_fingerprint("fpkg.mod") == first
    module.write_text("def f(x):\n    return x + 2\n")
    assert source_fingerprint("fpkg.mod") != first
    with pytest.raises(ValueError, match="not found"):
        source_fingerprint("fpkg.missing")


@pytest.mark.slow
def test_changed_models_py_is_not_served_from_cache(tmp_path, tiny_profile):
    """Train in a copy of the package, change models.py there, and show that the cache misses."""
    profile = tmp_path / "profile.pkl"
    profile.write_bytes(pickle.dumps(dataclasses.replace(tiny_profile, width=0.0625, batch_size=20)))
    copy = tmp_path / "src"
    shutil.copytree(REPO_ROOT / "semirobust", copy / "semirobust", ignore=shutil.ignore_patterns("__pycache__"))
    cache = tmp_path / "cache"
    env = {**os.environ, "PYTHONPATH": str(copy), "OMP_NUM_THREADS": "1"}

    def run() -> dict:
        out = subprocess.run([sys.executable, "-c", TRAIN_ONCE, str(cache), str(profile)], env=env, cwd=tmp_path,
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr[-3000:]
        return json.loads(out.stdout.strip().splitlines()[-1])

    first = run()
    assert first["package"].startswith(str(copy)), "the subprocess must import the copied package"
    assert not first["from_cache"]
    assert run() == {**first, "from_cache": True}, "an unchanged package must reuse the cached network"
    models = copy / "semirobust" / "models.py"
    models.write_text(models.read_text() + "\n\ndef _changed_definition():\n    return 1\n")
    changed = run()
    assert not changed["from_cache"] and changed["hash"] != first["hash"]


def test_listed_equivalent_code_keeps_the_earlier_fingerprint(monkeypatch):
    """Code listed in EQUIVALENT_FINGERPRINTS is keyed under the earlier fingerprint it reproduces; any other
    fingerprint is its own (a changed network definition still misses the cache)."""
    monkeypatch.setitem(fingerprints.EQUIVALENT_FINGERPRINTS, "0123456789abcdef", "fedcba9876543210")
    assert fingerprints.canonical_fingerprint("0123456789abcdef") == "fedcba9876543210"
    assert fingerprints.canonical_fingerprint("1111111111111111") == "1111111111111111"
    computed = source_fingerprint(*training.TRAINING_MODULES)
    monkeypatch.setitem(fingerprints.EQUIVALENT_FINGERPRINTS, computed, "an earlier one")
    assert training.training_code_fingerprint("standard") == "an earlier one"
    monkeypatch.delitem(fingerprints.EQUIVALENT_FINGERPRINTS, computed)
    assert training.training_code_fingerprint("standard") == computed


def test_the_fingerprint_module_is_not_fingerprinted():
    """A new equivalence entry must not change the fingerprint it names."""
    assert "semirobust.fingerprints" not in training.TRAINING_MODULES
