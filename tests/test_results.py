"""Results store: atomic records with provenance, read back, filters, DataFrame, merge."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from semirobust.results import ResultsStore, merge_results, record_hash
from semirobust.utils import config_hash

META = dict(profile="smoke", seed=0, device="cpu", wall_time_s=1.5)


def _write(store, arch="vgg16", dataset="digits", acc=50.0, kind="table1", **meta):
    return store.write(kind, {"arch": arch, "dataset": dataset, "fb_layers": 4}, {"acc": acc, "rho": [1.0, 2.0]},
                       **{**META, **meta})


def _set_created_at(store, record, when):
    """Edit a record's created_at on disk (to build merge conflicts with a known order)."""
    path = store.root / record["kind"] / f"{record['config_hash']}.json"
    data = json.loads(path.read_text())
    data["created_at"] = when
    path.write_text(json.dumps(data))
    return data


def test_write_read_back_with_provenance(tmp_path):
    store = ResultsStore(tmp_path)
    config = {"arch": "vgg16", "eps": np.float64(8 / 255), "fb_layers": np.int64(12)}
    record = store.write("table1", config, {"acc": np.float32(0.5), "rho": np.arange(3)}, profile="smoke", seed=3,
                         device="cpu", wall_time_s=2.0, extra={"note": "x"})
    path = tmp_path / "table1" / f"{record['config_hash']}.json"
    assert path.is_file()
    assert json.loads(path.read_text()) == record
    assert record["config_hash"] == config_hash({"kind": "table1", "config": {"arch": "vgg16", "eps": 8 / 255, "fb_layers": 12}})
    assert record["metrics"] == {"acc": 0.5, "rho": [0, 1, 2]}
    assert record["status"] == "finished" and record["seed"] == 3 and record["extra"] == {"note": "x"}
    assert record["device"].startswith("cpu")
    assert set(record["versions"]) >= {"python", "torch", "torchvision", "torchattacks", "pyautoattack", "numpy", "semirobust"}
    assert record["git_commit"] and record["created_at"].endswith("+00:00")
    # key order and numpy types do not change which record a config names
    assert store.read("table1", {"fb_layers": 12, "eps": 8 / 255, "arch": "vgg16"}) == record
    assert store.read("table1", {"arch": "alexnet"}) is None


def test_rerun_replaces_only_on_success_and_leaves_no_temp_files(tmp_path, monkeypatch):
    store = ResultsStore(tmp_path)
    first = _write(store, acc=10.0)
    path = store.path("table1", first["config"])
    before = path.read_text()
    with pytest.raises(ValueError, match="cannot be stored"):
        store.write("table1", first["config"], {"acc": object()}, **META)
    # a crash at the moment of the rename (disk full, kill) keeps the previous record whole
    def crash(*args):
        raise OSError("simulated crash")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        _write(store, acc=99.0)
    monkeypatch.undo()
    assert path.read_text() == before
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temporary file left behind
    second = _write(store, acc=20.0)
    assert store.read("table1", first["config"])["metrics"]["acc"] == 20.0
    assert second["created_at"] > first["created_at"]


@pytest.mark.parametrize("bad", [
    dict(kind="../escape"), dict(kind=""), dict(wall_time_s=-1.0), dict(wall_time_s=float("nan")),
])
def test_bad_input_is_a_value_error(tmp_path, bad):
    args = {**META, "kind": "table1", **bad}
    kind = args.pop("kind")
    with pytest.raises(ValueError):
        ResultsStore(tmp_path).write(kind, {"arch": "vgg16"}, {"acc": 1.0}, **args)
    assert not any(tmp_path.rglob("*.json"))


def test_records_filters_and_frame(tmp_path):
    store = ResultsStore(tmp_path)
    _write(store, "vgg16", "digits", 50.0)
    _write(store, "alexnet", "digits", 40.0)
    _write(store, "alexnet", "cifar10", 30.0, profile="paper")
    _write(store, "vgg16", kind="figure1")
    assert len(store.records()) == 4 and store.kinds() == ["figure1", "table1"]
    assert [r["metrics"]["acc"] for r in store.records("table1")] == [50.0, 40.0, 30.0]  # oldest first
    assert [r["config"]["dataset"] for r in store.records("table1", arch="alexnet")] == ["digits", "cifar10"]
    assert len(store.records("table1", arch=["alexnet", "vgg16"], dataset="digits")) == 2
    assert [r["metrics"]["acc"] for r in store.records("table1", profile="paper")] == [30.0]  # top-level field
    assert store.records("table1", arch="resnet50") == [] and store.records("table1", missing_key=1) == []

    frame = store.to_frame("table1")
    assert len(frame) == 3
    assert {"config.arch", "config.dataset", "metrics.acc", "metrics.rho", "profile", "git_commit", "versions.torch"} <= set(frame.columns)
    assert sorted(frame["metrics.acc"]) == [30.0, 40.0, 50.0]
    assert list(store.to_frame("table1", arch="vgg16")["config.arch"]) == ["vgg16"]
    assert len(ResultsStore(tmp_path / "empty").to_frame("table1")) == 0


def test_corrupt_record_is_named(tmp_path):
    store = ResultsStore(tmp_path)
    _write(store)
    (tmp_path / "table1" / "broken.json").write_text("{not json")
    with pytest.raises(ValueError, match="broken.json"):
        store.records("table1")


def test_merge_keeps_provenance_newest_wins_never_deletes(tmp_path):
    src, dst = ResultsStore(tmp_path / "cluster"), ResultsStore(tmp_path / "local")
    only_src = _write(src, "resnet50", acc=70.0, device="cuda:0 (NVIDIA A100)")
    newer_src = _set_created_at(src, _write(src, "vgg16", acc=60.0), "2031-01-01T00:00:00+00:00")
    older_src = _set_created_at(src, _write(src, "alexnet", acc=11.0), "2020-01-01T00:00:00+00:00")
    _write(dst, "vgg16", acc=55.0)
    kept = _write(dst, "alexnet", acc=44.0)
    only_dst = _write(dst, "vgg16", "cifar10", acc=33.0)

    summary = merge_results(src.root, dst.root)
    assert (summary["added"], summary["updated"], summary["kept_newer"], summary["total"]) == (1, 1, 1, 3)
    merged = dst.read("table1", only_src["config"])
    assert {k: merged[k] for k in only_src} == only_src  # record copied as it was: commit, device, versions, time
    assert merged["device"] == "cuda:0 (NVIDIA A100)" and merged["merged_from"]["root"] == str(src.root.resolve())
    assert dst.read("table1", newer_src["config"])["metrics"]["acc"] == 60.0  # source newer: replaced
    assert dst.read("table1", kept["config"]) == kept  # destination newer: kept
    assert dst.read("table1", only_dst["config"]) == only_dst  # never deleted
    assert len(dst.records()) == 4
    assert dst.read("table1", older_src["config"])["metrics"]["acc"] == 44.0

    again = merge_results(src.root, dst.root)  # idempotent
    assert (again["added"], again["updated"], again["unchanged"], again["kept_newer"]) == (0, 0, 2, 1)


def test_merge_refuses_bad_sources_before_writing(tmp_path):
    src, dst = ResultsStore(tmp_path / "src"), ResultsStore(tmp_path / "dst")
    with pytest.raises(ValueError, match="does not exist"):
        merge_results(src.root, dst.root)
    good = _write(src, "vgg16")
    bad = _write(src, "alexnet")
    path = src.root / "table1" / f"{bad['config_hash']}.json"
    data = json.loads(path.read_text())
    data["config"]["arch"] = "resnet50"  # edited by hand: no longer matches its hash
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="does not match its config"):
        merge_results(src.root, dst.root)
    assert not dst.root.exists()
    with pytest.raises(ValueError, match="same folder"):
        merge_results(src.root, src.root)
    assert record_hash("table1", good["config"]) == good["config_hash"]
